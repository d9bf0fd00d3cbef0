"""The bounded memo the hot paths use to make a value once."""

from __future__ import annotations

from functools import partial

from services.common.recent import Recent


def test_a_value_is_made_once_while_it_is_kept() -> None:
    made: list[str] = []
    recent: Recent[str, str] = Recent(2)

    def make(key: str) -> str:
        made.append(key)
        return key.upper()

    assert [recent.get(k, partial(make, k)) for k in ("a", "b", "a", "b")] == list("ABAB")
    assert made == ["a", "b"]


def test_the_least_recently_used_value_goes_first() -> None:
    made: list[str] = []
    recent: Recent[str, str] = Recent(2)

    def make(key: str) -> str:
        made.append(key)
        return key

    for key in ("a", "b", "a", "c", "a", "b"):  # "b" is the least recently used when "c" comes
        recent.get(key, partial(make, key))

    assert made == ["a", "b", "c", "b"]
