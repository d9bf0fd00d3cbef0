"""A backtest as people read it (a timeline per place, the alerts, the differences) and as JSON.

A value not reported is printed as such, never as 0; a period without a row of an indicator
is left blank. A message is shown at the period it is anchored at; the engine anchors the
no-data Update at the last period reported, so the table says "no data after this period".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schemas.cap import Severity
from schemas.observations import PeriodKind
from services.evaluator.backtest import (
    Difference,
    Episode,
    Line,
    PlaceBacktest,
    Replay,
    Run,
    Series,
    episodes_of,
)
from services.evaluator.engine import Action, Reading, Reason

NOT_REPORTED = "not reported"
NONE = "-"


def set_aside(series: Series, results: Sequence[PlaceBacktest]) -> dict[str, Counter[str]]:
    """The rows no run read: per indicator no rule reads, and per place not run."""
    run = {result.place for result in results}
    places = Counter({p: series.rows_at(p) for p in series.places if p not in run})
    return {"indicators": series.other_indicators, "places": places}


def text_report(
    runs: Sequence[Run],
    results: Sequence[PlaceBacktest],
    *,
    series: Series,
    source: str,
    kind: PeriodKind,
) -> list[str]:
    """The backtest as lines of text: runs, timelines, alerts raised, differences."""
    out = [f"Backtest of {source} (periods: {kind.value}); nothing is published."]
    out += [f"{run.name}: {run.title}" for run in runs]
    aside = set_aside(series, results)
    notes = [f"{n} row(s) of {i} (read by no rule)" for i, n in sorted(aside["indicators"].items())]
    notes += [f"{n} row(s) at {p} (not run)" for p, n in sorted(aside["places"].items())]
    if notes:
        out.append("Set aside: " + "; ".join(notes) + ".")
    for result in results:
        out += ["", *_timeline(result)]
    out += ["", "Alerts raised"]
    for run_index, run in enumerate(runs):
        out += _alerts(run, [result.replays[run_index] for result in results], results)
    if len(runs) == 2:
        for result in results:
            out += ["", *_differences(result)]
    return out


def _timeline(result: PlaceBacktest) -> list[str]:
    replays = result.replays
    periods = sorted({line.period for r in replays for line in r.lines}, key=lambda p: p.start)
    first, last = (periods[0].label, periods[-1].label) if periods else (NONE, NONE)
    header = (
        f"== {result.place}: {len(periods)} period(s), {first} to {last}, "
        f"judged at {_moment(result.now)} =="
    )
    indicators = list(dict.fromkeys(i for r in replays for i in r.run.indicators))
    by_run = [{line.period.label: line for line in r.lines} for r in replays]
    two = len(replays) == 2
    prefixes = [f"{r.run.name} " if two else "" for r in replays]
    columns = ["period", *indicators]
    for prefix in prefixes:
        columns += [f"{prefix}state", f"{prefix}level", f"{prefix}version", f"{prefix}action"]
    if two:
        columns.append("differs")
    differing = {d.period.label for d in result.differences}
    rows = []
    for period in periods:
        lines = [lines_of.get(period.label) for lines_of in by_run]
        readings = next(line.readings for line in lines if line is not None)
        row = [period.label, *(_reading(readings.get(i)) for i in indicators)]
        for line in lines:
            row += _said(line)
        if two:
            row.append("≠" if period.label in differing else "")
        rows.append(row)
    out = [header, *_table(columns, rows)]
    for replay in replays:
        evaluation = replay.evaluation
        where = f"{replay.run.name} at the end" if two else "At the end"
        level = f", {evaluation.level.value} (an alert is in force)" if evaluation.level else ""
        out.append(f"{where}: {evaluation.state.value}{level}.")
    return out


def _said(line: Line | None) -> list[str]:
    if line is None:
        return [NONE, NONE, NONE, ""]
    return [
        line.state.value,
        _level(line.level),
        str(line.version) if line.version is not None else NONE,
        "; ".join(_action(a) for a in line.actions),
    ]


def _alerts(run: Run, replays: Sequence[Replay], results: Sequence[PlaceBacktest]) -> list[str]:
    out = []
    total = 0
    for result, replay in zip(results, replays, strict=True):
        episodes = episodes_of(replay.evaluation)
        total += len(episodes)
        messages = sum(len(e.actions) for e in episodes)
        out.append(
            f"  {run.name} at {result.place}: {len(episodes)} alert(s), {messages} message(s)"
        )
        for episode in episodes:
            out += _episode(episode, replay.evaluation.level)
    places = len(results)
    return [f"{run.name} ({run.title}): {total} alert(s) at {places} place(s)", *out]


def _episode(episode: Episode, level_now: Severity | None) -> list[str]:
    out = []
    for n, action in enumerate(episode.actions):
        mark = f"#{episode.number}" if n == 0 else ""
        out.append(f"    {mark:<4}{action.period.label}  {_action(action)}")
    if episode.cancel is None:
        out.append(f"        still open at the end: {_level(level_now)} (worst {episode.worst})")
    else:
        out.append(f"        closed (worst {episode.worst})")
    return out


def _differences(result: PlaceBacktest) -> list[str]:
    if not result.differences:
        return [f"No difference at {result.place}."]
    a, b = (replay.run.name for replay in result.replays)
    out = [f"Differences at {result.place}: {len(result.differences)} period(s)"]
    for difference in result.differences:
        out.append(f"  {difference.period.label}  {_difference(difference, a, b)}")
    return out


def _difference(difference: Difference, a: str, b: str) -> str:
    one, other = difference.a, difference.b
    if one is None or other is None:
        return f"only {a if other is None else b} has this period"
    parts = []
    if one.state != other.state:
        parts.append(f"state {a} {one.state.value}, {b} {other.state.value}")
    if one.level != other.level:
        parts.append(f"level {a} {_level(one.level)}, {b} {_level(other.level)}")
    if one.said()[2] != other.said()[2]:
        parts.append(f"messages {a} {_actions(one.actions)}, {b} {_actions(other.actions)}")
    return "; ".join(parts)


def _actions(actions: Sequence[Action]) -> str:
    return " + ".join(_action(a) for a in actions) if actions else "none"


def _action(action: Action) -> str:
    reason = action.reason.value
    if action.reason is Reason.NO_DATA:
        reason = "no data after this period"
    return f"{action.kind.value} ({reason}) {action.level.value}"


def _level(level: Severity | None) -> str:
    return level.value if level is not None else NONE


def _reading(reading: Reading | None) -> str:
    if reading is None:
        return ""
    return NOT_REPORTED if reading.value is None else _number(reading.value)


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:.10g}"


def _moment(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (columns, *rows)
    ]


# JSON


def json_report(
    runs: Sequence[Run],
    results: Sequence[PlaceBacktest],
    *,
    series: Series,
    source: str,
    kind: PeriodKind,
) -> dict[str, Any]:
    """The backtest as a JSON document (the same content as the text, for machines)."""
    return {
        "series": source,
        "period_kind": kind.value,
        "runs": [
            {
                "name": run.name,
                "rule": run.rule.id,
                "version": run.version,
                "title": run.title,
                "indicators": run.indicators,
            }
            for run in runs
        ],
        "set_aside": {k: dict(v) for k, v in set_aside(series, results).items()},
        "places": [_place(result) for result in results],
    }


def _place(result: PlaceBacktest) -> dict[str, Any]:
    return {
        "place": result.place,
        "now": _moment(result.now),
        "runs": [
            {
                "name": replay.run.name,
                "state": replay.evaluation.state.value,
                "level": _json_level(replay.evaluation.level),
                "open": replay.evaluation.open,
                "timeline": [_line(line) for line in replay.lines],
                "alerts": [
                    {
                        "episode": episode.number,
                        "worst": episode.worst.value,
                        "open": episode.cancel is None,
                        "messages": [_json_action(a) for a in episode.actions],
                    }
                    for episode in episodes_of(replay.evaluation)
                ],
            }
            for replay in result.replays
        ],
        "differences": [
            {
                "period": d.period.label,
                **{
                    replay.run.name: _json_said(line)
                    for replay, line in zip(result.replays, (d.a, d.b), strict=True)
                },
            }
            for d in result.differences
        ],
    }


def _line(line: Line) -> dict[str, Any]:
    return {
        "period": line.period.label,
        "values": {i: r.value for i, r in line.readings.items() if r is not None},
        **_json_state(line),
        "version": line.version,
    }


def _json_said(line: Line | None) -> dict[str, Any] | None:
    return None if line is None else _json_state(line)


def _json_state(line: Line) -> dict[str, Any]:
    return {
        "state": line.state.value,
        "level": _json_level(line.level),
        "actions": [_json_action(a) for a in line.actions],
    }


def _json_action(action: Action) -> dict[str, Any]:
    return {
        "kind": action.kind.value,
        "reason": action.reason.value,
        "level": action.level.value,
        "episode": action.episode + 1,
        "period": action.period.label,
        "version": action.version,
        "value": action.value,
        "threshold": action.threshold,
        "confirmed_by": [r.period.label for r in action.confirmed_by],
    }


def _json_level(level: Severity | None) -> str | None:
    return level.value if level is not None else None
