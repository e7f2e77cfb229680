// Pipeline: GetStatus per partition — stored offset against the broker's
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
        h("p", { class: "numbers" }, h("b", { "data-metric": "lag" }, String(lag)), " records not yet stored"),
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
