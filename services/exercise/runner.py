"""Playing a scenario through the gateway, as each sending organisation, as Exercise traffic.

Every message is made an exercise by construction: status Exercise (so the gateway routes it to
the exercise topics), an identifier unique to the run (`exercise.RUN.INJECT`), the run's name
and id in the CAP `note`, updates and cancels referring to the run's own earlier messages. Each
organisation sends with its own API client, as it would in a real exercise, so the gateway's
authorisation applies unchanged. Two runs at once share nothing but the network.

The scenario clock runs at `speed` times real time and stops while the run is paused (SIGUSR1
pauses, SIGUSR2 resumes: `crossalert exercise pause|resume RUN_ID`). The run is recorded after
every inject, so a run stopped midway (Ctrl-C) leaves a record of what it did.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from schemas.cap import MsgType
from schemas.exercise import (
    Inject,
    InjectKind,
    RunRecord,
    RunState,
    SentInject,
)
from schemas.identity import Scope
from schemas.names import exercise_run_note
from services.common.registry_client import (
    RegistryClient,
    RegistryRefused,
    RegistryUnavailable,
    issued_claims,
)
from services.exercise.scenario import RELATIVE_PERIOD, LoadedScenario, as_exercise

RUNS_DIR = Path(".state") / "exercises"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Endpoints:
    """Where the network answers."""

    registry_url: str = "http://127.0.0.1:8100"
    gateway_url: str = "http://127.0.0.1:8200"
    notifier_url: str = "http://127.0.0.1:8300"


class CredentialsRefused(LookupError):
    """A sending organisation's API client does not speak for it: the run does not start."""


@dataclass(frozen=True)
class Client:
    """An organisation's API client (OAuth2 client credentials at the registry)."""

    client_id: str
    secret: str


def registry_client(
    endpoints: Endpoints, client: Client, http: httpx.AsyncClient
) -> RegistryClient:
    """The registry as this API client sees it: its tokens, fetched and renewed."""
    return RegistryClient(
        endpoints.registry_url, client_id=client.client_id, client_secret=client.secret,
        timeout_seconds=TIMEOUT_SECONDS, client=http,
    )  # fmt: skip


def read_credentials(path: Path) -> dict[str, Client]:
    """Organisation -> its API client, from a YAML (or JSON) list of {client_id, secret,
    organisation} (`api_clients:`), or the `.state/network.json` that `crossalert up` writes.
    With several clients of one organisation, the one named ORGANISATION-system is taken."""
    found: dict[str, Client] = {}
    for entry in _api_clients(path):
        organisation, client_id = entry["organisation"], entry["client_id"]
        if organisation not in found or client_id == f"{organisation}-system":
            found[organisation] = Client(client_id, entry["secret"])
    return found


def read_client(path: Path, client_id: str) -> Client:
    """One API client of the same file, by its id (KeyError when it is not there)."""
    for entry in _api_clients(path):
        if entry["client_id"] == client_id:
            return Client(client_id, entry["secret"])
    raise KeyError(f"no API client {client_id}")


