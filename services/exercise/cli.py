"""`crossalert exercise …`: the exercise planner's commands.

validate checks a scenario without running it; import-msel makes one of an MSEL spreadsheet;
run plays it through the gateway as Exercise traffic (pause and resume from another shell,
Ctrl-C stops it cleanly); report writes the after-action report of a run, finished or not;
replay plays a window of real traffic again on the exercise topics; check sends a
communication check to a set of contact points (on a schedule with --every) and trend shows
their reachability over the recorded checks.
Exit codes: 0 done, 1 the scenario or the network refused, 2 a wrong option or a missing file.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from schemas.deliveries import DeliveryReport
from schemas.envelopes import AlertPublished, Channel, DeliveryStatus
from schemas.exercise import (
    CheckRecord,
    ContactCheck,
    InjectKind,
    RunRecord,
    RunState,
    SentInject,
)
from services.common.registry_client import RegistryRefused, RegistryUnavailable
from services.exercise.check import (
    CHECKS_DIR,
    check_path,
    parse_duration,
    problems,
    read_checks,
    run_check,
    trend,
)
from services.exercise.collect import delivery_reports, publish_report, raised_reports
from services.exercise.msel import MselError, scenario_from_msel
from services.exercise.replay import replay
from services.exercise.report import build_report, render_html, render_json
from services.exercise.runner import (
    RUNS_DIR,
    Client,
    CredentialsRefused,
    Endpoints,
    ExerciseRun,
    new_run_id,
    read_client,
    read_credentials,
    read_record,
    record_path,
)
from services.exercise.scenario import LoadedScenario, ScenarioError, load_scenario

NETWORK_RECORD = Path(".state") / "network.json"
err = Console(stderr=True)

exercise_app = typer.Typer(
    help="Exercises: scenarios played as Exercise traffic, and their after-action reports.",
    no_args_is_help=True,
)

RunsOption = Annotated[
    Path, typer.Option("--runs", help="Where runs are recorded.", file_okay=False)
]
CredentialsOption = Annotated[
    Path,
    typer.Option(
        "--credentials",
        help="The organisations' API clients: a YAML/JSON list of {client_id, secret, "
        "organisation}, or the .state/network.json `crossalert up` writes.",
    ),
]
RegistryOption = Annotated[str, typer.Option("--registry", help="Registry base URL.")]
GatewayOption = Annotated[str, typer.Option("--gateway", help="Gateway base URL.")]
NotifierOption = Annotated[str, typer.Option("--notifier", help="Notifier base URL.")]
PlannerOption = Annotated[
    str, typer.Option("--client", help="The planner's API client (scope exercises:plan).")
]
PLANNER_CLIENT = "be-nccn-exercises"
DEFAULTS = Endpoints()


@exercise_app.command()
def validate(file: Annotated[Path, typer.Argument(help="A scenario (YAML).")]) -> None:
    """Check a scenario without running it: every problem, with its line."""
    loaded = _load(file)
    kinds = [i.kind.value for i in loaded.scenario.in_order()]
    summary = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
    typer.echo(f"OK {file}: {loaded.scenario.name} — {len(kinds)} injects ({summary}).")


@exercise_app.command("import-msel")
def import_msel(
    file: Annotated[Path, typer.Argument(help="An MSEL spreadsheet exported as CSV.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The scenario to write.")],
    name: Annotated[str, typer.Option("--name", help="The scenario's name.")] = "",
) -> None:
    """Make a scenario of an MSEL; then edit it and `validate` it."""
    try:
        document = scenario_from_msel(
            file.read_text(encoding="utf-8"), name=name or file.stem.replace("-", " ")
        )
    except OSError as exc:
        typer.echo(f"error: {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    except MselError as exc:
        typer.echo(f"{file}:{exc}", err=True)
        raise typer.Exit(1) from None
    output.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), "utf-8")
    typer.echo(f"wrote {output}: {len(document['timeline'])} injects; check it with "
               f"`crossalert exercise validate {output}`.")  # fmt: skip


@exercise_app.command()
def run(
    file: Annotated[Path, typer.Argument(help="A scenario (YAML).")],
    speed: Annotated[float, typer.Option("--speed", min=0.01, help="Times real time.")] = 1.0,
    credentials: CredentialsOption = NETWORK_RECORD,
    runs: RunsOption = RUNS_DIR,
    registry: RegistryOption = DEFAULTS.registry_url,
    gateway: GatewayOption = DEFAULTS.gateway_url,
) -> None:
    """Play a scenario through the gateway as Exercise traffic, as each sending organisation."""
    loaded = _load(file)
    try:
        player = ExerciseRun(
            loaded, _credentials(credentials), Endpoints(registry, gateway), speed, runs=runs
        )
    except LookupError as exc:
        typer.echo(f"error: {exc} ({credentials})", err=True)
        raise typer.Exit(1) from None
    err.print(f"run [bold]{player.run_id}[/] of {loaded.scenario.name} at {speed:g}x — pause "
              f"with `crossalert exercise pause {player.run_id}`, stop with Ctrl-C")  # fmt: skip
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=False,
    ) as progress:  # fmt: skip
        task = progress.add_task("starting", total=player.record.planned)

        def shown(sent: SentInject) -> None:
            mark = "sent" if 200 <= sent.status_code < 300 else f"REFUSED {sent.status_code}"
            progress.update(task, advance=1, description=f"{sent.name}: {mark}")

        player.on_inject = shown
        try:
            asyncio.run(_play(player))
        except CredentialsRefused as exc:
            progress.stop()
            typer.echo(f"error: {exc}; nothing was sent ({credentials})", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print(f"stopped; {len(player.record.injects)} of {player.record.planned} "
                      f"injects sent. Record: {record_path(runs, player.run_id)}")  # fmt: skip
            raise typer.Exit(130) from None
    refused = [s for s in player.record.injects if not 200 <= s.status_code < 300]
    typer.echo(json.dumps({"run_id": player.run_id, "state": player.record.state,
                           "sent": len(player.record.injects) - len(refused),
                           "refused": [s.name for s in refused],
                           "record": str(record_path(runs, player.run_id))}, indent=2))  # fmt: skip
    if refused:
        raise typer.Exit(1)


async def _play(player: ExerciseRun) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, player.clock.pause)
    loop.add_signal_handler(signal.SIGUSR2, player.clock.resume)
    await player.play()


@exercise_app.command("replay")
def replay_window(
    start: Annotated[datetime, typer.Option("--from", help="Start of the window (ISO 8601).")],
    end: Annotated[datetime, typer.Option("--to", help="End of the window (ISO 8601).")],
    speed: Annotated[float, typer.Option("--speed", min=0.01, help="Times real time.")] = 1.0,
    kafka: Annotated[str, typer.Option("--kafka", help="Kafka bootstrap servers.")] = (
        "127.0.0.1:9092"
    ),
) -> None:
    """Play a window of real alert traffic again on the exercise topics, as an exercise."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if end <= start:
        typer.echo("error: --to must be after --from", err=True)
        raise typer.Exit(2)
    replay_id = new_run_id()

    def shown(message: AlertPublished, topic: str) -> None:
        err.print(f"{message.alert.identifier} {message.alert.msg_type} -> {topic}")

    messages = asyncio.run(
        replay(kafka, start, end, speed=speed, replay_id=replay_id, on_message=shown)
    )
    typer.echo(json.dumps({"replay_id": replay_id, "messages": len(messages)}))


