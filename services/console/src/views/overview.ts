// Overview: GetMetrics as numbers and charts — events per hour over the last
// 24 hours, the top services, the last hour — refreshed every 15 s.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { query } from "@boost/sdk/services";
import type { Api } from "../session.js";
import { h, load, table } from "../ui.js";

const REFRESH_MS = 15_000;
const HOUR_MS = 3_600_000;

/** The hourly chart: one point per hour. */
function hourlyChart(points: [number[], number[]]): HTMLElement {
  const holder = h("div", { class: "chart", "data-points": points[0].length });
  new uPlot(
    {
      width: 720,
      height: 220,
      series: [{}, { label: "events", stroke: "#2563eb", fill: "rgba(37,99,235,0.12)", points: { show: true } }],
      axes: [{}, { label: "events per hour" }],
    },
    points,
    holder,
  );
  return holder;
}

/**
 * The last 24 clock hours, oldest first, with their counts: GetMetrics
 * lists only the hours that had events, the chart shows every hour.
 */
function hourly(byHour: query.Group[]): [number[], number[]] {
  const counted = new Map(
    byHour.map((g) => [g.bucketStart ? timestampDate(g.bucketStart).getTime() / 1000 : 0, Number(g.count)]),
  );
  const thisHour = Math.floor(Date.now() / HOUR_MS) * (HOUR_MS / 1000);
  const hours = Array.from({ length: 24 }, (_, i) => thisHour - (23 - i) * 3600);
  return [hours, hours.map((hour) => counted.get(hour) ?? 0)];
}

export function overview(root: HTMLElement, api: Api): () => void {
  const body = h("div");
  root.append(body);
  const refresh = () =>
    load(body, () => api.query.getMetrics({}), (metrics) => {
      const [hours, counts] = hourly(metrics.byHour);
      return [
        h(
          "div",
          { class: "numbers" },
          h("div", {}, h("b", { "data-metric": "total" }, String(metrics.totalEvents)), " events stored"),
          h("div", {}, h("b", { "data-metric": "last-24h" }, String(metrics.last24Hours)), " in the last 24 hours"),
          h("div", {}, h("b", { "data-metric": "last-hour" }, String(metrics.lastHour)), " in the last hour"),
        ),
        h("h2", {}, "Events per hour, last 24 hours"),
        hourlyChart([hours, counts]),
        h("h2", {}, "Top services, last 24 hours"),
        metrics.topServices.length
          ? table(["service", "events"], metrics.topServices.map((g) => h("tr", {}, h("td", {}, g.key || "(none)"), h("td", {}, String(g.count)))))
          : h("p", { class: "empty" }, "No events in the last 24 hours."),
      ];
    });
  void refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
