// Pipeline: GetStatus — freshness (ingest → stored) p50/p95/max over the
// last minute, and per partition the stored offset against the broker's
// high watermark, lag, last store, stalled partitions and offset conflicts
// highlighted — refreshed every 5 s.

import type { Api } from "../session.js";
import { h, load, table, time } from "../ui.js";

const REFRESH_MS = 5_000;

export function pipeline(root: HTMLElement, api: Api): () => void {
  const body = h("div");
  root.append(body);
  const refresh = () =>
    load(body, () => api.processor.getStatus({}), (status) => {
      const lag = status.partitions.reduce((sum, p) => sum + Number(p.lag), 0);
      return [
        h(
          "div",
          { class: "numbers" },
          h("div", {}, h("b", { "data-metric": "lag" }, String(lag)), " records not yet stored"),
          h("div", {}, h("b", { "data-metric": "freshness-p50" }, `${status.freshnessP50Ms} ms`), " freshness p50"),
          h("div", {}, h("b", { "data-metric": "freshness-p95" }, `${status.freshnessP95Ms} ms`), " p95"),
          h("div", {}, h("b", {}, `${status.freshnessMaxMs} ms`), ` max, over ${status.freshnessSamples} records in the last minute`),
        ),
        table(
          ["partition", "stored offset", "high watermark", "lag", "last stored", "state"],
          status.partitions.map((p) =>
            h(
              "tr",
              { class: p.stalled || p.offsetConflict ? "partition stalled" : "partition", "data-partition": p.partition },
              h("td", {}, String(p.partition)),
              h("td", {}, String(p.storedOffset)),
              h("td", {}, String(p.highWatermark)),
              h("td", {}, String(p.lag)),
              h("td", {}, time(p.lastStoredTime)),
              h("td", {}, p.offsetConflict ? `held: ${p.offsetConflict}` : p.stalled ? "stalled" : "ok"),
            ),
          ),
        ),
      ];
    }, { isEmpty: (status) => status.partitions.length === 0, text: "This processor consumes no partition." });
  void refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => clearInterval(timer);
}
