"""Live push: the consoles connected to this process, and how the feed reaches each of them.

Every notifier process runs a hub for its own WebSocket connections. A new alert's items come
straight from this process's intake (`push_written`) to the consoles that have everything
before them; everything else is read from the feed in the database when the hub is woken (by
this process's writes, by PostgreSQL notifications of other processes' writes, by the poll).
Each item is rendered once per contact point and put in the bounded queue of every console of
that contact point. A console whose queue is full is disconnected with a reason instead of
slowing the others; it resumes from its last `seq` when it reconnects. One watch over all the
consoles, once a second, sends heartbeats to the quiet ones and drops those whose send is stuck:
a send then costs no timer of its own, which matters when one alert goes to thousands.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocket, WebSocketDisconnect

from schemas.console import HEARTBEAT_SECONDS, CloseCode, FeedItem, Heartbeat, ItemKind
from schemas.envelopes import AlertKey
from services.common.workers import run_rounds
from services.notifier import feed
from services.notifier.transport import aborter

log = structlog.get_logger(__name__)

BATCH = 500
GONE = (WebSocketDisconnect, RuntimeError, OSError)
"""What sending to or reading from a console that went away raises."""
CLOSE_SECONDS = 2.0
"""How long a close frame may wait for a console's unread messages before the abort."""
ABORT_AFTER_SECONDS = 10.0
"""A closed console's connection still there after this long is aborted."""
SNAPSHOT_SECONDS = 1.0
"""How long consoles opening together may share one read of their contact point's alerts."""
WATCH_SECONDS = 1.0
"""How often the consoles are looked over for heartbeats and stuck sends."""


class Connection:
    """One console's WebSocket, its bounded queue and the highest `seq` queued for it."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        officer: str,
        contact_point: str,
        queue_size: int,
        buffer_bytes: int,
        send_timeout: float,
    ) -> None:
        self.websocket = websocket
        self.officer = officer
        self.contact_point = contact_point
        self.cursor = 0
        self.live = False
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._queued_bytes = 0
        self._buffer_bytes = buffer_bytes
        self._send_timeout = send_timeout
        self._last_sent = time.monotonic()
        self._sending_since: float | None = None
        self.close_reason: tuple[int, str] | None = None
        self.closing = asyncio.Event()
        """Set when the console is dropped: its connection is then closed, even mid-send."""
        self._expiry: asyncio.TimerHandle | None = None

    def expire_at(self, exp: float | None) -> None:
        """Close the console when its access token expires (`exp`, as in the token); None: never."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if exp is not None:
            self._expiry = asyncio.get_running_loop().call_later(
                max(0.0, exp - time.time()),
                self.drop,
                CloseCode.UNAUTHORIZED,
                "The access token expired; renew it and reconnect.",
            )

    def offer(self, seq: int, message: str) -> bool:
        """Queue a message; False (and the console is to be dropped) when the queue is full.

        Full means as many messages, or as many bytes, as the console may have waiting; one
        message larger than the byte bound still goes when nothing else waits.
        """
        if not self._queue.empty() and self._queued_bytes + len(message) > self._buffer_bytes:
            return False
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        self._queued_bytes += len(message)
        self.cursor = max(self.cursor, seq)
        return True

    def drop(self, code: int, reason: str) -> None:
        """Close the console after what is queued is abandoned (it resumes from its cursor)."""
        if self.close_reason is None:
            self.close_reason = (code, reason)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queued_bytes = 0
            self.closing.set()

    async def send_queued(self) -> None:
        """Send what is queued until the console is dropped (`check` watches over the sends)."""
        while True:
            message = await self._queue.get()
            self._queued_bytes -= len(message)
            self._sending_since = time.monotonic()
            await self.websocket.send_text(message)
            self._sending_since = None
            self._last_sent = time.monotonic()

    def check(self, now: float, *, heartbeat_seconds: float) -> None:
        """Drop the console if a send waited longer than the send timeout (it stopped reading,
        and the server's buffer is full); queue a heartbeat if nothing went for a while."""
        if self._sending_since is not None:
            if now - self._sending_since > self._send_timeout:
                self.drop(CloseCode.TOO_SLOW, "The console stopped reading; reconnect to resume.")
        elif self._queue.empty() and now - self._last_sent >= heartbeat_seconds:
            self._last_sent = now  # one heartbeat per quiet interval, even before it leaves
            heartbeat = Heartbeat(at=datetime.now(UTC), cursor=self.cursor).model_dump_json()
            self.offer(self.cursor, heartbeat)

    async def serve(self, receiving: Coroutine[Any, Any, object]) -> None:
        """Send the feed while `receiving` reads the console, until either ends or the console
        is dropped (too slow, token expired, a flood), even in the middle of a send; then close.
        """
        tasks = {
            asyncio.create_task(self.send_queued()),
            asyncio.create_task(receiving),
            asyncio.create_task(self.closing.wait()),
        }
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, *GONE):
                await task
        await self.close()

    async def close(self) -> None:
        """Close the WebSocket, saying why it was dropped; abort it if the console does not read.

        The close frame waits behind what the console has not read: when it cannot leave
        within a moment, the connection is aborted, and a console that never answers the close
        loses its connection a little later all the same.
        """
        abort = aborter(self.websocket)
        code, reason = self.close_reason or (1000, "")
        try:
            async with asyncio.timeout(CLOSE_SECONDS):
                await self.websocket.close(code=code, reason=reason)
        except TimeoutError:
            if abort is not None:
                abort()
            return
        except GONE:
            return  # the console went first
        if abort is not None:
            asyncio.get_running_loop().call_later(ABORT_AFTER_SECONDS, abort)


