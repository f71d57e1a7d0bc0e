// One incident: what and where, the actions the token's role allows (others are not shown),
// the runbook as a checklist, a ticket's checklist (SPEC §8.4), comments, the linked ticket,
// group members and the timeline.
import { api, confirmAction, el, mayAct, me, on, relative, say, transition, when, where }
  from "./core.js";
import { ruleText, t, word } from "./i18n.js";
import { acknowledge } from "./queue.js";

const STEP_RE = /^\s*(\d+)[.)]\s+(.*)$/; // "3. Start the evacuation..." opens a runbook step
const TICK_RE = /^\[step (\d+)\]/; // a comment that ticks a runbook step off

/** The runbook's numbered steps (continuation lines joined); the heading line is kept apart. */
export function runbookSteps(text) {
  const steps = [];
  let intro = "";
  for (const line of (text || "").split("\n")) {
    const m = line.match(STEP_RE);
    if (m) steps.push({ n: Number(m[1]), text: m[2] });
    else if (steps.length && line.trim()) steps[steps.length - 1].text += ` ${line.trim()}`;
    else if (line.trim()) intro += `${intro ? " " : ""}${line.trim()}`;
  }
  return { intro, steps };
}

function actions(inc, reload) {
  if (!mayAct(inc.kind)) return null; // a viewer (or the other department) sees no buttons
  const open = !["resolved", "cancelled"].includes(inc.state);
  const act = (action, label, body) => el("button", { type: "button", "data-action": action,
    onclick: async () => {
      const note = await confirmAction(`${label} #${inc.id}`, label);
      if (note !== null && await transition(inc, action, { ...body, note })) reload();
    } }, label);
  const list = [];
  if (inc.kind === "alert" && inc.state === "active") {
    list.push(el("button", { type: "button", class: "primary", "data-action": "acknowledge",
      onclick: async () => { await acknowledge(inc); reload(); } }, t("action.acknowledge")));
  }
  if (inc.kind === "ticket" && open) {
    if (inc.assignee !== me.name) list.push(act("assign", t("action.assign"), { assignee: me.name }));
    if (inc.state !== "in_progress") list.push(act("start", t("action.start")));
    list.push(act("cancel", t("action.cancel_ticket")));
  }
  if (open && inc.kind === "ticket") {
    const left = unanswered(inc);
    const resolve = act("resolve", t("action.resolve"));
    if (left) { // SPEC §8.4: the server refuses it (409) until every item has an answer
      resolve.disabled = true;
      resolve.setAttribute("aria-describedby", "resolve-why");
      list.push(resolve, el("p", { class: "hint", id: "resolve-why" },
        t("checklist.unanswered", { n: left })));
    } else list.push(resolve);
  }
  if (open && inc.kind === "alert") list.push(resolveAlert(inc, reload));
  if (inc.kind === "alert" && open && inc.severity !== "critical") {
    list.push(act("shelve", t("action.shelve"), { until: new Date(Date.now() + 3600e3) }));
  }
  return el("div", { class: "actions" }, ...list);
}

const CODES = ["real", "false_alarm", "unwanted", "test", "fault"]; // SPEC §6 resolve codes

/** Resolve an alert with its cause code; a server without the `code` field gets the note only. */
function resolveAlert(inc, reload) {
  return el("button", { type: "button", "data-action": "resolve", onclick: async () => {
    const code = el("select", { id: "dlg-code" }, ...CODES.map((c) =>
      el("option", { value: c }, t(`code.${c}`))));
    const note = await confirmAction(`${t("action.resolve")} #${inc.id}`, t("action.resolve"),
      el("label", { class: "field" }, el("span", {}, t("code.label")), code));
    if (note === null) return;
    try {
      await api(`/incidents/${inc.id}/resolve`, { method: "POST", body: { note, code: code.value } });
    } catch (e) {
      if (!(e.status === 422 && /code/.test(e.message))) { say(e.message, true); return; }
      const tagged = `[${code.value}] ${note}`.trim(); // older server: the code goes in the note
      if (!await transition(inc, "resolve", { note: tagged })) return;
    }
    reload();
  } }, t("action.resolve"));
}

