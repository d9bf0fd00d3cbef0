"""What a threshold rule makes of a series: a pure function of the readings, the rule and the time.

The rules, in words:

* **Crossing.** A period crosses a level when its reported value reaches the level's threshold
  (on the rule's side), each condition of the level holds for its indicator in the same place
  and period, and the gate lets it count (enough cases summed over its periods, a large
  enough denominator). A value not reported crosses nothing and clears nothing.
* **Confirmation.** A level is confirmed when the last `periods` periods all crossed it, or,
  with `of_last`, when at least `periods` of the last `of_last` periods did (a period with no
  reading in the window counts as not crossing). The confirmed level is the worst one
  confirmed.
* **Episode.** A confirmed level opens an episode (an Alert). While it is open, a confirmed
  level other than the current one is an Update (up or down). The all-clear (a Cancel) needs
  `recovery_periods` reported periods in a row back on the safe side of the recovery level,
  not merely below the alert level; a reported value in between starts that count again.
* **No data.** An open episode whose series reports nothing for `no_data_after` is shown as
  having no data (an Update), never as an all-clear; the next reported value says the data
  resumed (an Update again).
* **Versions.** Each period is judged by the version of the rule in effect when the period
  starts; the alerts name it. A retired version closes an open episode.

`evaluate` replays the whole series from its first reading: a late, duplicated or revised
reading simply takes its place, and the replay says what the series' alerts should be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from schemas.cap import Severity
from schemas.observations import Period, PeriodKind
from schemas.thresholds import Direction, Level, ThresholdRule, ThresholdRuleVersion


@dataclass(frozen=True)
class Reading:
    """One period's reading of one indicator at one place (value None: not reported)."""

    period: Period
    value: float | None
    numerator: float | None = None
    denominator: float | None = None


Readings = Mapping[str, Mapping[str, Reading]]
"""Indicator -> period label -> reading, for one place."""


class State(StrEnum):
    """Where a series stands."""

    NORMAL = "normal"
    PENDING = "pending"
    """A level is crossed but not yet confirmed."""
    ALERTING = "alerting"
    RECOVERING = "recovering"
    """Back on the safe side, not yet for long enough."""
    NO_DATA = "no data"


class Kind(StrEnum):
    """The CAP message an action becomes."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


class Reason(StrEnum):
    """Why a message is sent."""

    CONFIRMED = "confirmed"
    """A level was confirmed (the Alert), or another one was (an Update)."""
    NO_DATA = "no data"
    DATA_RESUMED = "data resumed"
    RECOVERED = "recovered"
    REVISED = "revised"
    """Revised or late figures changed what had been said."""
    RETIRED = "retired"


@dataclass(frozen=True)
class Action:
    """A message the series' alerts should carry, at the period that caused it."""

    kind: Kind
    reason: Reason
    level: Severity
    episode: int
    """Which episode of the replay (0, 1, …): one CAP chain each."""
    period: Period
    version: int
    value: float | None
    threshold: float
    confirmed_by: tuple[Reading, ...] = ()

    @property
    def key(self) -> ActionKey:
        """What makes it the same message, whichever period it was anchored at."""
        return (self.kind, self.reason, self.level, self.episode)

    def same_as(self, other: Action) -> bool:
        """The same message, whichever period it was anchored at."""
        return self.key == other.key


ActionKey = tuple[Kind, Reason, Severity, int]


@dataclass(frozen=True)
class Step:
    """The series after one period."""

    reading: Reading
    state: State
    level: Severity | None
    version: int | None


@dataclass(frozen=True)
class Evaluation:
    """The replay of a series: a step per period, the actions, and where it stands now."""

    steps: list[Step] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    state: State = State.NORMAL
    level: Severity | None = None

    @property
    def open(self) -> bool:
        """Whether an episode is open now (an alert is in force)."""
        return self.level is not None


def evaluate(rule: ThresholdRule, readings: Readings, *, now: datetime) -> Evaluation:
    """Replay the place's readings under `rule`; what its alerts should be at `now`."""
    replay = _Replay(rule, readings)
    for reading in sorted(readings.get(rule.latest.indicator, {}).values(), key=_start):
        replay.step(reading)
    replay.finish(now)
    return Evaluation(replay.steps, replay.actions, replay.state, replay.level)


