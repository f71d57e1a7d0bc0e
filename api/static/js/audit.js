// Audit (SPEC §8.6, admins): who changed what through the API or the CLI, newest first.
// actor, action, target and the period go to GET /api/v1/audit; "More" reads the next page.
import { api, csvButton, el, me, say, when } from "./core.js";
import { t } from "./i18n.js";
import { field } from "./tickets.js";

const PAGE = 100; // entries per page
const FILTERS = ["actor", "action", "target"];

function query(f) {
  const q = {};
  for (const k of FILTERS) if (f.get(k).trim()) q[k] = f.get(k).trim();
  if (f.get("from")) q.from = new Date(f.get("from")).toISOString();
  if (f.get("to")) q.to = new Date(new Date(f.get("to")).getTime() + 86400e3).toISOString();
  return q;
}

function row(e) {
  return el("tr", {},
    el("td", {}, when(e.at)),
    el("td", {}, e.actor, e.actor_token_id ? el("div", { class: "muted" }, `#${e.actor_token_id}`)
      : null),
    // kind and verb apart: "incident" "." "acknowledge" (the exact filter value, readable)
    el("td", { class: "action" }, ...e.action.split(/(\.)/).map((p) => el("span", {}, p))),
    el("td", {}, e.target.startsWith("incident:")
      ? el("a", { href: `#/incident/${e.target.slice(9)}` }, e.target) : e.target,
    e.site ? el("div", { class: "muted" }, e.site) : null),
    el("td", {}, el("code", { class: "detail" }, JSON.stringify(e.detail))));
}

/** The audit view, #/audit. */
export function auditView(root) {
  if (me.role !== "admin") {
    root.append(el("p", { class: "empty" }, t("audit.admins_only")));
    return;
  }
  const body = el("tbody", { id: "audit" });
  const count = el("small", {});
  const more = el("button", { type: "button", hidden: true, onclick: () => load(next) },
    t("audit.more"));
  let next = 0;
  const form = el("form", { class: "grid", id: "audit-form", role: "search",
    onsubmit: (e) => { e.preventDefault(); load(0); } },
  field(t("audit.actor"), el("input", { name: "actor", maxlength: "128" })),
  field(t("audit.action"), el("input", { name: "action", maxlength: "64",
    placeholder: "incident.acknowledge" })),
  field(t("audit.target"), el("input", { name: "target", maxlength: "300",
    placeholder: "incident:42" })),
  field(t("history.from"), el("input", { name: "from", type: "date" })),
  field(t("history.to"), el("input", { name: "to", type: "date" })),
  el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" },
    t("history.apply")), csvButton("/audit", t("history.csv"), "audit.csv",
    () => query(new FormData(form)))));

  async function load(offset) {
    const q = new URLSearchParams({ ...query(new FormData(form)), limit: String(PAGE),
      offset: String(offset) });
    try {
      const page = await api(`/audit?${q}`);
      const rows = page.items.map(row);
      if (offset === 0) {
        body.replaceChildren(...(rows.length ? rows
          : [el("tr", {}, el("td", { colspan: "5", class: "empty" }, t("audit.none")))]));
      } else body.append(...rows);
      count.textContent = `(${page.total})`;
      next = page.next_offset ?? 0;
      more.hidden = page.next_offset === null;
    } catch (e) {
      say(t("load.failed", { why: e.message }), true);
    }
  }
  root.append(el("section", { class: "panel wide", "aria-labelledby": "au-h" },
    el("h2", { id: "au-h" }, t("audit.title"), " ", count), form,
    el("div", { class: "scroll" }, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ...["audit.at", "audit.actor", "audit.action", "audit.target",
        "audit.detail"].map((k) => el("th", { scope: "col" }, t(k))))),
      body)), more));
  load(0);
}
