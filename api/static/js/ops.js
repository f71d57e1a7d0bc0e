// Operations (SPEC §8): disablements, tests, silences, maintenance windows, emergencies, who is
// on duty and the alarm report. Each view lists what the API answers and offers its create
// form; an endpoint this server does not have (404) says so instead of failing.
import { alarmHealth, alarmQuery } from "./alarmhealth.js";
import { api, ApiError, csvButton, el, me, say, when } from "./core.js";
import { t } from "./i18n.js";
import { field } from "./tickets.js";

const HOUR = 3600e3;
const target = ["site", "zone", "device_id"];
const VIEWS = { // name -> path, create-form fields, how the fields become the body
  disablements: { path: "/disablements", fields: [...target, "reason", "until"],
    body: (f) => ({ target: tgt(f), reason: f.reason, until: iso(f.until) }) },
  tests: { path: "/tests", fields: [...target, "note", "until"],
    body: (f) => ({ target: tgt(f), note: f.note, until: iso(f.until) }) },
  silences: { path: "/silences", fields: [...target, "rule", "comment", "until"],
    body: (f) => ({ matchers: clean({ site: f.site, zone: f.zone, device_id: f.device_id,
      rule: f.rule }), comment: f.comment, until: iso(f.until) }) },
  windows: { path: "/maintenance-windows", fields: [...target, "note", "start", "end"],
    body: (f) => ({ matchers: clean({ site: f.site, zone: f.zone, device_id: f.device_id }),
      note: f.note, start: iso(f.start), end: iso(f.end) }) },
  emergencies: { path: "/emergencies", fields: ["plan", ...target, "note"],
    body: (f) => ({ plan: f.plan, target: tgt(f), note: f.note }) },
  oncall: { path: "/oncall", fields: [] },
  report: { path: "/reports", fields: [], csv: "incident-report.csv" },
  reports: { path: "/reports/alarms", fields: [], csv: "alarm-report.csv", render: alarmHealth,
    query: alarmQuery },
};
const CREATORS = { admin: true, security: true, maintenance: true };

function clean(o) {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v));
}
function tgt(f) {
  return clean({ site: f.site, zone: f.zone, device_id: f.device_id });
}
function iso(local) {
  return local ? new Date(local).toISOString() : undefined;
}

function inputFor(name) {
  if (["until", "start", "end"].includes(name)) {
    const d = new Date(Date.now() + (name === "start" ? 0 : HOUR) - new Date().getTimezoneOffset() * 60e3);
    return el("input", { name, type: "datetime-local", value: d.toISOString().slice(0, 16) });
  }
  return el("input", { name, maxlength: "500", required: name === "site" || name === "plan" });
}

/** A JSON value as readable text (lists and objects flattened one level). */
function show(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return when(v);
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function table(items, spec, reload) {
  if (!items.length) return el("p", { class: "empty" }, t("ops.none"));
  const cols = [...new Set(items.flatMap((i) => Object.keys(i)))].slice(0, 8);
  return el("div", { class: "scroll" }, el("table", { class: "stack" },
    el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { scope: "col" }, c)),
      el("th", { scope: "col" }, t("ticket.c_actions")))),
    el("tbody", {}, ...items.map((i) => el("tr", {}, ...cols.map((c) => el("td", {}, show(i[c]))),
      el("td", {}, i.id !== undefined && me.role !== "viewer" ? el("button", { type: "button",
        "aria-label": `${t("ops.end")} #${i.id}`, onclick: async () => {
          try { await api(`${spec.path}/${i.id}/end`, { method: "POST", body: {} }); reload(); }
          catch (e) { say(e.message, true); }
        } }, t("ops.end")) : null))))));
}

function createForm(name, spec, reload) {
  if (!spec.fields.length || !CREATORS[me.role]) return null;
  const form = el("form", { class: "grid", onsubmit: async (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(form));
    try {
      await api(spec.path, { method: "POST", body: spec.body(f) });
      say(t("ops.created"));
      reload();
    } catch (err) {
      say(err.message, true);
    }
  } }, ...spec.fields.map((n) => field(t(`ops.f_${n}`), inputFor(n))),
  el("div", {}, el("button", { type: "submit", class: "primary" }, t(`ops.create_${name}`))));
  return el("div", {}, el("h3", {}, t(`ops.create_${name}`)), form);
}

/** The operations view, #/ops/NAME. */
export function opsView(root, sub) {
  const name = VIEWS[sub] ? sub : "disablements";
  const spec = VIEWS[name];
  const body = el("div", { id: "ops-body" });
  root.append(el("section", { class: "panel wide", "aria-labelledby": "ops-h" },
    el("h2", { id: "ops-h" }, t("nav.ops"), " — ", t(`ops.${name}`)),
    el("nav", { class: "ranges", "aria-label": t("nav.ops") }, ...Object.keys(VIEWS).map((v) =>
      el("a", { href: `#/ops/${v}`, "aria-current": v === name ? "page" : null }, t(`ops.${v}`)))),
    body));
  async function reload() {
    let data;
    try {
      data = await api(spec.path + (spec.query ? `?${new URLSearchParams(spec.query())}` : ""));
    } catch (e) {
      const gone = e instanceof ApiError && (e.status === 404 || e.status === 405);
      body.replaceChildren(el("p", { class: gone ? "empty unavailable" : "message error" },
        gone ? t("ops.unavailable") : e.message));
      return;
    }
    const items = Array.isArray(data) ? data : Array.isArray(data.items) ? data.items : null;
    body.replaceChildren(...[
      spec.csv ? el("div", { class: "actions" }, csvButton(spec.path, t("history.csv"), spec.csv,
        spec.query)) : null,
      spec.render ? spec.render(data, reload)
        : items ? table(items, spec, reload) : el("pre", {}, JSON.stringify(data, null, 2)),
      createForm(name, spec, reload)].filter(Boolean));
  }
  reload();
}
