"""Group commit: the writes of concurrent callers made together, in one transaction.

Each caller hands in its item and waits for its own answer. Items that arrive while a group is
being written form the next group, so a lone caller waits for nothing but its own write, and
under load N concurrent writes take one turn on the database instead of N.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Write = Callable[[Sequence[T]], Awaitable[Sequence[R]]]


class GroupWriter(Generic[T, R]):
    """Hands the items of concurrent `submit` calls to `write` in groups of up to `max_size`.

    `write` answers one result per item, in order. When it fails for a group of several, each
    item is written again alone, so that one bad item fails its own caller only.
    """

    def __init__(self, write: Write[T, R], *, max_size: int = 256) -> None:
        self._write = write
        self._max_size = max_size
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is waiting; its result, or the write's error."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        return await future

    async def aclose(self) -> None:
        """Wait for the groups already handed in to be written."""
        if self._writer is not None:
            await asyncio.wait([self._writer])

    async def _write_waiting(self) -> None:
        while self._waiting:
            group = self._waiting[: self._max_size]
            del self._waiting[: len(group)]
            if not await self._write_group(group):
                for one in group:
                    await self._write_group([one])

    async def _write_group(self, group: list[tuple[T, asyncio.Future[R]]]) -> bool:
        """Write one group and answer its callers; False, answering none, if a group of several
        failed."""
        failure: Exception | None = None
        try:
            results = await self._write([item for item, _ in group])
            assert len(results) == len(group), "one result per item"
        except Exception as error:
            if len(group) > 1:
                return False
            results, failure = [], error
        for index, (_, future) in enumerate(group):
            if future.done():  # its caller was cancelled; the write stands
                continue
            if failure is not None:
                future.set_exception(failure)
            else:
                future.set_result(results[index])
        return True
