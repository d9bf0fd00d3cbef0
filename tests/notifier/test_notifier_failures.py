"""The notifier under failure: killed in the middle of a burst, the registry gone, a slow console.

Real broker, registry (served over HTTP), gateway, SMTP server; the notifier as its own process
(`crossalert serve notifier`) where it is killed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner
from gateway_support import running_gateway
from notifier_support import (
    EMAILS,
    FLOOD_RECIPIENTS,
    OFFICERS,
    Console,
    Served,
    free_port,
    ids,
    killable_notifier,
    login,
    meuse_alert,
    quiet,
    running_notifier,
    service_env,
    service_process,
    serving,
    until_ready,
)
from registry_support import running_registry
from smtp_support import running_smtp
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import parse_cap_json
from schemas.console import AlertState, CloseCode, FeedItem, Heartbeat, ItemKind
from schemas.envelopes import AlertKey
from services.common.database import create_engine, session_factory
from services.common.kafka import PARTITIONS
from services.common.migrations import migrate
from services.notifier import hub as hub_module
from services.notifier.feed import Written, show
from services.notifier.hub import Connection, Hub
from services.notifier.intake import Target, deliveries_for
from services.notifier.models import ALERTS, DELIVERIES, Delivery, FeedEntry
from services.notifier.runtime import MIGRATIONS

BURST = 40
EXAMPLE = Path(__file__).parents[2] / "schemas" / "examples" / "alert.meuse-flood-warning.json"


async def test_kill_9_in_the_middle_of_a_burst_then_restart_loses_nothing_and_repeats_nothing(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    registry_port, notifier_port = free_port(), free_port()
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        serving(registry.app, registry_port, lifespan=False) as registry_url,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
        running_smtp(free_port()) as smtp,
    ):
        env = service_env(
            "notifier",
            http_port=notifier_port,
            log_format="json",
            **killable_notifier(tmp_path, kafka_bootstrap, registry_url, smtp.port),
        )
        url = f"http://127.0.0.1:{notifier_port}"
        publisher = await registry.auth("liege-system", "liege-secret-123")
        alerts = [meuse_alert() for _ in range(BURST)]
        async with httpx.AsyncClient(base_url=url) as http:
            with service_process("notifier", env, tmp_path / "notifier-1.log") as first:
                await until_ready(http)
                consoles = {}
                for cp in FLOOD_RECIPIENTS:
                    consoles[cp] = Console(
                        url.replace("http", "ws") + "/v1/feed", await login(http, OFFICERS[cp])
                    )
                    await consoles[cp].connect()
                for alert in alerts[: BURST // 3]:
                    posted = await gateway.http.post("/v1/alerts", json=alert, headers=publisher)
                    assert posted.status_code == 202, posted.text
                first.send_signal(signal.SIGKILL)
                first.wait()
            seen_at_kill = {cp: len(ids(c)) for cp, c in consoles.items()}
            for alert in alerts[BURST // 3 :]:
                posted = await gateway.http.post("/v1/alerts", json=alert, headers=publisher)
                assert posted.status_code == 202, posted.text

            with service_process("notifier", env, tmp_path / "notifier-2.log"):
                await until_ready(http)
                for console in consoles.values():
                    await console.wait_for(lambda c: c.closed is not None)
                    await console.connect(resume=True)
                expected = sorted(a["identifier"] for a in alerts)
                for cp, console in consoles.items():
                    await console.wait_for(
                        lambda c: set(ids(c)) >= set(expected), timeout=60, what=cp
                    )
                wanted = {(EMAILS[cp], a["identifier"]) for cp in FLOOD_RECIPIENTS for a in alerts}
                # A mail claimed by the killed process waits for its claim to lapse.
                async with asyncio.timeout(90):
                    while not wanted <= {(m["To"], m["X-CAP-Identifier"]) for m in smtp.messages}:
                        await asyncio.sleep(0.2)
                await quiet(2)

        assert all(count < BURST for count in seen_at_kill.values()), seen_at_kill
        for cp, console in consoles.items():
            shown = [identifier for identifier in ids(console) if identifier in expected]
            assert sorted(shown) == expected, cp  # every alert, none twice
            seqs = [item.seq for item in console.items]
            assert seqs == sorted(set(seqs)), cp
        ours = [m for m in smtp.messages if m["X-CAP-Identifier"] in expected]
        sent = Counter((str(m["To"]), str(m["X-CAP-Identifier"])) for m in ours)
        assert set(sent) == {
            (EMAILS[cp], a["identifier"]) for cp in FLOOD_RECIPIENTS for a in alerts
        }
        # SMTP has no two-phase commit: the mail the server took in the instant before the
        # killed process recorded it is sent again after the restart. Only that one may come
        # twice (mails go one at a time), and then as the same message (one Message-ID), which
        # mail clients show once.
        twice = {pair for pair, count in sent.items() if count > 1}
        assert max(sent.values()) <= 2
        assert len(twice) <= 1, twice
        for pair in twice:
            ids_of_pair = {
                str(m["Message-ID"]) for m in ours if (m["To"], m["X-CAP-Identifier"]) == pair
            }
            assert len(ids_of_pair) == 1, (pair, ids_of_pair)


async def test_the_registry_down_while_alerts_flow(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with (
        running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as registry,
        running_gateway(tmp_path, kafka_bootstrap, registry) as gateway,
        running_smtp(free_port()) as smtp,
    ):
        publisher = await registry.auth("liege-system", "liege-secret-123")

        async def post(alert: dict[str, Any]) -> None:
            answer = await gateway.http.post("/v1/alerts", json=alert, headers=publisher)
            assert answer.status_code == 202, answer.text

        registry_served = Served(registry.app, free_port())
        await registry_served.start()
        async with running_notifier(
            tmp_path, kafka_bootstrap, registry, free_port(), smtp_port=smtp.port,
            registry_url=registry_served.url, use_registry_client=False,
        ) as notifier:  # fmt: skip
            eupen = Console(notifier.ws_url, await login(notifier.http, "officer.eupen"))
            await eupen.connect()
            known = meuse_alert()
            await post(known)
            await eupen.wait_for(lambda c: known["identifier"] in ids(c))

            await registry_served.stop()
            new_facts = meuse_alert()
            new_facts["info"][0]["severity"] = "Extreme"
            # On another partition than the alert that waits, which holds back its own only.
            same_facts = meuse_alert()
            while partition_of(same_facts) == partition_of(new_facts):
                same_facts = meuse_alert()
            await post(new_facts)
            await post(same_facts)

            # Facts routed before are delivered from the last known answer, even though an
            # alert posted before them waits for the registry.
            await eupen.wait_for(lambda c: same_facts["identifier"] in ids(c))
            await quiet(2)
            assert new_facts["identifier"] not in ids(eupen)

            await registry_served.start()
            try:
                # New facts wait for the registry and are delivered once it is back.
                await eupen.wait_for(lambda c: new_facts["identifier"] in ids(c), timeout=30)
            finally:
                await registry_served.stop()
            assert ids(eupen) == [
                known["identifier"],
                same_facts["identifier"],
                new_facts["identifier"],
            ]


def partition_of(alert: dict[str, Any]) -> int:
    """The partition of the alert topic the broker's default partitioner puts a new alert on."""
    key = f"{alert['sender']},{alert['identifier']}".encode()
    partitions = list(range(PARTITIONS))
    return int(DefaultPartitioner()(key, partitions, partitions))


