"""What every fault drill shares: a steady stream of alerts from several senders, consoles of
the desks they reach, and the check that nothing accepted was lost or shown twice.

`drill` runs the stream, lets a drill inject its fault and end it, stops the stream, and
waits for every console and mailbox; the drill prints `Drill.figures` beside its own (run
with `-s` to read them) and asserts what it promises.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from evaluator_support import (
    WAVE_MESSAGES,
    WAVE_WEEKS,
    WAVES,
    check_chains,
    recent_weeks,
    threshold_alerts,
    version,
    wave_week,
)
from notifier_support import (
    EMAILS,
    FLOOD_RECIPIENTS,
    OFFICERS,
    Console,
    Network,
    ServiceProcess,
    follow_up,
    free_port,
    ids,
    login,
    meuse_alert,
    quiet,
    service_child,
    serving,
)

from schemas.cap import Alert

RATE_PER_SECOND = 5
SENDERS = 2
SEND_TIMEOUT_S = 5.0  # the gateway's default kafka_send_timeout_seconds
ANSWER_SLACK_S = 2.0  # an answer may come this much after the send timeout, never later
RECOVERY_S = 10.0  # everything accepted is on every console this soon after the fault ends
MAIL_WAIT_S = 60.0  # mail may trail the consoles (retries back off), but not for ever
BEFORE_S = 2.0  # the stream runs this long before the fault
AFTER_S = 3.0  # and this long after it ended


@dataclass
class Stream:
    """Senders publishing alerts, updates and cancels at a steady rate through the gateway."""

    net: Network
    gateway: httpx.AsyncClient | None = None  # another gateway than the network's own
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # identifier -> alert
    accepted_at: list[float] = field(default_factory=list)
    unavailable_at: list[float] = field(default_factory=list)
    answers: Counter[int] = field(default_factory=Counter)
    slowest_s: float = 0.0
    retried: int = 0  # requests sent again: no answer (the gateway died), or 409 in_progress
    running: bool = True
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._sender(n)) for n in range(SENDERS)]

    async def stop(self) -> None:
        self.running = False
        await asyncio.gather(*self._tasks)

    async def _sender(self, number: int) -> None:
        published: list[dict[str, Any]] = []
        interval = SENDERS / RATE_PER_SECOND
        sent = 0
        while self.running:
            sent += 1
            # Every fourth message follows up one of this sender's alerts: an Update, or a Cancel.
            if published and sent % 4 == 0:
                alert = follow_up(published.pop(0), "Cancel" if sent % 8 == 0 else "Update")
            else:
                alert = meuse_alert()
            started = time.monotonic()
            answer = await self._post(alert)
            took = time.monotonic() - started
            if answer.status_code == 202:
                self.accepted[alert["identifier"]] = alert
                self.accepted_at.append(time.monotonic())
                if alert["msgType"] == "Alert":
                    published.append(alert)
            elif answer.status_code == 503:
                self.unavailable_at.append(time.monotonic())
            else:
                raise AssertionError(f"sender {number}: {answer.status_code} {answer.text}")
            await asyncio.sleep(max(0.0, interval - took))

    async def _post(self, alert: dict[str, Any]) -> httpx.Response:
        """Post until the gateway answers, as a sender does: the same alert again when no
        answer came, or when the first attempt is still in progress (409, Retry-After)."""
        http = self.gateway or self.net.gateway.http
        while True:
            started = time.monotonic()
            try:
                answer = await http.post(
                    "/v1/alerts", json=alert, headers=self.net.publisher, timeout=60
                )
            except httpx.TransportError:
                self.retried += 1
                await asyncio.sleep(0.5)
                continue
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            if answer.status_code == 409 and answer.json().get("code") == "in_progress":
                self.retried += 1
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            self.answers[answer.status_code] += 1
            return answer

    def accepted_between(self, start: float, end: float) -> int:
        return sum(start < t < end for t in self.accepted_at)

    def figures(self, fault_at: float) -> str:
        resumed = max(self.unavailable_at, default=fault_at) - fault_at
        return (
            f"accepted {len(self.accepted)} alerts, updates and cancels; {self.answers[503]} × "
            f"503 (the last {resumed:.1f} s after the fault began); slowest answer "
            f"{self.slowest_s:.2f} s (send timeout {SEND_TIMEOUT_S:.0f} s); "
            f"{self.retried} requests sent again"
        )

    def check_answers(self) -> None:
        """Every answer a 202 or a 503, none later than the send timeout allows."""
        assert set(self.answers) <= {202, 503}, self.answers
        assert self.answers[202] == len(self.accepted)
        assert self.slowest_s <= SEND_TIMEOUT_S + ANSWER_SLACK_S  # a 503 is fine, a hang is not


async def desk_consoles(net: Network, per_desk: int) -> dict[str, list[Console]]:
    """`per_desk` live consoles of each desk the stream's alerts reach (one login per desk)."""
    consoles: dict[str, list[Console]] = {}
    for desk in sorted(FLOOD_RECIPIENTS):
        token = await login(net.notifier.http, OFFICERS[desk])
        consoles[desk] = [Console(net.notifier.ws_url, token) for _ in range(per_desk)]
        for console in consoles[desk]:
            await console.connect()
    for desk_consoles in consoles.values():
        for console in desk_consoles:
            await console.wait_for(lambda c: any(m.type == "synced" for m in c.messages))
    return consoles


