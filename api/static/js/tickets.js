// Tickets: the open ones by deadline with "assign to me", "start" and "resolve" for the
// maintenance role, and a form to open one by hand (a complaint, a request, a fault seen).
import { api, confirmAction, el, mayAct, mayOpenTicket, me, on, relative, say, transition, when }
  from "./core.js";
import { ruleText, t, word } from "./i18n.js";

export const DEPARTMENTS = ["maintenance", "property_management", "environment", "security"];
export const PRIORITIES = ["P1", "P2", "P3", "P4"];

/** A <label> around a control, the way every form of the console is laid out. */
export function field(label, control) {
  return el("label", {}, el("span", {}, label), control);
}

export function choice(name, values, group, selected) {
  return el("select", { name }, ...values.map((v) =>
    el("option", { value: v, selected: v === selected },
      v === "" ? t("history.any") : group ? word(group, v) : v)));
}

function deadline(iso, breached, done) {
  const late = !done && (breached || (iso && new Date(iso) < Date.now()));
  return el("td", { class: late ? "overdue" : "", title: when(iso) },
    done ? t("ticket.done") : relative(iso), late ? ` (${t("ticket.overdue")})` : "");
}

function ticketActions(tk, reload) {
  if (!mayAct("ticket")) return null;
  const act = (action, label, body) => el("button", { type: "button", "data-action": action,
    "aria-label": `${label} #${tk.id}`, onclick: async () => {
      const note = action === "assign" ? "" : await confirmAction(`${label} #${tk.id}`, label);
      if (note !== null && await transition(tk, action, { ...body, note })) reload();
    } }, label);
  return el("div", { class: "actions" },
    tk.assignee !== me.name ? act("assign", t("action.assign"), { assignee: me.name }) : null,
    tk.state !== "in_progress" ? act("start", t("action.start")) : null,
    act("resolve", t("action.resolve")));
}

function ticketRow(tk, reload) {
  return el("tr", { "data-id": tk.id },
    el("td", {}, el("span", { class: `badge pri-${tk.priority}` }, tk.priority)),
    el("td", {}, el("a", { href: `#/incident/${tk.id}` }, ruleText(tk, "title")),
      el("div", { class: "muted" }, [`#${tk.id}`, tk.device_id, word("department", tk.department),
        tk.assignee && t("ticket.taken_by", { name: tk.assignee })].filter(Boolean).join(" · "))),
    el("td", {}, word("state", tk.state)),
    deadline(tk.respond_by, tk.respond_breached, tk.acknowledged_at !== null),
    deadline(tk.resolve_by, tk.resolve_breached, false),
    el("td", {}, ticketActions(tk, reload)));
}

function newTicketForm(reload) {
  const form = el("form", { class: "grid", id: "ticket-form", onsubmit: async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const body = { title: f.get("title"), department: f.get("department"),
      priority: f.get("priority") };
    const contact = f.get("contact").trim();
    // The API has no requester field yet: the contact goes first in the description.
    const description = [contact ? `${t("ticket.contact")}: ${contact}` : "", f.get("description")]
      .filter(Boolean).join("\n");
    if (description) body.description = description;
    for (const k of ["site", "zone", "device_id", "location"]) {
      const v = f.get(k).trim();
      if (v) body[k] = v;
    }
    try {
      const tk = await api("/tickets", { method: "POST", body });
      say(t("ticket.opened", { id: tk.id }));
      form.reset();
      reload();
    } catch (err) {
      say(t("ticket.refused", { why: err.message }), true);
    }
  } },
  field(t("ticket.f_title"), el("input", { name: "title", required: true, maxlength: "200" })),
  field(t("ticket.f_department"), choice("department", DEPARTMENTS, "department", "maintenance")),
  field(t("ticket.f_priority"), choice("priority", PRIORITIES, null, "P3")),
  field(t("ticket.f_site"), el("input", { name: "site", maxlength: "64" })),
  field(t("ticket.f_zone"), el("input", { name: "zone", maxlength: "200" })),
  field(t("ticket.f_device"), el("input", { name: "device_id", maxlength: "64" })),
  field(t("ticket.f_location"), el("input", { name: "location", maxlength: "500" })),
  field(t("ticket.contact"), el("input", { name: "contact", maxlength: "200",
    autocomplete: "off" })),
  field(t("ticket.f_description"), el("textarea", { name: "description", rows: "2",
    maxlength: "4000" })),
  el("div", {}, el("button", { type: "submit", class: "primary" }, t("ticket.open"))));
  return el("section", { class: "panel", "aria-labelledby": "new-h" },
    el("h2", { id: "new-h" }, t("ticket.new")), form);
}

/** The tickets view, #/tickets. */
export function ticketsView(root) {
  const body = el("tbody", { id: "tickets" });
  const count = el("small", {});
  async function reload() {
    try {
      const page = await api("/incidents?kind=ticket&open=true&order=deadline&limit=200");
      count.textContent = `(${page.total})`;
      body.replaceChildren(...(page.items.length ? page.items.map((tk) => ticketRow(tk, reload))
        : [el("tr", {}, el("td", { colspan: "6", class: "empty" }, t("ticket.none")))]));
    } catch (e) {
      say(t("load.failed", { why: e.message }), true);
    }
  }
  root.append(el("section", { class: "panel wide", "aria-labelledby": "tk-h" },
    el("h2", { id: "tk-h" }, t("ticket.title"), " ", count),
    el("div", { class: "scroll" }, el("table", { class: "stack" },
      el("thead", {}, el("tr", {}, ...["ticket.c_pri", "ticket.c_ticket", "ticket.c_state",
        "ticket.c_respond", "ticket.c_resolve", "ticket.c_actions"].map((k) =>
        el("th", { scope: "col" }, t(k))))), body))),
  ...(mayOpenTicket() ? [newTicketForm(reload)] : []));
  reload();
  let timer = 0;
  const off = on("incident", (ev) => {
    if (ev.incident.kind !== "ticket") return;
    clearTimeout(timer);
    timer = setTimeout(reload, 300); // one reload for a burst of frames
  });
  return () => { off(); clearTimeout(timer); };
}
