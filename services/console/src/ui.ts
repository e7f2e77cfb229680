// The few DOM helpers every view uses: building elements, the loading /
// empty / error states of a call, and formatting.

import { Code } from "@connectrpc/connect";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { BoostError } from "@boost/sdk";

type Child = Node | string | number | null | undefined | false;
type Props = Record<string, string | number | boolean | EventListener | undefined>;

/** An element with attributes (`on…` keys become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** What a failed call says to a person: the code, the server's message, when to retry. */
export function describeError(error: unknown): string {
  const boost = BoostError.from(error);
  const parts = [boost.message];
  for (const [field, reason] of boost.fieldViolations) parts.push(`${field}: ${reason}`);
  if (boost.retryDelayMs !== undefined && (boost.code === Code.ResourceExhausted || boost.code === Code.Unavailable)) {
    parts.push(`retry in ${Math.ceil(boost.retryDelayMs / 1000)} s`);
  }
  if (boost.code === Code.Unauthenticated) parts.push("sign in again with a valid credential");
  if (boost.code === Code.PermissionDenied) parts.push("this credential lacks the scope this needs");
  return parts.join(" — ");
}

/** The error state: a message a test and a screen reader can find. */
export function errorBox(error: unknown): HTMLElement {
  return h("p", { class: "error", role: "alert" }, describeError(error));
}

/**
 * Runs `work` with `target` showing loading, then the rendered answer, the
 * empty state (when `isEmpty`), or the error.
 */
export async function load<T>(
  target: HTMLElement,
  work: () => Promise<T>,
  render: (answer: T) => Child | Child[],
  empty?: { isEmpty: (answer: T) => boolean; text: string },
): Promise<T | undefined> {
  target.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  try {
    const answer = await work();
    if (empty?.isEmpty(answer)) {
      target.replaceChildren(h("p", { class: "empty" }, empty.text));
    } else {
      const rendered = render(answer);
      target.replaceChildren(...(Array.isArray(rendered) ? rendered : [rendered]).filter(isNode).map(toNode));
    }
    return answer;
  } catch (error) {
    target.replaceChildren(errorBox(error));
    return undefined;
  }
}

function isNode(child: Child): child is Node | string | number {
  return child !== null && child !== undefined && child !== false;
}

function toNode(child: Node | string | number): Node {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

/** A timestamp as local date and time, or a dash. */
export function time(timestamp?: Timestamp): string {
  return timestamp ? timestampDate(timestamp).toLocaleString() : "—";
}

/** A table with a header row. */
export function table(headers: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return h("table", {}, h("thead", {}, h("tr", {}, ...headers.map((name) => h("th", {}, name)))), h("tbody", {}, ...rows));
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h("label", {}, h("span", {}, label), input);
}

/** A `<select>` of `options` as [value, label]. */
export function select(name: string, options: [string, string][], value = ""): HTMLSelectElement {
  return h("select", { name }, ...options.map(([v, label]) => h("option", { value: v, selected: v === value }, label)));
}

/** A JSON value, readable. */
export function json(value: unknown): HTMLElement {
  return h("pre", { class: "json" }, JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2));
}
