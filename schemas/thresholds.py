"""Indicators and the threshold rules that watch them: the contract of the health and environment
agencies' part of the network.

An indicator says what is measured (its unit, and whether it is reported per ISO week, day,
hour or instant). A threshold rule, owned by one agency and optionally made common by an
agreement, watches one indicator in some regions (or at one station): ordered levels mapped to
CAP severities, how many periods confirm a level, the recovery level and how many periods
confirm the all-clear, a gate on counts or denominators, how long without data counts as "no
data", and the texts of the alerts it raises, per language. Every change of a rule is a new
version with the moment it takes effect; every version stays readable.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from schemas.cap import Category, Certainty, Severity, Urgency
from schemas.names import Language, RegionCode, Slug
from schemas.observations import PeriodKind
from schemas.registry import Record, Versioned


class IndicatorIn(Record):
    """Something an agency measures and reports, in one unit, per period."""

    id: Slug
    unit: str = Field(min_length=1, max_length=60, examples=["per 100 000 inhabitants"])
    period: PeriodKind
    category: Category = Field(
        description="The CAP category of what it measures: who may report it, and of the "
        "alerts it raises."
    )
    names: dict[Language, str] = Field(min_length=1)
    descriptions: dict[Language, str] = Field(default_factory=dict)
    minimum: float | None = Field(default=None, description="Lowest plausible value.")
    maximum: float | None = Field(default=None, description="Highest plausible value.")

    @model_validator(mode="after")
    def _range(self) -> IndicatorIn:
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError("minimum must not be above maximum.")
        return self


class IndicatorOut(IndicatorIn, Versioned):
    """An indicator as stored."""


class Direction(StrEnum):
    """Which way of a threshold is the bad side."""

    ABOVE = "above"
    BELOW = "below"

    def beyond(self, value: float, threshold: float) -> bool:
        """Whether `value` is on the bad side of `threshold` (reaching it counts)."""
        return value >= threshold if self is Direction.ABOVE else value <= threshold


class Condition(Record):
    """A further condition of a level, on another indicator of the same place and period."""

    indicator: Slug
    threshold: float
    direction: Direction = Direction.ABOVE


class Level(Record):
    """One level of a rule: reaching `threshold` (and its conditions) is this severity."""

    severity: Severity
    threshold: float
    conditions: list[Condition] = Field(default_factory=list)


class Confirmation(Record):
    """How many periods confirm a level: `periods` in a row, or `periods` of the last `of_last`."""

    periods: int = Field(default=1, ge=1, le=52)
    of_last: int | None = Field(default=None, ge=1, le=104)

    @model_validator(mode="after")
    def _window(self) -> Confirmation:
        if self.of_last is not None and self.of_last < self.periods:
            raise ValueError("of_last must be at least periods.")
        return self


class Gate(Record):
    """When a crossing counts at all: enough cases, or a large enough denominator."""

    min_count: float | None = Field(
        default=None, ge=0, description="Numerators summed over the last `over_periods` periods."
    )
    over_periods: int = Field(default=1, ge=1, le=52)
    min_denominator: float | None = Field(
        default=None, gt=0, description="The period's own denominator (e.g. tests done)."
    )


PLACEHOLDERS = frozenset(
    {"value", "threshold", "unit", "region", "region_name", "level", "period", "indicator"}
)
"""What an alert text may name: {value} {threshold} {unit} {region} {region_name} {level}
{period} {indicator}."""


class AlertTexts(Record):
    """The texts of a rule's alerts in one language, with placeholders such as {value}."""

    event: str = Field(min_length=1, max_length=200)
    headline: str = Field(min_length=1, max_length=300)
    description: str = Field(min_length=1, max_length=4000)
    instruction: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _known_placeholders(self) -> AlertTexts:
        for text in (self.event, self.headline, self.description, self.instruction or ""):
            try:
                names = {field for _, field, _, _ in string.Formatter().parse(text) if field}
            except ValueError:
                raise ValueError(f"unbalanced braces in '{text[:60]}'.") from None
            unknown = names - PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"unknown placeholder {{{sorted(unknown)[0]}}}; the texts may name "
                    + ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS))
                    + "."
                )
        return self


