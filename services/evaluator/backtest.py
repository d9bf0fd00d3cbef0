"""Backtesting a threshold rule: what it would have said of a past series, published nowhere.

Agencies tune a threshold before they agree on it: they run a rule (or two versions of it, or
two rules) over a series they exported, and read the states and the alerts it would have
raised. The replay is the evaluator's own (`engine.evaluate`); this module says what is
replayed, and how two replays differ:

* **The rule.** A file holds one version as an agency writes it (then it is version 1), a list
  of such versions, oldest first (numbered 1, 2, …), or a rule as the registry stores it, with
  its versions. In a seed file, a rule is every entry of its id, in order.
* **The versions.** A run judges each period by the version in effect when the period starts,
  as the evaluator does, except that the version taking effect first also judges the periods
  before it took effect: a backtest asks what the rule would have said of the past. Or a run
  takes one version alone, for every period.
* **The series.** The rows of the CSV an agency exports, read as the gateway reads them, their
  periods as the rule's indicator is reported (its period kind). A value "" or "-" is not
  reported. Rows of indicators no rule reads are set aside; a second row of the same
  indicator, place and period replaces the first only when its status says `revision`.
* **The places.** Each place the rule watches that the series holds, or the one asked for
  (even one the rule does not watch: a rule may be tried on a neighbour's series), replayed at
  `now`: by default the end of the place's last period, so that it is not yet without data.
* **Differences.** Two runs differ at a period when its state, its level or the messages
  anchored at it (kind, reason and level) differ; the version each names does not count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.cap import Severity
from schemas.errors import field_path
from schemas.names import RegionCode, Slug
from schemas.observations import Period, PeriodKind, parse_period, place_of
from schemas.thresholds import ThresholdRule, ThresholdRuleIn, ThresholdRuleVersion
from services.common.observation_rows import COLUMNS, NOT_REPORTED, read_rows
from services.common.problems import ProblemError
from services.evaluator.engine import Action, Evaluation, Kind, Reading, Reason, State, evaluate

ALWAYS = datetime.min.replace(tzinfo=UTC)
"""The effective date of a version that judges every period before the next one."""

Model = TypeVar("Model", bound=BaseModel)
PlaceReadings = dict[str, dict[str, Reading]]
"""Indicator -> period label -> reading, for one place (the engine's `Readings`)."""

_REGION: TypeAdapter[str] = TypeAdapter(RegionCode)
_STATION: TypeAdapter[str] = TypeAdapter(Slug)


class Refused(ValueError):
    """Input a backtest cannot use; each problem says where (file, line, field) and why."""

    def __init__(self, *problems: str) -> None:
        first = problems[0]
        super().__init__(first if len(problems) == 1 else f"{len(problems)} problems: {first}")
        self.problems = list(problems)


# The rule


def rule_of(document: Any, *, source: str) -> ThresholdRule:
    """The rule a file holds: a stored rule with its versions, one version, or a list of them."""
    if isinstance(document, Mapping) and "versions" in document:
        return _validated(ThresholdRule, document, source)
    listed = isinstance(document, list)
    entries = document if listed else [document]
    if not entries or not all(isinstance(entry, Mapping) for entry in entries):
        raise Refused(
            f"{source}: a rule file holds a threshold rule version as an agency writes it, a "
            "list of them, or a stored rule with its versions."
        )
    return _numbered(
        [
            _validated(ThresholdRuleIn, entry, source, (n,) if listed else ())
            for n, entry in enumerate(entries)
        ],
        source,
    )


def rule_in_seed(seed: Mapping[str, Any], rule_id: str, *, source: str) -> ThresholdRule:
    """The rule `rule_id` of a seed file: each of its entries a version, in order."""
    entries = [e for e in seed.get("threshold_rules") or [] if isinstance(e, Mapping)]
    mine = [(n, e) for n, e in enumerate(entries) if e.get("id") == rule_id]
    if not mine:
        known = sorted({str(e.get("id")) for e in entries})
        raise Refused(
            f"{source}: no threshold rule '{rule_id}'; it holds {', '.join(known) or 'none'}."
        )
    return _numbered(
        [_validated(ThresholdRuleIn, e, source, ("threshold_rules", n)) for n, e in mine],
        source,
    )


def period_kind_in_seed(seed: Mapping[str, Any], indicator: str) -> PeriodKind | None:
    """How the seed's catalogue says `indicator` is reported, if it holds it."""
    for entry in seed.get("indicators") or []:
        if isinstance(entry, Mapping) and entry.get("id") == indicator:
            try:
                return PeriodKind(str(entry.get("period")))
            except ValueError:
                return None
    return None


def _validated(
    model: type[Model], document: Any, source: str, at: tuple[int | str, ...] = ()
) -> Model:
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise Refused(
            *(f"{source}: {field_path((*at, *e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None


def _numbered(versions: Sequence[ThresholdRuleIn], source: str) -> ThresholdRule:
    ids = sorted({v.id for v in versions})
    if len(ids) > 1:
        raise Refused(f"{source}: the versions of one rule share its id, not {', '.join(ids)}.")
    stored = [
        ThresholdRuleVersion.model_validate(
            v.model_dump()
            | {"version": n, "created_at": v.effective_from, "created_by": "backtest"}
        )
        for n, v in enumerate(versions, start=1)
    ]
    return ThresholdRule(id=stored[0].id, owner=stored[0].owner, versions=stored)


# The runs


@dataclass(frozen=True)
class Run:
    """A rule as a backtest replays it, named (A, B) to be told apart in the output."""

    name: str
    rule: ThresholdRule
    version: int | None
    """The version run alone, or None: each version from when it takes effect."""

    @property
    def indicator(self) -> str:
        """The indicator whose periods are replayed (as the engine reads it)."""
        return self.rule.latest.indicator

    @property
    def indicators(self) -> list[str]:
        """Every indicator the run reads, its own first."""
        others = {i for v in self.rule.versions for i in v.indicators} - {self.indicator}
        return [self.indicator, *sorted(others)]

    @property
    def places(self) -> frozenset[str]:
        """The places the rule watches (in any of the versions run)."""
        return frozenset(place_of(r, v.station) for v in self.rule.versions for r in v.regions)

    @property
    def title(self) -> str:
        """What is run, in words."""
        if self.version is not None:
            return f"{self.rule.id}, version {self.version} alone"
        if len(self.rule.versions) == 1:
            return f"{self.rule.id}, version {self.rule.latest.version}"
        return f"{self.rule.id}, each version from when it takes effect (the first also before)"


def run_of(rule: ThresholdRule, name: str, *, version: int | None = None) -> Run:
    """`rule` replayed with every version, or with one version alone for every period."""
    if version is None:
        first = min(rule.versions, key=lambda v: (v.effective_from, v.version))
        versions = [_always(v) if v is first else v for v in rule.versions]
    else:
        chosen = [v for v in rule.versions if v.version == version]
        if not chosen:
            held = ", ".join(str(v.version) for v in rule.versions)
            raise Refused(f"rule {rule.id} has version(s) {held}, not {version}.")
        versions = [_always(chosen[0])]
    return Run(name, rule.model_copy(update={"versions": versions}), version)


def _always(version: ThresholdRuleVersion) -> ThresholdRuleVersion:
    return version.model_copy(update={"effective_from": ALWAYS})


# The series


@dataclass(frozen=True)
class Series:
    """The readings of an exported series by place, and the rows set aside."""

    places: dict[str, PlaceReadings]
    other_indicators: Counter[str]
    """Rows of indicators no run reads, per indicator."""

    def rows_at(self, place: str) -> int:
        """How many rows the series holds for `place`."""
        return sum(len(periods) for periods in self.places.get(place, {}).values())


def rows_of_csv(body: bytes) -> list[dict[str, Any]]:
    """The rows of an exported CSV, as the gateway reads them (each with its `__line__`)."""
    try:
        return read_rows(body, "text/csv")
    except ProblemError as exc:
        raise Refused(f"{exc.field or 'body'}: {exc.detail}") from None


def series_of(
    rows: Sequence[Mapping[str, Any]], *, kind: PeriodKind, indicators: frozenset[str]
) -> Series:
    """The readings of the rows of `indicators`, periods read as `kind`; every wrong row named."""
    places: dict[str, PlaceReadings] = {}
    other: Counter[str] = Counter()
    seen: dict[tuple[str, str, str], int] = {}
    problems: list[str] = []
    for index, row in enumerate(rows):
        line = int(row.get("__line__", index + 1))
        indicator = str(row.get("indicator") or "").strip()
        if indicator and indicator not in indicators:
            other[indicator] += 1
            continue
        errors, found = _reading(line, row, kind)
        if not indicator:
            errors.insert(0, f"line {line}, indicator: indicator is required.")
        problems += errors
        if errors or found is None:
            continue
        place, reading, revision = found
        key = (place, indicator, reading.period.label)
        if key in seen and not revision:
            problems.append(
                f"line {line}, period: {reading.period.label} of {indicator} at {place} is "
                f"already on line {seen[key]}; a row replacing it has status revision."
            )
            continue
        seen[key] = line
        places.setdefault(place, {}).setdefault(indicator, {})[reading.period.label] = reading
    if problems:
        raise Refused(*problems)
    return Series(places, other)


def _reading(
    line: int, row: Mapping[str, Any], kind: PeriodKind
) -> tuple[list[str], tuple[str, Reading, bool] | None]:
    """The row's place, reading and whether it is a revision; or what is wrong with it."""
    problems: list[str] = []

    def problem(column: str, message: str) -> None:
        problems.append(f"line {line}, {column}: {message}")

    for column in sorted(set(row) - set(COLUMNS) - {"__line__"}):
        problem(column, f"{column} is not a column ({', '.join(COLUMNS)}).")
    for column in ("region", "period", "value"):
        if row.get(column) is None:
            problem(column, f"{column} is required.")
    if problems:
        return problems, None
    region, station = str(row["region"]).strip(), _text(row.get("station"))
    for column, text, adapter in (("region", region, _REGION), ("station", station, _STATION)):
        try:
            if text is not None:
                adapter.validate_python(text)
        except ValidationError as exc:
            problem(column, exc.errors()[0]["msg"].removeprefix("Value error, "))
    period: Period | None = None
    try:
        period = parse_period(kind, str(row["period"]))
    except ValueError as exc:
        problem("period", str(exc))
    numbers: dict[str, float | None] = {}
    for column in ("value", "numerator", "denominator"):
        try:
            numbers[column] = _number(row.get(column))
        except ValueError as exc:
            problem(column, str(exc))
    if (numerator := numbers.get("numerator")) is not None and numerator < 0:
        problem("numerator", f"{numerator:g} is a count: not below 0.")
    if (denominator := numbers.get("denominator")) is not None and denominator <= 0:
        problem("denominator", f"{denominator:g} is a count of what is divided by: above 0.")
    status = _text(row.get("status")) or "new"
    if status not in ("new", "revision"):
        problem("status", f"status is new or revision, not '{status}'.")
    if problems or period is None:
        return problems, None
    reading = Reading(period, numbers["value"], numbers["numerator"], numbers["denominator"])
    return [], (place_of(region, station), reading, status == "revision")


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _number(value: Any) -> float | None:
    if value is None or str(value).strip() in NOT_REPORTED:
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"'{value}' is not a number (write - for a value not reported).") from None
    if not math.isfinite(number):
        raise ValueError(f"'{value}' is not a finite number.")
    return number


def places_to_run(runs: Sequence[Run], series: Series, place: str | None) -> list[str]:
    """The places to replay: `place`, or each place the rules watch that the series holds."""
    indicators = sorted({run.indicator for run in runs})
    held = sorted(
        p for p, readings in series.places.items() if any(readings.get(i) for i in indicators)
    )
    if place is not None:
        if place not in held:
            raise Refused(
                f"the series holds no row of {', '.join(indicators)} at {place}; "
                f"it holds {', '.join(held) or 'none'}."
            )
        return [place]
    watched = frozenset().union(*(run.places for run in runs))
    chosen = [p for p in held if p in watched]
    if not chosen:
        raise Refused(
            f"the series holds no row of {', '.join(indicators)} at the places the rule watches "
            f"({', '.join(sorted(watched))}) but at {', '.join(held) or 'none'}: "
            "name one with --place to run the rule there."
        )
    return chosen


# The replay


@dataclass(frozen=True)
class Line:
    """One period of a run: its readings, where the series stands, the messages anchored there."""

    period: Period
    readings: dict[str, Reading | None]
    """Indicator -> the period's reading (None: no row), the run's own indicator first."""
    state: State
    level: Severity | None
    version: int | None
    actions: tuple[Action, ...]

    def said(self) -> tuple[State, Severity | None, tuple[tuple[Kind, Reason, Severity], ...]]:
        """What a difference is made of: the state, the level, the messages."""
        return self.state, self.level, tuple((a.kind, a.reason, a.level) for a in self.actions)


@dataclass(frozen=True)
class Replay:
    """A run at one place: the engine's evaluation and its timeline."""

    run: Run
    evaluation: Evaluation
    lines: list[Line]


@dataclass(frozen=True)
class Difference:
    """A period where two runs say something else (a line is None where a run has no period)."""

    period: Period
    a: Line | None
    b: Line | None


@dataclass(frozen=True)
class PlaceBacktest:
    """The runs at one place, replayed at `now`, and where the first two differ."""

    place: str
    now: datetime
    replays: list[Replay]
    differences: list[Difference]


def backtest(
    runs: Sequence[Run], series: Series, places: Sequence[str], *, now: datetime | None = None
) -> list[PlaceBacktest]:
    """Replay every run at every place; by default at the end of the place's last period."""
    results = []
    for place in places:
        readings = series.places.get(place, {})
        at = now or max(
            (r.period.end for run in runs for r in readings.get(run.indicator, {}).values()),
            default=ALWAYS,
        )
        replays = [_replay(run, readings, at) for run in runs]
        differences = differences_of(replays[0], replays[1]) if len(replays) == 2 else []
        results.append(PlaceBacktest(place, at, replays, differences))
    return results


def _replay(run: Run, readings: PlaceReadings, now: datetime) -> Replay:
    evaluation = evaluate(run.rule, readings, now=now)
    anchored: dict[str, list[Action]] = {}
    for action in evaluation.actions:
        anchored.setdefault(action.period.label, []).append(action)
    lines = [
        Line(
            step.reading.period,
            {i: readings.get(i, {}).get(step.reading.period.label) for i in run.indicators},
            step.state,
            step.level,
            step.version,
            tuple(anchored.get(step.reading.period.label, ())),
        )
        for step in evaluation.steps
    ]
    return Replay(run, evaluation, lines)


def differences_of(a: Replay, b: Replay) -> list[Difference]:
    """The periods where the two replays' states, levels or messages differ."""
    by_a = {line.period.label: line for line in a.lines}
    by_b = {line.period.label: line for line in b.lines}
    periods = sorted({line.period for line in a.lines + b.lines}, key=lambda p: p.start)
    found = []
    for period in periods:
        one, other = by_a.get(period.label), by_b.get(period.label)
        if (one.said() if one else None) != (other.said() if other else None):
            found.append(Difference(period, one, other))
    return found


@dataclass(frozen=True)
class Episode:
    """One alert of a replay, from its Alert to its Cancel (if any): one CAP chain."""

    number: int
    actions: list[Action]

    @property
    def worst(self) -> Severity:
        """The worst level it reached."""
        return max((a.level for a in self.actions), key=lambda level: level.rank)

    @property
    def cancel(self) -> Action | None:
        """The message that closed it, or None while it is open."""
        last = self.actions[-1]
        return last if last.kind is Kind.CANCEL else None


def episodes_of(evaluation: Evaluation) -> list[Episode]:
    """The alerts the replay raised, in order, each with its messages."""
    chains: dict[int, list[Action]] = {}
    for action in evaluation.actions:
        chains.setdefault(action.episode, []).append(action)
    return [Episode(number + 1, actions) for number, actions in sorted(chains.items())]