class _Socket:
    """What a console's WebSocket was sent, and how it was closed."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed_with: tuple[int, str] | None = None
        self.scope: dict[str, Any] = {}

    async def send_text(self, message: str) -> None:
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


class _Noted(list[tuple[AlertKey, str]]):
    """What the hub said it delivered, to whom."""

    def __call__(self, key: AlertKey, contact_point: str, *, exercise: bool) -> None:
        self.append((key, contact_point))


def console_of(
    socket: _Socket,
    *,
    queue_size: int = 100,
    buffer_bytes: int = 1 << 20,
    send_timeout: float = 0.2,
    contact_point: str = "be-eupen-desk",
) -> Connection:
    """A console's connection over a fake socket."""
    return Connection(
        socket,  # type: ignore[arg-type]
        officer="officer.eupen",
        contact_point=contact_point,
        queue_size=queue_size,
        buffer_bytes=buffer_bytes,
        send_timeout=send_timeout,
    )


def _item(seq: int) -> FeedItem:
    alert = parse_cap_json(EXAMPLE.read_bytes())
    key = AlertKey(sender=alert.sender, identifier=alert.identifier)
    return FeedItem(
        seq=seq, kind=ItemKind.ALERT, key=key, chain=key, alert=alert, exercise=False,
        state=AlertState.ACTIVE, language="fr-BE", language_available=True, reasons=[],
    )  # fmt: skip


