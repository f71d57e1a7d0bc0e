// The alarm queue: every open alert, critical first, then oldest; the critical banner above
// every view; acknowledging in two actions (Acknowledge, then Confirm — or A, then Enter).
// Rendering is keyed: a stream frame rebuilds only the alert it changed, and only the first
// PAGE alerts are in the document until "show more" is asked for.
import { $, api, confirmAction, el, mayAct, on, relative, say, transition, where }
  from "./core.js";
import { ruleText, t, word } from "./i18n.js";
import { syncAlarm } from "./alarm.js";

const SEVERITY_ORDER = { critical: 0, major: 1, minor: 2 };
const PAGE = 50; // alerts drawn at first; "show more" adds this many
const LIMIT = 500; // the API's page size cap: the queue holds at most this many open alerts

export const alerts = new Map(); // id -> incident (open alerts only)
const nodes = new Map(); // id -> { sig, node } for the queue list
let shown = PAGE;
let frame = 0;
let mounted = null; // the queue view's list element while the queue view is shown

function byQueueOrder(a, b) {
  return (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9)
    || (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1)
    || a.opened_at.localeCompare(b.opened_at) || a.id - b.id;
}

export function sortedAlerts() {
  return [...alerts.values()].sort(byQueueOrder);
}

// Frames that arrive while a read of the open alerts is in flight: the read may have been
// answered before they were committed, so they are applied again on top of its answer (else an
// alert opened just after the stream attached would vanish from the banner).
const reading = new Set();

export async function loadAlerts() {
  const during = [];
  reading.add(during);
  let page;
  try {
    page = await api(`/incidents?kind=alert&open=true&limit=${LIMIT}`);
  } finally {
    reading.delete(during);
  }
  alerts.clear();
  for (const i of page.items) alerts.set(i.id, i);
  for (const inc of during) apply(inc);
  redraw();
}

function apply(inc) {
  if (["resolved", "cancelled"].includes(inc.state)) alerts.delete(inc.id);
  else alerts.set(inc.id, inc);
}

/** Apply one stream frame: only this alert changes. */
function onIncident(ev) {
  const inc = ev.incident;
  if (inc.kind !== "alert") return;
  for (const during of reading) during.push(inc);
  apply(inc);
  redraw();
}

/** Coalesce a burst of frames into one paint. */
export function redraw() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const list = sortedAlerts();
    renderBanner(list);
    syncAlarm(list);
    if (mounted && mounted.isConnected) renderList(list);
  });
}

export async function acknowledge(alert) {
  // The head of a group (SPEC §8.2) may acknowledge every active member with it. Every alert
  // heads its own group until another joins: offered only when the head has members (the
  // incident page's detail lists them; the queue knows the open ones), else a plain acknowledge
  // keeps the guard's note as written.
  const members = alert.members
    || [...alerts.values()].filter((m) => m.group_id === alert.id && m.id !== alert.id);
  const head = alert.group_id === alert.id && members.some((m) => m.state === "active");
  const whole = head ? el("input", { type: "checkbox", id: "dlg-group", checked: true }) : null;
  const note = await confirmAction(
    t("ack.title", { title: ruleText(alert, "title") }), t("action.acknowledge"),
    el("div", {}, el("p", { class: "muted" }, where(alert)),
      whole ? el("label", { for: "dlg-group" }, whole, " ", t("ack.group")) : null));
  if (note === null) return;
  let updated = null;
  if (whole && whole.checked) {
    try {
      updated = await api(`/incidents/${alert.id}/acknowledge`, { method: "POST",
        body: { note, group: true } });
    } catch (e) {
      if (!(e.status === 422 && /group/.test(e.message))) { say(e.message, true); return; }
    }
  }
  updated = updated || await transition(alert, "acknowledge", { note });
  if (updated && alerts.has(updated.id)) { alerts.set(updated.id, updated); redraw(); }
}

function ackButton(a) {
  return el("button", { type: "button", class: "primary ack", "data-id": a.id,
    "aria-label": t("ack.label", { title: ruleText(a, "title"), id: a.id }),
    onclick: () => acknowledge(a) }, t("action.acknowledge"));
}

