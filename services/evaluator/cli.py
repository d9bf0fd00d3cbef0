"""`crossalert thresholds …`: threshold rules tried on past series before agencies agree on them.

`backtest` replays a rule over a series an agency exported, publishing nothing (the rules of
what is replayed are in `services/evaluator/backtest.py`). Exit codes: 0 done; 1 the rule or
the series refused, each problem named by file, line and field; 2 anything else (a file that
does not exist or cannot be read, a missing or wrong option).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from schemas.observations import PeriodKind
from schemas.thresholds import ThresholdRule
from services.evaluator.backtest import (
    Refused,
    Run,
    backtest,
    period_kind_in_seed,
    places_to_run,
    rows_of_csv,
    rule_in_seed,
    rule_of,
    run_of,
    series_of,
)
from services.evaluator.backtest_report import json_report, text_report

SHOWN = 20
"""Problems printed at most: the first ones say what is wrong with a whole column."""

thresholds_app = typer.Typer(
    help="Threshold rules: try them on past series before agreeing on them.",
    no_args_is_help=True,
)


@thresholds_app.command("backtest")
def backtest_command(
    rule: Annotated[
        str,
        typer.Argument(
            metavar="RULE",
            help="A rule file, YAML or JSON: one version as an agency writes it, a list of "
            "versions (oldest first), or a stored rule with its versions (the registry's "
            "GET /v1/threshold-rules/{id}). With --seed, also a rule id of the seed file.",
        ),
    ],
    series: Annotated[
        Path,
        typer.Argument(
            metavar="SERIES.csv",
            help="The series as the agency exports it: CSV with columns indicator, region, "
            "station, period, value (empty or - when not reported), numerator, denominator, "
            "unit, status; comma- or semicolon-separated (then with decimal commas).",
            exists=True,
            dir_okay=False,
        ),
    ],
    version: Annotated[
        int | None,
        typer.Option("--version", min=1, help="Run this version alone, for every period."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option("--compare", metavar="RULE2", help="A second rule to run beside the first."),
    ] = None,
    compare_version: Annotated[
        int | None,
        typer.Option(
            "--compare-version", metavar="M", min=1, help="Run version M alone beside the rule."
        ),
    ] = None,
    place: Annotated[
        str | None,
        typer.Option(
            "--place",
            metavar="REGION[/STATION]",
            help="Only this place, even one the rule does not watch (default: each place the "
            "rule watches that the series holds).",
        ),
    ] = None,
    seed: Annotated[
        Path | None,
        typer.Option(
            "--seed",
            exists=True,
            dir_okay=False,
            help="A registry seed file (YAML): its threshold_rules by id, and its indicators, "
            "which say how each is reported.",
        ),
    ] = None,
    period_kind: Annotated[
        PeriodKind | None,
        typer.Option(
            "--period-kind",
            help="How the rule's indicator is reported (default: as the seed's indicators say).",
        ),
    ] = None,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            metavar="ISO",
            help="Judge the series at this moment, e.g. 2021-03-01T00:00:00+01:00 (default: "
            "the end of each place's last period).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Replay a threshold rule over a series, publishing nothing: states, alerts, differences."""
    if compare is not None and compare_version is not None:
        raise typer.BadParameter("give --compare or --compare-version, not both.")
    moment = _moment(now)
    try:
        seed_document = _seed(seed) if seed is not None else None
        first = _rule(rule, seed_document, seed)
        runs = [run_of(first, "A", version=version)]
        if compare_version is not None:
            runs.append(run_of(first, "B", version=compare_version))
        elif compare is not None:
            runs.append(run_of(_rule(compare, seed_document, seed), "B"))
        kind = _period_kind(runs, period_kind, seed_document)
        indicators = frozenset(i for run in runs for i in run.indicators)
        data = series_of(rows_of_csv(series.read_bytes()), kind=kind, indicators=indicators)
        results = backtest(runs, data, places_to_run(runs, data, place), now=moment)
    except Refused as refusal:
        for problem in refusal.problems[:SHOWN]:
            typer.echo(f"refused: {problem}", err=True)
        if len(refusal.problems) > SHOWN:
            typer.echo(f"refused: and {len(refusal.problems) - SHOWN} more problem(s).", err=True)
        raise typer.Exit(1) from None
    except OSError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        document = json_report(runs, results, series=data, source=str(series), kind=kind)
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        typer.echo(
            "\n".join(text_report(runs, results, series=data, source=str(series), kind=kind))
        )


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{text}' is not an ISO 8601 moment.", param_hint="--now"
        ) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"'{text}' has no offset (+01:00, Z).", param_hint="--now")
    return moment


def _rule(text: str, seed: Mapping[str, Any] | None, seed_path: Path | None) -> ThresholdRule:
    """The rule in the file `text`, or (with a seed) the seed's rule of that id."""
    path = Path(text)
    if path.is_file():
        return rule_of(_document(path), source=str(path))
    if seed is not None and seed_path is not None:
        return rule_in_seed(seed, text, source=str(seed_path))
    raise typer.BadParameter(f"no file {text}; a rule id is looked up in the file given by --seed.")


def _seed(path: Path) -> Mapping[str, Any]:
    document = _document(path)
    if not isinstance(document, Mapping):
        raise Refused(
            f"{path}: a seed file is a mapping of sections (threshold_rules, indicators)."
        )
    return document


def _document(path: Path) -> Any:
    """A YAML or JSON file's content."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Refused(f"{path}: not UTF-8 text.") from None
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise Refused(f"{path}: neither YAML nor JSON: {error}") from None


def _period_kind(
    runs: list[Run], option: PeriodKind | None, seed: Mapping[str, Any] | None
) -> PeriodKind:
    """How the runs' indicators are reported: as the option says, else as the seed says."""
    if option is not None:
        return option
    kinds = {
        run.indicator: period_kind_in_seed(seed, run.indicator) if seed else None for run in runs
    }
    unknown = [indicator for indicator, kind in kinds.items() if kind is None]
    if unknown:
        raise typer.BadParameter(
            f"how is {unknown[0]} reported? Say it (iso_week, day, hour or instant), or give "
            "--seed with an indicator catalogue holding it.",
            param_hint="--period-kind",
        )
    found = {kind for kind in kinds.values() if kind is not None}
    if len(found) > 1:
        raise Refused(
            "the two rules read indicators reported per different periods: "
            + ", ".join(f"{i} per {k}" for i, k in sorted(kinds.items()))
            + "."
        )
    return found.pop()