class ThresholdRuleIn(Record):
    """One version of a threshold rule, as its owner writes it."""

    id: Slug
    owner: Slug = Field(description="The organisation that owns the rule and raises its alerts.")
    agreement: Slug | None = Field(
        default=None, description="The agreement that makes the threshold common to its parties."
    )
    effective_from: AwareDatetime = Field(
        description="From this moment on (by the start of the period observed) it applies."
    )
    indicator: Slug
    regions: list[RegionCode] = Field(min_length=1, description="One series per region.")
    station: Slug | None = Field(
        default=None, description="A gauge or station (then in exactly one region)."
    )
    direction: Direction = Direction.ABOVE
    levels: list[Level] = Field(min_length=1, description="From the mildest to the worst.")
    confirm: Confirmation = Field(default_factory=Confirmation)
    recovery_level: float = Field(
        description="The all-clear needs the series back beyond this, not just below a level."
    )
    recovery_periods: int = Field(default=1, ge=1, le=52)
    gate: Gate | None = None
    no_data_after: timedelta = Field(
        gt=timedelta(0),
        description="Without a reported value for this long, the series has no data.",
    )
    texts: dict[Language, AlertTexts] = Field(min_length=1)
    event_codes: list[str] = Field(
        default_factory=list,
        description="CAP event codes of its alerts (e.g. epidemic.indicator): contact points "
        "competent for these codes only are reached by them.",
    )
    urgency: Urgency = Urgency.EXPECTED
    certainty: Certainty = Certainty.LIKELY
    retired: bool = Field(
        default=False, description="From this version on, the rule raises nothing."
    )

    @model_validator(mode="after")
    def _coherent(self) -> ThresholdRuleIn:
        if self.station is not None and len(self.regions) != 1:
            raise ValueError("a rule watching a station names exactly its one region.")
        if len(set(self.regions)) != len(self.regions):
            raise ValueError("regions are listed once each.")
        ranks = [level.severity.rank for level in self.levels]
        if min(ranks) < 1 or ranks != sorted(set(ranks)):
            raise ValueError("levels go from the mildest to the worst severity, each once.")
        thresholds = [level.threshold for level in self.levels]
        worse = sorted(thresholds, reverse=self.direction is Direction.BELOW)
        if thresholds != worse or len(set(thresholds)) != len(thresholds):
            raise ValueError(
                f"each level's threshold lies further {self.direction.value} than the last."
            )
        if self.direction.beyond(self.recovery_level, self.levels[0].threshold) and (
            self.recovery_level != self.levels[0].threshold
        ):
            raise ValueError("recovery_level lies on the safe side of the first level's threshold.")
        return self

    @property
    def indicators(self) -> frozenset[str]:
        """Every indicator the rule reads: its own and its levels' conditions'."""
        return frozenset(
            {self.indicator} | {c.indicator for level in self.levels for c in level.conditions}
        )


class ThresholdRuleVersion(ThresholdRuleIn):
    """A version of a rule as stored: its number and when and by whom it was written."""

    version: int = Field(ge=1)
    created_at: AwareDatetime
    created_by: str


class ThresholdRule(BaseModel):
    """A rule with every version it had, oldest first."""

    id: str
    owner: str
    versions: list[ThresholdRuleVersion] = Field(min_length=1)

    @property
    def latest(self) -> ThresholdRuleVersion:
        """The newest version written."""
        return self.versions[-1]

    def version_at(self, moment: datetime) -> ThresholdRuleVersion | None:
        """The version in effect at `moment` (the one taking effect last before it), if any."""
        in_effect = [v for v in self.versions if v.effective_from <= moment]
        if not in_effect:
            return None
        return max(in_effect, key=lambda v: (v.effective_from, v.version))
