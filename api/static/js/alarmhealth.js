// The alarm-health report (SPEC §8.7, GET /reports/alarms): each figure beside its ISA-18.2 /
// EEMUA 191 reference level and a verdict, then the 10 most frequent (rule, device) pairs and
// the chattering ones. The period form's values stay here so the CSV download asks the same.
import { el } from "./core.js";
import { t } from "./i18n.js";

const period = { from: "", to: "", site: "" }; // as typed: datetime-local values and a site id
const OPS = { "<=": "≤", "<": "<", ">=": "≥" };
const BADGE = { ok: "st-ok", manageable: "st-warn", over: "st-bad" };

/** The query the report is asked with (empty fields left out: the server's defaults). */
export function alarmQuery() {
  const q = {};
  if (period.from) q.from = new Date(period.from).toISOString();
  if (period.to) q.to = new Date(period.to).toISOString();
  if (period.site) q.site = period.site;
  return q;
}

function reference(r) {
  if (!r) return "—";
  const level = `${OPS[r.op] || r.op} ${r.target}`;
  const limit = r.limit === null ? "" : `; ${t("alarmhealth.manageable")} ≤ ${r.limit}`;
  return `${level}${limit} (${r.source})`;
}

function value(v) {
  return v === null || v === undefined ? "—" : String(v);
}

function grid(head, rows) {
  if (!rows.length) return el("p", { class: "empty" }, t("ops.none"));
  return el("div", { class: "scroll" }, el("table", { class: "stack" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, ...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))))));
}

function periodForm(reload) {
  const input = (name, type) => el("input", { name, type, value: period[name],
    maxlength: type === "text" ? "64" : null, "aria-label": t(`alarmhealth.${name}`) });
  const form = el("form", { class: "grid", onsubmit: (e) => {
    e.preventDefault();
    Object.assign(period, Object.fromEntries(new FormData(form)));
    reload();
  } },
  el("label", {}, t("alarmhealth.from"), " ", input("from", "datetime-local")),
  el("label", {}, t("alarmhealth.to"), " ", input("to", "datetime-local")),
  el("label", {}, t("alarmhealth.site"), " ", input("site", "text")),
  el("div", {}, el("button", { type: "submit", class: "primary" }, t("alarmhealth.apply"))));
  return form;
}

/** The report as a section: period form, figures with references, top 10, chattering. */
export function alarmHealth(data, reload) {
  const figures = grid(
    [t("alarmhealth.figure"), t("alarmhealth.value"), t("alarmhealth.reference"), t("alarmhealth.verdict")],
    data.figures.map((f) => [t(`alarmhealth.f_${f.figure}`), value(f.value), reference(f.reference),
      f.verdict ? el("span", { class: `badge ${BADGE[f.verdict]}` }, t(`alarmhealth.v_${f.verdict}`))
        : "—"]));
  const top = grid([t("alarmhealth.rule"), t("alarmhealth.device"), t("alarmhealth.alerts"), t("alarmhealth.share")],
    data.top10.map((p) => [value(p.rule_id), value(p.device_id), value(p.alerts),
      value(p.share_pct)]));
  const chatter = grid([t("alarmhealth.rule"), t("alarmhealth.device"), t("alarmhealth.chattering_opens")],
    data.chattering.map((p) => [value(p.rule_id), value(p.device_id),
      value(p.chattering_opens)]));
  return el("section", { class: "alarm-health", "aria-labelledby": "alarm-h" },
    periodForm(reload),
    el("h3", { id: "alarm-h" }, t("alarmhealth.title"), " ", el("small", {},
      `${new Date(data.from).toLocaleString()} – ${new Date(data.to).toLocaleString()}`)),
    el("p", {}, t("alarmhealth.mapping")),
    figures,
    el("h3", {}, t("alarmhealth.top10")), top,
    el("h3", {}, t("alarmhealth.chattering")), chatter);
}