async def test_a_console_that_falls_behind_is_dropped_and_the_others_are_not() -> None:
    # Offering reads no database: the hub needs no sessions here.
    noted = _Noted()
    hub = Hub(None, poll_seconds=1, delivered=noted)  # type: ignore[arg-type]
    slow_socket, fast_socket = _Socket(), _Socket()
    # The slow console's queue holds three items and nothing drains it; the fast one's is wide.
    slow = console_of(slow_socket, queue_size=3)
    fast = console_of(fast_socket, queue_size=100)

    for seq in range(1, 6):
        hub.offer([slow, fast], _item(seq))

    assert slow.close_reason is not None and slow.close_reason[0] == CloseCode.TOO_SLOW
    assert slow.closing.is_set()
    assert fast.close_reason is None and fast.cursor == 5
    # Each item queued to a console is noted as delivered to its contact point (8 of the 10).
    assert noted == [(_item(1).key, "be-eupen-desk")] * 8
    await slow.close()
    assert slow_socket.sent == []  # what it could not take is not sent late: it resumes instead
    assert slow_socket.closed_with is not None and slow_socket.closed_with[0] == 4408
    sending = asyncio.create_task(fast.send_queued())
    async with asyncio.timeout(5):
        while len(fast_socket.sent) < 5:
            await asyncio.sleep(0.01)
    sending.cancel()
    assert [FeedItem.model_validate_json(m).seq for m in fast_socket.sent] == [1, 2, 3, 4, 5]