async def delivered(
    consoles: dict[str, list[Console]], stream: Stream, *, timeout: float = RECOVERY_S
) -> tuple[float, int]:
    """Wait until every console shows every accepted message; the seconds that took and how
    many items were shown twice (counted over every console)."""
    started = time.monotonic()
    expected = set(stream.accepted)
    for desk, desk_consoles in consoles.items():
        for console in desk_consoles:
            await console.wait_for(
                lambda c: expected <= set(ids(c)), timeout=timeout, what=f"{desk}: every alert"
            )
    waited = time.monotonic() - started
    twice = 0
    for desk_consoles in consoles.values():
        for console in desk_consoles:
            shown = [i for i in ids(console) if i in expected]
            twice += len(shown) - len(set(shown))
            seqs = [item.seq for item in console.items]
            assert seqs == sorted(set(seqs)), "a console's items out of order or repeated"
    return waited, twice


async def mailed(
    net: Network, stream: Stream, *, timeout: float = MAIL_WAIT_S
) -> tuple[float, int]:
    """Wait until each desk's mailbox holds a mail of every accepted message; the seconds that
    took and how many (mailbox, message) pairs came more than once."""
    wanted = {(EMAILS[desk], i) for desk in FLOOD_RECIPIENTS for i in stream.accepted}

    def sent() -> Counter[tuple[str, str]]:
        pairs = ((str(m["To"]), str(m["X-CAP-Identifier"])) for m in net.smtp.messages)
        return Counter(pair for pair in pairs if pair in wanted)

    started = time.monotonic()
    deadline = started + timeout
    while set(sent()) != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    missing = wanted - set(sent())
    assert not missing, f"{len(missing)} mails never sent, e.g. {sorted(missing)[:3]}"
    waited = time.monotonic() - started
    repeated = {pair for pair, count in sent().items() if count > 1}
    for pair in repeated:  # sent again only as the same message, which mail clients show once
        message_ids = {
            str(m["Message-ID"])
            for m in net.smtp.messages
            if (str(m["To"]), str(m["X-CAP-Identifier"])) == pair
        }
        assert len(message_ids) == 1, (pair, message_ids)
    return waited, len(repeated)


@dataclass(frozen=True)
class Drill:
    """What a drill saw: the stream, when the fault began and ended, and the deliveries."""

    stream: Stream
    consoles: int
    desks: int
    began: float
    ended: float
    waited_s: float
    shown_twice: int
    mail_waited_s: float
    mailed_twice: int

    def figures(self) -> str:
        return (
            f"  {self.stream.figures(self.began)}\n"
            f"  {self.consoles} consoles of {self.desks} desks: every accepted message, "
            f"{self.shown_twice} shown twice, all delivered {self.waited_s:.1f} s after the "
            f"stream stopped; every mailbox every message {self.mail_waited_s:.1f} s after it, "
            f"{self.mailed_twice} mailed twice"
        )

    def report(self, headline: str, *, mails_repeated: int = 0) -> None:
        """Print the drill's figures under `headline`, then check what every drill promises."""
        print(f"\n{headline}\n{self.figures()}")
        self.check(mails_repeated=mails_repeated)

    def check(self, *, mails_repeated: int = 0) -> None:
        """What every drill promises: answers in time, nothing lost or shown twice, recovered;
        no mail sent twice but for `mails_repeated` (a crash's one, docs/reliability.md)."""
        self.stream.check_answers()
        assert len(self.stream.accepted) > RATE_PER_SECOND * BEFORE_S / 2
        assert self.stream.accepted_between(self.ended, time.monotonic()) > 0
        assert self.shown_twice == 0
        assert self.mailed_twice <= mails_repeated
        assert self.waited_s <= RECOVERY_S