function renderBanner(list) {
  const criticals = list.filter((a) => a.severity === "critical");
  const banner = $("critical");
  banner.hidden = criticals.length === 0;
  banner.replaceChildren(...criticals.slice(0, 5).map((a) => el("div", {
    class: a.state === "active" ? "crit-line" : "crit-line acked" },
    el("strong", {}, `${word("severity", "critical")}: ${ruleText(a, "title")}`),
    el("span", {}, ` — ${where(a)} — `),
    el("span", { class: "state" }, a.state === "active" ? t("ack.not") : word("state", a.state)),
    " ",
    el("a", { href: `#/incident/${a.id}` }, t("queue.open", { id: a.id })),
    a.state === "active" && mayAct("alert") ? ackButton(a) : null)),
  ...(criticals.length > 5
    ? [el("div", {}, t("queue.more_critical", { n: criticals.length - 5 }))] : []));
  const unacked = criticals.filter((a) => a.state === "active").length;
  document.title = unacked ? `(${unacked}) ${t("severity.critical")} — Sitewatch` : "Sitewatch";
}

function signature(a) {
  return [a.state, a.last_seen_at, a.occurrences, a.escalation_level, a.group_id,
    document.documentElement.lang].join("|");
}

function alertItem(a) {
  return el("li", { class: `item sev-${a.severity}`, tabindex: "0", "data-id": a.id },
    el("div", { class: "line" },
      el("span", { class: `badge sev-${a.severity}` }, word("severity", a.severity)),
      el("a", { href: `#/incident/${a.id}`, class: "title" }, ruleText(a, "title")),
      el("span", { class: "muted" }, `#${a.id} · ${word("state", a.state)}`)),
    el("div", { class: "muted" }, where(a), " · ", t("queue.opened", { when: relative(a.opened_at) }),
      a.occurrences > 1 ? ` · ×${a.occurrences}` : "",
      a.escalation_level ? ` · ${t("queue.escalated", { n: a.escalation_level })}` : "",
      a.group_id && a.group_id !== a.id ? ` · ${t("queue.group", { id: a.group_id })}` : ""),
    a.state === "active" && mayAct("alert") ? el("div", { class: "actions" }, ackButton(a)) : null);
}

function renderList(list) {
  const ul = mounted;
  const visible = list.slice(0, shown);
  const keep = new Set(visible.map((a) => a.id));
  for (const id of nodes.keys()) if (!keep.has(id) || !alerts.has(id)) nodes.delete(id);
  visible.forEach((a, i) => {
    const sig = signature(a);
    let cached = nodes.get(a.id);
    if (!cached || cached.sig !== sig) {
      const node = alertItem(a);
      if (cached && cached.node.parentNode === ul) cached.node.replaceWith(node);
      cached = { sig, node };
      nodes.set(a.id, cached);
    }
    if (ul.children[i] !== cached.node) ul.insertBefore(cached.node, ul.children[i] || null);
  });
  while (ul.children.length > visible.length) ul.lastElementChild.remove();
  $("queue-count").textContent = `(${list.length})`;
  $("queue-empty").hidden = list.length > 0;
  const more = $("queue-more");
  more.hidden = list.length <= shown;
  more.textContent = t("queue.show_more", { n: list.length - shown });
}

/** The queue view. */
export function queueView(root) {
  nodes.clear();
  shown = PAGE;
  mounted = el("ul", { id: "queue", class: "items", "aria-labelledby": "queue-h" });
  root.append(el("section", { class: "panel", "aria-labelledby": "queue-h" },
    el("h2", { id: "queue-h" }, t("queue.title"), " ", el("small", { id: "queue-count" })),
    el("p", { class: "muted hint" }, mayAct("alert") ? t("queue.keys") : ""),
    el("p", { id: "queue-empty", class: "empty", hidden: true }, t("queue.empty")),
    mounted,
    el("button", { type: "button", id: "queue-more", hidden: true,
      onclick: () => { shown += PAGE; renderList(sortedAlerts()); } })));
  renderList(sortedAlerts());
  return () => { mounted = null; };
}

/** A: acknowledge the focused alert, or the first unacknowledged one of the queue. */
function onKey(e) {
  if (e.key !== "a" || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.target.closest("input, textarea, select, dialog") || !mayAct("alert")) return;
  const focused = e.target.closest && e.target.closest("[data-id]");
  const chosen = focused ? alerts.get(Number(focused.dataset.id)) : null;
  const target = chosen && chosen.state === "active" ? chosen
    : sortedAlerts().find((a) => a.state === "active");
  if (!target) return;
  e.preventDefault();
  acknowledge(target);
}

on("incident", onIncident);
document.addEventListener("keydown", onKey);
