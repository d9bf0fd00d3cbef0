"""Live push: the consoles connected to this process, and how the feed reaches each of them.

Every notifier process runs a hub for its own WebSocket connections. The hub follows the feed
in the database (woken at once by this process's writes, and by polling for other processes'),
renders each new item once per contact point and puts it in the bounded queue of every console
of that contact point. A console whose queue is full is disconnected with a reason instead of
slowing the others; it resumes from its last `seq` when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from datetime import UTC, datetime

import structlog
from sqlalchemy import case, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocket, WebSocketDisconnect

from schemas.console import CloseCode, FeedItem, Heartbeat, ItemKind
from schemas.envelopes import AlertKey, Channel, DeliveryStatus
from services.notifier import feed
from services.notifier.intake import add_outbox, receipt
from services.notifier.models import Delivery

log = structlog.get_logger(__name__)

BATCH = 500


class Connection:
    """One console's WebSocket, its queue and the highest `seq` queued for it."""

    def __init__(self, websocket: WebSocket, *, contact_point: str, queue_size: int) -> None:
        self.websocket = websocket
        self.contact_point = contact_point
        self.cursor = 0
        self.live = False
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size)
        self.close_reason: tuple[int, str] | None = None
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
        """Queue a message; False (and the console is to be dropped) when the queue is full."""
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            return False
        self.cursor = max(self.cursor, seq)
        return True

    def drop(self, code: int, reason: str) -> None:
        """Close the console after what is queued is abandoned."""
        if self.close_reason is None:
            self.close_reason = (code, reason)
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(None)

    async def send_queued(self, *, heartbeat_seconds: float) -> None:
        """Send what is queued until told to close; a heartbeat when idle."""
        while True:
            try:
                async with asyncio.timeout(heartbeat_seconds):
                    message = await self._queue.get()
            except TimeoutError:
                beat = Heartbeat(at=datetime.now(UTC), cursor=self.cursor)
                message = beat.model_dump_json()
            if message is None:
                break
            await self.websocket.send_text(message)
        if self.close_reason is not None:
            code, reason = self.close_reason
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(code=code, reason=reason)


class Hub:
    """Fans the feed out to this process's consoles."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float,
        producer: str,
    ) -> None:
        self._sessions = sessions
        self._poll = poll_seconds
        self._producer = producer
        self._by_contact_point: dict[str, set[Connection]] = defaultdict(set)
        self._last_seq = 0
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._delivered: set[tuple[AlertKey, str, bool]] = set()

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
            self._last_seq = await feed.latest_seq(session)

    async def run(self) -> None:
        """Follow the feed until cancelled (after `start`)."""
        while True:
            try:
                await self.catch_up()
            except Exception:
                # A database outage must not end live push; the next round tries again.
                log.exception("feed catch-up failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await self._wake.wait()

    async def catch_up(self) -> None:
        """Push every feed entry written since the last round to the consoles concerned."""
        async with self._lock:
            async with self._sessions() as session:
                changed, newest = await feed.changed_since(session, self._last_seq)
                for contact_point in changed & self._by_contact_point.keys():
                    await self._push(session, contact_point)
            self._last_seq = max(self._last_seq, newest)
        await self._record_deliveries()

    async def _push(self, session: AsyncSession, contact_point: str) -> None:
        while True:
            live = [
                c
                for c in self._by_contact_point.get(contact_point, ())
                if c.live and c.close_reason is None
            ]
            if not live:
                return
            after = min(c.cursor for c in live)
            items = await feed.items_after(
                session, contact_point, after, limit=BATCH, now=datetime.now(UTC)
            )
            for item in items:
                self.offer(live, item)
            if len(items) < BATCH:
                return

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
                self._delivered.add((item.key, connection.contact_point, item.exercise))

    async def attach(self, connection: Connection, items: list[FeedItem], cursor: int) -> None:
        """Make a console live after its initial items; nothing written meanwhile is missed."""
        self._by_contact_point[connection.contact_point].add(connection)
        for item in items:
            self.offer([connection], item)
        connection.cursor = max(connection.cursor, cursor)
        # Under the lock, no round of catch_up runs between this last look and going live.
        async with self._lock:
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
        await self._record_deliveries()

    def detach(self, connection: Connection) -> None:
        """Forget a console that went away."""
        group = self._by_contact_point.get(connection.contact_point)
        if group is not None:
            group.discard(connection)
            if not group:
                del self._by_contact_point[connection.contact_point]

    def close_all(self) -> None:
        """Tell every console this process is going away."""
        for group in self._by_contact_point.values():
            for connection in group:
                connection.drop(CloseCode.GOING_AWAY, "The notifier is restarting; reconnect.")

    async def _record_deliveries(self) -> None:
        """Mark console deliveries delivered the first time one of their consoles got them."""
        if not self._delivered:
            return
        done, self._delivered = self._delivered, set()
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            for key, contact_point, exercise in done:
                changed = await session.execute(
                    update(Delivery)
                    .where(
                        Delivery.alert_sender == key.sender,
                        Delivery.alert_identifier == key.identifier,
                        Delivery.contact_point == contact_point,
                        Delivery.channel == Channel.CONSOLE,
                        Delivery.delivered_at.is_(None),
                    )
                    .values(
                        delivered_at=now,
                        # An acknowledgement may have come first (another process's console).
                        status=case(
                            (Delivery.status == DeliveryStatus.SENT, DeliveryStatus.DELIVERED),
                            else_=Delivery.status,
                        ),
                    )
                    .returning(Delivery.alert_sender)
                )
                if changed.first() is not None:
                    add_outbox(
                        session,
                        receipt(
                            key, contact_point, Channel.CONSOLE, DeliveryStatus.DELIVERED, now,
                            self._producer, exercise=exercise,
                        ),
                    )  # fmt: skip
