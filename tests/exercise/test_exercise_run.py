"""Exercise runs end to end: a scenario played through a real registry, gateway and notifier on
the real broker, duty officers acknowledging on their consoles, the run recorded.

Liège's crisis centre and Zuid-Limburg's safety region each send with their own API client.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from exercise_support import mentions, on_real_topics, served_network
from gateway_support import envelopes_on
from notifier_support import Console, Network, ids

from schemas.cap import Status
from schemas.envelopes import AlertPublished
from schemas.exercise import ExerciseReport, RunRecord, RunState
from services.exercise.collect import delivery_reports
from services.exercise.report import build_report, render_html
from services.exercise.runner import Client, CredentialsRefused, Endpoints, ExerciseRun
from services.exercise.scenario import load_scenario

CREDENTIALS = {
    "be-liege": Client("liege-system", "liege-secret-123"),
    "nl-limburg": Client("limburg-system", "limburg-secret-123"),
}
FLOOD_DESKS = ["be-eupen-desk", "nl-limburg-duty", "be-nccn-duty"]


def info(language: str, area: str, severity: str = "Moderate") -> dict[str, Any]:
    return {
        "language": language, "category": ["Geo"], "event": "Crue de la Meuse",
        "urgency": "Expected", "severity": severity, "certainty": "Likely",
        "headline": f"Exercice — la Meuse monte ({area})",
        "area": [{"areaDesc": area, "geocode": [{"valueName": "NUTS2", "value": area}]}],
    }  # fmt: skip


SCENARIO = {
    "name": "Meuse test exercise",
    "objectives": ["Flood alerts reach the Meuse desks and are acknowledged within seconds."],
    "participants": {"organisations": ["be-liege", "nl-limburg", "be-eupen", "be-nccn"]},
    "timeline": [
        {"name": "liege-watch", "at": "00:00:00", "from": "be-liege",
         "alert": {"msgType": "Alert", "scope": "Restricted", "restriction": "Meuse desks",
                   "info": [info("fr-BE", "BE33")]},
         "expect": {"received_by": FLOOD_DESKS, "acknowledged_by": FLOOD_DESKS,
                    "within": "PT20S"}},
        {"name": "liege-severe", "at": "00:05:00", "from": "be-liege",
         "updates": "liege-watch", "changes": {"severity": "Severe"}},
        {"name": "limburg-watch", "at": "00:06:00", "from": "nl-limburg",
         "alert": {"msgType": "Alert", "scope": "Restricted", "restriction": "Meuse desks",
                   "info": [info("nl-NL", "NL42")]}},
        {"name": "liege-all-clear", "at": "00:10:00", "from": "be-liege",
         "cancels": "liege-watch", "reason": "Exercice — la Meuse redescend."},
    ],
}  # fmt: skip


@dataclass
class Exercise:
    network: Network
    kafka: str
    endpoints: Endpoints
    scenario: Path
    runs: Path

    def run(self, speed: float, **changes: Any) -> ExerciseRun:
        return ExerciseRun(
            load_scenario(self.scenario), CREDENTIALS, self.endpoints, speed, runs=self.runs,
            **changes,
        )  # fmt: skip


@pytest.fixture
async def exercise(tmp_path: Path, kafka_bootstrap: str) -> AsyncIterator[Exercise]:
    scenario = tmp_path / "meuse.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO, allow_unicode=True), encoding="utf-8")
    async with served_network(tmp_path, kafka_bootstrap) as (network, endpoints):
        yield Exercise(network, kafka_bootstrap, endpoints, scenario, tmp_path / "runs")


async def acknowledge(network: Network, console: Console, sender: str, identifier: str) -> Any:
    answer = await network.notifier.http.post(
        f"/v1/alerts/{sender}/{identifier}/acknowledgements",
        json={"note": "exercise acknowledged"},
        headers={"Authorization": f"Bearer {console.token}"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_a_run_publishes_only_exercise_messages_in_their_chains_as_each_sender(
    exercise: Exercise,
) -> None:
    consoles = {cp: await exercise.network.console(cp) for cp in FLOOD_DESKS}
    player = exercise.run(speed=600)  # ten scenario minutes in one second

    record = await player.play()

    assert record.state is RunState.FINISHED
    assert [(s.name, s.status_code) for s in record.injects] == [
        ("liege-watch", 202), ("liege-severe", 202), ("limburg-watch", 202),
        ("liege-all-clear", 202),
    ]  # fmt: skip
    sent = {s.name: s for s in record.injects}
    assert (sent["liege-watch"].cap_sender, sent["limburg-watch"].cap_sender) == (
        "crisis@liege.example.org", "meldkamer@vrzl.example.org",
    )  # fmt: skip
    # The scenario's times (5, 6 and 10 minutes after the first), at 600x: 0.5, 0.6 and 1 s.
    # Never early; late only by a slow answer of the inject before (the run waits for each).
    start = record.injects[0].sent_at
    after = [(s.sent_at - start).total_seconds() for s in record.injects[1:]]
    for offset, planned in zip(after, (0.5, 0.6, 1.0), strict=True):
        assert planned - 0.02 <= offset <= planned + 1.0, after

    ours = f"exercise.{player.run_id}."
    on_exercise = [
        e.alert for e in await envelopes_on(exercise.kafka, "exercise.alerts.geo")
        if isinstance(e, AlertPublished) and e.alert.identifier.startswith(ours)
    ]  # fmt: skip
    order = [s.identifier for s in record.injects]  # (the chains lie on different partitions)
    on_exercise.sort(key=lambda alert: order.index(alert.identifier))
    assert [(a.identifier.rsplit(".", 1)[1], a.msg_type.value) for a in on_exercise] == [
        ("liege-watch", "Alert"), ("liege-severe", "Update"), ("limburg-watch", "Alert"),
        ("liege-all-clear", "Cancel"),
    ]  # fmt: skip
    for alert in on_exercise:
        assert alert.status is Status.EXERCISE
        assert alert.note == f"Exercise Meuse test exercise — run {player.run_id}"
    watch, severe, _, cancel = on_exercise
    assert [r.identifier for r in severe.references] == [watch.identifier]
    assert [r.identifier for r in cancel.references] == [severe.identifier]
    assert severe.info[0].severity.value == "Severe"
    assert cancel.info[0].description == "Exercice — la Meuse redescend."

    # The officers see the run's chain, cancelled by its all-clear.
    eupen = consoles["be-eupen-desk"]
    await eupen.wait_for(lambda c: cancel.identifier in ids(c), what="the all-clear")
    assert not [e for e in await on_real_topics(exercise.kafka) if mentions(e, ours)]
    for console in consoles.values():
        await console.disconnect()


async def test_a_stopped_run_keeps_the_record_of_what_it_sent(exercise: Exercise) -> None:
    player = exercise.run(speed=60)  # the update would come 5 s after the first alert
    task = asyncio.create_task(player.play())
    async with asyncio.timeout(20):
        while not player.record.injects:
            await asyncio.sleep(0.05)

    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

    stored = (exercise.runs / f"{player.run_id}.json").read_text(encoding="utf-8")
    assert player.record.state is RunState.STOPPED and player.record.ended_at is not None
    assert '"state": "stopped"' in stored
    assert [s.name for s in player.record.injects] == ["liege-watch"]
    assert player.record.planned == 4


async def test_two_runs_at_once_keep_apart(exercise: Exercise) -> None:
    first, second = exercise.run(speed=600), exercise.run(speed=900)

    records = await asyncio.gather(first.play(), second.play())

    assert first.run_id != second.run_id
    by_run = {r.run_id: {s.identifier for s in r.injects} for r in records}
    assert not by_run[first.run_id] & by_run[second.run_id]
    published = [
        e.alert for e in await envelopes_on(exercise.kafka, "exercise.alerts.geo")
        if isinstance(e, AlertPublished) and e.alert.identifier in by_run[first.run_id]
        | by_run[second.run_id]
    ]  # fmt: skip
    assert len(published) == 8
    for alert in published:
        run_id = alert.identifier.split(".")[1]
        assert all(r.identifier.split(".")[1] == run_id for r in alert.references)
        assert alert.note is not None and alert.note.endswith(run_id)


async def test_the_report_gives_the_acknowledgements_the_officers_made(
    exercise: Exercise,
) -> None:
    network = exercise.network
    consoles = {cp: await network.console(cp) for cp in FLOOD_DESKS}
    player = exercise.run(speed=60)  # the update comes 5 s after the first alert
    task = asyncio.create_task(player.play())
    async with asyncio.timeout(20):
        while not player.record.injects:
            await asyncio.sleep(0.05)
    watch = player.record.injects[0]
    assert watch.identifier is not None and watch.cap_sender is not None
    for desk in ("be-eupen-desk", "nl-limburg-duty"):
        await consoles[desk].wait_for(lambda c: watch.identifier in ids(c), what=desk)
    # Eupen acknowledges after a second; Zuid-Limburg never does. (The scenario also expects
    # the NCCN, which the network does not address for a Moderate flood: a finding.)
    await asyncio.sleep(1)
    eupen = await acknowledge(network, consoles["be-eupen-desk"], watch.cap_sender,
                              watch.identifier)  # fmt: skip
    record = await task

    reports = await delivery_reports(record, CREDENTIALS, exercise.endpoints)
    made = build_report(record, reports, now=datetime.now(UTC))

    rows = {row.contact_point: row for row in made.contact_points}
    waited = (datetime.fromisoformat(eupen["at"]) - watch.sent_at).total_seconds()
    assert waited >= 1
    assert rows["be-eupen-desk"].acknowledged.count == 1
    assert rows["be-eupen-desk"].acknowledged.median == pytest.approx(waited, abs=0.001)
    assert "liege-watch" not in rows["be-eupen-desk"].never_acknowledged
    assert rows["nl-limburg-duty"].acknowledged.count == 0
    assert "liege-watch" in rows["nl-limburg-duty"].never_acknowledged
    assert "be-nccn-duty" not in rows
    # Each message reached Eupen's desk: the three of Liège and Zuid-Limburg's, each within
    # seconds (the first on the console, already open).
    delivered = rows["be-eupen-desk"].delivered
    assert delivered.count == 4 and delivered.worst is not None and delivered.worst < 5
    met = {(e.contact_point, e.expected): e.met for e in made.expectations
           if e.inject == "liege-watch"}  # fmt: skip
    assert met == {
        ("be-eupen-desk", "receive"): True, ("nl-limburg-duty", "receive"): True,
        ("be-nccn-duty", "receive"): False, ("be-eupen-desk", "acknowledge"): True,
        ("nl-limburg-duty", "acknowledge"): False, ("be-nccn-duty", "acknowledge"): False,
    }  # fmt: skip
    assert any("nl-limburg-duty" in action.issue for action in made.corrective_actions)
    page = render_html(made)
    assert made.run_id in page and "be-nccn-duty" in page
    for console in consoles.values():
        await console.disconnect()

    # The planner's command writes the same report beside the run's record.
    credentials = exercise.runs / "clients.yaml"
    credentials.write_text(yaml.safe_dump({"api_clients": [
        *({"organisation": org, "client_id": c.client_id, "secret": c.secret}
          for org, c in CREDENTIALS.items()),
        {"organisation": "fr-metz", "client_id": "planner", "secret": "planner-secret-123"},
    ]}), encoding="utf-8")  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "exercise", "report", record.run_id,
        "--runs", str(exercise.runs), "--output", str(exercise.runs),
        "--credentials", str(credentials), "--registry", exercise.endpoints.registry_url,
        "--notifier", exercise.endpoints.notifier_url, "--publish", "--client", "planner",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    written = ExerciseReport.model_validate_json(
        (exercise.runs / f"{record.run_id}.report.json").read_bytes()
    )
    again = {row.contact_point: row for row in written.contact_points}
    assert again["be-eupen-desk"].acknowledged == rows["be-eupen-desk"].acknowledged
    assert [e for e in written.expectations if e.inject == "liege-watch"] == [
        e for e in made.expectations if e.inject == "liege-watch"
    ]
    html = (exercise.runs / f"{record.run_id}.report.html").read_text("utf-8")
    assert html.startswith("<!DOCTYPE")
    assert RunRecord.model_validate_json((exercise.runs / f"{record.run_id}.json").read_bytes())

    # Published: each participant's officers read their own rows, the others' aggregates.
    def seen_by(console: Console, **params: str) -> Any:
        return network.notifier.http.get(
            f"/v1/exercise-reports/{record.run_id}", params=params,
            headers={"Authorization": f"Bearer {console.token}"},
        )  # fmt: skip

    eupen_desk, limburg_desk = consoles["be-eupen-desk"], consoles["nl-limburg-duty"]
    listed = await network.notifier.http.get(
        "/v1/exercise-reports", headers={"Authorization": f"Bearer {eupen_desk.token}"}
    )
    assert [r["run_id"] for r in listed.json()] == [record.run_id]
    for console, own, other in ((eupen_desk, "be-eupen", "nl-limburg"),
                                (limburg_desk, "nl-limburg", "be-eupen")):  # fmt: skip
        answer = await seen_by(console)
        assert answer.status_code == 200, answer.text
        shared = ExerciseReport.model_validate_json(answer.content)
        assert shared.shared_with == own
        assert {row.organisation for row in shared.contact_points} == {own}
        assert {e.organisation for e in shared.expectations} == {own}
        assert {a.organisation for a in shared.corrective_actions} <= {own}
        assert shared.organisations == written.organisations  # everyone's aggregates
        assert {own, other} <= {row.organisation for row in shared.organisations}
        assert shared.contact_points == [r for r in written.contact_points if r.organisation == own]
    aggregates = {row.organisation: row for row in shared.organisations}
    limburg_row = again["nl-limburg-duty"]
    assert aggregates["nl-limburg"].never_acknowledged == len(limburg_row.never_acknowledged) >= 1
    assert aggregates["be-eupen"].acknowledged.median == pytest.approx(waited, abs=0.001)
    page = await seen_by(eupen_desk, format="html")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Made for be-eupen" in page.text and "nl-limburg-duty" not in page.text
    stranger = await network.console("lu-duty", connect=False)
    assert (await seen_by(stranger)).status_code == 403

    # Another organisation's planner may not replace it: the report stays its publisher's.
    other_planner = await network.registry.auth("nccn-planner", "nccn-planner-secret-1")
    taken = await network.notifier.http.post(
        "/v1/exercise-reports", content=written.model_dump_json(),
        headers={**other_planner, "Content-Type": "application/json"},
    )  # fmt: skip
    assert taken.status_code == 403, taken.text
    assert (taken.json()["code"], taken.json()["field"]) == ("not_the_publisher", "run_id")
    still = await network.notifier.http.get("/v1/exercise-reports", headers=other_planner)
    assert still.json() == []  # nothing of it became the other planner's
    assert (await seen_by(eupen_desk)).status_code == 200


async def test_the_planner_pauses_resumes_and_stops_a_run_from_the_shell(
    exercise: Exercise,
) -> None:
    credentials = exercise.runs.parent / "clients.yaml"
    credentials.write_text(yaml.safe_dump({"api_clients": [
        {"organisation": org, "client_id": c.client_id, "secret": c.secret}
        for org, c in CREDENTIALS.items()
    ]}), encoding="utf-8")  # fmt: skip

    async def crossalert(*args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", "exercise", *args, "--runs",
            str(exercise.runs), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    def record() -> RunRecord | None:
        files = list(exercise.runs.glob("*.json"))
        return RunRecord.model_validate_json(files[0].read_bytes()) if files else None

    async def until(check: Any) -> RunRecord:
        async with asyncio.timeout(30):
            while (found := record()) is None or not check(found):
                await asyncio.sleep(0.1)
        return found

    # At 100x the update comes 3 s after the first alert.
    run = await crossalert("run", str(exercise.scenario), "--speed", "100", "--credentials",
                           str(credentials), "--registry", exercise.endpoints.registry_url,
                           "--gateway", exercise.endpoints.gateway_url)  # fmt: skip
    started = await until(lambda r: len(r.injects) == 1)
    paused = await crossalert("pause", started.run_id)
    assert await paused.wait() == 0
    await asyncio.sleep(5)
    assert len((await until(lambda r: True)).injects) == 1  # the clock stood still
    resumed = await crossalert("resume", started.run_id)
    assert await resumed.wait() == 0
    await until(lambda r: len(r.injects) == 2)
    run.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = await asyncio.wait_for(run.communicate(), timeout=30)

    assert run.returncode == 130, err.decode()
    stopped = await until(lambda r: r.state is RunState.STOPPED)
    assert [s.name for s in stopped.injects] == ["liege-watch", "liege-severe"]
    assert stopped.paused_seconds >= 4.5
    assert "stopped; 2 of 4 injects sent" in err.decode()


async def test_a_run_refuses_credentials_that_speak_for_another_organisation(
    exercise: Exercise,
) -> None:
    # Limburg's client handed over as Liège's: the injects would go out in Limburg's name.
    mixed_up = CREDENTIALS | {"be-liege": CREDENTIALS["nl-limburg"]}
    player = ExerciseRun(
        load_scenario(exercise.scenario), mixed_up, exercise.endpoints, 600, runs=exercise.runs
    )

    with pytest.raises(CredentialsRefused, match=r"given for be-liege .*speaks for nl-limburg"):
        await player.play()

    assert not exercise.runs.exists() or not list(exercise.runs.iterdir())
    ours = f"exercise.{player.run_id}."
    assert not [
        e for e in await envelopes_on(exercise.kafka, "exercise.alerts.geo") if mentions(e, ours)
    ]
