// The device list: one page of the API's at a time (100 rows), so 10,000 devices cost one
// page of rows in the document, filtered by state and kind on the server.
import { api, el, on, relative, say, when } from "./core.js";
import { t, word } from "./i18n.js";
import { choice, field } from "./tickets.js";

const PAGE = 100; // rows per page
const KINDS = ["smoke_detector", "heat_detector", "fire_panel", "manual_call_point", "door",
  "air_handler", "zone_sensor"]; // SPEC §2's device kinds

/** The devices view, #/devices. */
export function devicesView(root) {
  let offset = 0;
  const body = el("tbody", { id: "devices" });
  const count = el("small", {});
  const pos = el("span", { class: "muted", "aria-live": "polite" });
  const prev = el("button", { type: "button", onclick: () => { offset -= PAGE; load(); } },
    t("devices.prev"));
  const next = el("button", { type: "button", onclick: () => { offset += PAGE; load(); } },
    t("devices.next"));
  const form = el("form", { class: "grid", onchange: () => { offset = 0; load(); },
    onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
  field(t("devices.state"), choice("state", ["", "online", "stale", "offline", "unknown"], "live")),
  field(t("devices.c_kind"), choice("kind", ["", ...KINDS], "kind")),
  field(t("devices.zone"), el("input", { name: "zone", maxlength: "128" })));

  async function load() {
    const f = new FormData(form);
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(Math.max(0, offset)) });
    for (const k of ["state", "kind", "zone"]) if (f.get(k)) q.set(k, f.get(k));
    let page;
    try {
      page = await api(`/devices?${q}`);
    } catch (e) {
      say(t("load.failed", { why: e.message }), true);
      return;
    }
    count.textContent = `(${page.total})`;
    pos.textContent = page.total ? t("devices.range", { from: page.offset + 1,
      to: page.offset + page.items.length, total: page.total }) : "";
    prev.disabled = page.offset === 0;
    next.disabled = page.offset + page.items.length >= page.total;
    body.replaceChildren(...page.items.map((d) => el("tr", { "data-id": d.id },
      el("td", {}, el("a", { href: `#/device/${encodeURIComponent(d.id)}` }, d.id),
        el("div", { class: "muted" }, d.name)),
      el("td", {}, d.kind ? word("kind", d.kind) : t("devices.unregistered")),
      el("td", {}, d.zone || "—"),
      el("td", {}, el("span", { class: `badge st-${d.state}` }, word("live", d.state))),
      el("td", { title: when(d.last_seen) }, d.last_seen ? relative(d.last_seen) : t("devices.never")))));
  }
  root.append(el("section", { class: "panel wide", "aria-labelledby": "dv-h" },
    el("h2", { id: "dv-h" }, t("devices.title"), " ", count), form,
    el("div", { class: "scroll" }, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ...["devices.c_device", "devices.c_kind", "devices.zone",
        "devices.state", "devices.c_last"].map((k) => el("th", { scope: "col" }, t(k))))), body)),
    el("div", { class: "actions" }, prev, next, pos)));
  load();
  return on("poll", load);
}
