// Keys and projects. The operator creates an organisation or opens one by
// id, creates projects, and per project creates keys with scopes (the
// secret is shown once, with a copy button), lists them with last use,
// revokes and rotates, and sets the project's retention. An API key sees its
// own project here; managing its keys or retention needs `keys:admin`, and
// without it the view says so and the key buttons stay disabled.

import { Code, ConnectError } from "@connectrpc/connect";
import type { Api } from "../session.js";
import { errorBox, field, h, load, table, time } from "../ui.js";

const SCOPES = ["events:write", "events:read", "keys:admin"];
const ORGANIZATION_KEY = "boost.console.organization";

/** A secret shown once, with a copy button. */
function secretOnce(label: string, secret: string): HTMLElement {
  const copy = h("button", { type: "button", name: "copy", onclick: () => void navigator.clipboard?.writeText(secret) }, "Copy");
  return h(
    "div",
    { class: "secret" },
    h("p", {}, `${label} — shown once, store it now:`),
    h("code", { "data-secret": "" }, secret),
    copy,
  );
}

export function keys(root: HTMLElement, api: Api): void {
  const organization = h("input", { name: "organization_id", placeholder: "organisation id", value: sessionStorage.getItem(ORGANIZATION_KEY) ?? "" });
  const organizationName = h("input", { name: "organization_name", placeholder: "new organisation name" });
  const projectName = h("input", { name: "project_name", placeholder: "new project name" });
  const projects = h("div", { class: "projects" });
  const project = h("section", { class: "project" });
  const message = h("div", { class: "message" });

  const fail = (error: unknown) => message.replaceChildren(errorBox(error));

  const showProjects = async () => {
    const organizationId = organization.value.trim();
    sessionStorage.setItem(ORGANIZATION_KEY, organizationId);
    if (!organizationId) {
      projects.replaceChildren(h("p", { class: "empty" }, "Open an organisation by id, or create one."));
      return;
    }
    await load(projects, () => api.auth.listProjects({ organizationId, pageSize: 100 }), (page) =>
      table(
        ["project", "id", "created", ""],
        page.projects.map((p) =>
          h(
            "tr",
            { class: "project-row", "data-id": p.id },
            h("td", {}, p.name),
            h("td", {}, h("code", {}, p.id)),
            h("td", {}, time(p.createTime)),
            h("td", {}, h("button", { type: "button", name: "open", onclick: () => void showProject(p.id, p.name) }, "Keys")),
          ),
        ),
      ), { isEmpty: (page) => page.projects.length === 0, text: "No projects in this organisation yet." });
  };

  /** The project's retention, and a form to change it (operator or keys:admin). */
  const retentionForm = (projectId: string) => {
    const days = h("input", { name: "retention_days", type: "number", min: 1, max: 3650, required: true });
    const saved = h("span", { class: "saved" });
    const form = h("form", { class: "retention" }, field("Retention (days)", days), h("button", { type: "submit" }, "Save"), saved);
    void api.auth.getProject({ projectId }).then(
      (answer) => (days.value = String(answer.project?.retentionDays ?? "")),
      (error) => saved.replaceChildren(errorBox(error)),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const answer = await api.auth.updateProject({ projectId, retentionDays: Number(days.value) });
        saved.replaceChildren(`Keeps ${answer.project?.retentionDays} days of events.`);
      } catch (error) {
        saved.replaceChildren(errorBox(error));
      }
    });
    return form;
  };

  const showProject = async (projectId: string, name: string) => {
    const keyName = h("input", { name: "key_name", placeholder: "key name", required: true });
    const scopes = SCOPES.map((scope) => h("input", { type: "checkbox", name: "scope", value: scope, checked: scope !== "keys:admin" }));
    const created = h("div");
    const list = h("div");
    const createButton = h("button", { type: "submit" }, "Create key");
    const showKeys = () =>
      load(list, async () => {
        try {
          return await api.auth.listApiKeys({ projectId });
        } catch (error) {
          if (ConnectError.from(error).code === Code.PermissionDenied) {
            createButton.disabled = true;
            createButton.title = "This key lacks keys:admin, which managing keys needs.";
          }
          throw error;
        }
      }, (answer) =>
        table(
          ["name", "prefix", "scopes", "created", "last used", "state", ""],
          answer.apiKeys.map((key) =>
            h(
              "tr",
              { class: "key-row", "data-name": key.name },
              h("td", {}, key.name),
              h("td", {}, h("code", {}, key.prefix)),
              h("td", {}, key.scopes.join(", ")),
              h("td", {}, time(key.createTime)),
              h("td", {}, time(key.lastUsedTime)),
              h("td", { class: "state" }, key.revokeTime ? `revoked ${time(key.revokeTime)}` : "active"),
              h(
                "td",
                {},
                key.revokeTime
                  ? null
                  : h("button", {
                      type: "button",
                      name: "revoke",
                      onclick: async () => {
                        if (!confirm(`Revoke ${key.name}? Calls with it fail from now on.`)) return;
                        try {
                          await api.auth.revokeApiKey({ apiKeyId: key.id });
                          void showKeys();
                        } catch (error) {
                          fail(error);
                        }
                      },
                    }, "Revoke"),
                key.revokeTime
                  ? null
                  : h("button", {
                      type: "button",
                      name: "rotate",
                      onclick: async () => {
                        try {
                          const rotated = await api.auth.rotateApiKey({ apiKeyId: key.id });
                          created.replaceChildren(secretOnce(`New secret of ${key.name}`, rotated.secret));
                          void showKeys();
                        } catch (error) {
                          fail(error);
                        }
                      },
                    }, "Rotate"),
              ),
            ),
          ),
        ), { isEmpty: (answer) => answer.apiKeys.length === 0, text: "No keys yet." });
    const form = h(
      "form",
      { class: "create-key" },
      field("Key name", keyName),
      h("fieldset", {}, h("legend", {}, "Scopes"), ...scopes.map((box) => h("label", {}, box, box.value))),
      createButton,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const answer = await api.auth.createApiKey({
          projectId,
          name: keyName.value.trim(),
          scopes: scopes.filter((box) => box.checked).map((box) => box.value),
        });
        created.replaceChildren(secretOnce(`Key ${keyName.value.trim()}`, answer.secret));
        keyName.value = "";
        void showKeys();
      } catch (error) {
        created.replaceChildren(errorBox(error));
      }
    });
    project.replaceChildren(h("h2", {}, `Project ${name}`), h("p", {}, h("code", {}, projectId)), retentionForm(projectId), form, created, list);
    await showKeys();
  };

  const createOrganization = h("form", { class: "create-organization" }, field("Organisation", organizationName), h("button", { type: "submit" }, "Create organisation"));
  createOrganization.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await api.auth.createOrganization({ name: organizationName.value.trim() });
      organization.value = answer.organization?.id ?? "";
      organizationName.value = "";
      await showProjects();
    } catch (error) {
      fail(error);
    }
  });
  const openOrganization = h("form", { class: "open-organization" }, field("Organisation id", organization), h("button", { type: "submit" }, "Open"));
  openOrganization.addEventListener("submit", (event) => {
    event.preventDefault();
    void showProjects();
  });
  const createProject = h("form", { class: "create-project" }, field("Project", projectName), h("button", { type: "submit" }, "Create project"));
  createProject.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const answer = await api.auth.createProject({ organizationId: organization.value.trim(), name: projectName.value.trim() });
      projectName.value = "";
      await showProjects();
      if (answer.project) await showProject(answer.project.id, answer.project.name);
    } catch (error) {
      fail(error);
    }
  });
  if (api.credential.kind === "key") {
    // A key's own project (an empty id means "mine").
    root.append(message, project);
    void (async () => {
      try {
        const own = (await api.auth.getProject({ projectId: "" })).project!;
        await showProject(own.id, own.name);
      } catch (error) {
        fail(error);
      }
    })();
    return;
  }
  root.append(h("div", { class: "forms" }, openOrganization, createOrganization, createProject), message, projects, project);
  void showProjects();
}
