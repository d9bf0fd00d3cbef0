"""`crossalert thresholds backtest`: a rule replayed over an exported series, published nowhere."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from evaluator_support import rule_of, version
from typer.testing import CliRunner, Result

from services.cli import app

ROOT = Path(__file__).resolve().parents[2]
NL42 = ROOT / "tests/series/cases-weekly_NL42_2020w32-2021w02.csv"
SEED = ROOT / "services/registry/seed/benelux_greater_region.yaml"
HEADER = "indicator,region,station,period,value,numerator,denominator,unit,status"


def backtest(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["thresholds", "backtest", *map(str, args)])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def rule_file(tmp_path: Path, **changes: Any) -> Path:
    """One version as an agency writes it (YAML): Moderate 50, Severe 150, two weeks confirm."""
    return write(tmp_path / "rule.yaml", yaml.safe_dump(version(**changes)))


def weekly_csv(tmp_path: Path, values: list[str], *, sep: str = ",") -> Path:
    """rate-14d at BE33 from 2026-W02 on, values as the agency typed them."""
    rows = [HEADER.replace(",", sep)]
    rows += [
        sep.join(["rate-14d", "BE33", "", f"2026-W{week:02d}", value, "", "", "", ""])
        for week, value in enumerate(values, start=2)
    ]
    return write(tmp_path / "series.csv", "\n".join(rows) + "\n")


def timeline(out: str) -> dict[str, list[str]]:
    """The table's rows by period: the cells between runs of two spaces or more."""
    return {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if re.match(r"\d{4}-W\d{2}  ", line)
        for cells in [re.split(r" {2,}", line)]
    }


def test_a_wave_is_alerted_raised_lowered_and_cleared_in_the_printed_timeline(
    tmp_path: Path,
) -> None:
    # A European export: semicolons and decimal commas.
    series = weekly_csv(
        tmp_path,
        ["20", "55,5", "61", "158", "171,5", "120", "90", "38", "35,5", "20"],
        sep=";",
    )

    result = backtest(rule_file(tmp_path), series, "--period-kind", "iso_week")

    assert result.exit_code == 0, result.output
    assert timeline(result.stdout) == {
        "2026-W02": ["20", "normal", "-", "1"],
        "2026-W03": ["55.5", "pending", "-", "1"],  # over 50 once: not yet confirmed
        "2026-W04": ["61", "alerting", "Moderate", "1", "Alert (confirmed) Moderate"],
        "2026-W05": ["158", "alerting", "Moderate", "1"],  # over 150 once
        "2026-W06": ["171.5", "alerting", "Severe", "1", "Update (confirmed) Severe"],
        "2026-W07": ["120", "alerting", "Severe", "1"],
        "2026-W08": ["90", "alerting", "Moderate", "1", "Update (confirmed) Moderate"],
        "2026-W09": ["38", "recovering", "Moderate", "1"],  # under 40 once
        "2026-W10": ["35.5", "normal", "-", "1", "Cancel (recovered) Moderate"],
        "2026-W11": ["20", "normal", "-", "1"],
    }
    assert "A at BE33: 1 alert(s), 4 message(s)" in result.stdout
    assert "closed (worst Severe)" in result.stdout


def test_values_not_reported_are_shown_as_such_and_never_clear_an_alert(tmp_path: Path) -> None:
    # Read as 0, the two weeks not reported would be two weeks under 40: an all-clear.
    series = weekly_csv(tmp_path, ["60", "70", "-", ""])

    result = backtest(rule_file(tmp_path), series, "--period-kind", "iso_week")
    later = backtest(
        rule_file(tmp_path), series, "--period-kind", "iso_week", "--now", "2026-03-02T00:00Z"
    )

    assert result.exit_code == 0, result.output
    rows = timeline(result.stdout)
    assert rows["2026-W04"] == ["not reported", "alerting", "Moderate", "1"]
    assert rows["2026-W05"] == ["not reported", "alerting", "Moderate", "1"]
    assert "Cancel" not in result.stdout
    assert "At the end: alerting, Moderate (an alert is in force)." in result.stdout
    # Weeks later the series has no data: said so, still not an all-clear.
    assert later.exit_code == 0, later.output
    assert timeline(later.stdout)["2026-W03"][-1] == (
        "Alert (confirmed) Moderate; Update (no data after this period) Moderate"
    )
    assert "Cancel" not in later.stdout
    assert "At the end: no data, Moderate (an alert is in force)." in later.stdout


def test_two_versions_differ_in_exactly_the_periods_their_thresholds_disagree_on(
    tmp_path: Path,
) -> None:
    at_50 = version(levels=[{"severity": "Moderate", "threshold": 50}])
    at_100 = version(
        levels=[{"severity": "Moderate", "threshold": 100}],
        effective_from="2026-02-02T00:00:00+00:00",  # 2026-W06
    )
    stored = write(tmp_path / "rule.json", rule_of(at_50, at_100).model_dump_json())  # as GET
    series = weekly_csv(tmp_path, ["40", "60", "80", "120", "130", "90", "30", "20"])

    compared = backtest(
        stored, series, "--period-kind", "iso_week", "--version", "1", "--compare-version", "2"
    )
    as_json = backtest(
        stored, series, "--period-kind", "iso_week", "--version", "1", "--compare-version", "2",
        "--json",
    )  # fmt: skip
    history = backtest(stored, series, "--period-kind", "iso_week", "--json")

    # At 50: pending W03, Alert W04. At 100: normal until W04, pending W05, Alert W06. From
    # W07 on both are alerting, recovering at 30 and cleared at 20 alike.
    assert compared.exit_code == 0, compared.output
    assert "Differences at BE33: 4 period(s)" in compared.stdout
    marked = [week for week, cells in timeline(compared.stdout).items() if cells[-1] == "≠"]
    assert marked == ["2026-W03", "2026-W04", "2026-W05", "2026-W06"]
    document = json.loads(as_json.stdout)
    place = document["places"][0]
    assert [d["period"] for d in place["differences"]] == [
        "2026-W03",
        "2026-W04",
        "2026-W05",
        "2026-W06",
    ]
    assert place["differences"][0]["A"]["state"] == "pending"
    assert place["differences"][0]["B"]["state"] == "normal"
    alerts = {run["name"]: run["alerts"][0]["messages"][0]["period"] for run in place["runs"]}
    assert alerts == {"A": "2026-W04", "B": "2026-W06"}
    # Without --version, each week is judged by the version in effect when it starts.
    weeks = json.loads(history.stdout)["places"][0]["runs"][0]["timeline"]
    assert [w["version"] for w in weeks] == [1, 1, 1, 1, 2, 2, 2, 2]