Fault = Callable[[dict[str, list[Console]]], Awaitable[tuple[float, float]]]
"""Injects a fault (given the drill's consoles), ends it, and says when it began and ended
(monotonic clock)."""


async def drill(
    net: Network, per_desk: int, fault: Fault, *, gateway: httpx.AsyncClient | None = None
) -> Drill:
    """Run the stream to `per_desk` consoles of each desk (through `gateway` if given, else
    the network's), and `fault` in the middle of it."""
    consoles = await desk_consoles(net, per_desk)
    stream = Stream(net, gateway)
    stream.start()
    await asyncio.sleep(BEFORE_S)
    began, ended = await fault(consoles)
    await asyncio.sleep(AFTER_S)
    await stream.stop()
    waited, twice = await delivered(consoles, stream)
    return Drill(
        stream, sum(map(len, consoles.values())), len(consoles), began, ended, waited, twice,
        *await mailed(net, stream),
    )  # fmt: skip


@dataclass
class Wave:
    """An epidemic wave (`WAVES`) an agency submits week by week to an evaluator process of its
    own, beside a drill's stream: the threshold messages it calls for are checked on the broker.
    """

    net: Network
    kafka: str
    rule_id: str
    agency: dict[str, str]
    evaluator: ServiceProcess
    weeks: list[str] = field(default_factory=lambda: recent_weeks(WAVE_WEEKS))

    async def submit(self, week: int) -> None:
        """The week's figures, sent again while the gateway answers 503 (as an agency does)."""
        rows = wave_week(self.weeks, week)
        async with asyncio.timeout(60):
            while True:
                answer = await self.net.gateway.http.post(
                    "/v1/observations", json=rows, headers=self.agency
                )
                if answer.status_code != 503:
                    break
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
        assert answer.status_code == 202, answer.text

    async def published(self) -> list[Alert]:
        return await threshold_alerts(self.kafka, self.rule_id)

    async def until_published(self, count: int) -> None:
        """Wait until `count` different messages are out (copies count once)."""
        async with asyncio.timeout(60):
            while len({alert.identifier for alert in await self.published()}) < count:
                await asyncio.sleep(0.3)

    async def completed(self, *, copies: bool = False) -> list[Alert]:
        """Every message of the wave, once each and in its chain (checked).

        With `copies`, a message may be on the broker more than once, as identical copies
        (which receivers show once): a write the gateway answered 503 for may still land."""
        await self.until_published(WAVE_MESSAGES)
        await quiet(2)  # nothing more follows
        alerts = await self.published()
        if copies:
            first: dict[str, Alert] = {}
            for alert in alerts:
                assert first.setdefault(alert.identifier, alert) == alert, "copies differ"
            alerts = list(first.values())  # each once, in the order first published
        check_chains(alerts)
        return alerts


@asynccontextmanager
async def wave_beside(net: Network, kafka: str, state: Path) -> AsyncIterator[Wave]:
    """An evaluator process beside `net` (reaching its registry and gateway over HTTP), with a
    threshold rule of its own for `WAVES`' places."""
    rule_id = f"drill-{uuid.uuid4().hex[:6]}"
    agency = await net.registry.auth("aviq-system", "aviq-secret-123")
    rule = version(id=rule_id, regions=list(WAVES), no_data_after="P90D")
    created = await net.registry.http.post("/v1/threshold-rules", json=rule, headers=agency)
    assert created.status_code == 201, created.text
    async with (
        serving(net.registry.app, free_port(), lifespan=False) as registry_url,
        serving(net.gateway.app, free_port(), lifespan=False) as gateway_url,
        service_child(
            "evaluator",
            state,
            kafka_bootstrap_servers=kafka,
            registry_url=registry_url,
            gateway_url=gateway_url,
            registry_client_id="evaluator",
            registry_client_secret="evaluator-secret-123",
            database_url=f"sqlite+aiosqlite:///{state / 'evaluator.sqlite3'}",
            consumer_group=f"evaluator-{uuid.uuid4().hex[:8]}",
            consumer_start="latest",
            outbox_retry_seconds=0.2,
        ) as evaluator,
    ):
        yield Wave(net, kafka, rule_id, agency, evaluator)
