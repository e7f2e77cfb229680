// Explore: ListEvents with every filter, a time range and order, keyset
// paging (the server's page token), one event's detail (GetEvent, FAILED
// with its reason) and Aggregate charts over the same filter and range.

import { create, toJson } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { query, common } from "@boost/sdk/services";
import type { Api } from "../session.js";
import { errorBox, field, h, json, load, select, table, time } from "../ui.js";
import { filterForm } from "./filters.js";

const GROUPS: [string, string][] = [
  [String(query.GroupBy.SERVICE), "service"],
  [String(query.GroupBy.TYPE), "type"],
  [String(query.GroupBy.KIND), "kind"],
  [String(query.GroupBy.USER), "user"],
  [String(query.GroupBy.TIME), "time (hour)"],
];

/** `<input type=datetime-local>` as a Timestamp, or undefined when empty. */
function at(input: HTMLInputElement) {
  return input.value ? timestampFromDate(new Date(input.value)) : undefined;
}

export function explore(root: HTMLElement, api: Api): void {
  const filters = filterForm();
  const start = h("input", { name: "start_time", type: "datetime-local" });
  const end = h("input", { name: "end_time", type: "datetime-local" });
  const order = select("order", [
    [String(query.Order.NEWEST_FIRST), "newest first"],
    [String(query.Order.OLDEST_FIRST), "oldest first"],
  ]);
  const pageSize = h("input", { name: "page_size", type: "number", min: 1, max: 1000, value: 50 });
  const groupBy = select("group_by", GROUPS);
  const results = h("div", { class: "results" });
  const detail = h("div", { class: "detail" });
  const chart = h("div", { class: "aggregate" });
  const pages: string[] = [];

  const request = (pageToken: string) =>
    create(query.ListEventsRequestSchema, {
      filter: filters.read(),
      startTime: at(start),
      endTime: at(end),
      order: Number(order.value),
      pageSize: Number(pageSize.value) || 50,
      pageToken,
      includeTotal: true,
    });

  const showPage = async (pageToken: string) => {
    let ask: query.ListEventsRequest;
    try {
      ask = request(pageToken);
    } catch (error) {
      results.replaceChildren(errorBox(error));
      return;
    }
    await load(
      results,
      () => api.query.listEvents(ask),
      (page) => [
        h("p", { class: "count" }, page.total ? `${page.total.count}${page.total.exact ? "" : "+"} events match` : ""),
        table(
          ["time", "type", "service", "user", "kind"],
          page.events.map((stored) => {
            const event = stored.event!;
            return h(
              "tr",
              { class: "event", "data-id": event.eventId, onclick: () => showEvent(event.eventId) },
              h("td", {}, time(event.timestamp)),
              h("td", {}, event.type),
              h("td", {}, event.service),
              h("td", {}, event.userId),
              h("td", {}, common.EventKind[event.kind]?.toLowerCase() ?? ""),
            );
          }),
        ),
        h(
          "div",
          { class: "pager" },
          h("button", { type: "button", name: "first", disabled: pages.length === 0, onclick: () => { pages.length = 0; void showPage(""); } }, "First page"),
          h("span", { class: "page-number" }, `page ${pages.length + 1}`),
          h(
            "button",
            {
              type: "button",
              name: "next",
              disabled: !page.nextPageToken,
              onclick: () => {
                pages.push(pageToken);
                void showPage(page.nextPageToken);
              },
            },
            "Next page",
          ),
        ),
      ],
      { isEmpty: (page) => page.events.length === 0, text: "No events match." },
    );
  };

  const showEvent = (eventId: string) =>
    load(detail, () => api.query.getEvent({ eventId }), (answer) => [
      h("h2", {}, `Event ${eventId}`),
      h("p", { class: "state" }, query.EventState[answer.state] ?? "", answer.error ? ` — ${answer.error}` : ""),
      answer.event?.event ? json(toJson(common.EventSchema, answer.event.event)) : null,
    ]);

  const aggregate = async () => {
    try {
      const ask = create(query.AggregateRequestSchema, {
        filter: filters.read(),
        startTime: at(start),
        endTime: at(end),
        groupBy: Number(groupBy.value),
        bucket: query.Bucket.HOUR,
      });
      await load(chart, () => api.query.aggregate(ask), (answer) => {
        const most = Math.max(1, ...answer.groups.map((g) => Number(g.count)));
        return h(
          "div",
          { class: "bars" },
          ...answer.groups.map((g) =>
            h(
              "div",
              { class: "bar" },
              h("span", { class: "label" }, g.bucketStart ? timestampDate(g.bucketStart).toLocaleString() : g.key || "(none)"),
              h("span", { class: "fill", style: `width:${(100 * Number(g.count)) / most}%` }),
              h("span", { class: "value" }, String(g.count)),
            ),
          ),
        );
      }, { isEmpty: (answer) => answer.groups.length === 0, text: "Nothing to aggregate in this range." });
    } catch (error) {
      chart.replaceChildren(errorBox(error));
    }
  };

  const form = h(
    "form",
    { class: "explore" },
    filters.element,
    h("div", { class: "filters" }, field("From", start), field("To", end), field("Order", order), field("Page size", pageSize)),
    h("button", { type: "submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    pages.length = 0;
    detail.replaceChildren();
    void showPage("");
  });
  root.append(
    form,
    results,
    detail,
    h("h2", {}, "Aggregate"),
    h("div", { class: "filters" }, field("Group by", groupBy), h("button", { type: "button", name: "aggregate", onclick: () => void aggregate() }, "Aggregate")),
    chart,
  );
  void showPage("");
}
