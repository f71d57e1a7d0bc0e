// Sitewatch console: the page's entry. Language, token, who the token is, the views by route
// (#/queue, #/incident/ID, #/tickets, #/history, #/devices, #/device/ID, #/map, #/ops/...),
// and the stream that keeps the alarm queue live. Plain ES modules, no build step.
import { $, api, emit, me, on, say, setToken, token } from "./js/core.js";
import { LOCALES, setLocale, t, translatePage } from "./js/i18n.js";
import { connect, relabelLive, setLive } from "./js/stream.js";
import { loadAlerts, queueView, redraw } from "./js/queue.js";
import { soundButton } from "./js/alarm.js";
import { statusPanel, loadStatus } from "./js/status.js";
import { incidentView } from "./js/incident.js";
import { ticketsView } from "./js/tickets.js";
import { historyView } from "./js/history.js";
import { devicesView } from "./js/devices.js";
import { deviceView } from "./js/device.js";
import { mapView } from "./js/sitemap.js";
import { opsView } from "./js/ops.js";

const POLL_MS = 10000; // device liveness and status are not on the stream: re-read this often
const ROUTES = {
  queue: (root) => { const off = queueView(root); statusPanel(root); return off; },
  incident: incidentView,
  tickets: ticketsView,
  history: historyView,
  devices: devicesView,
  device: deviceView,
  map: mapView,
  ops: opsView,
};
let cleanup = null;
let poll = null;

function route() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = ROUTES[name] ? name : "queue";
  const root = $("view");
  if (cleanup) cleanup();
  cleanup = null;
  root.replaceChildren();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!token() || !me.role) return;
  const result = ROUTES[view](root, decodeURIComponent(rest.join("/")));
  if (typeof result === "function") cleanup = result;
}

async function start(fresh) {
  clearInterval(poll);
  me.name = me.role = "";
  if (!token()) {
    setLive("live.need_token", "wait");
    route();
    return;
  }
  try {
    Object.assign(me, await api("/whoami"));
  } catch (e) {
    setLive("live.refused", "bad");
    say(t("token.refused", { why: e.message }), true);
    route();
    return;
  }
  $("who").textContent = t("who", { name: me.name, role: t(`role.${me.role}`) });
  route();
  loadAlerts().catch((e) => say(t("load.failed", { why: e.message }), true));
  poll = setInterval(() => { emit("poll"); }, POLL_MS);
  connect(fresh);
}

function languagePicker() {
  const select = $("lang");
  select.replaceChildren(...LOCALES.map((l) => {
    const o = document.createElement("option");
    o.value = l;
    o.textContent = t(`lang.${l}`);
    return o;
  }));
  select.value = document.documentElement.lang;
}

async function init() {
  await setLocale(null);
  languagePicker();
  // /#token=... (for a bookmark or a headless screenshot): read once, then drop it from the
  // address bar and the history so it is not left on screen.
  const match = location.hash.match(/^#token=([^&]+)/);
  if (match) {
    setToken(decodeURIComponent(match[1]));
    history.replaceState(null, "", `${location.pathname}${location.search}#/queue`);
  }
  $("sound-slot").replaceWith(soundButton());
  $("token").value = token();
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setToken($("token").value.trim());
    say("");
    start(true);
  });
  $("forget").addEventListener("click", () => {
    setToken("");
    location.reload(); // and wipe what the token showed, for the next person at this screen
  });
  $("lang").addEventListener("change", async (e) => {
    await setLocale(e.target.value);
    languagePicker();
    relabelLive();
    if (me.role) $("who").textContent = t("who", { name: me.name, role: t(`role.${me.role}`) });
    route();
    redraw();
  });
  window.addEventListener("hashchange", route);
  on("connected", () => { loadAlerts().catch(() => {}); loadStatus(); });
  on("refused", () => clearInterval(poll));
  translatePage(document);
  start(true);
}

init();
