"""Server-Sent Events: every incident change fanned out to the clients of GET /api/v1/stream.

The feed is the incident timeline read in id order, and ids are handed out in commit order
(rules/incidents/changefeed.py), so reading `id > cursor` never skips a change. One fan-out
task keeps that cursor: a commit in this process wakes it (`publish` only sets an event,
whatever thread calls it, in whatever order), and it also polls every `poll_s` for changes
written by another process. It renders each change once (incident snapshot read in a worker
thread) and offers the frame to every client's bounded queue, in id order. A client whose queue
is full is disconnected and counted: it resumes with Last-Event-ID and gets the missed changes
from the database, so nobody sees a gap, and a slow reader never holds the others back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from sse_starlette import ServerSentEvent

from api.schemas import IncidentOut, StreamEvent, TimelineEntryOut
from rules.incidents.record import Incident, IncidentNotFound, TimelineEntry

REPLAY_PAGE = 500  # timeline entries read per query while replaying after Last-Event-ID
RETRY_MS = 3000  # how long a browser EventSource waits before it reconnects
POLL_S = 1.0  # seconds between reads of the feed when no local commit woke the fan-out
ERROR_PAUSE_S = 1.0  # seconds to wait after a failed read of the feed (database down)

log = logging.getLogger("sitewatch.stream")


def sse(**fields: Any) -> str:
    """One SSE frame's text (sse-starlette's framing; lines end in a bare newline)."""
    return ServerSentEvent(sep="\n", **fields).encode().decode("utf-8")


KEEPALIVE = sse(comment="keepalive")


class IncidentSource(Protocol):
    """What the stream needs of the incident service."""

    def get(self, incident_id: int) -> Incident:
        """The incident as it is now."""
        ...

    def changes_since(self, after_id: int, limit: int = 500) -> list[TimelineEntry]:
        """Timeline entries with id > after_id, oldest first."""
        ...

    def last_change_id(self) -> int:
        """The highest timeline id committed so far."""
        ...


@dataclass(frozen=True, slots=True)
class Frame:
    """One rendered SSE event."""

    id: int  # the timeline entry id
    text: str


@dataclass(eq=False)
class StreamClient:
    """One connected client: its bounded queue and whether it was cut off for being slow."""

    queue: asyncio.Queue[Frame]
    dropped: bool = False
    closing: asyncio.Event = field(default_factory=asyncio.Event)


class TooManyClients(Exception):
    """The stream already serves its maximum number of clients (the API answers 503)."""


class IncidentBroadcaster:
    """Fans incident changes out to SSE clients; counts clients, slow drops and overflows."""

    def __init__(
        self,
        incidents: IncidentSource,
        client_queue_max: int = 1000,  # frames waiting per client before it is cut off
        max_clients: int = 500,
        poll_s: float = POLL_S,
    ) -> None:
        self._incidents = incidents
        self._client_queue_max = client_queue_max
        self._max_clients = max_clients
        self._poll_s = poll_s
        self._clients: set[StreamClient] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.cursor: int | None = None  # highest timeline id fanned out; None until first read
        self.slow_disconnects = 0  # clients cut off because their queue was full
        self.feed_errors = 0  # reads of the feed that failed (database down); retried
        self.refused_clients = 0  # connections refused over max_clients
        self.frames_sent = 0

    @property
    def client_count(self) -> int:
        """Clients connected now."""
        return len(self._clients)

    async def start(self) -> None:
        """Bind to the running loop and start the fan-out task (app startup)."""
        if self._task is not None:
            raise RuntimeError("the broadcaster is already started; stop it first")
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        with contextlib.suppress(Exception):  # database down: the fan-out task retries
            self.cursor = await asyncio.to_thread(self._incidents.last_change_id)
        self._task = asyncio.create_task(self._fan_out(), name="sse-fan-out")

    def end_streams(self) -> None:
        """Tell every client to end its stream now; safe from any thread (server shutdown:
        uvicorn waits for open streams before the app's own shutdown runs)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._end_streams)

    def _end_streams(self) -> None:
        for client in list(self._clients):
            client.closing.set()

    async def stop(self) -> None:
        """Stop fanning out and tell every client to end (app shutdown)."""
        self._loop = None
        self._stopping = True  # the fan-out also ends on this: a cancel can be lost (below)
        self._end_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._wake = None

    def publish(self, entries: list[TimelineEntry]) -> None:
        """Called by the incident service after a commit, from any thread; never blocks.

        Only a wake-up: the fan-out reads the committed changes itself, in commit order.
        """
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or not entries:
            return  # not running: the next start reads from the feed's head anyway
        with contextlib.suppress(RuntimeError):  # the loop closed between check and call
            loop.call_soon_threadsafe(wake.set)

    def attach(self) -> StreamClient:
        """Register a new client; it receives every change published from now on."""
        if len(self._clients) >= self._max_clients:
            self.refused_clients += 1
            raise TooManyClients(f"the stream already has {self._max_clients} clients")
        client = StreamClient(asyncio.Queue(self._client_queue_max))
        self._clients.add(client)
        return client

    def detach(self, client: StreamClient) -> None:
        """Forget a client (it disconnected or was cut off)."""
        self._clients.discard(client)

    def _drop(self, client: StreamClient) -> None:
        client.dropped = True
        client.closing.set()
        self._clients.discard(client)

    async def _fan_out(self) -> None:
        wake = self._wake
        assert wake is not None
        # Not `while True`: on Python 3.11 `asyncio.wait_for` swallows a cancel that arrives as
        # its awaitable completes (a wake-up at stop), and the task went on polling while
        # stop() waited for it forever.
        while not self._stopping:
            try:
                if self.cursor is None:  # the database was down at start: begin at its head
                    self.cursor = await asyncio.to_thread(self._incidents.last_change_id)
                    for client in list(self._clients):  # attached before the feed had a
                        self._drop(client)  # position: resume with Last-Event-ID instead
                await self._read_feed()
            except Exception:  # database down: keep the cursor, read again shortly
                self.feed_errors += 1
                log.warning("reading the incident feed failed; retrying", exc_info=True)
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._poll_s)
            wake.clear()

    async def _read_feed(self) -> None:
        """Fan out every change committed after the cursor, in id (= commit) order."""
        while self.cursor is not None:
            entries, frames = await asyncio.to_thread(self._read_rendered, self.cursor)
            if not entries:
                return
            self.cursor = entries[-1].id
            for client in list(self._clients):
                for frame in frames:
                    try:
                        client.queue.put_nowait(frame)
                    except asyncio.QueueFull:
                        self.slow_disconnects += 1
                        self._drop(client)
                        break
            if len(entries) < REPLAY_PAGE:
                return

    def _read_rendered(self, after: int) -> tuple[list[TimelineEntry], list[Frame]]:
        """The next page of changes after `after` and their frames: one trip to a worker
        thread per page (on an alarm's path, every hop waits for the interpreter lock)."""
        entries = self._incidents.changes_since(after, REPLAY_PAGE)
        return entries, self.render(entries) if entries else []

    def render(self, entries: list[TimelineEntry]) -> list[Frame]:
        """SSE frames for these entries, each with its incident's current snapshot (blocking)."""
        snapshots: dict[int, Incident | None] = {}
        frames = []
        for entry in entries:
            if entry.incident_id not in snapshots:
                try:
                    snapshots[entry.incident_id] = self._incidents.get(entry.incident_id)
                except IncidentNotFound:
                    snapshots[entry.incident_id] = None
            incident = snapshots[entry.incident_id]
            if incident is None:
                continue
            data = StreamEvent(
                entry=TimelineEntryOut.model_validate(entry),
                incident=IncidentOut.model_validate(incident),
            ).model_dump_json()
            frames.append(Frame(entry.id, sse(id=str(entry.id), event=entry.action, data=data)))
        return frames

    async def events(
        self, last_event_id: int | None, heartbeat_s: float
    ) -> AsyncGenerator[str, None]:
        """The text of one client's stream: replay after `last_event_id`, then live changes.

        The client is attached before the replay reads the database, and the replay reads
        until it finds nothing newer, so it reaches at least the fan-out's cursor at attach
        time: every later change is in the client's queue, in order (overlap skipped by id).
        """
        client = self.attach()
        try:
            yield sse(retry=RETRY_MS)
            last = last_event_id
            if last is not None:
                while True:
                    after = last
                    entries = await asyncio.to_thread(
                        self._incidents.changes_since, after, REPLAY_PAGE
                    )
                    if not entries:
                        break
                    for frame in await asyncio.to_thread(self.render, entries):
                        self.frames_sent += 1
                        yield frame.text
                    last = max(after, max(e.id for e in entries))
                    if len(entries) < REPLAY_PAGE:
                        break
            async for text, frame_id in self._live(client, heartbeat_s):
                if frame_id is not None:
                    if last is not None and frame_id <= last:
                        continue  # already sent by the replay
                    last = frame_id
                    self.frames_sent += 1
                yield text
        finally:
            self.detach(client)

    async def _live(
        self, client: StreamClient, heartbeat_s: float
    ) -> AsyncIterator[tuple[str, int | None]]:
        closing = asyncio.ensure_future(client.closing.wait())
        getter: asyncio.Future[Any] | None = None
        try:
            while True:
                if client.dropped:
                    return  # cut off for being slow: end now, it resumes from Last-Event-ID
                if client.queue.empty() and client.closing.is_set():
                    return
                getter = asyncio.ensure_future(client.queue.get())
                done, _ = await asyncio.wait(
                    {getter, closing}, timeout=heartbeat_s, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    frame = getter.result()
                    yield frame.text, frame.id
                    continue
                getter.cancel()
                if closing in done:
                    return
                yield KEEPALIVE, None
        finally:  # the client left or the server stops: leave no task pending
            closing.cancel()
            if getter is not None:
                getter.cancel()

