"""A bounded memo: the values made lately, by key, so that hot paths make each one once."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """The last `size` values looked up, by key; the least recently used goes first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        """The value kept for `key`, made by `make` (and kept) when there is none."""
        try:
            self._values.move_to_end(key)
            return self._values[key]
        except KeyError:
            value = self._values[key] = make()
            if len(self._values) > self._size:
                self._values.popitem(last=False)
            return value
