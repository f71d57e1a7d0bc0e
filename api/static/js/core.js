// What every view shares: the same-origin API call with the bearer token, the element builder,
// the message line, the confirm dialog and who the token is. Every piece of text from the API
// goes into the page through textContent (see el()), never as markup.
import { t } from "./i18n.js";

export const API = "/api/v1";
// sessionStorage, not localStorage: the token is a bearer secret (often admin). It should die
// with the tab instead of staying on a shared guard-room PC's disk for the next person.
export const TOKEN_KEY = "sitewatch.token";
const MESSAGE_MS = 20000; // an action's answer stays this long

export const $ = (id) => document.getElementById(id);

export const me = { name: "", role: "" }; // filled from GET /whoami
const ACTS_ON = { alert: ["security", "admin"], ticket: ["maintenance", "admin"] };

/** May the token's role change an incident of this kind? (the server checks it again) */
export function mayAct(kind) {
  return (ACTS_ON[kind] || []).includes(me.role);
}

/** May the token's role open a ticket by hand? */
export function mayOpenTicket() {
  return ["security", "maintenance", "admin"].includes(me.role);
}

export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, text) { super(text); this.status = status; }
}

export async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method: options.method || "GET", headers, cache: "no-store",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) { // 422: name the field
      detail = detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    throw new ApiError(res.status, `${res.status}: ${detail || res.statusText}`);
  }
  return body;
}

/** Does the server have this endpoint? 404 on a plain GET means "not on this server". */
export async function probe(path) {
  try {
    await api(path);
    return true;
  } catch (e) {
    if (e.status === 404 || e.status === 405) return false;
    return true; // 403, 422, 503: it exists
  }
}

/**
 * A "Download CSV" button for an API path that may offer `format=csv`: hidden until the API
 * answers that path with text/csv (a server without it, or an older one, shows nothing).
 * `query` gives the current query string (filters) when the button is pressed.
 */
export function csvButton(path, label, filename, query) {
  const params = (probe) => new URLSearchParams({ ...(!probe && query ? query() : {}),
    format: "csv" });
  const get = (probe) => fetch(`${API}${path}?${params(probe)}`, {
    headers: { Authorization: `Bearer ${token()}` }, cache: "no-store" });
  const button = el("button", { type: "button", class: "csv", hidden: true, onclick: async () => {
    const res = await get().catch(() => null);
    if (!res || !res.ok) { say(`CSV: ${res ? res.status : "—"}`, true); return; }
    const link = el("a", { href: URL.createObjectURL(await res.blob()), download: filename });
    document.body.append(link);
    link.click();
    link.remove();
  } }, label);
  get(true).then((res) => {
    const type = res.ok ? res.headers.get("content-type") || "" : "";
    button.hidden = !type.includes("text/csv");
    if (res.body) res.body.cancel().catch(() => {}); // only the answer's type was wanted
  }).catch(() => {});
  return button;
}

let messageTimer = null;
export function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "message error" : "message";
  m.hidden = !text;
  clearTimeout(messageTimer);
  if (text) messageTimer = setTimeout(() => { m.hidden = true; }, MESSAGE_MS);
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString(document.documentElement.lang) : "—";
}

export function relative(iso) {
  if (!iso) return "—";
  const s = Math.round((new Date(iso) - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 5) return t("time.now"); // also hides sub-second skew between server and browser
  const fmt = new Intl.RelativeTimeFormat(document.documentElement.lang, { numeric: "always" });
  if (a < 90) return fmt.format(s, "second");
  if (a < 5400) return fmt.format(Math.round(s / 60), "minute");
  if (a < 172800) return fmt.format(Math.round(s / 3600), "hour");
  return fmt.format(Math.round(s / 86400), "day");
}

/** Where an incident or a device is, in words. */
export function where(x) {
  return [x.location, x.zone, x.device_id].filter(Boolean).join(" · ");
}

/**
 * The confirm step of an action: a modal dialog with an optional note, focused on the note so
 * Enter confirms. Resolves to the note, or null when cancelled (Escape or the Cancel button).
 */
export function confirmAction(title, confirmLabel, extra) {
  return new Promise((resolve) => {
    const note = el("textarea", { id: "dlg-note", rows: "2", maxlength: "2000" });
    const form = el("form", { method: "dialog", class: "dlg" },
      el("h2", {}, title),
      extra || null,
      el("label", { for: "dlg-note" }, t("action.note")),
      note,
      el("div", { class: "actions" },
        el("button", { type: "submit", class: "primary", value: "ok" }, confirmLabel),
        el("button", { type: "button", value: "cancel", onclick: () => dlg.close("cancel") },
          t("action.cancel"))));
    const dlg = el("dialog", { "aria-label": title }, form);
    note.addEventListener("keydown", (e) => { // Enter confirms; Shift+Enter is a new line
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); dlg.close("ok"); }
    });
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(dlg.returnValue === "ok" ? note.value : null);
    });
    document.body.append(dlg);
    dlg.showModal();
    note.focus();
  });
}

/** POST a transition; says what happened; returns the updated incident or null. */
export async function transition(incident, action, body) {
  try {
    const updated = await api(`/incidents/${incident.id}/${action}`, { method: "POST", body });
    say(t("action.done", { id: incident.id, action: t(`action.${action}`) }));
    return updated;
  } catch (e) {
    say(t("action.refused", { id: incident.id, action: t(`action.${action}`), why: e.message }),
      true);
    return null;
  }
}

/** A small event bus: the stream publishes incident changes, views listen. */
const listeners = new Map();
export function on(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}
export function emit(name, value) {
  for (const fn of listeners.get(name) || []) fn(value);
}
