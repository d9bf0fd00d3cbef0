"""The loop of every background worker, written once: a round, then a wake-up or the interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Round = Callable[[], Awaitable[bool]]
"""One round of work; True when more is waiting, so that the next round starts at once."""


async def run_rounds(
    round_: Round, *, every: float, name: str, wake: asyncio.Event | None = None
) -> None:
    """Run `round_` until cancelled: at once again when it says so, else after `every` seconds
    or as soon as `wake` is set.

    A failed round is logged and tried again at the next one: a database or network outage
    must not end a worker.
    """
    while True:
        try:
            more = await round_()
        except Exception:
            log.exception("worker_round_failed", worker=name)
            more = False
        if more:
            continue
        if wake is None:
            await asyncio.sleep(every)
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await wake.wait()
