// Dead letters: the project's events the processor could not store — list
// by status, inspect one, replay (events:write) or purge (keys:admin; asks
// first). A button the key's scopes do not allow is disabled and says why
// (GetCaller tells the console the key's scopes).

import { deadLetters } from "@boost/sdk/services";
import type { Api } from "../session.js";
import { errorBox, field, h, load, select, table, time } from "../ui.js";

const STATUSES: [string, string][] = Object.entries(deadLetters.DeadLetterStatus)
  .filter(([name, value]) => typeof value === "number" && value > 0 && !/^\d/.test(name))
  .map(([name, value]): [string, string] => [String(value), name.toLowerCase()]);

/** The scope each action needs. */
const NEEDS = { replay: "events:write", purge: "keys:admin" } as const;

export function deadLetterView(root: HTMLElement, api: Api): void {
  // Until GetCaller answers, every button is allowed; the server decides anyway.
  let scopes: string[] | undefined;
  const allowed = (what: keyof typeof NEEDS) => scopes === undefined || scopes.includes(NEEDS[what]);
  const button = (what: keyof typeof NEEDS, label: string, ids: bigint[]) =>
    h(
      "button",
      {
        type: "button",
        name: what,
        disabled: !allowed(what),
        title: allowed(what) ? undefined : `This key lacks ${NEEDS[what]}, which ${what} needs.`,
        onclick: () => void act(what, ids),
      },
      label,
    );
  const status = select("status", STATUSES, STATUSES[0]?.[0]);
  const list = h("div");
  const detail = h("div", { class: "detail" });
  const outcome = h("div", { class: "outcome" });

  const act = async (what: "replay" | "purge", ids: bigint[]) => {
    if (what === "purge" && !confirm(`Purge ${ids.length} dead letter(s)? This cannot be undone.`)) return;
    try {
      const done =
        what === "replay"
          ? `Replayed ${(await api.deadLetters.replayDeadLetters({ ids })).replayed} dead letter(s): back through the pipeline.`
          : `Purged ${(await api.deadLetters.purgeDeadLetters({ ids })).purged} dead letter(s).`;
      outcome.replaceChildren(h("p", { class: "done" }, done));
      void showList();
    } catch (error) {
      outcome.replaceChildren(errorBox(error));
    }
  };

  const showList = () =>
    load(list, () => api.deadLetters.listDeadLetters({ status: Number(status.value), pageSize: 100 }), (page) =>
      table(
        ["id", "event", "handler", "error", "attempts", "created", ""],
        page.deadLetters.map((letter) =>
          h(
            "tr",
            { class: "dead-letter", "data-id": String(letter.id) },
            h("td", {}, String(letter.id)),
            h("td", {}, letter.eventId),
            h("td", {}, letter.handler),
            h("td", {}, letter.error),
            h("td", {}, String(letter.attempts)),
            h("td", {}, time(letter.createTime)),
            h(
              "td",
              {},
              h("button", { type: "button", name: "inspect", onclick: () => void inspect(letter.id) }, "Inspect"),
              button("replay", "Replay", [letter.id]),
              button("purge", "Purge", [letter.id]),
            ),
          ),
        ),
      ), { isEmpty: (page) => page.deadLetters.length === 0, text: "No dead letters with this status." });

  const inspect = (id: bigint) =>
    load(detail, () => api.deadLetters.getDeadLetter({ id }), (answer) => {
      const letter = answer.deadLetter!;
      return [
        h("h2", {}, `Dead letter ${letter.id}`),
        h("p", {}, `partition ${letter.partition}, offset ${letter.offset}, ${deadLetters.DeadLetterStatus[letter.status]?.toLowerCase()}, updated ${time(letter.updateTime)}`),
        h("p", { class: "error-text" }, letter.error),
      ];
    });

  status.addEventListener("change", () => void showList());
  root.append(h("div", { class: "filters" }, field("Status", status)), outcome, list, detail);
  void (async () => {
    try {
      const caller = await api.auth.getCaller({});
      scopes = caller.operator ? undefined : (caller.principal?.scopes ?? []);
    } catch {
      // Unknown scopes: leave every button on; the server answers PERMISSION_DENIED.
    }
    await showList();
  })();
}