class Delivered(Protocol):
    """Told that a console of `contact_point` was given the alert `key` (receipts record it)."""

    def __call__(self, key: AlertKey, contact_point: str, *, exercise: bool) -> None: ...


class Hub:
    """Fans the feed out to this process's consoles."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float,
        delivered: Delivered,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._poll = poll_seconds
        self._heartbeat = heartbeat_seconds
        self._delivered = delivered
        self._by_contact_point: dict[str, set[Connection]] = defaultdict(set)
        self._by_officer: dict[str, set[Connection]] = defaultdict(set)
        self._last_seq = 0
        """Every feed entry up to this `seq` has been pushed to the consoles concerned."""
        self._newest: dict[str, int] = {}
        """Each contact point's newest entry pushed (at least its newest up to `_last_seq`)."""
        self._snapshots: dict[str, tuple[float, list[FeedItem], int]] = {}
        """The latest snapshot read per contact point: when (monotonic), its items, its cursor."""
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """Where the feed is read."""
        return self._sessions

    def wake(self) -> None:
        """This process wrote to the feed: push it now rather than at the next poll."""
        self._wake.set()

    async def start(self) -> None:
        """Learn where the feed stands, before any console can attach.

        Read later, an entry written between a console's attach and this read would be
        counted as pushed without having reached that console.
        """
        async with self._sessions() as session:
            self._newest = await feed.changed_since(session, 0)
        self._last_seq = max(self._newest.values(), default=0)

    async def run(self) -> None:
        """Follow the feed and watch the consoles until cancelled (after `start`)."""
        async with asyncio.TaskGroup() as workers:
            workers.create_task(
                run_rounds(self.catch_up, every=self._poll, name="hub", wake=self._wake)
            )
            workers.create_task(self.watch())

    async def watch(self) -> None:
        """Look over every console once a second (`Connection.check`) until cancelled."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now = time.monotonic()
            for group in list(self._by_contact_point.values()):
                for connection in list(group):
                    # Not before it is live: its first messages (items, then Synced) go first.
                    if connection.live and connection.close_reason is None:
                        connection.check(now, heartbeat_seconds=self._heartbeat)

    async def catch_up(self) -> bool:
        """Push every feed entry written since the last round to the consoles concerned."""
        async with self._lock:
            async with self._sessions() as session:
                changed = await feed.changed_since(session, self._last_seq)
                # Often none: this process's own entries were given by `push_written`.
                lacking = [
                    contact_point
                    for contact_point, newest in changed.items()
                    if any(c.cursor < newest for c in self._live(contact_point))
                ]
                if lacking:
                    await self._push(session, lacking)
            for contact_point, newest in changed.items():
                # Never lowered: `push_written` may have raised it meanwhile.
                self._newest[contact_point] = max(self._newest.get(contact_point, 0), newest)
            self._last_seq = max([self._last_seq, *changed.values()])
        return False

    async def _push(self, session: AsyncSession, contact_points: list[str]) -> None:
        """Give the live consoles of `contact_points` the entries after the last round, read
        together (one read, not one per contact point: the entries another process wrote
        reach this one's consoles after fewer round trips).

        A live console has every entry up to the last round (`attach` saw to it, each round
        since gave it the rest), so nothing before `_last_seq` is read again.
        """
        after = self._last_seq
        while True:
            found = await feed.items_since(
                session, after, contact_points, limit=BATCH, now=datetime.now(UTC)
            )
            live = {contact_point: self._live(contact_point) for contact_point in contact_points}
            for contact_point, item in found:
                self.offer(live[contact_point], item)
            if len(found) < BATCH:
                return
            after = found[-1][1].seq

    def push_written(self, written: list[feed.Written]) -> None:
        """Give entries this process just committed to the consoles that have all before them.

        The item is built by the code that wrote it: no database read on the live path. A
        console that lacks an earlier entry (one another process wrote, say) gets this one
        from the database with the rest, in `seq` order, at the next round.
        """
        for entry in written:
            ready = [c for c in self._live(entry.contact_point) if c.cursor >= entry.after]
            if ready:
                self.offer(ready, entry.item)
            # Raising it early keeps `has_all_pushed` right (a console at or after this entry
            # has all before it) and tells `snapshot` that a shared one is now behind.
            self._newest[entry.contact_point] = max(
                self._newest.get(entry.contact_point, 0), entry.item.seq
            )

    def _live(self, contact_point: str) -> list[Connection]:
        return [
            c
            for c in self._by_contact_point.get(contact_point, ())
            if c.live and c.close_reason is None
        ]

    def offer(self, connections: list[Connection], item: FeedItem) -> None:
        """Queue an item for consoles that lack it; drop a console whose queue is full."""
        message = item.model_dump_json(by_alias=True, exclude_none=True)
        for connection in connections:
            if item.seq <= connection.cursor or connection.close_reason is not None:
                continue
            if not connection.offer(item.seq, message):
                log.warning(
                    "console fell behind; disconnected", contact_point=connection.contact_point
                )
                connection.drop(
                    CloseCode.TOO_SLOW, "The console fell behind the feed; reconnect to catch up."
                )
                continue
            if item.kind in (ItemKind.ALERT, ItemKind.ESCALATION):
                self._delivered(item.key, connection.contact_point, exercise=item.exercise)

    async def snapshot(self, contact_point: str) -> tuple[list[FeedItem], int]:
        """The alerts active for a contact point now, and the feed's cursor for it.

        Read from the database at most once every `SNAPSHOT_SECONDS` per contact point, and
        again as soon as this process has pushed anything newer: consoles opening together (a
        reload of every browser of a crisis centre) share one read. Alerts that expired since
        are left out here; what another process wrote since comes after it, from `attach`.
        """
        now = datetime.now(UTC)
        kept = self._snapshots.get(contact_point)
        if (
            kept is None
            or time.monotonic() - kept[0] > SNAPSHOT_SECONDS
            or not self.has_all_pushed(contact_point, kept[2])
        ):
            async with self._sessions() as session:
                items, cursor = await feed.snapshot(session, contact_point, now=now)
            kept = self._snapshots[contact_point] = (time.monotonic(), items, cursor)
        _, items, cursor = kept
        return [i for i in items if (e := feed.expiry_of(i.alert)) is None or e > now], cursor

    def has_all_pushed(self, contact_point: str, cursor: int) -> bool:
        """Whether a console at `cursor` lacks nothing that this hub has pushed: all it lacks
        then comes with the next rounds, like any live item (a reconnect reads no database).
        """
        return cursor >= self._newest.get(contact_point, 0)

    async def attach(self, connection: Connection, items: list[FeedItem], cursor: int) -> None:
        """Make a console live after its initial items; nothing written meanwhile is missed."""
        self._by_contact_point[connection.contact_point].add(connection)
        for item in items:
            self.offer([connection], item)
        connection.cursor = max(connection.cursor, cursor)
        # Under the lock, no round of catch_up runs between this last look and going live.
        async with self._lock:
            if self.has_all_pushed(connection.contact_point, connection.cursor):
                # Entries after `_last_seq` are the next round's; there is nothing before.
                connection.live = True
                return
            async with self._sessions() as session:
                while True:
                    rest = await feed.items_after(
                        session,
                        connection.contact_point,
                        connection.cursor,
                        limit=BATCH,
                        now=datetime.now(UTC),
                    )
                    for item in rest:
                        self.offer([connection], item)
                    if len(rest) < BATCH or connection.close_reason is not None:
                        break
            connection.live = True

    def consoles_of(self, officer: str) -> int:
        """How many feeds `officer` holds open on this process."""
        return len(self._by_officer.get(officer, ()))

    def admit(self, connection: Connection, *, per_officer: int) -> bool:
        """Count a new console of its officer; False when the officer holds `per_officer` here."""
        consoles = self._by_officer[connection.officer]
        if len(consoles) >= per_officer:
            if not consoles:
                del self._by_officer[connection.officer]
            return False
        consoles.add(connection)
        return True

    def detach(self, connection: Connection) -> None:
        """Forget a console that went away."""
        for groups, key in (
            (self._by_contact_point, connection.contact_point),
            (self._by_officer, connection.officer),
        ):
            group = groups.get(key)
            if group is not None:
                group.discard(connection)
                if not group:
                    del groups[key]

    def close_all(self) -> None:
        """Tell every console this process is going away."""
        for group in self._by_contact_point.values():
            for connection in group:
                connection.drop(CloseCode.GOING_AWAY, "The notifier is restarting; reconnect.")
