// Sitewatch console: the page's entry. Language, token, who the token is, the views by route
// (#/queue, #/incident/ID, #/tickets, #/history, #/devices, #/device/ID, #/map, #/ops/...),
// and the stream that keeps the alarm queue live. Plain ES modules, no build step.
import { $, api, emit, me, on, say, setToken, token } from "./js/core.js";
import { LOCALES, setLocale, t, translatePage } from "./js/i18n.js";
import { connect, relabelLive, setLive } from "./js/stream.js";
import { loadAlerts, queueView, redraw } from "./js/queue.js";
import { soundButton } from "./js/alarm.js";
import { statusPanel } from "./js/status.js";
import { feedPanel } from "./js/feed.js";

const START_RETRY_MS = 5000; // the server did not answer at load: ask again this often
const POLL_MS = 10000; // device liveness and status are not on the stream: re-read this often
// The alarm queue is in the first load; every other view's module is fetched when first shown,
// so a guard's screen is up after 7 small files, not 15.
const ROUTES = {
  queue: async () => (root) => {
    const off = queueView(root);
    statusPanel(root);
    feedPanel(root);
    return off;
  },
  incident: async () => (await import("./js/incident.js")).incidentView,
  tickets: async () => (await import("./js/tickets.js")).ticketsView,
  history: async () => (await import("./js/history.js")).historyView,
  devices: async () => (await import("./js/devices.js")).devicesView,
  device: async () => (await import("./js/device.js")).deviceView,
  map: async () => (await import("./js/sitemap.js")).mapView,
  ops: async () => (await import("./js/ops.js")).opsView,
  audit: async () => (await import("./js/audit.js")).auditView,
};
let cleanup = null;
let poll = null;
let routed = 0; // the latest route() call: a slower earlier one must not draw over it

async function route() {
  const mine = ++routed;
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const view = ROUTES[name] ? name : "queue";
  const root = $("view");
  if (cleanup) cleanup();
  cleanup = null;
  root.replaceChildren();
  root.dataset.route = location.hash; // which route the view's content belongs to (tests wait on it)
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!token() || !me.role) return;
  const draw = await ROUTES[view]();
  if (mine !== routed) return;
  const result = draw(root, decodeURIComponent(rest.join("/")));
  if (typeof result === "function") cleanup = result;
}

async function start(fresh, whoami) {
  clearInterval(poll);
  me.name = me.role = "";
  document.querySelector('nav a[data-view="audit"]').hidden = true; // shown again for an admin
  if (!token()) {
    setLive("live.need_token", "wait");
    route();
    return;
  }
  try {
    Object.assign(me, await (whoami || api("/whoami")));
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      setLive("live.refused", "bad");
      say(t("token.refused", { why: e.message }), true);
    } else { // the server is not there yet: say so and ask again
      setLive("live.retrying", "bad", { s: START_RETRY_MS / 1000 });
      setTimeout(() => start(fresh), START_RETRY_MS);
    }
    route();
    return;
  }
  $("who").textContent = t("who", { name: me.name, role: t(`role.${me.role}`) });
  document.querySelector('nav a[data-view="audit"]').hidden = me.role !== "admin";
  $("token-box").open = false; // the screen is for the alarms now; the token stays one click away
  route();
  // The alerts are read once the stream is attached ("connected"), so no change falls between
  // the read and the stream; while it is not attached, every poll reads them again.
  poll = setInterval(() => {
    emit("poll");
    if ($("live").dataset.state !== "ok") loadAlerts().catch(() => {});
  }, POLL_MS);
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
  // /#token=... (for a bookmark or a headless screenshot): read once, then drop it from the
  // address bar and the history so it is not left on screen.
  const match = location.hash.match(/^#token=([^&]+)/);
  if (match) {
    setToken(decodeURIComponent(match[1]));
    history.replaceState(null, "", `${location.pathname}${location.search}#/queue`);
  }
  // Who the token is, asked while the catalogs load (first load: one round trip, not two).
  const whoami = token() ? api("/whoami") : null;
  if (whoami) whoami.catch(() => {}); // handled in start()
  await setLocale(null);
  languagePicker();
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
  on("connected", () => {
    loadAlerts().catch((e) => say(t("load.failed", { why: e.message }), true));
  });
  on("refused", () => clearInterval(poll));
  translatePage(document);
  start(true, whoami);
}

init();
