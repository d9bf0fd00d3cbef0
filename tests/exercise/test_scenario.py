"""Scenario files as planners write them: validation line by line, the MSEL import, and the
property that whatever a scenario says, a run's messages are exercises of that run."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typer.testing import CliRunner, Result

from schemas import parse_cap_json
from schemas.cap import Category, Status
from schemas.envelopes import AlertKey, AlertPublished
from schemas.exercise import Inject, InjectKind, Scenario
from schemas.topics import EXERCISE_PREFIX, route
from services.cli import app
from services.exercise.runner import Client, Endpoints, ExerciseRun, ScenarioClock, resolve_period
from services.exercise.scenario import LoadedScenario, load_scenario

EXAMPLES = Path(__file__).parents[2] / "schemas" / "examples"
ALERT = {
    "msgType": "Alert", "scope": "Restricted", "restriction": "Meuse desks",
    "info": [{
        "language": "fr-BE", "category": ["Geo"], "event": "Crue", "urgency": "Expected",
        "severity": "Moderate", "certainty": "Likely",
        "area": [{"areaDesc": "Liège", "geocode": [{"valueName": "NUTS2", "value": "BE33"}]}],
    }],
}  # fmt: skip


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(app, ["exercise", *map(str, args)])


def test_the_shipped_scenarios_are_valid() -> None:
    shipped = sorted(EXAMPLES.glob("exercise.*.yaml"))

    assert shipped
    for file in shipped:
        result = cli("validate", file)
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"OK {file}: ")


def test_every_problem_is_named_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(
        "name: Broken\n"                                          # 1
        "participants: {organisations: [be-liege]}\n"             # 2
        "timeline:\n"                                             # 3
        "  - name: first\n"                                       # 4
        "    at: '00:00:00'\n"                                    # 5
        "    from: be-liege\n"                                    # 6
        "    alert:\n"                                            # 7
        "      msgType: Alert\n"                                  # 8
        "      scope: Public\n"                                   # 9
        "      info:\n"                                           # 10
        "        - language: fr-BE\n"                             # 11
        "          category: [Geo]\n"                             # 12
        "          event: Crue\n"                                 # 13
        "          urgency: Soon\n"                               # 14: no such urgency
        "          severity: Moderate\n"                          # 15
        "          certainty: Likely\n"                           # 16
        "  - name: later\n"                                       # 17
        "    at: '00:10:00'\n"                                    # 18
        "    from: be-liege\n"                                    # 19
        "    cancels: firts\n",                                   # 20: no such inject
        encoding="utf-8",
    )  # fmt: skip

    result = cli("validate", file)

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{file}:14: timeline[0].alert.info[0].urgency: " + (
        "urgency must be one of Immediate, Expected, Future, Past or Unknown; got 'Soon'."
    )
    assert lines[1] == (
        f"{file}:17: timeline[1]: later refers to firts, which is no inject before it."
    )
    assert len(lines) == 2


def test_a_misspelt_key_is_named_not_ignored(tmp_path: Path) -> None:
    document = yaml.safe_load((EXAMPLES / "exercise.meuse-flood.yaml").read_text("utf-8"))
    document["timeline"][2]["expect"]["acknowleged_by"] = ["be-dg-desk"]
    file = tmp_path / "typo.yaml"
    file.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), "utf-8")

    result = cli("validate", file)

    assert result.exit_code == 1
    assert "timeline[2].expect.acknowleged_by: Extra inputs are not permitted" in result.output


def test_an_msel_spreadsheet_becomes_a_scenario_that_validates(tmp_path: Path) -> None:
    msel = tmp_path / "meuse-msel.csv"
    msel.write_text(
        "Scenario time;Inject No;From;To;Method;Message;Expected action;Objective;Category;"
        "Severity;Area;Language;Updates;Cancels;Acknowledge within\n"
        "00:00;1;be-liege;be-eupen-desk, nl-limburg-duty;crossalert;La Meuse monte à Liège;"
        "Open the flood procedure;Alerting within a minute;Geo;Moderate;BE33;fr-BE;;;PT10M\n"
        "T+00:30;2;be-liege;;crossalert;La Meuse dépasse le seuil d'alarme;;;;Severe;;;1;;\n"
        "90;3;be-liege;;crossalert;Fin de l'alerte;;;;;;;;1;\n",
        encoding="utf-8",
    )
    scenario = tmp_path / "meuse.yaml"

    imported = cli("import-msel", msel, "--output", scenario, "--name", "Meuse MSEL")

    assert imported.exit_code == 0, imported.output
    loaded = load_scenario(scenario)
    first, update, cancel = loaded.scenario.in_order()
    assert (first.name, first.at, first.sender) == ("inject-1", timedelta(0), "be-liege")
    assert first.expect is not None
    assert first.expect.received_by == ["be-eupen-desk", "nl-limburg-duty"]
    assert first.expect.within == timedelta(minutes=10)
    assert loaded.alerts["inject-1"]["info"][0]["area"][0]["geocode"][0]["value"] == "BE33"
    assert (update.kind, update.at, update.changes) == (
        InjectKind.UPDATE, timedelta(minutes=30), {"severity": "Severe"},
    )  # fmt: skip
    assert (cancel.kind, cancel.at, cancel.reason) == (
        InjectKind.CANCEL, timedelta(minutes=90), "Fin de l'alerte",
    )  # fmt: skip
    assert loaded.scenario.objectives == ["Alerting within a minute"]
    assert cli("validate", scenario).exit_code == 0


def test_relative_periods_are_the_periods_before_the_start() -> None:
    start = datetime(2026, 12, 3, 6, 45, tzinfo=UTC)  # Thursday of 2026-W49

    def period(text: str) -> str:
        return str(resolve_period({"period": text}, date(2026, 12, 3), start)["period"])

    assert period("W-2") == "2026-W47"
    assert period("D-1") == "2026-12-02"
    assert period("H-3") == "2026-12-03T03:00:00+00:00"
    assert period("2026-W10") == "2026-W10"  # an absolute period stays


names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
statuses = st.sampled_from([s.value for s in Status if s is not Status.DRAFT])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Scenario, dict[str, dict[str, Any]]]:
    """A timeline of alerts, updates and cancels; the alerts say whatever status, identifier
    and note they like (a planner's copy of real traffic, say)."""
    chosen = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    injects: list[dict[str, Any]] = []
    alerts: dict[str, dict[str, Any]] = {}
    open_chains: list[str] = []
    for n, name in enumerate(chosen):
        kind = draw(st.sampled_from(["alert", "update", "cancel"] if open_chains else ["alert"]))
        inject: dict[str, Any] = {"name": name, "at": f"PT{n}M", "from": "be-liege"}
        if kind == "alert":
            alerts[name] = ALERT | {
                "status": draw(statuses),
                "identifier": draw(names),
                "note": draw(names),
            }
            inject["alert"] = alerts[name]
            open_chains.append(name)
        else:
            target = draw(st.sampled_from(open_chains))
            inject["updates" if kind == "update" else "cancels"] = target
            if kind == "cancel":
                open_chains.remove(target)
            if kind == "update":
                inject["changes"] = {"severity": draw(st.sampled_from(["Minor", "Severe"]))}
        injects.append(inject)
    scenario = Scenario.model_validate({
        "name": "Generated", "participants": {"organisations": ["be-liege"]},
        "timeline": injects,
    })  # fmt: skip
    return scenario, alerts


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_every_message_of_a_run_is_an_exercise_of_that_run_on_an_exercise_topic(
    generated: tuple[Scenario, dict[str, dict[str, Any]]],
) -> None:
    scenario, alerts = generated
    run = ExerciseRun(
        LoadedScenario(scenario, Path("generated.yaml"), alerts),
        {"be-liege": Client("liege-system", "-")}, Endpoints(), speed=1,
    )  # fmt: skip
    sent = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    ours: set[str] = set()
    for inject in scenario.in_order():
        message = run.message(inject, sender="crisis@liege.example.org", sent=sent)
        alert = parse_cap_json(json.dumps(message))
        assert alert.status is Status.EXERCISE
        assert alert.identifier == f"exercise.{run.run_id}.{inject.name}"
        assert alert.note == f"Exercise Generated — run {run.run_id}"
        assert {r.identifier for r in alert.references} <= ours
        envelope = AlertPublished(
            producer="alert_gateway", alert=alert, chain=AlertKey(sender=alert.sender,
            identifier=alert.identifier), chain_category=Category.GEO, client_id="liege-system",
            received_at=sent,
        )  # fmt: skip
        assert route(envelope)[0].startswith(EXERCISE_PREFIX)
        ours.add(alert.identifier)
        run.accepted(inject, message)


def test_an_inject_refuses_two_contents() -> None:
    two = {"name": "x", "at": "PT0M", "from": "be-liege", "alert": ALERT, "file": "a.json"}

    with pytest.raises(ValidationError, match="give one of alert, file, observations, not "
                       "alert and file"):  # fmt: skip
        Inject.model_validate(two)


def test_the_shipped_scenarios_follow_the_published_json_schema() -> None:
    schema = json.loads(
        (EXAMPLES.parent / "jsonschema" / "exercise-scenario.schema.json").read_text()
    )
    validator = jsonschema.Draft202012Validator(schema)

    for file in sorted(EXAMPLES.glob("exercise.*.yaml")):
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
        assert not [e.message for e in validator.iter_errors(document)], file
        document["timeline"][0]["at"] = -5
        assert list(validator.iter_errors(document)), "a wrong scenario passed the schema"


def test_the_scenario_clock_runs_at_its_speed_and_stops_while_paused() -> None:
    now = [100.0]
    clock = ScenarioClock(speed=10, now=lambda: now[0])
    clock.start()

    now[0] = 101
    assert clock.elapsed() == timedelta(seconds=10)
    clock.pause()
    now[0] = 131  # half a minute of pause: scenario time stands still
    assert clock.elapsed() == timedelta(seconds=10)
    clock.resume()
    now[0] = 132
    assert clock.elapsed() == timedelta(seconds=20)
    assert clock.paused_seconds == 30
