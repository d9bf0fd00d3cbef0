"""Group commit: concurrent callers' items written together, each caller answered for its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.common.batching import GroupWriter


class Recorder:
    """A write that doubles numbers, remembers its groups and refuses negative numbers."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []

    async def write(self, group: Sequence[int]) -> list[int]:
        self.groups.append(list(group))
        await asyncio.sleep(0.01)  # a transaction's time, during which others arrive
        if any(n < 0 for n in group):
            raise ValueError("negative")
        return [2 * n for n in group]


async def test_concurrent_items_share_groups_and_each_caller_gets_its_own_answer() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder.write)

    answers = await asyncio.gather(*(writer.submit(n) for n in range(20)))

    assert answers == [2 * n for n in range(20)]
    # All were handed in before the writer ran: one group, one transaction.
    assert recorder.groups == [list(range(20))]


async def test_a_lone_item_is_written_at_once() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder.write)

    assert await writer.submit(4) == 8
    assert await writer.submit(5) == 10
    assert recorder.groups == [[4], [5]]


async def test_one_bad_item_fails_only_its_own_caller() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder.write)
    first = asyncio.create_task(writer.submit(1))
    await asyncio.sleep(0)  # 1 is being written; the next three form one group

    answers = await asyncio.gather(
        writer.submit(2), writer.submit(-3), writer.submit(4), return_exceptions=True
    )

    assert await first == 2
    assert answers[0] == 4 and answers[2] == 8
    assert isinstance(answers[1], ValueError)
    # The group failed as a whole, then each of its items was written alone.
    assert recorder.groups == [[1], [2, -3, 4], [2], [-3], [4]]


async def test_groups_are_capped_and_a_cancelled_caller_leaves_the_others_answered() -> None:
    recorder = Recorder()
    writer = GroupWriter(recorder.write, max_size=3)
    first = asyncio.create_task(writer.submit(0))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(writer.submit(n)) for n in range(1, 8)]
    await asyncio.sleep(0)
    waiting[0].cancel()

    answers = await asyncio.gather(*waiting[1:])
    await writer.aclose()

    assert await first == 0
    assert answers == [2 * n for n in range(2, 8)]
    assert [len(group) for group in recorder.groups] == [1, 3, 3, 1]
    with pytest.raises(asyncio.CancelledError):
        await waiting[0]
