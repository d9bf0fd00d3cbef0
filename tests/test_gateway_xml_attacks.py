"""Hostile CAP XML against the running gateway: refused with a problem, cheaply, publishing nothing.

Each attack is posted as application/cap+xml with a valid token of `liege-system` to a real
gateway (real registry tokens, real broker). It must be refused with a 4xx problem naming the
reason; nothing may reach an alert topic (real or exercise); nothing may be fetched from the
network; and refusing it must not cost memory: the peak of Python allocations while one refusal
is processed (tracemalloc) stays small, and the process's resident memory does not grow over
repeated bombs. Hangs are bounded by a timeout; no duration is asserted.
"""

from __future__ import annotations

import asyncio
import gc
import re
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from gateway_support import LIEGE, Gateway, running_gateway
from registry_support import running_registry

from schemas.cap import CAP_NAMESPACE
from schemas.envelopes import AlertPublished, decode_envelope
from schemas.topics import ALERT_TOPICS

MiB = 1024 * 1024
PEAK_PYTHON_BYTES = 20 * MiB  # per refusal, traced by tracemalloc
RSS_GROWTH_BYTES = 50 * MiB  # over the repeated bombs
REPEATS = 20
HANG_BOUND_SECONDS = 30  # a bound on a hang, not an assertion on speed
ALERT_TOPIC_NAMES = frozenset(
    spec.name_for(exercise=exercise) for spec in ALERT_TOPICS.values() for exercise in (False, True)
)

_LOL = "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' if i else '<!ENTITY lol0 "lol">' for i in range(10)
)


@dataclass(frozen=True)
class Attack:
    """A hostile document and the refusal it must get."""

    name: str
    build: Callable[[str, str], bytes]  # (identifier, canary URL) -> document
    status: int
    code: str
    reason: str  # a regular expression the problem's detail must match


def alert(identifier: str, note: str = "hostile", prolog: str = "") -> str:
    """A CAP alert of Liège, otherwise acceptable, with `note` and `prolog` as given."""
    return (
        f'{prolog}<alert xmlns="{CAP_NAMESPACE}"><identifier>{identifier}</identifier>'
        f"<sender>{LIEGE}</sender><sent>2026-03-01T08:00:00+01:00</sent><status>Actual</status>"
        f"<msgType>Alert</msgType><scope>Public</scope><note>{note}</note></alert>"
    )


DOCTYPE = r"DOCTYPE declarations are not accepted"

ATTACKS = [
    Attack(
        "billion_laughs",
        lambda ident, _: alert(ident, "&lol9;", f"<!DOCTYPE alert [{_LOL}]>").encode(),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        # One 100 KB entity referenced 5000 times: 500 MB once expanded, 115 KB on the wire.
        "quadratic_blowup",
        lambda ident, _: alert(
            ident, "&a;" * 5000, f'<!DOCTYPE alert [<!ENTITY a "{"A" * 100_000}">]>'
        ).encode(),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        "external_entity_file",
        lambda ident, _: alert(
            ident, "&x;", '<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        ).encode(),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        # Nothing listens on the discard port: a parser that fetched would fail or hang there.
        "external_dtd",
        lambda ident, _: alert(
            ident, prolog='<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/evil.dtd">'
        ).encode(),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        "parameter_entity",
        lambda ident, canary: alert(
            ident, "&y;", f'<!DOCTYPE alert [<!ENTITY % p SYSTEM "{canary}/p.dtd"> %p;]>'
        ).encode(),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        "xinclude",
        lambda ident, canary: alert(
            ident,
            '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"'
            f' parse="text"/><xi:include xmlns:xi="http://www.w3.org/2001/XInclude"'
            f' href="{canary}/x.xml"/>',
        ).encode(),
        400,
        "xinclude_forbidden",
        r"XInclude is not accepted",
    ),
    Attack(
        # In UTF-16 too, the DOCTYPE is refused before the parser sees the bomb.
        "utf16_billion_laughs",
        lambda ident, _: alert(
            ident,
            "&lol9;",
            f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE alert [{_LOL}]>',
        ).encode("utf-16"),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        "utf16_external_dtd",
        lambda ident, canary: alert(
            ident, prolog=f'<!DOCTYPE alert SYSTEM "{canary}/evil.dtd">'
        ).encode("utf-16"),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        # A DOCTYPE hidden after a 5 KB comment is found all the same.
        "late_doctype_billion_laughs",
        lambda ident, _: alert(
            ident, "&lol9;", f"<!--{'x' * 5000}--><!DOCTYPE alert [{_LOL}]>"
        ).encode(),
        400,
        "doctype_forbidden",
        DOCTYPE,
    ),
    Attack(
        # 100 000 nested elements in 700 KB.
        "deep_nesting",
        lambda ident, _: alert(ident, "<a>" * 100_000 + "</a>" * 100_000).encode(),
        400,
        "malformed_xml",
        r"not well-formed XML: .*[Ee]xcessive depth",
    ),
]


@dataclass
class Canary:
    """A TCP listener counting connections: a parser that fetches anything would reach it."""

    url: str = ""
    connections: list[str] = field(default_factory=list)


class AlertLog:
    """Where the alert topics (real and exercise) end, and what was written past that."""

    def __init__(self, bootstrap: str) -> None:
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)

    async def start(self) -> None:
        await self._admin.start()
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def ends(self) -> dict[TopicPartition, int]:
        """The end offset of every partition of every alert topic that exists."""
        described = await self._admin.describe_topics()
        places = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["topic"] in ALERT_TOPIC_NAMES
            for partition in topic["partitions"]
        ]
        return dict(await self._consumer.end_offsets(places)) if places else {}

    async def identifiers_since(self, before: dict[TopicPartition, int]) -> set[str]:
        """Identifiers of the alerts written to any alert topic after `before`."""
        after = await self.ends()
        grown = {p: end for p, end in after.items() if end > before.get(p, 0)}
        if not grown:
            return set()
        self._consumer.assign(list(grown))
        for place in grown:
            self._consumer.seek(place, before.get(place, 0))
        found: set[str] = set()
        async with asyncio.timeout(HANG_BOUND_SECONDS):
            while grown:
                batches = await self._consumer.getmany(timeout_ms=1000)
                for place, records in batches.items():
                    for record in records:
                        envelope = decode_envelope(record.value)
                        if isinstance(envelope, AlertPublished):
                            found.add(envelope.alert.identifier)
                        if record.offset + 1 >= grown.get(place, 0):
                            grown.pop(place, None)
        return found