/** SPEC §8.4: a ticket's checklist; each item done, failed (with a follow-up ticket if
 * asked) or n/a; an answer can be changed while the ticket is open. */
function serverChecklist(inc, reload) {
  if (!Array.isArray(inc.checklist) || !inc.checklist.length) return null;
  const may = mayAct(inc.kind) && !["resolved", "cancelled"].includes(inc.state);
  const translated = ruleText(inc, "checklist"); // the rule's items in the reader's language
  const own = Array.isArray(translated) && translated.length === inc.checklist.length
    && typeof translated[0] === "string" && String(inc.opened_by || "").startsWith("rule:");
  return el("section", { class: "panel", "aria-labelledby": "cl-h" },
    el("h2", { id: "cl-h" }, t("incident.checklist")),
    el("ol", { class: "checklist answers", id: "checklist" }, ...inc.checklist.map((item) => {
      const text = own ? translated[item.position - 1] : item.text;
      return el("li", { "data-item": item.position, "data-result": item.result || "" },
        el("div", { class: "item" },
          el("span", {}, `${item.position}. ${text}`),
          item.result ? el("strong", { class: `result r-${item.result.replace("/", "")}` },
            ` ${t(`check.${item.result}`)}`) : null,
          item.note ? el("div", { class: "muted" }, item.note) : null,
          item.answered_by ? el("div", { class: "muted" },
            `${item.answered_by} · ${relative(item.answered_at)}`) : null,
          item.follow_up_incident_id ? el("div", {}, `${t("checklist.follow_up_ticket")} `,
            el("a", { href: `#/incident/${item.follow_up_incident_id}` },
              `#${item.follow_up_incident_id}`)) : null),
        may ? el("span", { class: "actions" }, ...["done", "failed", "n/a"].map((r) =>
          el("button", { type: "button", "data-result": r, "aria-pressed": String(item.result === r),
            onclick: () => answer(inc, item, text, r, reload) }, t(`check.${r}`)))) : null);
    })));
}

/** Answer one item: done and n/a at once; failed asks for a note and offers a follow-up. */
async function answer(inc, item, text, result, reload) {
  const body = { result };
  if (result === "failed") {
    const box = el("input", { type: "checkbox", id: "dlg-follow-up",
      checked: !item.follow_up_incident_id, disabled: Boolean(item.follow_up_incident_id) });
    const note = await confirmAction(`${t("check.failed")}: ${item.position}. ${text}`,
      t("check.failed"), el("label", { class: "field" }, box, " ", t("checklist.follow_up")));
    if (note === null) return;
    Object.assign(body, { note, follow_up: box.checked && !box.disabled });
  }
  try {
    await api(`/incidents/${inc.id}/checklist/${item.position}`, { method: "POST", body });
    reload();
  } catch (e) { say(e.message, true); }
}

/** How many checklist items still want an answer (a ticket resolves only at none). */
function unanswered(inc) {
  return (inc.checklist || []).filter((i) => !i.result).length;
}

function checklist(inc, reload) {
  const { intro, steps } = runbookSteps(ruleText(inc, "runbook"));
  if (!steps.length && !intro) return null;
  const ticked = new Set();
  for (const e of inc.timeline) {
    const m = e.action === "commented" && e.note.match(TICK_RE);
    if (m) ticked.add(Number(m[1]));
  }
  const may = mayAct(inc.kind);
  return el("section", { class: "panel", "aria-labelledby": "rb-h" },
    el("h2", { id: "rb-h" }, t("incident.runbook")),
    intro ? el("p", {}, intro) : null,
    el("ul", { class: "checklist" }, ...steps.map((s) => {
      const id = `step-${s.n}`;
      return el("li", {},
        el("input", { type: "checkbox", id, checked: ticked.has(s.n), disabled: !may || ticked.has(s.n),
          onchange: async (e) => { // a tick is a timeline comment, so every console sees it
            e.target.disabled = true;
            if (await transition(inc, "comment", { note: `[step ${s.n}] ${s.text}`.slice(0, 2000) })) {
              reload();
            } else e.target.checked = e.target.disabled = false;
          } }),
        el("label", { for: id }, `${s.n}. ${s.text}`));
    })));
}

