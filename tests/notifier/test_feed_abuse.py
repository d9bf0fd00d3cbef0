"""The live feed under abuse: a console that stops reading, a flood of messages, an oversized
frame, too many feeds of one officer, tokens that are not a live officer's. Each is refused or
dropped, and the notifier keeps serving everyone else.

Real broker, registry, gateway and notifier (uvicorn, as deployed); the abusive clients are raw
sockets or WebSocket clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from notifier_support import Console, Network, ids, login, meuse_alert, network_on

from bench.consoles import StuckConsole
from schemas.identity import Principal
from services.notifier.socket import MESSAGE_BURST
from services.registry.identity import issue_token, load_or_create_signing_key

HANG = 60.0  # seconds: bounds on a hang, never assertions on speed
EUPEN_OFFICER = Principal(
    sub="officer.eupen",
    kind="user",
    org="be-eupen",
    sender="krisen@eupen.example.org",
    scope="console",
    contact_point="be-eupen-desk",
)


@pytest.fixture
async def network(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[Network]:
    async with network_on(
        tmp_path,
        kafka_bootstrap,
        console_send_timeout_seconds=2,
        console_connections_per_officer=4,
    ) as net:
        yield net


def large_alert(size: int = 700_000) -> dict[str, Any]:
    """A flood alert for Liège's province with a long description (a big situation report)."""
    alert: dict[str, Any] = meuse_alert()
    alert["info"][0]["description"] = "Pegelstand und Lage. " * (size // 21)
    return alert


async def eventually(check: Any, what: str) -> None:
    async with asyncio.timeout(HANG):
        while not check():
            await asyncio.sleep(0.1)


async def test_a_console_that_stops_reading_is_dropped_and_the_others_get_everything(
    network: Network,
) -> None:
    token = await login(network.notifier.http, "officer.eupen")
    hello = json.dumps({"type": "hello", "token": token})
    stuck = await asyncio.to_thread(StuckConsole, network.notifier.ws_url, hello)
    reader = await network.console("be-eupen-desk")
    assert network.notifier.app is not None  # in-process
    hub = network.notifier.app.state.notifier.hub
    await eventually(lambda: hub.consoles_of("officer.eupen") == 2, "both consoles attached")
    alerts = [large_alert() for _ in range(8)]  # ~6 MB: more than the kernel buffers hold

    for alert in alerts:
        await network.post(alert)

    wanted = {alert["identifier"] for alert in alerts}
    await reader.wait_for(lambda c: wanted <= set(ids(c)), timeout=HANG, what="every alert")
    await eventually(lambda: hub.consoles_of("officer.eupen") == 1, "the stuck console dropped")
    assert await asyncio.to_thread(stuck.cut_off, HANG), "the stuck console is still connected"
    assert reader.closed is None
    assert (await network.notifier.http.get("/readyz")).status_code == 200


async def test_a_flood_of_messages_closes_that_console_only(network: Network) -> None:
    flooding = await network.console("be-eupen-desk")
    other = await network.console("nl-limburg-duty")

    # Twenty times the burst a console may send. The notifier closes the socket under the
    # flood; a send may then also wait on a full socket buffer, so the flood is bounded in time
    # and the close is what the test checks.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(HANG):
            for _ in range(20 * MESSAGE_BURST):
                await flooding.send({"type": "renew", "token": flooding.token})

    await flooding.wait_for(lambda c: c.closed is not None, timeout=HANG)
    assert flooding.closed is not None and flooding.closed[0] == 4429
    assert (await network.notifier.http.get("/healthz")).status_code == 200
    alert = meuse_alert()
    await network.post(alert)
    await other.wait_for(lambda c: alert["identifier"] in ids(c), timeout=HANG)
    assert other.closed is None


async def test_a_renewal_repeating_the_token_in_force_is_harmless(network: Network) -> None:
    console = await network.console("be-eupen-desk")

    for _ in range(3):
        await console.send({"type": "renew", "token": console.token})
    alert = meuse_alert()
    await network.post(alert)

    await console.wait_for(lambda c: alert["identifier"] in ids(c), timeout=HANG)
    assert console.closed is None


async def test_an_oversized_message_closes_the_console(network: Network) -> None:
    console = await network.console("be-eupen-desk")

    with contextlib.suppress(Exception):
        await console.send({"type": "renew", "token": "x" * 200_000})

    await console.wait_for(lambda c: c.closed is not None, timeout=HANG)
    assert console.closed is not None and console.closed[0] == 1009


async def test_one_officer_holds_a_bounded_number_of_feeds(network: Network) -> None:
    token = await login(network.notifier.http, "officer.eupen")
    other = await network.console("nl-limburg-duty")
    consoles = [Console(network.notifier.ws_url, token) for _ in range(200)]

    async def opened(console: Console) -> None:
        await console.connect()
        await console.wait_for(
            lambda c: c.closed is not None or any(m.type == "synced" for m in c.messages),
            timeout=HANG,
        )

    await asyncio.gather(*(opened(console) for console in consoles))

    live = [c for c in consoles if c.closed is None]
    refused = [c for c in consoles if c.closed is not None]
    assert len(live) == 4  # console_connections_per_officer of this network
    assert all(c.closed is not None and c.closed[0] == 4429 for c in refused)
    assert (await network.notifier.http.get("/readyz")).status_code == 200
    alert = meuse_alert()
    await network.post(alert)
    await other.wait_for(lambda c: alert["identifier"] in ids(c), timeout=HANG)
    await live[0].disconnect()
    again = Console(network.notifier.ws_url, token)
    await again.connect()
    await again.wait_for(lambda c: any(m.type == "synced" for m in c.messages), timeout=HANG)
    assert again.closed is None


async def test_tokens_that_are_not_a_live_officers_are_refused(
    network: Network, tmp_path: Path
) -> None:
    key = load_or_create_signing_key(tmp_path / "signing-key.pem")
    expired = issue_token(
        key, EUPEN_OFFICER, issuer="crossalert-registry", ttl_seconds=300,
        now=datetime.now(UTC) - timedelta(hours=1),
    ).access_token  # fmt: skip
    for_the_registry = await network.registry.token("reader", "reader-secret-123")
    machine = await network.registry.token("liege-system", "liege-secret-123")

    closes = {}
    for name, token in (("expired", expired), ("registry", for_the_registry), ("machine", machine)):
        console = Console(network.notifier.ws_url, token)
        await console.connect()
        await console.wait_for(lambda c: c.closed is not None, timeout=HANG)
        assert console.closed is not None
        closes[name] = console.closed[0]

    assert closes == {"expired": 4401, "registry": 4401, "machine": 4403}


async def test_the_token_expiring_closes_an_open_feed(tmp_path: Path, kafka_bootstrap: str) -> None:
    async with network_on(tmp_path, kafka_bootstrap) as network:
        key = load_or_create_signing_key(tmp_path / "signing-key.pem")
        # Valid for three more seconds (the verifier allows 30 s of clock skew).
        nearly = issue_token(
            key, EUPEN_OFFICER, issuer="crossalert-registry", ttl_seconds=300,
            now=datetime.now(UTC) - timedelta(seconds=297),
        ).access_token  # fmt: skip
        console = Console(network.notifier.ws_url, nearly)
        await console.connect()
        await console.wait_for(lambda c: c.closed is not None, timeout=HANG)

    assert console.closed is not None and console.closed[0] == 4401
    assert any(m.type == "synced" for m in console.messages)