@exercise_app.command()
def check(
    all_: Annotated[bool, typer.Option("--all", help="Every contact point (the default).")] = False,
    agreement: Annotated[
        list[str] | None, typer.Option("--agreement", help="An agreement's parties.")
    ] = None,
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Organisations acting for a region (NUTS code)."),
    ] = None,
    organisation: Annotated[list[str] | None, typer.Option("--organisation")] = None,
    contact: Annotated[list[str] | None, typer.Option("--contact", help="A contact point.")] = None,
    deadline: Annotated[
        str, typer.Option("--deadline", help="How long to wait for answers: 30s, 15m, 2h.")
    ] = "30m",
    every: Annotated[
        str | None, typer.Option("--every", help="Check again at this interval: 30d, 12h.")
    ] = None,
    times: Annotated[
        int | None, typer.Option("--times", min=1, help="With --every: stop after this many.")
    ] = None,
    client: PlannerOption = PLANNER_CLIENT,
    credentials: CredentialsOption = NETWORK_RECORD,
    checks: Annotated[
        Path, typer.Option("--checks", help="Where checks are recorded.", file_okay=False)
    ] = CHECKS_DIR,
    registry: RegistryOption = DEFAULTS.registry_url,
    gateway: GatewayOption = DEFAULTS.gateway_url,
    notifier: NotifierOption = DEFAULTS.notifier_url,
) -> None:
    """Send a short Exercise message to every contact point of a set, on every channel, and
    record who received and acknowledged it by the deadline (again and again with --every)."""
    addresses = [
        *(f"agreement:{a}" for a in agreement or ()), *(f"region:{r}" for r in region or ()),
        *(f"organisation:{o}" for o in organisation or ()),
        *(f"contact:{c}" for c in contact or ()),
    ]  # fmt: skip
    if all_ or not addresses:
        addresses = ["network:all"]
    try:
        wait, interval = parse_duration(deadline), parse_duration(every) if every else None
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    planner = _planner(credentials, client)
    endpoints = Endpoints(registry, gateway, notifier)
    count = 0
    failed = False
    try:
        while True:
            started = datetime.now(UTC)
            err.print(f"checking {' '.join(addresses)}; answers awaited for {deadline}")
            record = asyncio.run(run_check(planner, endpoints, addresses, wait, checks=checks))
            _show_check(record, checks)
            failed = failed or not 200 <= record.status_code < 300
            count += 1
            if interval is None or (times is not None and count >= times):
                break
            pause_for = (started + interval - datetime.now(UTC)).total_seconds()
            err.print(f"next check at {started + interval:%Y-%m-%d %H:%M:%S} UTC (Ctrl-C stops)")
            time.sleep(max(pause_for, 0.0))
    except KeyboardInterrupt:
        err.print(f"stopped after {count} check(s); records in {checks}")
        raise typer.Exit(130) from None
    if failed:
        raise typer.Exit(1)


