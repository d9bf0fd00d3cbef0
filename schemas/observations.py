"""Observations of health and environmental indicators, and the periods they are reported for.

An agency reports a value for one indicator, one place (a region, or a gauge or station in a
region) and one period: an ISO week (`2026-W14`), a day (`2026-04-03`), an hour or an instant
(a timestamp with an offset). A value that was not reported ("-" in a spreadsheet) is `None`,
never 0; a revision replaces an earlier value of the same period.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from schemas.cap import Status
from schemas.cap_types import CapToken
from schemas.names import RegionCode, Slug


class PeriodKind(StrEnum):
    """What one observation of an indicator covers."""

    ISO_WEEK = "iso_week"
    DAY = "day"
    HOUR = "hour"
    INSTANT = "instant"


_STEPS = {
    PeriodKind.ISO_WEEK: timedelta(weeks=1),
    PeriodKind.DAY: timedelta(days=1),
    PeriodKind.HOUR: timedelta(hours=1),
}
_WEEK = re.compile(r"(\d{4})-W(\d{2})")


@dataclass(frozen=True, order=True)
class Period:
    """One period of an indicator: where it starts (UTC), and its canonical label."""

    start: datetime
    label: str
    kind: PeriodKind

    @property
    def length(self) -> timedelta:
        """How long the period lasts (an instant: not at all)."""
        return _STEPS.get(self.kind, timedelta(0))

    @property
    def end(self) -> datetime:
        """When the period is over."""
        return self.start + self.length


def parse_period(kind: PeriodKind, text: str) -> Period:
    """The period `text` names, as `kind` reads it; ValueError saying what is expected."""
    text = text.strip()
    if kind is PeriodKind.ISO_WEEK:
        match = _WEEK.fullmatch(text)
        if not match:
            raise ValueError(f"'{text}' is not an ISO week such as 2026-W14.")
        try:
            monday = date.fromisocalendar(int(match[1]), int(match[2]), 1)
        except ValueError:
            raise ValueError(f"'{text}' names no week of that year.") from None
        start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
        return Period(start, f"{match[1]}-W{match[2]}", kind)
    if kind is PeriodKind.DAY:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{text}' is not a date such as 2026-04-03.") from None
        if len(text) != 10:
            raise ValueError(f"'{text}' is not a date such as 2026-04-03.")
        return Period(datetime(day.year, day.month, day.day, tzinfo=UTC), day.isoformat(), kind)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{text}' is not a timestamp with an offset such as 2026-04-03T14:00:00+02:00."
        ) from None
    if moment.tzinfo is None:
        raise ValueError(f"'{text}' has no offset: write it as 2026-04-03T14:00:00+02:00.")
    moment = moment.astimezone(UTC)
    if kind is PeriodKind.HOUR and (moment.minute or moment.second or moment.microsecond):
        raise ValueError(f"'{text}' is not the start of an hour.")
    return Period(moment, moment.isoformat().replace("+00:00", "Z"), kind)


def place_of(region: str, station: str | None) -> str:
    """The place a series is observed at: its region, or its station in the region."""
    return f"{region}/{station}" if station else region


class Observation(BaseModel):
    """One value of one indicator, for one place and period, as an agency reported it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    indicator: Slug
    region: RegionCode = Field(description="NUTS code of the region observed (or the station's).")
    station: Slug | None = Field(default=None, description="A gauge or station, if not a region.")
    period: str = Field(
        min_length=1,
        max_length=40,
        description="The canonical label of the period: 2026-W14, 2026-04-03, or a UTC timestamp.",
    )
    value: float | None = Field(default=None, description="None when not reported (never 0).")
    numerator: float | None = Field(default=None, ge=0, description="e.g. the cases counted.")
    denominator: float | None = Field(default=None, gt=0, description="e.g. the tests done.")
    unit: str = Field(min_length=1, max_length=60)
    revision: bool = Field(default=False, description="Replaces an earlier value of the period.")
    source: CapToken = Field(description="CAP sender id of the reporting agency.")
    status: Literal[Status.ACTUAL, Status.EXERCISE, Status.TEST] = Status.ACTUAL
    note: str | None = Field(
        default=None,
        max_length=200,
        description="The exercise run it belongs to (`Exercise NAME — run RUN`), for Exercise "
        "and Test only: the alerts it causes carry it, and each run keeps series of its own.",
    )
    reported_at: AwareDatetime

    @field_validator("value", "numerator", "denominator")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a finite number.")
        return value

    @property
    def place(self) -> str:
        """Where the series is observed: the region, or region/station."""
        return place_of(self.region, self.station)
