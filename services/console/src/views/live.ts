// Live: TailEvents (server streaming over gRPC-web) with filters and pause.
// Paused, arriving events are counted and shown on resume.

import { query, common } from "@boost/sdk/services";
import type { Api } from "../session.js";
import { errorBox, h, table, time } from "../ui.js";
import { filterForm } from "./filters.js";

/** Rows kept on screen. */
const KEEP = 200;

export function live(root: HTMLElement, api: Api): () => void {
  const filters = filterForm();
  const status = h("p", { class: "status" }, "Not started.");
  const rows = h("tbody");
  const held: query.StoredEvent[] = [];
  let paused = false;
  let stream: AbortController | undefined;

  const show = (events: query.StoredEvent[]) => {
    for (const stored of events) {
      const event = stored.event!;
      rows.prepend(
        h(
          "tr",
          { class: "event", "data-id": event.eventId },
          h("td", {}, time(stored.receiveTime)),
          h("td", {}, event.type),
          h("td", {}, event.service),
          h("td", {}, event.userId),
          h("td", {}, common.EventKind[event.kind]?.toLowerCase() ?? ""),
        ),
      );
    }
    while (rows.childElementCount > KEEP) rows.lastElementChild?.remove();
  };

  const start = async () => {
    stream?.abort();
    const controller = new AbortController();
    stream = controller;
    rows.replaceChildren();
    let filter: query.EventFilter;
    try {
      filter = filters.read();
    } catch (error) {
      status.replaceChildren(errorBox(error));
      return;
    }
    status.replaceChildren("Listening…");
    try {
      for await (const message of api.query.tailEvents({ filter }, { signal: controller.signal })) {
        if (paused) {
          held.push(...message.events);
          pause.textContent = `Resume (${held.length} waiting)`;
        } else {
          show(message.events);
        }
      }
      status.replaceChildren("The stream ended; start again to go on.");
    } catch (error) {
      if (!controller.signal.aborted) status.replaceChildren(errorBox(error));
    }
  };

  const pause = h("button", {
    type: "button",
    name: "pause",
    onclick: () => {
      paused = !paused;
      if (!paused) {
        show(held.splice(0));
        pause.textContent = "Pause";
      } else {
        pause.textContent = "Resume";
      }
    },
  }, "Pause");
  const form = h("form", { class: "live" }, filters.element, h("button", { type: "submit" }, "Start"), pause);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void start();
  });
  const events = table(["received", "type", "service", "user", "kind"], []);
  events.tBodies[0].replaceWith(rows);
  root.append(form, status, events);
  void start();
  return () => stream?.abort();
}