function timeline(inc) {
  return el("section", { class: "panel", "aria-labelledby": "tl-h" },
    el("h2", { id: "tl-h" }, t("incident.timeline")),
    el("ol", { class: "timeline", id: "timeline" }, ...inc.timeline.map((e) => el("li", {},
      el("time", { datetime: e.at, title: when(e.at) }, relative(e.at)), " ",
      el("strong", {}, word("action", e.action)),
      e.to_state && e.from_state !== e.to_state ? ` → ${word("state", e.to_state)}` : "",
      ` · ${e.actor}`, e.note ? el("div", {}, e.note) : null))));
}

function commentForm(inc, reload) {
  if (!mayAct(inc.kind)) return null;
  const text = el("textarea", { id: "comment-text", rows: "2", maxlength: "2000", required: true });
  return el("form", { class: "panel", "aria-labelledby": "cm-h", onsubmit: async (e) => {
    e.preventDefault();
    if (text.value.trim() && await transition(inc, "comment", { note: text.value })) reload();
  } },
  el("h2", { id: "cm-h" }, t("incident.comment")),
  el("label", { for: "comment-text", class: "sr-only" }, t("incident.comment")), text,
  el("div", { class: "actions" }, el("button", { type: "submit" }, t("action.comment"))));
}

function facts(inc) {
  const row = (k, v) => (v === null || v === undefined || v === "" ? null
    : el("tr", {}, el("th", { scope: "row" }, t(k)), el("td", {}, v)));
  const link = (id) => el("a", { href: `#/incident/${id}` }, `#${id}`);
  return el("table", {}, el("tbody", {},
    row("incident.state", word("state", inc.state)),
    row("incident.where", where(inc)),
    row("incident.opened", `${when(inc.opened_at)} (${relative(inc.opened_at)})`),
    row("incident.assignee", inc.assignee),
    row("incident.respond_by", inc.respond_by && when(inc.respond_by)),
    row("incident.resolve_by", inc.resolve_by && when(inc.resolve_by)),
    row("incident.occurrences", inc.occurrences > 1 ? inc.occurrences : null),
    row("incident.linked", inc.linked_incident_id ? link(inc.linked_incident_id) : null),
    row("incident.group", inc.group_id && inc.group_id !== inc.id ? link(inc.group_id) : null),
    row("incident.members", inc.members && inc.members.length
      ? el("span", {}, ...inc.members.map((m) => [link(m.id || m), " "])) : null),
    row("incident.device", inc.device_id
      ? el("a", { href: `#/device/${inc.device_id}` }, inc.device_id) : null)));
}

/** The incident view, #/incident/ID. */
export function incidentView(root, id) {
  let alive = true;
  async function reload() {
    let inc;
    try {
      inc = await api(`/incidents/${Number(id)}`);
    } catch (e) {
      say(e.message, true);
      return;
    }
    if (!alive) return;
    const grade = inc.severity || inc.priority;
    root.replaceChildren(...[
      el("section", { class: "panel wide", "aria-labelledby": "inc-h" },
        el("h2", { id: "inc-h" },
          el("span", { class: `badge ${inc.severity ? `sev-${grade}` : `pri-${grade}`}` },
            word("severity", grade)), " ", ruleText(inc, "title"), ` #${inc.id}`),
        el("p", {}, ruleText(inc, "description")),
        facts(inc), actions(inc, reload)),
      serverChecklist(inc, reload), checklist(inc, reload), commentForm(inc, reload),
      timeline(inc)].filter(Boolean));
  }
  reload();
  const off = on("incident", (ev) => { if (ev.incident.id === Number(id)) reload(); });
  return () => { alive = false; off(); };
}
