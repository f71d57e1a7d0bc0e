// History: resolved and cancelled incidents with search and filters. kind, state, department,
// site and device go to the API; zone, period and the search words filter the fetched page
// here (the API has no such parameters yet). CSV download only when the API answers with CSV.
import { api, csvButton, el, say, when } from "./core.js";
import { ruleText, t, word } from "./i18n.js";
import { DEPARTMENTS, choice, field } from "./tickets.js";

const PAGE = 200; // rows fetched per page
const API_FILTERS = ["kind", "state", "department", "site", "device_id"];

function query(f, extra) {
  const q = new URLSearchParams({ limit: String(PAGE), ...extra });
  for (const k of API_FILTERS) if (f.get(k)) q.set(k, f.get(k));
  return q;
}

function matches(i, f) {
  if (!["resolved", "cancelled"].includes(i.state)) return false;
  const zone = f.get("zone").trim().toLowerCase();
  if (zone && !(i.zone || "").toLowerCase().includes(zone)) return false;
  const from = f.get("from"), to = f.get("to");
  if (from && i.opened_at < new Date(from).toISOString()) return false;
  if (to && i.opened_at >= new Date(new Date(to).getTime() + 86400e3).toISOString()) return false;
  const words = f.get("q").trim().toLowerCase();
  if (!words) return true;
  const hay = [ruleText(i, "title"), i.title, i.description, i.device_id, i.zone, i.location,
    i.assignee, `#${i.id}`].join(" ").toLowerCase();
  return words.split(/\s+/).every((w) => hay.includes(w));
}

/** The history view, #/history. */
export function historyView(root) {
  const body = el("tbody", { id: "history" });
  const count = el("small", {});
  const csv = csvButton("/incidents", t("history.csv"), "incidents.csv",
    () => Object.fromEntries(query(new FormData(form), {})));
  csv.id = "history-csv";
  const form = el("form", { class: "grid", id: "history-form", role: "search",
    onsubmit: (e) => { e.preventDefault(); load(); } },
  field(t("history.search"), el("input", { name: "q", type: "search" })),
  field(t("history.kind"), choice("kind", ["", "alert", "ticket"], "kind")),
  field(t("history.state"), choice("state", ["resolved", "cancelled", ""], "state")),
  field(t("ticket.f_department"), choice("department", ["", ...DEPARTMENTS], "department")),
  field(t("ticket.f_site"), el("input", { name: "site", maxlength: "64" })),
  field(t("ticket.f_zone"), el("input", { name: "zone", maxlength: "200" })),
  field(t("ticket.f_device"), el("input", { name: "device_id", maxlength: "64" })),
  field(t("history.from"), el("input", { name: "from", type: "date" })),
  field(t("history.to"), el("input", { name: "to", type: "date" })),
  el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" },
    t("history.apply")), csv));

  async function load() {
    const f = new FormData(form);
    try {
      const page = await api(`/incidents?${query(f, {})}`);
      const rows = page.items.filter((i) => matches(i, f));
      count.textContent = `(${rows.length})`;
      body.replaceChildren(...(rows.length ? rows.map((i) => el("tr", {},
        el("td", {}, word("kind", i.kind)),
        el("td", {}, el("a", { href: `#/incident/${i.id}` }, ruleText(i, "title")),
          el("div", { class: "muted" }, [`#${i.id}`, i.zone, i.device_id].filter(Boolean)
            .join(" · "))),
        el("td", {}, word("state", i.state)),
        el("td", {}, when(i.opened_at)),
        el("td", {}, when(i.resolved_at))))
        : [el("tr", {}, el("td", { colspan: "5", class: "empty" }, t("history.none")))]));
    } catch (e) {
      say(t("load.failed", { why: e.message }), true);
    }
  }
  root.append(el("section", { class: "panel wide", "aria-labelledby": "hi-h" },
    el("h2", { id: "hi-h" }, t("history.title"), " ", count), form,
    el("div", { class: "scroll" }, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ...["history.kind", "ticket.c_ticket", "history.state",
        "incident.opened", "history.resolved"].map((k) => el("th", { scope: "col" }, t(k))))),
      body))));
  load();
}
