// The live feed beside the alarm queue: the latest incident changes as the stream brings them,
// newest first, at most FEED_MAX kept (one <li> added per frame, the oldest dropped).
import { el, on } from "./core.js";
import { ruleText, t, word } from "./i18n.js";

const FEED_MAX = 50; // changes kept on screen
const recent = []; // the latest frames, newest first, kept while other views are shown
let list = null;

function item(ev) {
  const inc = ev.incident;
  const grade = inc.severity || inc.priority;
  return el("li", { class: inc.severity === "critical" ? "sev-critical" : "" },
    el("time", { datetime: ev.entry.at }, new Date(ev.entry.at).toLocaleTimeString(
      document.documentElement.lang)), " ",
    el("span", { class: `badge ${inc.severity ? `sev-${grade}` : `pri-${grade}`}` },
      word("severity", grade)), " ",
    el("strong", {}, word("action", ev.entry.action)), " ",
    el("a", { href: `#/incident/${inc.id}` }, `#${inc.id} ${ruleText(inc, "title")}`),
    ev.entry.actor && !ev.entry.actor.startsWith("rule:") ? ` — ${ev.entry.actor}` : "");
}

on("incident", (ev) => {
  recent.unshift(ev);
  if (recent.length > FEED_MAX) recent.pop();
  if (!list || !list.isConnected) return;
  const empty = list.querySelector(".empty");
  if (empty) empty.remove();
  list.prepend(item(ev));
  while (list.children.length > FEED_MAX) list.lastElementChild.remove();
});

/** The feed panel, placed in a view. */
export function feedPanel(root) {
  list = el("ol", { id: "feed", class: "feed", "aria-live": "off" },
    ...(recent.length ? recent.map(item) : [el("li", { class: "empty" }, t("feed.empty"))]));
  root.append(el("section", { class: "panel", "aria-labelledby": "feed-h" },
    el("h2", { id: "feed-h" }, t("feed.title")), list));
}
