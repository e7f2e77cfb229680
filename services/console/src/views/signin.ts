// Sign-in: an API key (a project's view) or the operator token. The
// credential is checked with one call before it is kept, so a wrong or
// revoked one is told at once.

import { Code, ConnectError } from "@connectrpc/connect";
import { connect, saveCredential, type Credential } from "../session.js";
import { errorBox, field, h, select } from "../ui.js";

/** A UUID no organisation has: the operator check lists its projects. */
const NO_ORGANIZATION = "00000000-0000-0000-0000-000000000000";

/** Proves `credential` works with the cheapest call it may make. */
async function check(credential: Credential): Promise<void> {
  const api = connect(credential);
  if (credential.kind === "key") {
    // Any key of a project may read its project, whatever its scopes.
    await api.auth.getProject({ projectId: "" });
    return;
  }
  try {
    await api.auth.listProjects({ organizationId: NO_ORGANIZATION, pageSize: 1 });
  } catch (error) {
    const code = ConnectError.from(error).code;
    // Past authentication, any answer means the token was taken.
    if (code === Code.Unauthenticated || code === Code.PermissionDenied) throw error;
  }
}

/** The sign-in form; `done` renders the console once signed in. */
export function signIn(done: () => void): HTMLElement {
  const kind = select("kind", [
    ["key", "API key (project)"],
    ["operator", "Operator token (administration)"],
  ]);
  const secret = h("input", { name: "secret", type: "password", autocomplete: "off", required: true });
  const message = h("div", { class: "message" });
  const form = h(
    "form",
    { class: "signin" },
    h("h1", {}, "Boost console"),
    field("Sign in with", kind),
    field("Credential", secret),
    h("button", { type: "submit" }, "Sign in"),
    message,
    h("p", { class: "hint" }, "Kept for this tab only; sent as request metadata, never in a URL."),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const credential: Credential = { kind: kind.value as Credential["kind"], secret: secret.value.trim() };
    message.replaceChildren(h("p", { class: "loading" }, "Checking…"));
    try {
      await check(credential);
      saveCredential(credential);
      done();
    } catch (error) {
      message.replaceChildren(errorBox(error));
    }
  });
  return form;
}