@dataclass
class World:
    gateway: Gateway
    auth: dict[str, str]
    log: AlertLog
    canary: Canary
    marker: str

    async def post(self, document: bytes) -> httpx.Response:
        headers = self.auth | {"Content-Type": "application/cap+xml"}
        async with asyncio.timeout(HANG_BOUND_SECONDS):
            return await self.gateway.http.post(
                "/v1/alerts", content=document, headers=headers, timeout=HANG_BOUND_SECONDS
            )

    def document(self, attack: Attack) -> bytes:
        return attack.build(f"{self.marker}-{attack.name}", self.canary.url)


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[World]:
    state: Path = tmp_path_factory.mktemp("gateway-xml-attacks")
    canary = Canary()

    async def visited(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        canary.connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(visited, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    canary.url = f"http://127.0.0.1:{port}"
    log = AlertLog(kafka_bootstrap)
    await log.start()
    try:
        async with (
            running_registry(f"sqlite+aiosqlite:///{state / 'r.sqlite3'}", state) as registry,
            running_gateway(state, kafka_bootstrap, registry) as gateway,
        ):
            auth = await registry.auth("liege-system", "liege-secret-123")
            yield World(gateway, auth, log, canary, f"ATTACK-{uuid.uuid4().hex[:10]}")
    finally:
        await log.stop()
        server.close()
        await server.wait_closed()


def assert_refused(answer: httpx.Response, attack: Attack) -> None:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    problem = answer.json()
    assert (answer.status_code, problem["code"]) == (attack.status, attack.code), problem
    assert re.search(attack.reason, problem["detail"]), problem["detail"]
    assert "root:" not in answer.text  # nothing of /etc/passwd is echoed back


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda attack: attack.name)
async def test_an_xml_attack_is_refused_without_memory_publishing_or_network(
    world: World, attack: Attack
) -> None:
    document = world.document(attack)
    assert len(document) < MiB
    before = await world.log.ends()

    tracemalloc.start()
    try:
        answer = await world.post(document)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert_refused(answer, attack)
    assert peak < PEAK_PYTHON_BYTES, f"{attack.name}: {peak} bytes of Python memory at peak"
    published = await world.log.identifiers_since(before)
    assert not {i for i in published if i.startswith(world.marker)}, published
    # Checked last: the round trips to the broker above let the loop accept any connection.
    assert world.canary.connections == []


def memory_bytes(name: str) -> int:
    """A figure of this process (the gateway runs in it) from /proc/self/status, in bytes."""
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{name}:\s+(\d+) kB$", status, re.MULTILINE)
    assert match, status
    return int(match.group(1)) * 1024


def reset_peak_resident() -> bool:
    """Reset VmHWM (the peak resident size) to the current one; False where Linux refuses."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def test_repeated_bombs_do_not_grow_the_gateways_memory(world: World) -> None:
    documents = [(attack, world.document(attack)) for attack in ATTACKS]
    for attack, document in documents:  # warm-up: first-use allocations are not growth
        assert_refused(await world.post(document), attack)
    gc.collect()
    before = memory_bytes("VmRSS")
    peak_known = reset_peak_resident()

    for round_ in range(REPEATS):
        attack, document = documents[round_ % len(documents)]
        assert_refused(await world.post(document), attack)
    gc.collect()
    growth = memory_bytes("VmRSS") - before
    peak_growth = memory_bytes("VmHWM") - before

    assert growth < RSS_GROWTH_BYTES, f"resident memory grew by {growth} bytes"
    # Memory taken and given back (an expansion freed after the refusal) shows in the peak.
    if peak_known:
        assert peak_growth < RSS_GROWTH_BYTES, f"resident memory peaked {peak_growth} bytes higher"
    assert world.canary.connections == []