def _show_check(record: CheckRecord, checks: Path) -> None:
    if not 200 <= record.status_code < 300:
        typer.echo(f"check {record.check_id}: the gateway answered {record.status_code}: "
                   f"{record.answer}", err=True)  # fmt: skip
        return
    table = Table(title=f"Communication check {record.check_id} ({record.sent_at:%Y-%m-%d %H:%M} "
                  f"UTC, deadline {record.deadline_seconds:g} s)")  # fmt: skip
    for column in ("organisation", "contact point", "console", "e-mail", "acknowledged"):
        table.add_column(column)
    for contact in record.contact_points:
        acked = f"{contact.ack_seconds:.1f} s" if contact.ack_seconds is not None else "NO"
        table.add_row(contact.organisation, contact.contact_point,
                      _channel_cell(contact, "console"), _channel_cell(contact, "email"),
                      acked)  # fmt: skip
    Console().print(table)
    for problem in problems(record):
        typer.echo(f"  ! {problem}")
    typer.echo(f"record: {check_path(checks, record.check_id)}")


def _channel_cell(contact: ContactCheck, channel: str) -> str:
    found = next((c for c in contact.channels if c.channel.value == channel), None)
    if found is None:
        return "—"
    if found.seconds is not None:
        return f"{found.seconds:.1f} s"
    if found.channel is Channel.CONSOLE and found.status is not DeliveryStatus.FAILED:
        return "no console open"
    return found.status.value.upper()


@exercise_app.command("trend")
def trend_of_checks(
    checks: Annotated[
        Path, typer.Option("--checks", help="Where checks are recorded.", file_okay=False)
    ] = CHECKS_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="The trend as JSON.")] = False,
) -> None:
    """Reachability per organisation and channel over the recorded communication checks."""
    records = read_checks(checks) if checks.is_dir() else []
    if not records:
        typer.echo(f"error: no communication check recorded in {checks}", err=True)
        raise typer.Exit(2)
    rows = trend(records)
    if as_json:
        typer.echo(json.dumps([row.model_dump(mode="json") for row in rows], indent=2))
        return
    table = Table(title="Reached / addressed, per communication check")
    table.add_column("organisation")
    table.add_column("channel")
    for record in records:
        table.add_column(f"{record.sent_at:%Y-%m-%d %H:%M}\n{record.check_id}")
    for row in rows:
        cells = {cell.check_id: f"{cell.reached}/{cell.total}" for cell in row.cells}
        table.add_row(row.organisation, row.channel,
                      *(cells.get(r.check_id, "—") for r in records))  # fmt: skip
    Console().print(table)


