// The site map: floors -> zones -> devices, each coloured by its worst state AND labelled with
// it in words (never colour alone). A floor whose devices carry x, y gets a plan with pins.
import { api, el, say } from "./core.js";
import { t, word } from "./i18n.js";

const RANK = { ok: 0, warn: 1, bad: 2 };
const MAX_DEVICES = 5000; // a site map beyond this is not readable anyway
const PAGE = 500; // GET /devices pages at most 500 (a larger limit is a 422)

/** A device's worst state: an open critical alert or offline is bad; stale, never heard
 * (unknown: nothing says it works) or other alerts warn. */
function worst(d, openByDevice) {
  const sev = openByDevice.get(d.id);
  if (sev === "critical" || d.state === "offline") return "bad";
  if (sev || d.state === "stale" || d.state === "unknown") return "warn";
  return "ok";
}

async function allDevices() {
  const items = [];
  for (let offset = 0; offset < MAX_DEVICES; offset += PAGE) {
    const page = await api(`/devices?limit=${PAGE}&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total) break;
  }
  return items;
}

function pin(d, w) {
  return el("a", { class: `pin st-${w}`, href: `#/device/${encodeURIComponent(d.id)}`,
    style: null, "data-x": d.x, "data-y": d.y,
    "aria-label": `${d.id}: ${t(`map.${w}`)}` }, d.id);
}

const ZONE_PAD = 4; // % of the plan around a zone's outermost devices

/** Without a floor-plan image: each zone drawn as the box around its devices' positions. */
function zoneBoxes(placed, worstOf, alertZone) {
  const zones = new Map();
  for (const d of placed) {
    const z = zones.get(d.zone)
      || { x0: 100, y0: 100, x1: 0, y1: 0, w: alertZone.get(d.zone) || "ok" };
    z.x0 = Math.min(z.x0, d.x); z.y0 = Math.min(z.y0, d.y);
    z.x1 = Math.max(z.x1, d.x); z.y1 = Math.max(z.y1, d.y);
    if (RANK[worstOf.get(d.id)] > RANK[z.w]) z.w = worstOf.get(d.id);
    zones.set(d.zone, z);
  }
  return [...zones].map(([name, z]) => {
    const box = el("div", { class: `zone-box w-${z.w}`, "aria-hidden": "true" },
      el("span", {}, name));
    const x0 = Math.max(0, z.x0 - ZONE_PAD), y0 = Math.max(0, z.y0 - ZONE_PAD);
    box.style.left = `${x0}%`; // CSSOM: allowed by style-src 'self', unlike style attributes
    box.style.top = `${y0}%`;
    box.style.width = `${Math.min(100, z.x1 + ZONE_PAD) - x0}%`;
    box.style.height = `${Math.min(100, z.y1 + ZONE_PAD) - y0}%`;
    return box;
  });
}

function plan(floorDevices, worstOf, alertZone) {
  const placed = floorDevices.filter((d) => d.x !== null && d.x !== undefined && d.y !== null);
  if (!placed.length) return null;
  const { site, floor } = placed[0];
  // The floor's plan image when the server has one (SITEWATCH_FLOOR_PLANS), else zone boxes.
  const src = `/plans/${encodeURIComponent(site)}/${encodeURIComponent(floor)}`;
  const img = el("img", { alt: "", src });
  const zones = zoneBoxes(placed, worstOf, alertZone);
  for (const z of zones) z.hidden = true;
  img.addEventListener("error", () => { img.remove(); for (const z of zones) z.hidden = false; });
  const box = el("div", { class: "plan", role: "group", "aria-label": t("map.plan") },
    img, ...zones);
  for (const d of placed) {
    const p = pin(d, worstOf.get(d.id));
    // CSSOM, not a style attribute: the CSP (style-src 'self') forbids inline style markup.
    p.style.left = `${d.x}%`;
    p.style.top = `${d.y}%`;
    box.append(p);
  }
  return box;
}

/** The site map view, #/map. */
export async function mapView(root) {
  let devices, open;
  try {
    [devices, open] = await Promise.all([allDevices(),
      api("/incidents?kind=alert&open=true&limit=500").then((p) => p.items)]);
  } catch (e) {
    say(t("load.failed", { why: e.message }), true);
    return;
  }
  const openByDevice = new Map();
  for (const a of open) {
    if (!a.device_id) continue;
    if (a.severity === "critical" || !openByDevice.has(a.device_id)) {
      openByDevice.set(a.device_id, a.severity);
    }
  }
  const worstOf = new Map(devices.map((d) => [d.id, worst(d, openByDevice)]));
  // An alert's zone may not be its device's: a fire panel in the plant room reports a fire in
  // reception. The zone the alert names is in that state too, whoever sits in it.
  const alertZone = new Map(); // zone -> worst of the open alerts that name it
  for (const a of open) {
    if (!a.zone) continue;
    const w = a.severity === "critical" ? "bad" : "warn";
    if (RANK[w] > RANK[alertZone.get(a.zone) || "ok"]) alertZone.set(a.zone, w);
  }
  const floors = new Map();
  for (const d of devices) {
    const f = d.floor || "—";
    if (!floors.has(f)) floors.set(f, new Map());
    const zones = floors.get(f);
    const z = d.zone || "—";
    if (!zones.has(z)) zones.set(z, []);
    zones.get(z).push(d);
  }
  const section = el("section", { class: "panel wide", "aria-labelledby": "map-h" },
    el("h2", { id: "map-h" }, t("map.title")),
    el("p", { class: "muted" }, t("map.legend")));
  for (const [floor, zones] of [...floors].sort((a, b) => a[0].localeCompare(b[0]))) {
    const floorDevices = [...zones.values()].flat();
    section.append(el("div", { class: "floor" },
      el("h3", {}, t("map.floor", { f: floor })),
      plan(floorDevices, worstOf, alertZone),
      el("div", { class: "zones" }, ...[...zones].map(([zone, list]) => {
        const w = list.reduce((acc, d) => (RANK[worstOf.get(d.id)] > RANK[acc]
          ? worstOf.get(d.id) : acc), alertZone.get(zone) || "ok");
        return el("div", { class: `zone w-${w}`, "data-zone": zone },
          el("strong", {}, zone), " ", el("span", { class: `badge st-${w}` }, t(`map.${w}`)),
          el("ul", { class: "devs" }, ...list.map((d) => el("li", {},
            el("a", { class: `badge st-${worstOf.get(d.id)}`,
              href: `#/device/${encodeURIComponent(d.id)}`,
              title: word("live", d.state) }, `${d.id} · ${t(`map.${worstOf.get(d.id)}`)}`)))));
      }))));
  }
  root.append(section);
}
