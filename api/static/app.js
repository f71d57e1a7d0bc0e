// Sitewatch operator dashboard: plain JS, same-origin /api/v1 calls with the bearer token.
// Every piece of text from the API goes into the page through textContent (see el()), never
// as markup, so a device name or a note cannot inject anything.
"use strict";

const API = "/api/v1";
// sessionStorage, not localStorage: the token is a bearer secret (often admin). It should die
// with the tab instead of staying on a shared guard-room PC's disk for the next person.
const TOKEN_KEY = "sitewatch.token";
const SEVERITY_ORDER = { critical: 0, major: 1, minor: 2 };
const FEED_MAX = 100; // events kept in the live feed
const POLL_MS = 10000; // device liveness is not on the stream: re-read this often
const BACKOFF_MAX_MS = 10000; // a guard's screen: never wait long once the server is back
const MESSAGE_MS = 20000; // an action's answer stays this long

const $ = (id) => document.getElementById(id);
const state = {
  alerts: new Map(), lastEventId: null, stream: null, timer: null, loadFailed: false,
  seenCritical: new Set(), // critical alert ids the banner has already flashed for
};

// --- helpers -------------------------------------------------------------------------------

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function relative(iso) {
  if (!iso) return "—";
  const s = Math.round((new Date(iso) - Date.now()) / 1000);
  const a = Math.abs(s);
  if (a < 5) return "just now"; // also hides sub-second skew between server and browser
  const text = a < 90 ? `${a} s` : a < 5400 ? `${Math.round(a / 60)} min`
    : a < 172800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return s < 0 ? `${text} ago` : `in ${text}`;
}

let messageTimer = null;
function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "message error" : "message";
  m.hidden = !text;
  clearTimeout(messageTimer);
  if (text) messageTimer = setTimeout(() => { m.hidden = true; }, MESSAGE_MS);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

class ApiError extends Error {
  constructor(status, text) { super(text); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, {
    method: options.method || "GET", headers, cache: "no-store",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    let detail = body && body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => d.msg).join("; "); // 422
    throw new ApiError(res.status, `${res.status}: ${detail || res.statusText}`);
  }
  return body;
}

// --- panels --------------------------------------------------------------------------------

function card(label, value, cls) {
  return el("div", { class: `card ${cls || ""}` }, el("span", { class: "num" }, value),
    el("span", { class: "label" }, label));
}

async function loadStatus() {
  const s = await api("/status");
  const sev = s.alerts_active_by_severity, pri = s.tickets_open_by_priority, ing = s.ingest;
  $("status-at").textContent = `at ${new Date(s.at).toLocaleTimeString()}`;
  $("status").replaceChildren(
    ...["online", "stale", "offline"].map((k) => card(`devices ${k}`, s.devices.by_state[k] || 0,
      k !== "online" && s.devices.by_state[k] ? "warn" : "")),
    ...["critical", "major", "minor"].map((k) => card(`${k} alerts`, sev[k] || 0,
      sev[k] ? (k === "critical" ? "bad" : "warn") : "")),
    card("unacknowledged", s.alerts_unacknowledged, s.alerts_unacknowledged ? "warn" : ""),
    ...["P1", "P2", "P3", "P4"].map((k) => card(`${k} tickets`, pri[k] || 0,
      k === "P1" && pri[k] ? "bad" : "")),
    card("SLA breaches", s.sla_breaches, s.sla_breaches ? "bad" : ""),
    card("ingest received", ing.received),
    card("ingest rejected", ing.rejected_total, ing.rejected_total ? "warn" : ""),
  );
}

async function loadAlerts() {
  const page = await api("/incidents?kind=alert&open=true&limit=200");
  state.alerts = new Map(page.items.map((i) => [i.id, i]));
  renderAlerts();
}

function renderAlerts() {
  const alerts = [...state.alerts.values()].sort((a, b) =>
    (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9)
    || (a.state === "active" ? 0 : 1) - (b.state === "active" ? 0 : 1)
    || b.last_seen_at.localeCompare(a.last_seen_at));
  $("alerts-count").textContent = `(${alerts.length})`;
  $("alerts").replaceChildren(...(alerts.length ? alerts.map(alertItem)
    : [el("li", { class: "empty" }, "No active alerts.")]));
  renderBanner(alerts.filter((a) => a.severity === "critical"));
}

