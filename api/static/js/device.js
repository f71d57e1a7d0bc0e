// One device: its facts, a chart per numeric metric over 1 h / 24 h / 7 d from the time-series
// store with the rules' limits drawn, its open incidents and its recent ones.
import { api, el, relative, say, when } from "./core.js";
import { ruleText, t, word } from "./i18n.js";
import { lineChart } from "./chart.js";

const RANGES = { // label key -> span (ms) and the `every` asked for (raw samples for 1 h)
  "device.r1h": { span: 3600e3, every: null },
  "device.r24h": { span: 86400e3, every: "5m" },
  "device.r7d": { span: 7 * 86400e3, every: "1h" },
};
let thresholds = null; // GET /rules/thresholds, read once per page load

function selects(rule, d) {
  const has = (list, v) => !list.length || list.includes(v);
  return has(rule.kinds, d.kind) && has(rule.sites, d.site) && has(rule.zones, d.zone)
    && has(rule.devices, d.id);
}

async function loadThresholds() {
  if (thresholds === null) {
    thresholds = await api("/rules/thresholds").then((r) => r.items).catch(() => []);
  }
  return thresholds;
}

async function limitsFor(d, metric) {
  await loadThresholds();
  const out = [];
  for (const r of thresholds) {
    if (r.metric !== metric || !selects(r, d)) continue;
    const label = ruleText({ rule_id: r.rule_id, title: r.title, kind: "alert" }, "title");
    if (r.above !== null) out.push({ value: r.above, label });
    if (r.below !== null) out.push({ value: r.below, label });
  }
  return out;
}

function metricPanel(d, metric) {
  const box = el("div", { class: "chart-box", "data-metric": metric });
  const buttons = Object.keys(RANGES).map((key) => el("button", { type: "button",
    "aria-pressed": "false", "data-range": key, onclick: () => draw(key) }, t(key)));
  async function draw(key) {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.range === key));
    const { span, every } = RANGES[key];
    const end = Date.now(), start = end - span;
    const q = new URLSearchParams({ metric, start: String(start / 1000), end: String(end / 1000) });
    if (every) q.set("every", every);
    try {
      const [series, limits] = await Promise.all([
        api(`/devices/${encodeURIComponent(d.id)}/telemetry?${q}`), limitsFor(d, metric)]);
      box.replaceChildren(lineChart(series.samples, limits, start, end,
        t("device.chart", { metric, range: t(key) }), box.clientWidth));
    } catch (e) {
      box.replaceChildren(el("p", { class: "empty" }, e.message));
    }
  }
  draw("device.r1h");
  return el("section", { class: "panel", "aria-label": metric },
    el("h3", {}, metric), el("div", { class: "ranges", role: "group",
      "aria-label": t("device.range") }, ...buttons), box);
}

function incidentList(items, emptyKey) {
  return items.length ? el("ul", { class: "items" }, ...items.map((i) => el("li", { class: "item" },
    el("a", { href: `#/incident/${i.id}` }, ruleText(i, "title")),
    el("span", { class: "muted" }, ` #${i.id} · ${word("state", i.state)} · ${relative(i.opened_at)}`))))
    : el("p", { class: "empty" }, t(emptyKey));
}

/** The device view, #/device/ID. */
export async function deviceView(root, id) {
  let d, open, recent, rules;
  try {
    const enc = encodeURIComponent(id);
    [d, open, recent, rules] = await Promise.all([api(`/devices/${enc}`),
      api(`/incidents?device_id=${enc}&open=true&limit=50`),
      api(`/incidents?device_id=${enc}&limit=20`), loadThresholds()]);
  } catch (e) {
    say(e.message, true);
    return;
  }
  // Charted: the numeric metrics in the device's latest values (the service's memory since it
  // started or restored) and every metric a threshold rule watches on this device, whose
  // history the store may hold though nothing arrived since (a silent or never-heard device).
  const numeric = [...new Set([
    ...Object.entries(d.latest).filter(([, v]) => typeof v.value === "number").map(([m]) => m),
    ...rules.filter((r) => selects(r, d)).map((r) => r.metric)])].sort();
  root.append(
    el("section", { class: "panel wide", "aria-labelledby": "dev-h" },
      el("h2", { id: "dev-h" }, `${d.id} — ${d.name || ""}`),
      el("p", {}, el("span", { class: `badge st-${d.state}` }, word("live", d.state)), " ",
        [d.kind && word("kind", d.kind), d.site, d.zone, d.floor && t("map.floor", { f: d.floor })]
          .filter(Boolean).join(" · "), " · ", t("device.last_seen"), " ",
        el("span", { title: when(d.last_seen) }, d.last_seen ? relative(d.last_seen) : "—")),
      el("table", {}, el("tbody", {}, ...Object.entries(d.latest).map(([m, v]) => el("tr", {},
        el("th", { scope: "row" }, m), el("td", {}, String(v.value)),
        el("td", { class: "muted" }, relative(v.ts))))))),
    ...(numeric.length ? numeric.map((m) => metricPanel(d, m))
      : [el("section", { class: "panel" }, el("p", { class: "empty" }, t("device.no_readings")))]),
    el("section", { class: "panel", "aria-labelledby": "dev-open-h" },
      el("h2", { id: "dev-open-h" }, t("device.open")), incidentList(open.items, "device.none")),
    el("section", { class: "panel", "aria-labelledby": "dev-recent-h" },
      el("h2", { id: "dev-recent-h" }, t("device.recent")), incidentList(recent.items, "device.none")));
}