@exercise_app.command()
def pause(run_id: str, runs: RunsOption = RUNS_DIR) -> None:
    """Pause a run (its scenario clock stops)."""
    _signal(runs, run_id, signal.SIGUSR1)


@exercise_app.command()
def resume(run_id: str, runs: RunsOption = RUNS_DIR) -> None:
    """Resume a paused run."""
    _signal(runs, run_id, signal.SIGUSR2)


@exercise_app.command()
def report(
    run_id: str,
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False)] = RUNS_DIR,
    credentials: CredentialsOption = NETWORK_RECORD,
    runs: RunsOption = RUNS_DIR,
    registry: RegistryOption = DEFAULTS.registry_url,
    notifier: NotifierOption = DEFAULTS.notifier_url,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish", help="Also hand it to the notifier for the participants' officers."
        ),
    ] = False,
    client: PlannerOption = PLANNER_CLIENT,
) -> None:
    """Write the after-action report of a run (HTML and JSON), finished or stopped."""
    record = _record(runs, run_id)
    endpoints = Endpoints(registry_url=registry, notifier_url=notifier)
    reports = asyncio.run(delivery_reports(record, _credentials(credentials), endpoints))
    observed = any(inject.kind is InjectKind.OBSERVATIONS for inject in record.injects)
    planner = _planner(credentials, client) if observed or publish else None
    raised: list[DeliveryReport] = []
    if observed and planner is not None:
        # The evaluator raised them as the agencies owning the rules, which the run need not
        # hold clients of: the planner reads them.
        try:
            raised = asyncio.run(raised_reports(record, planner, endpoints))
        except (httpx.HTTPError, RegistryRefused, RegistryUnavailable) as exc:
            err.print(f"the alerts raised from the run's observations could not be read ({exc}):"
                      " the report leaves them out")  # fmt: skip
    made = build_report(record, reports, now=datetime.now(UTC), raised=raised)
    output.mkdir(parents=True, exist_ok=True)
    # Beside the run's record (RUN_ID.json), never over it.
    html, data = output / f"{run_id}.report.html", output / f"{run_id}.report.json"
    html.write_text(render_html(made), encoding="utf-8")
    data.write_text(render_json(made), encoding="utf-8")
    typer.echo(f"wrote {html} and {data}")
    if planner is not None and publish:
        try:
            published = asyncio.run(publish_report(made, planner, endpoints))
        except httpx.HTTPStatusError as exc:
            typer.echo(f"error: the notifier refused the report: {exc.response.text}", err=True)
            raise typer.Exit(1) from None
        except (httpx.HTTPError, RegistryRefused, RegistryUnavailable) as exc:
            typer.echo(f"error: the report was not published: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"published for {', '.join(made.participants)}: their officers open it in "
                   f"the console (run {published.run_id})")  # fmt: skip


def _load(file: Path) -> LoadedScenario:
    try:
        return load_scenario(file)
    except ScenarioError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1 if file.is_file() else 2) from None


def _credentials(path: Path) -> dict[str, Client]:
    try:
        return read_credentials(path)
    except (OSError, ValueError, KeyError, AttributeError, yaml.YAMLError) as exc:
        typer.echo(f"error: no credentials from {path}: {exc}", err=True)
        raise typer.Exit(2) from None


def _planner(credentials: Path, client_id: str) -> Client:
    try:
        return read_client(credentials, client_id)
    except (OSError, ValueError, KeyError, AttributeError, yaml.YAMLError) as exc:
        typer.echo(f"error: no credentials of {client_id} in {credentials}: {exc}", err=True)
        raise typer.Exit(2) from None


def _record(runs: Path, run_id: str) -> RunRecord:
    try:
        return read_record(runs, run_id)
    except OSError:
        typer.echo(f"error: no run {run_id} in {runs}", err=True)
        raise typer.Exit(2) from None


def _signal(runs: Path, run_id: str, number: signal.Signals) -> None:
    record = _record(runs, run_id)
    if record.state is not RunState.RUNNING or record.pid is None:
        typer.echo(f"error: run {run_id} is {record.state}", err=True)
        raise typer.Exit(1)
    try:
        os.kill(record.pid, number)
    except ProcessLookupError:
        typer.echo(f"error: run {run_id} is no longer running", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{'paused' if number == signal.SIGUSR1 else 'resumed'} {run_id}")
