"""Server-Sent Events: every incident change fanned out to the clients of GET /api/v1/stream.

The incident service calls `publish` from whatever thread committed; `publish` only hops onto
the event loop (call_soon_threadsafe) into a bounded inbox. One fan-out task renders each
change once (incident snapshot read in a worker thread) and offers the frame to every
client's bounded queue. A client whose queue is full is disconnected and counted: it
resumes with Last-Event-ID and gets the missed changes from the database, so nobody sees a
gap, and a slow reader never holds memory or the other clients back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from api.schemas import IncidentOut, StreamEvent, TimelineEntryOut
from rules.incidents.record import Incident, IncidentNotFound, TimelineEntry

REPLAY_PAGE = 500  # timeline entries read per query while replaying after Last-Event-ID
RETRY_MS = 3000  # how long a browser EventSource waits before it reconnects


class IncidentSource(Protocol):
    """What the stream needs of the incident service."""

    def get(self, incident_id: int) -> Incident:
        """The incident as it is now."""
        ...

    def changes_since(self, after_id: int, limit: int = 500) -> list[TimelineEntry]:
        """Timeline entries with id > after_id, oldest first."""
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
        inbox_max: int = 10_000,  # change batches waiting for the fan-out task
        max_clients: int = 500,
    ) -> None:
        self._incidents = incidents
        self._client_queue_max = client_queue_max
        self._max_clients = max_clients
        self._inbox_max = inbox_max
        self._clients: set[StreamClient] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inbox: asyncio.Queue[list[TimelineEntry]] | None = None
        self._task: asyncio.Task[None] | None = None
        self.slow_disconnects = 0  # clients cut off because their queue was full
        self.inbox_overflows = 0  # times the inbox was full: every client was cut off
        self.refused_clients = 0  # connections refused over max_clients
        self.publish_dropped = 0  # entries published while the loop was not running
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
        self._inbox = asyncio.Queue(self._inbox_max)
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
        self._end_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._inbox = None

    def publish(self, entries: list[TimelineEntry]) -> None:
        """Called by the incident service after a commit, from any thread; never blocks."""
        loop = self._loop
        if loop is None or not entries:
            self.publish_dropped += len(entries)
            return
        try:
            loop.call_soon_threadsafe(self._enqueue, list(entries))
        except RuntimeError:  # the loop closed between the check and the call
            self.publish_dropped += len(entries)

    def _enqueue(self, entries: list[TimelineEntry]) -> None:
        if self._inbox is None:  # stopped after the hop was scheduled
            self.publish_dropped += len(entries)
            return
        try:
            self._inbox.put_nowait(entries)
        except asyncio.QueueFull:
            # Live clients would silently miss changes: cut them all off, they resume from
            # the database with Last-Event-ID.
            self.inbox_overflows += 1
            for client in list(self._clients):
                self._drop(client)

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
        assert self._inbox is not None
        while True:
            entries = await self._inbox.get()
            frames = await asyncio.to_thread(self.render, entries)
            for client in list(self._clients):
                for frame in frames:
                    try:
                        client.queue.put_nowait(frame)
                    except asyncio.QueueFull:
                        self.slow_disconnects += 1
                        self._drop(client)
                        break

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
            text = f"id: {entry.id}\nevent: {entry.action}\ndata: {data}\n\n"
            frames.append(Frame(entry.id, text))
        return frames

    async def events(
        self, last_event_id: int | None, heartbeat_s: float
    ) -> AsyncGenerator[str, None]:
        """The text of one client's stream: replay after `last_event_id`, then live changes.

        The client is attached before the replay reads the database, so a change committed
        meanwhile is either in the replay or in the queue (or both: skipped by id).
        """
        client = self.attach()
        try:
            yield f"retry: {RETRY_MS}\n\n"
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
                yield ": keepalive\n\n", None
        finally:  # the client left or the server stops: leave no task pending
            closing.cancel()
            if getter is not None:
                getter.cancel()