function alertItem(a) {
  const where = [a.location, a.zone, a.device_id].filter(Boolean).join(" · ");
  return el("li", { class: `item sev-${a.severity}` },
    el("div", { class: "line" },
      el("span", { class: `badge sev-${a.severity}` }, a.severity),
      el("strong", {}, a.title),
      el("span", { class: "muted" }, `#${a.id} · ${a.state}`)),
    el("div", { class: "muted" }, where,
      ` · opened ${relative(a.opened_at)}`,
      a.occurrences > 1 ? ` · ×${a.occurrences}` : "",
      a.escalation_level ? ` · escalated to level ${a.escalation_level}` : ""),
    a.description ? el("div", {}, a.description) : null,
    a.runbook ? el("details", {}, el("summary", {}, "Runbook"), el("pre", {}, a.runbook)) : null,
    el("div", { class: "actions" },
      a.state === "active" ? actionButton("Acknowledge", a, "acknowledge") : null,
      actionButton("Resolve", a, "resolve")));
}

function renderBanner(criticals) {
  const banner = $("critical");
  const unseen = criticals.filter((a) => a.state === "active" && !state.seenCritical.has(a.id));
  if (unseen.length) { // a new critical alert: flash the banner again, even if already shown
    unseen.forEach((a) => state.seenCritical.add(a.id));
    banner.classList.remove("flash");
    void banner.offsetWidth; // restarts the CSS animation
    banner.classList.add("flash");
  }
  banner.hidden = criticals.length === 0;
  banner.replaceChildren(...criticals.map((a) => el("p", { class: a.state === "active" ? "" : "acked" },
    el("strong", {}, `CRITICAL: ${a.title}`),
    ` — ${[a.location, a.zone, a.device_id].filter(Boolean).join(" · ")}`,
    a.state === "active" ? " — NOT ACKNOWLEDGED" : ` — ${a.state}`)));
  const unacked = criticals.filter((a) => a.state === "active").length;
  document.title = unacked ? `(${unacked}) CRITICAL — Sitewatch` : "Sitewatch";
}

async function loadTickets() {
  const page = await api("/incidents?kind=ticket&open=true&order=deadline&limit=200");
  $("tickets-count").textContent = `(${page.total})`;
  $("tickets").replaceChildren(...(page.items.length ? page.items.map(ticketRow)
    : [el("tr", {}, el("td", { colspan: "6", class: "empty" }, "No open tickets."))]));
}

function deadline(iso, breached, done) {
  const late = !done && (breached || (iso && new Date(iso) < Date.now()));
  return el("td", { class: late ? "when overdue" : "when", title: when(iso) },
    done ? "done" : relative(iso), late ? " (overdue)" : "");
}

function ticketRow(t) {
  return el("tr", {},
    el("td", {}, el("span", { class: `badge pri-${t.priority}` }, t.priority)),
    el("td", {}, el("div", {}, t.title), el("div", { class: "muted" },
      [`#${t.id}`, t.device_id, t.department, t.assignee && `taken by ${t.assignee}`]
        .filter(Boolean).join(" · "))),
    el("td", {}, t.state.replace("_", " ")),
    deadline(t.respond_by, t.respond_breached, t.acknowledged_at !== null),
    deadline(t.resolve_by, t.resolve_breached, false),
    el("td", {}, el("div", { class: "actions" },
      actionButton("Assign to me", t, "assign"),
      t.state !== "in_progress" ? actionButton("Start", t, "start") : null,
      actionButton("Resolve", t, "resolve"))));
}

async function loadDevices() {
  const filter = $("device-filter").value;
  const page = await api(`/devices?limit=1000${filter ? `&state=${filter}` : ""}`);
  $("devices-count").textContent = `(${page.total})`;
  $("devices").replaceChildren(...page.items.map((d) => el("tr", { class: `dev-${d.state}` },
    el("td", {}, el("div", {}, d.id), el("div", { class: "muted" }, d.name)),
    el("td", {}, d.kind || "unregistered"),
    el("td", {}, d.zone || "—"),
    el("td", {}, el("span", { class: `badge st-${d.state}` }, d.state)),
    el("td", { class: "when", title: when(d.since) }, relative(d.since)),
    el("td", { class: "when", title: when(d.last_seen) }, d.last_seen ? relative(d.last_seen) : "never"))));
}

async function refresh() {
  if (!token()) return;
  const results = await Promise.allSettled([loadStatus(), loadAlerts(), loadTickets(), loadDevices()]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) say(`Could not load: ${failed.reason.message}`, true);
  else if (state.loadFailed) say(""); // the previous failure is over
  state.loadFailed = Boolean(failed);
}

let refreshTimer = null;
function refreshSoon() { // many events may arrive at once: one refresh for the burst
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 300);
}

// --- actions -------------------------------------------------------------------------------

function actionButton(label, incident, action) {
  return el("button", { type: "button", onclick: () => act(incident, action) }, label);
}

