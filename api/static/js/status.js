// The site overview cards above the alarm queue (GET /api/v1/status), re-read on every poll.
import { $, api, el, on } from "./core.js";
import { t } from "./i18n.js";

const STATUS_DEBOUNCE_MS = 1200; // the server refreshes its counts at most once a second

function card(label, value, cls) {
  return el("div", { class: `card ${cls || ""}` }, el("span", { class: "num" }, value),
    el("span", { class: "label" }, label));
}

/** Re-read the status into the cards, if they are on screen. */
export async function loadStatus() {
  const box = $("status");
  if (!box) return;
  let s;
  try {
    s = await api("/status");
  } catch {
    return; // the stream state and the queue already say the server is unreachable
  }
  const sev = s.alerts_active_by_severity, pri = s.tickets_open_by_priority;
  const byState = s.devices.by_state;
  box.replaceChildren(
    ...["online", "stale", "offline", "unknown"].map((k) => card(t(`status.devices_${k}`), byState[k] || 0,
      k !== "online" && byState[k] ? "warn" : "")),
    ...["critical", "major", "minor"].map((k) => card(t(`status.alerts_${k}`), sev[k] || 0,
      sev[k] ? (k === "critical" ? "bad" : "warn") : "")),
    card(t("status.unacknowledged"), s.alerts_unacknowledged, s.alerts_unacknowledged ? "warn" : ""),
    ...["P1", "P2", "P3", "P4"].map((k) => card(t("status.tickets", { p: k }), pri[k] || 0,
      k === "P1" && pri[k] ? "bad" : "")),
    card(t("status.sla_breaches"), s.sla_breaches, s.sla_breaches ? "bad" : ""));
}

/** The status panel, placed at the top of a view. */
export function statusPanel(root) {
  root.append(el("section", { class: "panel", "aria-labelledby": "status-h" },
    el("h2", { id: "status-h" }, t("status.title")),
    el("div", { id: "status", class: "cards" })));
  loadStatus();
}

let soon = 0;
function loadSoon() { // a burst of stream frames: one status read for all of them
  clearTimeout(soon);
  soon = setTimeout(loadStatus, STATUS_DEBOUNCE_MS);
}

on("poll", loadStatus);
on("connected", loadSoon);
on("incident", loadSoon);
