"""Fault drills on the services around the broker (the suite's shared broker, untouched): the
gateway killed mid-request, the mail server failing in both ways a real one does, and every
console reconnecting at once.

What must hold, as in every drill: the gateway answers 202 or 503 within its send timeout,
every accepted message reaches every intended console (none shown twice) within 10 s of the
fault's end, and every mailbox (mail may trail: the notifier backs off, 5 s doubling). Figures
printed with `-s`, kept in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import httpx
import pytest
from notifier_support import (
    Console,
    Network,
    free_port,
    service_env,
    service_process,
    serving,
    until_ready,
)

from faults.drill_support import drill

MAIL_DOWN_S = 6.0  # each way the mail server fails lasts this long
STORM_CONSOLES_PER_DESK = 70
STORM_S = 120.0  # not the 10 s promised: it does not hold yet (docs/reliability.md)
MAIL_CONSOLES_PER_DESK = 10


GATEWAY_DOWN_S = 2.0  # between the kill and the new gateway process's start


@pytest.fixture
def drill_bootstrap(kafka_bootstrap: str) -> str:
    return kafka_bootstrap


@pytest.fixture
def consoles_per_desk(request: pytest.FixtureRequest) -> int:
    return STORM_CONSOLES_PER_DESK if "storm" in request.node.name else MAIL_CONSOLES_PER_DESK


async def test_the_mail_server_busy_then_gone_then_back_delays_mail_and_nothing_else(
    network: Network,
) -> None:
    smtp = network.smtp

    async def busy_then_gone(_: object) -> tuple[float, float]:
        smtp.busy = True  # every message: 451 4.3.0 Try again later
        began = time.monotonic()
        await asyncio.sleep(MAIL_DOWN_S)
        smtp.busy = False
        await smtp.stop_listening()  # every connection refused
        await asyncio.sleep(MAIL_DOWN_S)
        await smtp.listen_again()
        return began, time.monotonic()

    seen = await drill(network, MAIL_CONSOLES_PER_DESK, busy_then_gone)

    seen.report(
        f"mail server drill: 451 for {MAIL_DOWN_S:.0f} s, then connections refused for "
        f"{MAIL_DOWN_S:.0f} s; {smtp.refused} messages answered 451"
    )
    assert smtp.refused > 0  # the notifier did try during the outage
    assert seen.stream.answers[503] == 0  # publishing never depended on mail


async def test_a_reconnect_storm_of_every_console_at_once_misses_and_repeats_nothing(
    network: Network,
) -> None:
    async def all_reconnect(consoles: dict[str, list[Console]]) -> tuple[float, float]:
        every = [console for desk in consoles.values() for console in desk]
        began = time.monotonic()
        await asyncio.gather(*(console.disconnect() for console in every))
        # All at once, each resuming after the last item it holds, as after a notifier restart.
        await asyncio.gather(*(console.connect(resume=True) for console in every))
        await asyncio.gather(
            *(
                console.wait_for(
                    lambda c: sum(m.type == "synced" for m in c.messages) >= 2, timeout=STORM_S
                )
                for console in every
            )
        )
        return began, time.monotonic()  # every console live again

    seen = await drill(network, STORM_CONSOLES_PER_DESK, all_reconnect)

    seen.report(
        f"reconnect storm drill: {seen.consoles} consoles closed and reopened at once "
        f"(resume_after their last seq), all live again in {seen.ended - seen.began:.2f} s"
    )
    assert seen.stream.answers[503] == 0


@dataclass
class GatewayProcess:
    """The gateway as a child process, started again after a kill on the same port and
    database."""

    env: dict[str, str]
    state: Path
    http: httpx.AsyncClient
    processes: contextlib.ExitStack
    started: list[Popen[bytes]] = field(default_factory=list)

    async def start(self) -> None:
        log = self.state / f"gateway-{len(self.started) + 1}.log"
        self.started.append(
            self.processes.enter_context(service_process("alert_gateway", self.env, log))
        )
        await until_ready(self.http)

    def kill(self) -> None:
        self.started[-1].send_signal(signal.SIGKILL)
        self.started[-1].wait()


@asynccontextmanager
async def gateway_process(
    net: Network, kafka_bootstrap: str, state: Path
) -> AsyncIterator[GatewayProcess]:
    """A gateway process beside the network's registry (served on a port of its own)."""
    port = free_port()
    async with serving(net.registry.app, free_port(), lifespan=False) as registry_url:
        env = service_env(
            "alert_gateway",
            http_port=port,
            kafka_bootstrap_servers=kafka_bootstrap,
            registry_url=registry_url,
            registry_client_id="gateway",
            registry_client_secret="gateway-secret-123",
            database_url=f"sqlite+aiosqlite:///{state / 'gateway.sqlite3'}",
            log_format="json",
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            with contextlib.ExitStack() as processes:
                gateway = GatewayProcess(env, state, http, processes)
                await gateway.start()
                yield gateway


async def test_the_gateway_killed_mid_request_loses_nothing_and_publishes_nothing_twice(
    network: Network, kafka_bootstrap: str, tmp_path: Path
) -> None:
    async with gateway_process(network, kafka_bootstrap, tmp_path) as gateway:

        async def kill_then_restart(_: object) -> tuple[float, float]:
            gateway.kill()
            killed_at = time.monotonic()
            await asyncio.sleep(GATEWAY_DOWN_S)
            await gateway.start()
            return killed_at, time.monotonic()

        seen = await drill(network, MAIL_CONSOLES_PER_DESK, kill_then_restart, gateway=gateway.http)

    seen.report(
        f"gateway kill -9 drill: a new process answering {seen.ended - seen.began:.1f} s later"
    )
    assert seen.stream.retried > 0  # requests in flight or sent while it was gone