async function act(incident, action) {
  const body = {};
  if (action === "assign") {
    try {
      body.assignee = (await api("/whoami")).name; // the token's name: the actor everywhere
    } catch (e) {
      say(`who am I? ${e.message}`, true);
      return;
    }
  }
  if (action === "resolve" && incident.kind === "alert") { // SPEC §6: an alert needs its code
    const codes = ["real", "false_alarm", "unwanted", "test", "fault"];
    const code = prompt(`Resolve #${incident.id}: was it ${codes.join(", ")}?`, "real");
    if (code === null) return; // cancelled
    body.code = code.trim();
  }
  const note = prompt(`${action} #${incident.id} “${incident.title}”. Note (optional):`, "");
  if (note === null) return; // cancelled
  body.note = note;
  try {
    await api(`/incidents/${incident.id}/${action}`, { method: "POST", body });
    say(`#${incident.id}: ${action} done.`);
  } catch (e) {
    say(`#${incident.id} ${action} refused — ${e.message}`, true); // 403 role, 409 state, ...
  }
  refreshSoon();
}

// --- live stream ---------------------------------------------------------------------------
// EventSource cannot send an Authorization header, so the stream is read with fetch() and a
// ReadableStream, and the SSE frames are parsed here.

function setLive(text, cls) {
  $("live").textContent = text;
  $("live").className = `live ${cls}`;
}

function onEvent(type, data) {
  const ev = JSON.parse(data);
  const inc = ev.incident;
  if (inc.kind === "alert") { // show it at once; the refresh below fills in the rest
    if (["resolved", "cancelled"].includes(inc.state)) state.alerts.delete(inc.id);
    else state.alerts.set(inc.id, inc);
    renderAlerts();
  }
  const grade = inc.severity || inc.priority;
  const item = el("li", { class: inc.severity === "critical" ? "sev-critical" : "" },
    el("time", { datetime: ev.entry.at }, new Date(ev.entry.at).toLocaleTimeString()), " ",
    el("span", { class: `badge ${inc.severity ? "sev-" + inc.severity : "pri-" + inc.priority}` },
      grade), " ",
    el("strong", {}, type), ` #${inc.id} ${inc.title}`,
    inc.device_id ? ` (${inc.device_id})` : "",
    ev.entry.actor ? ` by ${ev.entry.actor}` : "", ev.entry.note ? ` — ${ev.entry.note}` : "");
  const feed = $("feed");
  const placeholder = feed.querySelector(".empty");
  if (placeholder) placeholder.remove();
  feed.prepend(item);
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  refreshSoon();
}

function dispatch(frame) {
  let id = null, type = "message", data = [];
  for (const line of frame.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comment: heartbeat
    const i = line.indexOf(":");
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? "" : line.slice(i + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "id") id = value;
    else if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (id !== null) state.lastEventId = id;
  if (data.length) onEvent(type, data.join("\n"));
}

async function readStream(signal) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
  if (state.lastEventId !== null) headers["Last-Event-ID"] = state.lastEventId;
  const res = await fetch(`${API}/stream`, { headers, signal, cache: "no-store" });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new ApiError(res.status, `${res.status}: ${(body && body.detail) || res.statusText}`);
  }
  setLive("live", "ok");
  refresh(); // whatever happened while we were not connected
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
}

async function connect() {
  if (state.stream) state.stream.abort();
  const ctl = new AbortController();
  state.stream = ctl;
  let failures = 0;
  while (!ctl.signal.aborted && token()) {
    const started = Date.now();
    try {
      setLive("connecting…", "wait");
      await readStream(ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted) return;
      if (e.status === 401) {
        clearInterval(state.timer); // no point polling with a refused token
        setLive("token rejected", "bad");
        say(`The token was refused (${e.message}). Paste a valid one.`, true);
        return;
      }
    }
    if (ctl.signal.aborted) return;
    if (Date.now() - started > 60000) failures = 0; // it had been up for a while
    failures += 1;
    // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
    const wait = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
    setLive(`disconnected, figures may be old — retrying in ${Math.ceil(wait / 1000)} s`, "bad");
    await new Promise((r) => setTimeout(r, wait));
  }
}

// --- start ---------------------------------------------------------------------------------

function start() {
  clearInterval(state.timer);
  if (!token()) {
    setLive("paste the token printed by `sitewatch demo`", "wait");
    return;
  }
  refresh();
  state.timer = setInterval(() => { loadDevices().catch(() => {}); loadStatus().catch(() => {}); },
    POLL_MS);
  connect();
}

function init() {
  // /#token=... (for a bookmark or a headless screenshot): read once, then drop it from the
  // address bar and the history so it is not left on screen.
  const match = location.hash.match(/^#token=([^&]+)/);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("token").value = token();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    state.lastEventId = null;
    say("");
    start();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload(); // and wipe what the token showed, for the next person at this screen
  });
  $("device-filter").addEventListener("change", () => loadDevices().catch((e) => say(e.message, true)));
  start();
}

init();