async def test_a_console_is_dropped_when_its_waiting_messages_reach_the_byte_bound() -> None:
    hub = Hub(None, poll_seconds=1, delivered=_Noted())  # type: ignore[arg-type]
    size = len(_item(1).model_dump_json(by_alias=True, exclude_none=True))
    console = console_of(_Socket(), buffer_bytes=2 * size + size // 2)

    hub.offer([console], _item(1))
    hub.offer([console], _item(2))
    assert console.close_reason is None
    hub.offer([console], _item(3))

    assert console.close_reason is not None and console.close_reason[0] == CloseCode.TOO_SLOW
    assert console.cursor == 2


class _StuckSocket(_Socket):
    """A console that stopped reading: every send waits for ever; its connection can be aborted."""

    def __init__(self) -> None:
        super().__init__()
        self.aborted = False
        self.scope["crossalert.abort"] = self.abort

    async def send_text(self, message: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        await asyncio.Event().wait()  # the close frame waits behind the unread messages

    def abort(self) -> None:
        self.aborted = True


async def test_a_console_that_stops_reading_is_dropped_and_its_connection_aborted() -> None:
    socket = _StuckSocket()
    console = console_of(socket)
    console.offer(1, "x" * 1000)
    sending = asyncio.create_task(console.send_queued())
    await asyncio.sleep(0.05)
    console.check(time.monotonic(), heartbeat_seconds=60)
    assert console.close_reason is None  # stuck for less than the send timeout (0.2 s)

    await asyncio.sleep(0.3)
    console.check(time.monotonic(), heartbeat_seconds=60)
    sending.cancel()
    await console.close()

    assert console.close_reason is not None and console.close_reason[0] == CloseCode.TOO_SLOW
    assert socket.aborted


async def test_a_quiet_console_is_sent_one_heartbeat_per_quiet_interval() -> None:
    socket = _Socket()
    console = console_of(socket)
    console.cursor = 7
    sending = asyncio.create_task(console.send_queued())
    start = time.monotonic()
    try:
        console.check(start + 0.5, heartbeat_seconds=1)  # not quiet long enough
        console.check(start + 1.5, heartbeat_seconds=1)
        console.check(start + 1.6, heartbeat_seconds=1)  # the heartbeat was just queued
        async with asyncio.timeout(5):
            while not socket.sent:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        sending.cancel()

    assert [Heartbeat.model_validate_json(m).cursor for m in socket.sent] == [7]


async def test_the_hub_watch_sends_heartbeats_and_drops_a_stuck_console(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "WATCH_SECONDS", 0.05)
    hub = Hub(None, poll_seconds=1, delivered=_Noted(), heartbeat_seconds=0.2)  # type: ignore[arg-type]
    quiet_socket, stuck_socket = _Socket(), _StuckSocket()
    quiet, stuck = console_of(quiet_socket), console_of(stuck_socket, send_timeout=0.2)
    for console in (quiet, stuck):
        await hub.attach(console, [], 0)  # nothing pushed yet: live without a database read
    stuck.offer(1, "x" * 1000)
    tasks = [
        asyncio.create_task(c) for c in (hub.watch(), quiet.send_queued(), stuck.send_queued())
    ]
    try:
        async with asyncio.timeout(5):  # a bound on a hang, not on speed
            while not (quiet_socket.sent and stuck.close_reason):
                await asyncio.sleep(0.02)
    finally:
        for task in tasks:
            task.cancel()

    assert Heartbeat.model_validate_json(quiet_socket.sent[0]).cursor == 0
    assert quiet.close_reason is None
    assert stuck.close_reason is not None and stuck.close_reason[0] == CloseCode.TOO_SLOW


async def test_a_token_expiring_in_the_middle_of_a_send_ends_the_connection() -> None:
    socket = _StuckSocket()
    # The send would wait for ten minutes: the token's expiry comes first.
    console = console_of(socket, send_timeout=600)
    console.offer(1, "x" * 1000)
    console.expire_at(time.time() + 0.2)

    async with asyncio.timeout(30):  # a bound on a hang, not on speed
        await console.serve(asyncio.Event().wait())

    assert console.close_reason is not None
    assert console.close_reason[0] == CloseCode.UNAUTHORIZED
    assert socket.aborted


async def test_an_item_just_written_goes_at_once_only_to_consoles_that_have_all_before_it(
    tmp_path: Path,
) -> None:
    """The live path: the intake hands the hub what it committed. A console lacking an entry
    before it (written by another process, not yet pushed) must not get it out of order."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}")
    await migrate(engine, MIGRATIONS)
    hub = Hub(session_factory(engine), poll_seconds=1, delivered=_Noted())
    current, behind = console_of(_Socket()), console_of(_Socket())
    try:
        await hub.attach(current, [], 7)
        await hub.attach(behind, [], 5)

        # Entry 9 of this contact point follows its entry 7 (8 went to another contact point).
        hub.push_written([Written("be-eupen-desk", 7, _item(9))])
        hub.push_written([Written("nl-vrln-desk", 0, _item(10))])
    finally:
        await engine.dispose()

    assert current.cursor == 9
    assert behind.cursor == 5  # it lacks entries 6 and 7: the database round brings all three


EUPEN_DESK = Target(contact_point="be-eupen-desk", contact_point_name="Eupen desk",
                    organisation="be-eupen", organisation_name="Eupen", email=None,
                    language="fr-BE", language_available=True, reasons=[],
                    ack_deadline_minutes=None, escalate_to=[])  # fmt: skip
VENLO_DESK = dataclasses.replace(
    EUPEN_DESK,
    contact_point="nl-vrln-desk", contact_point_name="Venlo desk", organisation="nl-vrln",
    organisation_name="Veiligheidsregio Limburg-Noord", language="nl-NL")  # fmt: skip


@asynccontextmanager
async def feed_of_one_alert(
    tmp_path: Path,
    *,
    entries: int,
    lasting: timedelta = timedelta(days=1),
    desks: Sequence[Target] = (EUPEN_DESK,),
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], list[str], list[int]]]:
    """A notifier database holding one alert for `desks` (Eupen's), shown in `entries` feed
    entries each; its sessions, the statements run from now on, and the entries' seqs."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}")
    await migrate(engine, MIGRATIONS)
    sessions = session_factory(engine)
    now = datetime.now(UTC)
    example = parse_cap_json(EXAMPLE.read_bytes())
    info = [i.model_copy(update={"expires": now + lasting}) for i in example.info]
    alert = example.model_copy(update={"info": info})
    async with sessions() as session, session.begin():
        await session.execute(insert(ALERTS), [{
            "sender": alert.sender, "identifier": alert.identifier, "chain_sender": alert.sender,
            "chain_identifier": alert.identifier, "msg_type": "Alert", "status": "Actual",
            "exercise": False, "sent": alert.sent, "expires": now + lasting, "state": "active",
            "cap_json": alert.model_dump_json(by_alias=True, exclude_none=True),
            "routing_json": "null", "received_at": now, "recorded_at": now,
        }])  # fmt: skip
        for desk in desks:
            await session.execute(insert(DELIVERIES), deliveries_for(alert, desk, now))
        key = AlertKey(sender=alert.sender, identifier=alert.identifier)
        shown = [desk.contact_point for desk in desks for _ in range(entries)]
        seqs = await show(session, shown, key, ItemKind.ALERT, now)
    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: statements.append(statement))  # fmt: skip
    try:
        yield sessions, statements, seqs
    finally:
        await engine.dispose()


async def test_entries_another_process_wrote_for_several_desks_are_read_together(
    tmp_path: Path,
) -> None:
    """A round brings the entries another process wrote to this process's consoles of every
    contact point from one read of the feed, and each console sees its own organisation's
    acknowledgements only."""
    desks = (EUPEN_DESK, VENLO_DESK)
    async with feed_of_one_alert(tmp_path, entries=1, desks=desks) as (sessions, statements, _):
        hub = Hub(sessions, poll_seconds=1, delivered=_Noted())
        await hub.start()
        consoles = {}
        for desk in desks:
            console = console_of(_Socket(), contact_point=desk.contact_point)
            consoles[desk.contact_point] = console
            await hub.attach(console, [], await _newest_seq(sessions, desk.contact_point))
        # Another process records each desk's acknowledgement and shows it on that desk's feed.
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            for desk in desks:
                await session.execute(
                    update(Delivery)
                    .where(Delivery.contact_point == desk.contact_point)
                    .values(acknowledged_at=now, acknowledged_by=f"officer-of-{desk.organisation}")
                )
            key = (await session.scalars(select(Delivery))).first()
            assert key is not None
            alert = AlertKey(sender=key.alert_sender, identifier=key.alert_identifier)
            await show(
                session, [d.contact_point for d in desks], alert, ItemKind.ACKNOWLEDGEMENT, now
            )
        statements.clear()

        await hub.catch_up()
        shown = {cp: await _sent_by(console, 1) for cp, console in consoles.items()}

    feed_reads = [s for s in statements if "JOIN deliveries" in s]
    assert len(feed_reads) == 1, feed_reads
    for desk in desks:
        (item,) = shown[desk.contact_point]
        assert item.kind == ItemKind.ACKNOWLEDGEMENT
        assert [a.by for a in item.acknowledgements] == [f"officer-of-{desk.organisation}"]


async def _newest_seq(sessions: async_sessionmaker[AsyncSession], contact_point: str) -> int:
    async with sessions() as session:
        seq = await session.scalar(
            select(func.max(FeedEntry.seq)).where(FeedEntry.contact_point == contact_point)
        )
    assert seq is not None
    return seq


async def _sent_by(console: Connection, count: int) -> list[FeedItem]:
    """The items queued for a console, once `count` were sent to its socket."""
    socket = console.websocket
    assert isinstance(socket, _Socket)
    sender = asyncio.create_task(console.send_queued())
    try:
        async with asyncio.timeout(5):
            while len(socket.sent) < count:
                await asyncio.sleep(0.01)
    finally:
        sender.cancel()
    return [FeedItem.model_validate_json(m) for m in socket.sent]


async def test_a_console_that_missed_nothing_goes_live_without_reading_the_database(
    tmp_path: Path,
) -> None:
    """A reconnect storm after a restart: consoles resuming where the hub stands read nothing;
    one that lacks an entry the hub already pushed still reads it from the database."""
    async with feed_of_one_alert(tmp_path, entries=2) as (sessions, statements, seqs):
        hub = Hub(sessions, poll_seconds=1, delivered=_Noted())
        await hub.start()
        statements.clear()
        current, behind = console_of(_Socket()), console_of(_Socket())

        await hub.attach(current, [], seqs[-1])
        read_for_current = list(statements)
        await hub.attach(behind, [], seqs[0])

    assert hub.has_all_pushed("be-eupen-desk", seqs[-1])
    assert not hub.has_all_pushed("be-eupen-desk", seqs[0])
    assert read_for_current == []
    assert statements, "the console lacking an entry was not caught up from the database"
    assert current.live and behind.live


async def test_consoles_opening_together_share_one_read_and_never_see_an_expired_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reload of every browser of a crisis centre: one snapshot read per contact point, and
    an alert that expires between two consoles' openings is not shown to the second."""
    # Shared for longer than the alert lasts, so that the alert expires while it is shared.
    monkeypatch.setattr(hub_module, "SNAPSHOT_SECONDS", 60.0)
    async with feed_of_one_alert(tmp_path, entries=1, lasting=timedelta(seconds=2)) as (
        sessions, statements, seqs,
    ):  # fmt: skip
        hub = Hub(sessions, poll_seconds=1, delivered=_Noted())
        await hub.start()
        statements.clear()

        first, cursor = await hub.snapshot("be-eupen-desk")
        reads = len(statements)
        again, _ = await hub.snapshot("be-eupen-desk")
        await asyncio.sleep(2.1)  # the alert expires; the snapshot is still shared
        later, later_cursor = await hub.snapshot("be-eupen-desk")

    assert [item.seq for item in first] == seqs and cursor == seqs[-1]
    assert reads > 0 and len(statements) == reads  # the second and third read nothing
    assert again == first
    assert later == [] and later_cursor == cursor
