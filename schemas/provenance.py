"""Where a threshold-raised alert comes from, carried in its CAP `parameter` entries.

An alert the network raises by itself says which rule (and which version of it) raised it,
what was observed and against which thresholds, and the series' recent periods, so that a duty
officer sees the figures beside the words. Every value is plain text a CAP reader can show as
it is; a series is written `period value` pairs joined by `; `, "-" for a value not reported:

    crossalert:rule            euregio-combined-indicator-be33
    crossalert:rule-version    2
    crossalert:reason          confirmed | no data | data resumed | recovered | revised | retired
    crossalert:state           normal | pending | alerting | recovering | no data
    crossalert:indicator       rate-14d
    crossalert:unit            per 100 000 inhabitants
    crossalert:direction       above | below
    crossalert:observed        2026-W14 312.5
    crossalert:threshold       250
    crossalert:levels          Moderate 150; Severe 250; Extreme 500
    crossalert:recovery-level  120
    crossalert:confirmed-by    2026-W13 260; 2026-W14 312.5
    crossalert:series          2026-W03 120; 2026-W04 -; … (the last periods, oldest first)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from schemas.cap import NamedValue, Severity
from schemas.thresholds import Direction

PREFIX = "crossalert:"
SERIES_PERIODS = 16
"""How many recent periods an alert carries for its chart."""


class Point(BaseModel):
    """One period of a series: its label, and its value (None when not reported)."""

    model_config = ConfigDict(frozen=True)

    period: str
    value: float | None

    def text(self) -> str:
        return f"{self.period} {_number(self.value)}"


class LevelMark(BaseModel):
    """A level of the rule: its severity and threshold."""

    model_config = ConfigDict(frozen=True)

    severity: Severity
    threshold: float


class Provenance(BaseModel):
    """The provenance of one threshold-raised message."""

    model_config = ConfigDict(frozen=True)

    rule: str
    rule_version: int = Field(ge=1)
    reason: str
    state: str
    indicator: str
    unit: str
    direction: Direction
    observed: Point
    threshold: float
    levels: list[LevelMark]
    recovery_level: float
    confirmed_by: list[Point] = Field(default_factory=list)
    series: list[Point] = Field(default_factory=list)

    def parameters(self) -> list[NamedValue]:
        """The CAP parameters saying all of it."""
        values = {
            "rule": self.rule,
            "rule-version": str(self.rule_version),
            "reason": self.reason,
            "state": self.state,
            "indicator": self.indicator,
            "unit": self.unit,
            "direction": self.direction.value,
            "observed": self.observed.text(),
            "threshold": _number(self.threshold),
            "levels": "; ".join(f"{m.severity.value} {_number(m.threshold)}" for m in self.levels),
            "recovery-level": _number(self.recovery_level),
            "confirmed-by": _points(self.confirmed_by),
            "series": _points(self.series[-SERIES_PERIODS:]),
        }
        return [
            NamedValue(value_name=PREFIX + name, value=value)
            for name, value in values.items()
            if value
        ]

    @classmethod
    def of(cls, parameters: Iterable[NamedValue]) -> Provenance | None:
        """The provenance the parameters carry; None when they carry none (or not all of it)."""
        found = {
            p.value_name.removeprefix(PREFIX): p.value
            for p in parameters
            if p.value_name.startswith(PREFIX)
        }
        if "rule" not in found:
            return None
        try:
            return cls(
                rule=found["rule"],
                rule_version=int(found["rule-version"]),
                reason=found["reason"],
                state=found["state"],
                indicator=found["indicator"],
                unit=found["unit"],
                direction=Direction(found["direction"]),
                observed=_point(found["observed"]),
                threshold=float(found["threshold"]),
                levels=[
                    LevelMark(severity=Severity(s), threshold=float(t))
                    for s, t in (part.split(" ", 1) for part in _parts(found["levels"]))
                ],
                recovery_level=float(found["recovery-level"]),
                confirmed_by=[_point(part) for part in _parts(found.get("confirmed-by", ""))],
                series=[_point(part) for part in _parts(found.get("series", ""))],
            )
        except (KeyError, ValueError):
            return None


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return format(value, ".10g")  # 312.5, 1500, 0.3: as a person writes it


def _points(points: Sequence[Point]) -> str:
    return "; ".join(point.text() for point in points)


def _parts(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _point(text: str) -> Point:
    period, value = text.rsplit(" ", 1)
    return Point(period=period, value=None if value == "-" else float(value))
