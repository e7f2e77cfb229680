// Users: ListUsers (most recently seen first, paged) and one user's traits
// with first and last seen (GetUser).

import type { Api } from "../session.js";
import { h, json, load, table, time } from "../ui.js";

export function users(root: HTMLElement, api: Api): void {
  const list = h("div");
  const detail = h("div", { class: "detail" });
  const showPage = (pageToken: string) =>
    load(list, () => api.query.listUsers({ pageToken }), (page) => [
      table(
        ["user", "first seen", "last seen"],
        page.users.map((user) =>
          h(
            "tr",
            { class: "user", "data-id": user.userId, onclick: () => showUser(user.userId) },
            h("td", {}, user.userId),
            h("td", {}, time(user.firstSeen)),
            h("td", {}, time(user.lastSeen)),
          ),
        ),
      ),
      page.nextPageToken ? h("button", { type: "button", name: "next", onclick: () => void showPage(page.nextPageToken) }, "Next page") : null,
    ], { isEmpty: (page) => page.users.length === 0, text: "No users yet: identify events create them." });
  const showUser = (userId: string) =>
    load(detail, () => api.query.getUser({ userId }), (answer) => [
      h("h2", {}, userId),
      h("p", {}, `first seen ${time(answer.user?.firstSeen)}, last seen ${time(answer.user?.lastSeen)}`),
      json(answer.user?.traits ?? {}),
    ]);
  root.append(list, detail);
  void showPage("");
}
