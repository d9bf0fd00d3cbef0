"""The workers' loop: rounds woken by writes, and stopping every worker, even one whose
cancellation a library lost."""

from __future__ import annotations

import asyncio

from services.common.workers import run_rounds, stop_tasks


async def test_a_worker_that_loses_its_first_cancellation_is_stopped_all_the_same() -> None:
    lost = 0

    async def worker() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if lost:
                    raise
                # What Python 3.11's asyncio.wait_for does when the answer it waits for comes
                # at the moment of the cancellation: the result is returned, the cancel is lost.
                lost += 1

    task = asyncio.create_task(worker(), name="worker")
    await asyncio.sleep(0)

    await stop_tasks([task], within=30)

    assert task.cancelled()
    assert lost == 1


async def test_a_worker_that_never_stops_is_left_behind_after_the_bound() -> None:
    deaf = True

    async def worker() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not deaf:
                    raise

    task = asyncio.create_task(worker(), name="deaf")
    await asyncio.sleep(0)

    async with asyncio.timeout(30):  # a bound on a hang: stop_tasks must return by itself
        await stop_tasks([task], within=0.5)

    assert not task.done()
    deaf = False
    task.cancel()
    await asyncio.wait({task})


async def test_workers_stop_newest_first_and_a_failure_is_not_raised() -> None:
    stopped: list[str] = []

    async def worker(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append(name)

    async def failing() -> None:
        raise RuntimeError("broken")

    tasks = [asyncio.create_task(worker(n), name=n) for n in ("old", "new")]
    tasks.append(asyncio.create_task(failing(), name="failing"))
    await asyncio.sleep(0)

    await stop_tasks(tasks, within=30)

    assert stopped == ["new", "old"]
    assert all(task.done() for task in tasks)


async def test_a_wake_up_during_a_round_starts_the_next_round_at_once() -> None:
    """A write made while a round runs may come too late for it: its wake-up must not be lost
    (the next round would otherwise wait for the poll interval, here an hour)."""
    wake = asyncio.Event()
    rounds = 0
    second = asyncio.Event()

    async def round_() -> bool:
        nonlocal rounds
        rounds += 1
        if rounds == 1:
            wake.set()  # written while the first round runs
        else:
            second.set()
        return False

    worker = asyncio.create_task(run_rounds(round_, every=3600, name="test", wake=wake))
    try:
        async with asyncio.timeout(10):  # a bound on a hang, never on speed
            await second.wait()
    finally:
        await stop_tasks([worker])

    assert rounds == 2