def test_the_rivm_weekly_cases_of_limburg_under_a_weekly_cases_rule(tmp_path: Path) -> None:
    rule = write(
        tmp_path / "nl42.yaml",
        """\
id: nl42-cases-weekly
owner: nl-ggd-zuid-limburg
effective_from: 2026-01-01T00:00:00+01:00   # a draft: it also judges the past
indicator: cases-weekly
regions: [NL42]
levels:
  - {severity: Moderate, threshold: 1000}
  - {severity: Severe, threshold: 2500}
  - {severity: Extreme, threshold: 5000}
confirm: {periods: 2}
recovery_level: 800
recovery_periods: 2
no_data_after: P21D
texts:
  en: {event: COVID-19 cases, headline: "{value} cases", description: "{value} in {period}"}
""",
    )

    result = backtest(rule, NL42, "--period-kind", "iso_week", "--json")

    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)["places"][0]["runs"][0]
    messages = [(m["period"], m["kind"], m["level"]) for m in run["alerts"][0]["messages"]]
    # Weekly counts: W40 716, W41 1250, W42 2054 (two weeks over 1000), W43 2558, W44 3035
    # (two over 2500), W45 2566, W46 2129, W47 2028 (two under 2500), W48 2038, W49 2671,
    # W50 4629 (two over 2500), W51 6375, W52 6448 (two over 5000), W53 4465, 2021-W01 4091
    # (two under 5000), W02 3990. Never under 800 again: the alert is still open.
    assert messages == [
        ("2020-W42", "Alert", "Moderate"),
        ("2020-W44", "Update", "Severe"),
        ("2020-W47", "Update", "Moderate"),
        ("2020-W50", "Update", "Severe"),
        ("2020-W52", "Update", "Extreme"),
        ("2021-W01", "Update", "Severe"),
    ]
    assert len(run["alerts"]) == 1 and run["open"] and run["level"] == "Severe"
    states = {week["period"]: week["state"] for week in run["timeline"]}
    assert len(states) == 24
    assert states["2020-W41"] == "pending"
    assert {states[f"2020-W{n}"] for n in range(32, 41)} == {"normal"}


def test_a_combined_rule_of_the_seed_reads_positivity_of_the_same_place_and_week(
    tmp_path: Path,
) -> None:
    rows = [HEADER]
    for week, rate, positivity in [(2, 30, 3), (3, 60, 3), (4, 70, 5), (5, 80, 6)]:
        rows.append(f"rate-14d,NL423,,2026-W{week:02d},{rate},40,,,")
        rows.append(f"positivity,NL423,,2026-W{week:02d},{positivity},,,,")
    rows.append("rate-14d,BE33,,2026-W02,90,40,,,")  # a place the rule does not watch
    rows.append("ozone,DEB21,trier-ostallee,2026-06-01T12:00:00+02:00,150,,,,")
    series = write(tmp_path / "euregio.csv", "\n".join(rows) + "\n")

    result = backtest("euregio-combined-indicator-nl423", series, "--seed", SEED)

    # Over 50 from W03, but positivity reaches 4 only from W04: confirmed in W05.
    assert result.exit_code == 0, result.output
    rows_by_week = timeline(result.stdout)
    assert rows_by_week["2026-W03"] == ["60", "3", "normal", "-", "1"]
    assert rows_by_week["2026-W04"] == ["70", "5", "pending", "-", "1"]
    assert rows_by_week["2026-W05"][-1] == "Alert (confirmed) Moderate"
    assert "Set aside: 1 row(s) of ozone (read by no rule); 1 row(s) at BE33 (not run)." in (
        result.stdout
    )


def test_bad_rows_are_refused_naming_each_line_and_field(tmp_path: Path) -> None:
    series = write(
        tmp_path / "series.csv",
        f"{HEADER}\n"
        "rate-14d,BE33,,2026-W02,60,,,,\n"
        "rate-14d,BE33,,2026-W03,sixty,,,,\n"
        "rate-14d,BE33,,2026-W54,70,,,,\n",
    )

    result = backtest(rule_file(tmp_path), series, "--period-kind", "iso_week")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "refused: line 3, value: 'sixty' is not a number (write - for a value not reported).",
        "refused: line 4, period: '2026-W54' names no week of that year.",
    ]


def test_a_rule_that_is_no_rule_is_refused_naming_the_field(tmp_path: Path) -> None:
    rule = rule_file(tmp_path, levels=[{"severity": "Moderate"}])
    series = weekly_csv(tmp_path, ["60"])

    result = backtest(rule, series, "--period-kind", "iso_week")

    assert result.exit_code == 1
    assert "levels[0].threshold: Field required" in result.stderr