def _api_clients(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if isinstance(document, dict):
        document = document.get("demo_credentials", document).get("api_clients", [])
    return list(document)


def new_run_id() -> str:
    """A short id, unique enough for runs of one network: its day and a random part."""
    return f"{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:6]}"


def record_path(runs: Path, run_id: str) -> Path:
    return runs / f"{run_id}.json"


def read_record(runs: Path, run_id: str) -> RunRecord:
    return RunRecord.model_validate_json(record_path(runs, run_id).read_bytes())


class ScenarioClock:
    """Scenario time: real time since the start times the speed, stopped while paused."""

    def __init__(self, speed: float, now: Callable[[], float] = time.monotonic) -> None:
        self.speed = speed
        self._now = now
        self._started = now()
        self._paused_at: float | None = None
        self.paused_seconds = 0.0
        self._resumed = asyncio.Event()
        self._resumed.set()

    def start(self) -> None:
        """Scenario time 0 is now."""
        self._started = self._now()
        self.paused_seconds = 0.0

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def elapsed(self) -> timedelta:
        stopped = self._paused_at if self._paused_at is not None else self._now()
        return timedelta(seconds=(stopped - self._started - self.paused_seconds) * self.speed)

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = self._now()
            self._resumed.clear()

    def resume(self) -> None:
        if self._paused_at is not None:
            self.paused_seconds += self._now() - self._paused_at
            self._paused_at = None
            self._resumed.set()

    async def reach(self, at: timedelta) -> None:
        """Return once the scenario time is `at` (waiting out any pause)."""
        while True:
            await self._resumed.wait()
            left = (at - self.elapsed()).total_seconds() / self.speed
            if left <= 0 and not self.paused:
                return
            # Wake at the moment, or early to notice a pause; a resume sets the event.
            await asyncio.sleep(min(max(left, 0.0), 0.5))


@dataclass
class Chain:
    """The run's last message of one inject's alert chain."""

    message: dict[str, Any]

    @property
    def reference(self) -> str:
        m = self.message
        return f"{m['sender']},{m['identifier']},{m['sent']}"


@dataclass
class ExerciseRun:
    """One run of a scenario."""

    loaded: LoadedScenario
    credentials: Mapping[str, Client]
    endpoints: Endpoints
    speed: float
    runs: Path = RUNS_DIR
    run_id: str = field(default_factory=new_run_id)
    on_inject: Callable[[SentInject], None] = lambda _: None

    def __post_init__(self) -> None:
        scenario = self.loaded.scenario
        missing = sorted({i.sender for i in scenario.timeline} - set(self.credentials))
        if missing:
            raise LookupError(f"no API client for {', '.join(missing)} in the credentials")
        self.clock = ScenarioClock(self.speed)
        self.note = exercise_run_note(scenario.name, self.run_id)
        self._chains: dict[str, Chain] = {}
        self.record = RunRecord(
            run_id=self.run_id, scenario=scenario.name, scenario_file=str(self.loaded.path),
            objectives=scenario.objectives, participants=scenario.participants, speed=self.speed,
            started_at=datetime.now(UTC), pid=os.getpid(), planned=len(scenario.timeline),
        )  # fmt: skip

    async def play(self) -> RunRecord:
        """Send every inject at its time; the record, also when stopped (cancelled) midway."""
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
            clients = {
                org: registry_client(self.endpoints, client, http)
                for org, client in self.credentials.items()
            }
            await self._check_credentials(clients)  # before anything is recorded or sent
            self.runs.mkdir(parents=True, exist_ok=True)
            self.clock.start()
            self._update(started_at=datetime.now(UTC))
            try:
                for inject in self.loaded.scenario.in_order():
                    await self.clock.reach(inject.at)
                    sent = await self._send(http, clients[inject.sender], inject)
                    self._update(injects=[*self.record.injects, sent])
                    self.on_inject(sent)
            except asyncio.CancelledError:
                self._end(RunState.STOPPED)
                raise
            except Exception:
                self._end(RunState.FAILED)
                raise
        self._end(RunState.FINISHED)
        return self.record

    async def _check_credentials(self, clients: Mapping[str, RegistryClient]) -> None:
        """Refuse to start unless each sending organisation's client speaks for it: a client
        mapped to the wrong organisation would put one centre's name on another's injects."""
        scenario = self.loaded.scenario
        for organisation in sorted({i.sender for i in scenario.timeline}):
            kinds = {i.kind for i in scenario.timeline if i.sender == organisation}
            scope = (
                Scope.OBSERVATIONS_SUBMIT if kinds == {InjectKind.OBSERVATIONS}
                else Scope.ALERTS_PUBLISH
            )  # fmt: skip
            try:
                speaks_for = issued_claims(await clients[organisation].token(scope))["org"]
            except (RegistryUnavailable, RegistryRefused) as exc:
                raise CredentialsRefused(f"the registry gave no token for {organisation}: "
                                         f"{exc}") from exc  # fmt: skip
            if speaks_for != organisation:
                raise CredentialsRefused(
                    f"the API client given for {organisation} "
                    f"({self.credentials[organisation].client_id}) speaks for {speaks_for}"
                )

    async def _send(
        self, http: httpx.AsyncClient, client: RegistryClient, inject: Inject
    ) -> SentInject:
        sent_at = datetime.now(UTC)
        base = {"name": inject.name, "kind": inject.kind, "at": inject.at, "sender": inject.sender,
                "expect": inject.expect}  # fmt: skip
        try:
            if inject.kind is InjectKind.OBSERVATIONS:
                token = await client.token(Scope.OBSERVATIONS_SUBMIT)
                rows = [resolve_period(row, self.record.started_at.date(), self.record.started_at)
                        for row in self.loaded.observations[inject.name]]  # fmt: skip
                answer = await http.post(
                    self.endpoints.gateway_url + "/v1/observations", json=rows,
                    params={"status": "Exercise", "note": self.note},
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
                return SentInject(**base, sent_at=sent_at, status_code=answer.status_code,
                                  answer=_body(answer))  # fmt: skip
            token = await client.token(Scope.ALERTS_PUBLISH)
            message = self.message(inject, sender=issued_claims(token)["sender"], sent=sent_at)
            answer = await http.post(
                self.endpoints.gateway_url + "/v1/alerts", json=message,
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
        except (httpx.TransportError, RegistryUnavailable, LookupError) as exc:
            # Not sent (no answer, or what it updates was refused): recorded, and the run goes on.
            return SentInject(**base, sent_at=sent_at, status_code=0, answer=str(exc))
        if answer.is_success:
            self.accepted(inject, message)
        return SentInject(
            **base, sent_at=sent_at, cap_sender=message["sender"],
            identifier=message["identifier"], msg_type=MsgType(message["msgType"]),
            status_code=answer.status_code, answer=_body(answer),
        )  # fmt: skip

    def accepted(self, inject: Inject, message: dict[str, Any]) -> None:
        """The gateway took the inject's message: the next of its chain refers to it."""
        self._chains[inject.chain] = Chain(message)

    def message(self, inject: Inject, *, sender: str, sent: datetime) -> dict[str, Any]:
        """The inject's CAP message in this run: an exercise of this run, in its chain."""
        identifier = f"exercise.{self.run_id}.{inject.name}"
        if inject.kind is InjectKind.ALERT:
            content = dict(self.loaded.alerts[inject.name])
        else:
            earlier = self._chains.get(inject.chain)
            if earlier is None:
                raise LookupError(f"not sent: {inject.chain} was not accepted, nothing to refer to")
            content = self.loaded.alerts.get(inject.name) or updated(earlier.message, inject)
            content = content | {
                "msgType": "Update" if inject.kind is InjectKind.UPDATE else "Cancel",
                "references": [earlier.reference],
            }
        return as_exercise(
            content, identifier=identifier, sender=sender,
            sent=sent.astimezone(UTC), note=self.note,
        )  # fmt: skip

    def _update(self, **changes: Any) -> None:
        self.record = self.record.model_copy(update=changes)
        self._save()

    def _end(self, state: RunState) -> None:
        self._update(state=state, ended_at=datetime.now(UTC),
                     paused_seconds=self.clock.paused_seconds)  # fmt: skip

    def _save(self) -> None:
        # Written whole and renamed: a reader (a report, a pause) never sees half a record.
        path = record_path(self.runs, self.run_id)
        partial = path.with_suffix(".json.partial")
        partial.write_text(self.record.model_dump_json(indent=2), encoding="utf-8")
        partial.replace(path)


def updated(message: dict[str, Any], inject: Inject) -> dict[str, Any]:
    """The earlier message with the inject's changes set in every info block (an update), or
    its reason as every info block's description (a cancel)."""
    changes = dict(inject.changes or {})
    if inject.kind is InjectKind.CANCEL and inject.reason:
        changes["description"] = inject.reason
    kept = {k: v for k, v in message.items() if k not in ("references", "note")}
    kept["info"] = [info | changes for info in message.get("info", [])]
    return kept


def resolve_period(row: dict[str, Any], today: date, now: datetime) -> dict[str, Any]:
    """The row with a relative period (W-2, D-1, H-3) made the period before the run's start."""
    match = RELATIVE_PERIOD.match(str(row.get("period", "")))
    if match is None:
        return row
    count = int(match["count"])
    if match["unit"] == "W":
        iso = (today - timedelta(weeks=count)).isocalendar()
        period = f"{iso.year}-W{iso.week:02d}"
    elif match["unit"] == "D":
        period = (today - timedelta(days=count)).isoformat()
    else:
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        period = (hour - timedelta(hours=count)).isoformat()
    return row | {"period": period}


def _body(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text[:2000]
