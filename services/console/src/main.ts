// The console's shell: sign-in, the navigation, and one view per hash route
// (`#/overview`, `#/explore`, …). A view gets an element and the API and
// may return a function that stops its timers and streams when left.

import "./style.css";
import { connect, forgetCredential, savedCredential, type Api } from "./session.js";
import { h } from "./ui.js";
import { signIn } from "./views/signin.js";
import { overview } from "./views/overview.js";
import { explore } from "./views/explore.js";
import { live } from "./views/live.js";
import { users } from "./views/users.js";
import { pipeline } from "./views/pipeline.js";
import { deadLetterView } from "./views/dead_letters.js";
import { keys } from "./views/keys.js";

/** A view: renders into `root`; returns how to stop it. */
export type View = (root: HTMLElement, api: Api) => (() => void) | void;

/** Routes as [hash, title, view, who can use it]. */
const ROUTES: [string, string, View, "key" | "operator" | "both"][] = [
  ["overview", "Overview", overview, "key"],
  ["explore", "Explore", explore, "key"],
  ["live", "Live", live, "key"],
  ["users", "Users", users, "key"],
  ["pipeline", "Pipeline", pipeline, "both"],
  ["dead-letters", "Dead letters", deadLetterView, "key"],
  ["keys", "Keys and projects", keys, "both"],
];

const app = document.getElementById("app")!;
let stopView: (() => void) | void;

function render(): void {
  stopView?.();
  stopView = undefined;
  const credential = savedCredential();
  if (!credential) {
    app.replaceChildren(signIn(render));
    return;
  }
  const api = connect(credential);
  const usable = ROUTES.filter(([, , , who]) => who === "both" || who === credential.kind);
  const wanted = location.hash.replace(/^#\//, "");
  const [route, title, view] = usable.find(([hash]) => hash === wanted) ?? usable[0];
  const nav = h(
    "nav",
    {},
    h("strong", {}, "Boost"),
    ...usable.map(([hash, name]) => h("a", { href: `#/${hash}`, class: hash === route ? "active" : undefined }, name)),
    h("span", { class: "who" }, credential.kind === "key" ? "API key" : "Operator"),
    h(
      "button",
      {
        type: "button",
        onclick: () => {
          forgetCredential();
          location.hash = "";
          render();
        },
      },
      "Sign out",
    ),
  );
  const main = h("main", { "data-view": route }, h("h1", {}, title));
  app.replaceChildren(nav, main);
  stopView = view(main, api);
}

window.addEventListener("hashchange", render);
render();
