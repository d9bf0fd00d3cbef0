"""The names the network gives things: identifiers, region codes and working languages.

Shared by the registry's records, the observations and the threshold rules.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator


class Language(StrEnum):
    """The network's working languages."""

    NL = "nl"
    FR = "fr"
    DE = "de"
    EN = "en"
    LB = "lb"


def _slug(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", value):
        raise ValueError(
            f"'{value}' is not an identifier: use 1-64 lowercase letters, digits, '.', '_', '-'."
        )
    return value


def _region_code(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}[A-Z0-9]{0,3}", value):
        raise ValueError(f"'{value}' is not a NUTS-style region code such as BE, BE3, BE33.")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
"""A record's identifier: lowercase letters, digits, '.', '_', '-'."""
RegionCode = Annotated[str, AfterValidator(_region_code)]
"""A NUTS-style region code: BE, BE3, BE33, BE336."""


_EXERCISE_RUN_NOTE = re.compile(
    r"^Exercise (?P<name>.+?) — run (?P<run>[0-9A-Za-z-]{1,40})(?=$|\. )"
)


def exercise_run_note(name: str, run_id: str) -> str:
    """The CAP `note` naming an exercise run, on every message the run causes: its own, and the
    alerts the threshold evaluator raises from its observations (consoles filter by it)."""
    return f"Exercise {name} — run {run_id}"


def exercise_run_of(note: str | None) -> tuple[str, str] | None:
    """(run id, scenario name) of a note that names an exercise run; None otherwise."""
    match = _EXERCISE_RUN_NOTE.match(note or "")
    return (match["run"], match["name"]) if match else None