def _start(reading: Reading) -> datetime:
    return reading.period.start


class _Replay:
    """The state machine of the rules in the module's docstring, one period at a time."""

    def __init__(self, rule: ThresholdRule, readings: Readings) -> None:
        self.rule = rule
        self.readings = readings
        self.steps: list[Step] = []
        self.actions: list[Action] = []
        self.state = State.NORMAL
        self.level: Severity | None = None
        self.episode = -1
        self.recovered_for = 0
        self.crossings: dict[datetime, int] = {}
        """Period start -> rank of the worst level crossed (0: reported, nothing crossed)."""
        self.history: list[Reading] = []
        self.last_reported: Reading | None = None
        self.version: ThresholdRuleVersion | None = None

    def step(self, reading: Reading) -> None:
        version = self.rule.version_at(reading.period.start)
        if version is None:
            return  # no version was in effect yet
        self.version = version
        if version.retired:
            if self.level is not None:
                self._act(Kind.CANCEL, Reason.RETIRED, self.level, reading)
            self.level, self.state = None, State.NORMAL
            self.steps.append(Step(reading, self.state, None, version.version))
            return
        if reading.value is not None:
            if self.level is not None and self._silent_since(reading):
                self._act(
                    Kind.UPDATE, Reason.NO_DATA, self.level, reading, anchor=self.last_reported
                )
                self._act(Kind.UPDATE, Reason.DATA_RESUMED, self.level, reading)
            self.last_reported = reading
        self.history.append(reading)
        crossed = self._crossed(version, reading)
        if crossed is not None or reading.value is not None:
            self.crossings[reading.period.start] = crossed.severity.rank if crossed else 0
        confirmed = self._confirmed(version, reading)
        if self.level is None:
            self._without_episode(reading, crossed, confirmed)
        else:
            self._within_episode(version, reading, confirmed)
        self.steps.append(Step(reading, self.state, self.level, version.version))

    def finish(self, now: datetime) -> None:
        """Say whether the series has no data now."""
        version = self.version
        if version is None or version.retired:
            return
        last = self.last_reported
        if last is None or now - last.period.end > version.no_data_after:
            if self.level is not None and last is not None:
                self._act(Kind.UPDATE, Reason.NO_DATA, self.level, last)
            self.state = State.NO_DATA

    def _without_episode(
        self, reading: Reading, crossed: Level | None, confirmed: Level | None
    ) -> None:
        if confirmed is not None:
            self.episode += 1
            self.level, self.state, self.recovered_for = confirmed.severity, State.ALERTING, 0
            self._act(Kind.ALERT, Reason.CONFIRMED, confirmed.severity, reading, confirmed)
        elif crossed is not None:
            self.state = State.PENDING
        elif reading.value is not None:
            self.state = State.NORMAL

    def _within_episode(
        self, version: ThresholdRuleVersion, reading: Reading, confirmed: Level | None
    ) -> None:
        assert self.level is not None
        current = self.level.rank
        if reading.value is not None and not version.direction.beyond(
            reading.value, version.recovery_level
        ):
            self.recovered_for += 1
            self.state = State.RECOVERING
            if self.recovered_for >= version.recovery_periods:
                self._act(Kind.CANCEL, Reason.RECOVERED, self.level, reading)
                self.level, self.state, self.recovered_for = None, State.NORMAL, 0
            return
        if reading.value is not None:
            self.recovered_for, self.state = 0, State.ALERTING
        if confirmed is not None and confirmed.severity.rank > current:
            self._move(confirmed, reading)
        elif self._confirmed_below(version, reading, current):
            # The series stays below the current level as long as a level takes to confirm:
            # down to the worst level still confirmed, or the mildest until the all-clear.
            self._move(confirmed or version.levels[0], reading)

    def _move(self, level: Level, reading: Reading) -> None:
        if level.severity != self.level:
            self.level = level.severity
            self._act(Kind.UPDATE, Reason.CONFIRMED, level.severity, reading, level)

    def _crossed(self, version: ThresholdRuleVersion, reading: Reading) -> Level | None:
        """The worst level the period crosses (value, conditions and gate), if any."""
        if reading.value is None or not self._gate_open(version, reading):
            return None
        for level in reversed(version.levels):
            if version.direction.beyond(reading.value, level.threshold) and all(
                self._holds(condition.indicator, condition.threshold, condition.direction, reading)
                for condition in level.conditions
            ):
                return level
        return None

    def _holds(
        self, indicator: str, threshold: float, direction: Direction, reading: Reading
    ) -> bool:
        other = self.readings.get(indicator, {}).get(reading.period.label)
        return (
            other is not None
            and other.value is not None
            and direction.beyond(other.value, threshold)
        )

    def _gate_open(self, version: ThresholdRuleVersion, reading: Reading) -> bool:
        gate = version.gate
        if gate is None:
            return True
        if gate.min_denominator is not None and (
            reading.denominator is None or reading.denominator < gate.min_denominator
        ):
            return False
        if gate.min_count is not None:
            window = set(self._window(reading.period, gate.over_periods))
            # A count not reported counts as none: the gate never opens on missing figures.
            counted = sum(r.numerator or 0.0 for r in self.history if r.period.start in window)
            if counted < gate.min_count:
                return False
        return True

    def _confirmed(self, version: ThresholdRuleVersion, reading: Reading) -> Level | None:
        """The worst level the periods up to this one confirm, if any."""
        for level in reversed(version.levels):
            if self._confirms(version, reading, _at_least(level.severity.rank)):
                return level
        return None

    def _confirmed_below(self, version: ThresholdRuleVersion, reading: Reading, rank: int) -> bool:
        """Whether the periods up to this one confirm the series below level `rank`."""
        return self._confirms(version, reading, lambda crossed: crossed < rank)

    def _confirms(
        self, version: ThresholdRuleVersion, reading: Reading, holds: Callable[[int], bool]
    ) -> bool:
        """Whether enough periods of the confirmation window are reported and hold."""
        rule = version.confirm
        ranks = [
            self.crossings.get(start)
            for start in self._window(reading.period, rule.of_last or rule.periods)
        ]
        held = [rank is not None and holds(rank) for rank in ranks]
        if rule.of_last is None:
            return len(held) == rule.periods and all(held)
        return sum(held) >= rule.periods

    def _window(self, last: Period, count: int) -> list[datetime]:
        """The starts of the `count` periods ending with `last` (instants: the last readings)."""
        if last.kind is PeriodKind.INSTANT:
            return [r.period.start for r in self.history[-count:]]
        return [last.start - last.length * n for n in reversed(range(count))]

    def _silent_since(self, reading: Reading) -> bool:
        """Whether the series reported nothing for longer than allowed before this reading."""
        last, version = self.last_reported, self.version
        assert version is not None
        return last is not None and reading.period.start - last.period.end > version.no_data_after

    def _act(
        self,
        kind: Kind,
        reason: Reason,
        level: Severity,
        reading: Reading,
        crossed: Level | None = None,
        *,
        anchor: Reading | None = None,
    ) -> None:
        version = self.version
        assert version is not None
        threshold = crossed.threshold if crossed else _threshold_of(version, level)
        confirmed_by: tuple[Reading, ...] = ()
        if crossed is not None:
            rule = version.confirm
            window = set(self._window(reading.period, rule.of_last or rule.periods))
            confirmed_by = tuple(r for r in self.history if r.period.start in window)
        at = anchor or reading
        self.actions.append(
            Action(
                kind,
                reason,
                level,
                self.episode,
                at.period,
                version.version,
                at.value,
                threshold,
                confirmed_by,
            )
        )


def _at_least(rank: int) -> Callable[[int], bool]:
    return lambda crossed: crossed >= rank


def _threshold_of(version: ThresholdRuleVersion, severity: Severity) -> float:
    for level in version.levels:
        if level.severity == severity:
            return level.threshold
    return version.levels[0].threshold
