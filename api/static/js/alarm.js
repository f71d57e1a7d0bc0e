// The audible alarm (Web Audio) and the browser notification: on while any critical or major
// alert is unacknowledged, off for each one as soon as it is acknowledged (here or elsewhere).
import { t, ruleText, word } from "./i18n.js";
import { el, $, where } from "./core.js";

const LOUD = new Set(["critical", "major"]);
const BEEP = { // per severity: tone (Hz), length (s), repeat period (ms)
  critical: { hz: 880, len: 0.35, every: 1000 },
  major: { hz: 660, len: 0.25, every: 3000 },
};
const ringing = new Map(); // incident id -> { severity, notification }
let audio = null;
let timer = null;
let period = 0;

function context() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!audio && Ctx) audio = new Ctx();
  return audio;
}

function beep(severity) {
  const ctx = context();
  if (!ctx) return;
  const spec = BEEP[severity];
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.type = "square";
  osc.frequency.value = spec.hz;
  gain.gain.value = 0.15; // loud enough in a guard room, not a full-scale square wave
  osc.connect(gain).connect(ctx.destination);
  osc.start();
  osc.stop(ctx.currentTime + spec.len);
  showSoundButton(ctx.state === "suspended"); // the browser wants a click before it plays
}

function loudest() {
  let best = null;
  for (const r of ringing.values()) if (!best || r.severity === "critical") best = r.severity;
  return best;
}

function schedule() {
  const top = loudest();
  const every = top ? BEEP[top].every : 0;
  if (every === period) return;
  clearInterval(timer);
  period = every;
  if (!top) { timer = null; showSoundButton(false); return; }
  beep(top);
  timer = setInterval(() => { const s = loudest(); if (s) beep(s); }, every);
}

function notify(alert) {
  if (!("Notification" in window) || Notification.permission !== "granted") return null;
  try {
    const n = new Notification(`${word("severity", alert.severity)}: ${ruleText(alert, "title")}`, {
      body: where(alert), tag: `sitewatch-${alert.id}`, requireInteraction: true,
    });
    n.onclick = () => { window.focus(); location.hash = `#/incident/${alert.id}`; };
    return n;
  } catch {
    return null; // some browsers only allow notifications from a service worker
  }
}

/** Bring the alarm in line with the open alerts: ring for the unacknowledged loud ones. */
export function syncAlarm(alerts) {
  const loud = new Map();
  for (const a of alerts) if (a.state === "active" && LOUD.has(a.severity)) loud.set(a.id, a);
  for (const [id, r] of ringing) {
    if (!loud.has(id)) { if (r.notification) r.notification.close(); ringing.delete(id); }
  }
  for (const [id, a] of loud) {
    if (!ringing.has(id)) ringing.set(id, { severity: a.severity, notification: notify(a) });
  }
  schedule();
}

function showSoundButton(show) {
  const b = $("enable-sound");
  if (b) b.hidden = !show;
}

/** The header's "enable sound and notifications" button: browsers need one user gesture. */
export function soundButton() {
  const b = el("button", { type: "button", id: "enable-sound", class: "warn", hidden: true,
    "data-i18n": "alarm.enable", onclick: async () => {
      const ctx = context();
      if (ctx) await ctx.resume();
      if ("Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission();
      }
      showSoundButton(ctx && ctx.state === "suspended");
    } }, t("alarm.enable"));
  if ("Notification" in window && Notification.permission === "default") b.hidden = false;
  return b;
}
