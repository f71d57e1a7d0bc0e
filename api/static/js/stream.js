// The live stream, GET /api/v1/stream (Server-Sent Events). EventSource cannot send an
// Authorization header, so the stream is read with fetch() and a ReadableStream and the frames
// are parsed here. Reconnects with backoff and resumes after the last event id it saw.
import { API, ApiError, emit, token, say, $ } from "./core.js";
import { t } from "./i18n.js";

const BACKOFF_MAX_MS = 10000; // a guard's screen: never wait long once the server is back
const UP_FOR_RESET_MS = 60000; // connected this long: the next failure starts backoff afresh

const live = { lastEventId: null, ctl: null, text: "live.off", cls: "wait", vars: {} };

/** Show the connection state in the header (text and colour). */
export function setLive(key, cls, vars) {
  Object.assign(live, { text: key, cls, vars: vars || {} });
  const node = $("live");
  node.textContent = t(key, vars);
  node.className = `live ${cls}`;
  node.dataset.state = cls;
}

/** Re-label the state after a language change. */
export function relabelLive() {
  setLive(live.text, live.cls, live.vars);
}

function dispatch(frame) {
  let id = null, type = "message";
  const data = [];
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
  if (id !== null) live.lastEventId = id;
  if (data.length) emit("incident", { type, ...JSON.parse(data.join("\n")) });
}

async function readStream(signal) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
  if (live.lastEventId !== null) headers["Last-Event-ID"] = live.lastEventId;
  const res = await fetch(`${API}/stream`, { headers, signal, cache: "no-store" });
  if (!res.ok) {
    const body = await res.json().catch(() => null);
    throw new ApiError(res.status, `${res.status}: ${(body && body.detail) || res.statusText}`);
  }
  setLive("live.on", "ok");
  emit("connected"); // reload whatever happened while we were not connected
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

/** Connect (again), forgetting the resume point when the token changed. */
export async function connect(freshToken) {
  if (live.ctl) live.ctl.abort();
  if (freshToken) live.lastEventId = null;
  const ctl = new AbortController();
  live.ctl = ctl;
  let failures = 0;
  while (!ctl.signal.aborted && token()) {
    const started = Date.now();
    try {
      setLive("live.connecting", "wait");
      await readStream(ctl.signal);
    } catch (e) {
      if (ctl.signal.aborted) return;
      if (e.status === 401) {
        setLive("live.refused", "bad");
        say(t("token.refused", { why: e.message }), true);
        emit("refused");
        return;
      }
    }
    if (ctl.signal.aborted) return;
    if (Date.now() - started > UP_FOR_RESET_MS) failures = 0;
    failures += 1;
    // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
    const wait = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
    setLive("live.retrying", "bad", { s: Math.ceil(wait / 1000) });
    await new Promise((r) => setTimeout(r, wait));
  }
}
