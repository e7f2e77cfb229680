// The event filter form shared by Explore and Live: every filter the API has.

import { create, type JsonObject } from "@bufbuild/protobuf";
import { query, common } from "@boost/sdk/services";
import { field, h, select } from "../ui.js";

/** The filter inputs, and how to read them as an `EventFilter`. */
export interface FilterForm {
  element: HTMLElement;
  /** The filter, or an error naming the field that does not parse. */
  read(): query.EventFilter;
}

const KINDS: [string, string][] = [
  ["0", "any kind"],
  [String(common.EventKind.TRACK), "track"],
  [String(common.EventKind.IDENTIFY), "identify"],
  [String(common.EventKind.LOG), "log"],
  [String(common.EventKind.METRIC), "metric"],
  [String(common.EventKind.SPAN), "span"],
];

const SEVERITIES: [string, string][] = [
  ["0", "any severity"],
  ...Object.entries(common.Severity)
    .filter(([name, value]) => typeof value === "number" && value > 0 && !/^\d/.test(name))
    .map(([name, value]): [string, string] => [String(value), name.toLowerCase()]),
];

export function filterForm(): FilterForm {
  const service = h("input", { name: "service", placeholder: "exact service" });
  const type = h("input", { name: "type", placeholder: "exact type" });
  const user = h("input", { name: "user_id", placeholder: "exact user id" });
  const kind = select("kind", KINDS, "0");
  const severity = select("min_severity", SEVERITIES, "0");
  const properties = h("input", { name: "properties", placeholder: '{"plan": "pro"}' });
  const element = h(
    "div",
    { class: "filters" },
    field("Service", service),
    field("Type", type),
    field("Kind", kind),
    field("User", user),
    field("Min severity", severity),
    field("Properties (JSON)", properties),
  );
  return {
    element,
    read() {
      let props: JsonObject | undefined;
      if (properties.value.trim()) {
        try {
          props = JSON.parse(properties.value) as JsonObject;
        } catch {
          throw new Error("Properties: not valid JSON");
        }
        if (typeof props !== "object" || props === null || Array.isArray(props)) {
          throw new Error("Properties: must be a JSON object");
        }
      }
      return create(query.EventFilterSchema, {
        service: service.value.trim(),
        type: type.value.trim(),
        userId: user.value.trim(),
        kind: Number(kind.value),
        minSeverity: Number(severity.value),
        properties: props,
      });
    },
  };
}
