"""The loop of every background worker, written once: a round, then a wake-up or the interval."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

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
        if wake is not None:
            # Cleared before the round, not after it: a wake-up that comes while the round runs
            # (a write it may have missed) starts the next round at once instead of being lost.
            wake.clear()
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
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every):
                await wake.wait()


STOP_SECONDS = 10.0
"""How long a stopping service waits for its cancelled workers (a deployment's grace period is
longer): a worker that ignores its cancellation must not keep the process from ending."""
CANCEL_AGAIN_SECONDS = 5.0
"""Long enough for a cancelled worker's own clean-up (a rollback, a close), which a second
cancellation would cut short."""


async def stop_tasks(tasks: Sequence[asyncio.Task[Any]], *, within: float = STOP_SECONDS) -> None:
    """Cancel `tasks`, newest first, and wait for them to end, at most `within` seconds.

    A task still running 5 s after its cancellation is cancelled again: a cancellation
    can be lost in a library (in Python 3.11, `asyncio.wait_for` returns its result instead
    when the awaited answer arrives at the same moment; aiosmtplib and aiokafka use it), and
    the worker would then go on for ever. Those still running after `within` are logged with
    where they wait, and left behind; those that ended with an error are logged too.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    pending = set(tasks)
    for task in reversed(tasks):
        task.cancel()
    while pending and (left := deadline - loop.time()) > 0:
        _, pending = await asyncio.wait(pending, timeout=min(CANCEL_AGAIN_SECONDS, left))
        for task in pending:
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled() and (error := task.exception()) is not None:
            log.error("worker failed", worker=task.get_name(), exc_info=error)
    for task in pending:
        log.error("worker did not stop", worker=task.get_name(), waiting_in=awaiting(task))


def awaiting(task: asyncio.Task[Any]) -> list[str]:
    """Where a task waits, outermost first: each coroutine of its await chain (file, line,
    function), then what the innermost one awaits. A task's own stack shows only its first."""
    where: list[str] = []
    awaitable: Any = task.get_coro()
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is None:
            where.append(repr(awaitable)[:200])
            break
        where.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return where
