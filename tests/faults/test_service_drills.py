"""Fault drills on the services around the broker (the suite's shared broker, untouched): the
mail server failing in both ways a real one does, and every console reconnecting at once.

What must hold, as in every drill: the gateway answers 202 or 503 within its send timeout,
every accepted message reaches every intended console (none shown twice) within 10 s of the
fault's end, and every mailbox (mail may trail: the notifier backs off, 5 s doubling). Figures
printed with `-s`, kept in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from notifier_support import Console, Network

from faults.drill_support import drill

MAIL_DOWN_S = 6.0  # each way the mail server fails lasts this long
STORM_CONSOLES_PER_DESK = 100
STORM_S = 120.0
MAIL_CONSOLES_PER_DESK = 10


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

    print(
        f"\nmail server drill: 451 for {MAIL_DOWN_S:.0f} s, then connections refused for "
        f"{MAIL_DOWN_S:.0f} s; {smtp.refused} messages answered 451"
    )
    print(seen.figures())
    seen.check()
    assert smtp.refused > 0  # the notifier did try during the outage
    assert seen.stream.answers[503] == 0  # publishing never depended on mail


async def test_a_reconnect_storm_of_every_console_at_once_misses_and_repeats_nothing(
    network: Network,
) -> None:
    storm: dict[str, float] = {}

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
        storm["live_s"] = time.monotonic() - began
        return began, time.monotonic()

    seen = await drill(network, STORM_CONSOLES_PER_DESK, all_reconnect)

    print(
        f"\nreconnect storm drill: {seen.consoles} consoles closed and reopened at once "
        f"(resume_after their last seq), all live again in {storm['live_s']:.2f} s"
    )
    print(seen.figures())
    seen.check()
    assert seen.stream.answers[503] == 0
