"""Exercises: the scenario a planner writes, the record of a run, and its after-action report.

A scenario is a master scenario events list (MSEL) in YAML: who takes part, and a timeline of
injects at times after the start — an alert (inline CAP JSON, or a CAP JSON/XML file), an update
or a cancel of an earlier inject by name, agencies' observations for the threshold evaluator —
each with what the planner expects to happen (who must receive it, who must acknowledge it and
how soon). Running it publishes everything as Exercise traffic, as the sending organisations;
the run is recorded as it goes, and the report compares what happened with what was expected.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

from schemas.cap import MsgType
from schemas.envelopes import Channel, DeliveryStatus
from schemas.names import Slug


class ScenarioModel(BaseModel):
    """Base of the scenario's parts: strict, so that a misspelt key is named, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Expectation(ScenarioModel):
    """What the planner wants checked about one inject (contact point ids of the registry)."""

    received_by: list[Slug] = Field(default_factory=list, description="Must receive it.")
    acknowledged_by: list[Slug] = Field(
        default_factory=list, description="Must acknowledge it, within `within` if given."
    )
    within: timedelta | None = Field(
        default=None,
        description="Longest wall-clock time from sending to acknowledgement (officers act in "
        "real time whatever the run's speed), e.g. PT5M.",
    )


class InjectKind(StrEnum):
    """What an inject does."""

    ALERT = "alert"
    UPDATE = "update"
    CANCEL = "cancel"
    OBSERVATIONS = "observations"


class Inject(ScenarioModel):
    """One line of the timeline."""

    name: Slug = Field(description="Unique in the scenario; updates and cancels refer to it.")
    at: timedelta = Field(
        ge=timedelta(0), description="Scenario time after the start: PT10M, or HH:MM:SS."
    )
    sender: Slug = Field(alias="from", description="The sending organisation (registry id).")
    alert: dict[str, Any] | None = Field(
        default=None, description="A CAP alert in crossalert's JSON form (status and "
        "identifier are set by the run).",
    )  # fmt: skip
    file: str | None = Field(
        default=None,
        description="A CAP alert (JSON or XML) or observations (CSV or JSON), relative to the "
        "scenario file.",
    )
    updates: Slug | None = Field(default=None, description="The inject whose alert this updates.")
    cancels: Slug | None = Field(default=None, description="The inject whose alert this cancels.")
    changes: dict[str, Any] | None = Field(
        default=None,
        description="For an update without an alert of its own: info fields set in every info "
        "block of the message it updates (e.g. severity, headline).",
    )
    reason: str | None = Field(
        default=None, max_length=2000, description="For a cancel: the all-clear's description."
    )
    observations: list[dict[str, Any]] | None = Field(
        default=None,
        description="Rows as POST /v1/observations takes them; a period W-2 (D-1, H-3) is the "
        "ISO week (day, hour) that many before the run's start.",
    )
    message: str | None = Field(
        default=None, max_length=4000, description="The MSEL's message or inject description."
    )
    expected_action: str | None = Field(default=None, max_length=4000)
    objective: str | None = Field(default=None, max_length=400)
    expect: Expectation | None = None

    @property
    def kind(self) -> InjectKind:
        if self.observations is not None or (
            self.file is not None and self.file.lower().endswith(".csv")
        ):
            return InjectKind.OBSERVATIONS
        if self.cancels is not None:
            return InjectKind.CANCEL
        if self.updates is not None:
            return InjectKind.UPDATE
        return InjectKind.ALERT

    @property
    def chain(self) -> str:
        """The inject whose alert chain this belongs to (its own name for a new alert)."""
        return self.updates or self.cancels or self.name

    @model_validator(mode="after")
    def _one_content(self) -> Inject:
        if self.updates is not None and self.cancels is not None:
            raise ValueError("an inject updates or cancels, not both.")
        contents = [k for k in ("alert", "file", "observations") if getattr(self, k) is not None]
        if len(contents) > 1:
            raise ValueError(
                f"give one of alert, file, observations, not {' and '.join(contents)}."
            )
        kind = self.kind
        if kind is InjectKind.ALERT and not contents:
            raise ValueError("a new alert needs its content: alert or file.")
        if kind is InjectKind.UPDATE and not contents and self.changes is None:
            raise ValueError("an update needs an alert, a file, or fields to set.")
        if kind is InjectKind.OBSERVATIONS and (self.updates or self.cancels):
            raise ValueError("observations update or cancel nothing.")
        if self.changes is not None and kind is not InjectKind.UPDATE:
            raise ValueError("changes are for updates.")
        if self.reason is not None and kind is not InjectKind.CANCEL:
            raise ValueError("reason is for cancels.")
        return self


class Participants(ScenarioModel):
    organisations: list[Slug] = Field(min_length=1)
    contact_points: list[Slug] = Field(default_factory=list)


class Scenario(ScenarioModel):
    """An exercise scenario: who takes part, what happens when, and what is expected."""

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=8000)
    objectives: list[str] = Field(default_factory=list)
    participants: Participants
    timeline: list[Inject] = Field(min_length=1)

    @model_validator(mode="after")
    def _timeline_refers_backwards(self, info: ValidationInfo) -> Scenario:
        # A file reader asks to make these checks itself, to say each on its inject's line.
        if not (info.context or {}).get("timeline_checked_later"):
            for _, message in self.timeline_problems():
                raise ValueError(message)
        return self

    def timeline_problems(self) -> list[tuple[int, str]]:
        """(index in the timeline, message) of each inject that repeats a name, or updates or
        cancels what is not an earlier alert of its sender."""
        problems = []
        seen: dict[str, Inject] = {}
        order = sorted(range(len(self.timeline)), key=lambda i: self.timeline[i].at)
        for index in order:
            inject = self.timeline[index]
            target = inject.updates or inject.cancels
            earlier = seen.get(target) if target is not None else None
            if inject.name in seen:
                problems.append((index, f"two injects are named {inject.name}."))
            elif target is not None and earlier is None:
                problems.append(
                    (index, f"{inject.name} refers to {target}, which is no inject before it.")
                )
            elif earlier is not None and earlier.kind is InjectKind.OBSERVATIONS:
                problems.append((index, f"{inject.name} refers to {target}, which sends no alert."))
            elif earlier is not None and earlier.sender != inject.sender:
                problems.append((
                    index,
                    f"{inject.name} is sent by {inject.sender}, but {target} by {earlier.sender}: "
                    "only the sender updates or cancels its alert.",
                ))  # fmt: skip
            seen.setdefault(inject.name, inject)
        return problems

    def in_order(self) -> list[Inject]:
        """The timeline by scenario time (a stable sort: equal times keep the file's order)."""
        return sorted(self.timeline, key=lambda i: i.at)


class RunModel(BaseModel):
    """Base of what a run records and reports: written by the tools, read back as it is."""

    model_config = ConfigDict(frozen=True)


class RunState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"


class SentInject(RunModel):
    """One inject as the run sent it, with the network's answer."""

    name: str
    kind: InjectKind
    at: timedelta = Field(description="Its scenario time.")
    sent_at: AwareDatetime
    sender: str = Field(description="The organisation.")
    cap_sender: str | None = None
    identifier: str | None = Field(default=None, description="The CAP identifier in this run.")
    msg_type: MsgType | None = None
    status_code: int = Field(description="The gateway's HTTP answer (0: no answer).")
    answer: Any = None
    expect: Expectation | None = None


class RunRecord(RunModel):
    """A run as it went, written after every inject: a stopped run keeps what happened."""

    run_id: str
    scenario: str = Field(description="The scenario's name.")
    scenario_file: str
    objectives: list[str] = Field(default_factory=list)
    participants: Participants
    speed: float = Field(gt=0)
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    state: RunState = RunState.RUNNING
    pid: int | None = Field(default=None, description="The running process (pause, resume).")
    paused_seconds: float = 0.0
    injects: list[SentInject] = Field(default_factory=list)
    planned: int = Field(description="Injects in the scenario.")


class Rating(StrEnum):
    """HSEEP's ratings of how an objective or capability was performed."""

    PERFORMED = "Performed without challenges"
    SOME = "Performed with some challenges"
    MAJOR = "Performed with major challenges"
    UNABLE = "Unable to be performed"


class Timing(RunModel):
    """Seconds from sending: how many, median, 90th percentile, worst."""

    count: int
    median: float | None
    p90: float | None
    worst: float | None


class ContactPointRow(RunModel):
    """One contact point over the whole run."""

    organisation: str
    organisation_name: str
    contact_point: str
    contact_point_name: str
    channels: list[str]
    messages: int = Field(description="Messages of the run that reached it.")
    delivered: Timing
    acknowledged: Timing
    never_acknowledged: list[str] = Field(
        description="Injects that asked it for an acknowledgement it did not give."
    )
    failed: int = Field(description="Deliveries that failed for good.")
    escalations: int = Field(description="Escalations its silence triggered.")


class OrganisationRow(RunModel):
    """One organisation over the whole run: its contact points' figures taken together (what
    the other participants see of it)."""

    organisation: str
    organisation_name: str
    contact_points: int
    messages: int = Field(description="Receipts of the run's messages by its contact points.")
    delivered: Timing
    acknowledged: Timing
    never_acknowledged: int = Field(description="Acknowledgements asked for and not given.")
    failed: int
    escalations: int


class ExpectationResult(RunModel):
    inject: str
    contact_point: str
    organisation: str | None = Field(
        default=None, description="Its organisation, when the network reached it."
    )
    expected: Literal["receive", "acknowledge"]
    within_seconds: float | None
    met: bool
    detail: str


class TimelineRow(RunModel):
    inject: str
    kind: InjectKind
    at: timedelta
    sent_at: AwareDatetime
    sender: str
    identifier: str | None
    status_code: int
    reached: int = Field(description="Contact points it reached.")
    acknowledged: int
    raised: list[str] = Field(
        default_factory=list,
        description="Observations: the alerts the threshold evaluator raised from them.",
    )


class CorrectiveAction(RunModel):
    """A candidate for the improvement plan; owner and date are the participants' to fill."""

    issue: str
    organisation: str
    owner: str | None = None
    due: str | None = None


class ExerciseReport(RunModel):
    """The after-action report's data (the HTML page shows the same)."""

    run_id: str
    scenario: str
    state: RunState
    speed: float
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    objectives: list[str]
    made_at: AwareDatetime
    planned: int = Field(description="Injects in the scenario (a stopped run sent fewer).")
    timeline: list[TimelineRow]
    participants: list[str] = Field(
        default_factory=list,
        description="Organisations taking part: named by the scenario, sending, or reached.",
    )
    organisations: list[OrganisationRow] = Field(default_factory=list)
    contact_points: list[ContactPointRow]
    expectations: list[ExpectationResult]
    corrective_actions: list[CorrectiveAction]
    ratings: list[str] = Field(default_factory=lambda: [r.value for r in Rating])
    shared_with: str | None = Field(
        default=None,
        description="The organisation this copy is for: its own contact points, expectations "
        "and corrective actions in full, the other organisations as aggregates only.",
    )

    def for_organisation(self, organisation: str) -> ExerciseReport:
        """The report as one participating organisation sees it: its own contact points,
        expectations and corrective actions in full; the others in the organisations' table."""
        own = organisation
        return self.model_copy(
            update={
                "contact_points": [r for r in self.contact_points if r.organisation == own],
                "expectations": [r for r in self.expectations if r.organisation == own],
                "corrective_actions": [a for a in self.corrective_actions if a.organisation == own],
                "shared_with": own,
            }
        )


class PublishedReport(RunModel):
    """An after-action report as the notifier holds it for the participants."""

    run_id: str
    scenario: str
    state: RunState
    started_at: AwareDatetime
    published_by: str = Field(description="The planner's organisation.")
    published_at: AwareDatetime


class ChannelCheck(RunModel):
    """How a communication check fared on one channel of one contact point."""

    channel: Channel
    status: DeliveryStatus
    reached_at: AwareDatetime | None = Field(
        description="Shown on an open console; taken by the mail server (e-mail)."
    )
    seconds: float | None = Field(description="From sending to `reached_at`.")
    detail: str | None = Field(description="e.g. the mail server's refusal.")


class ContactCheck(RunModel):
    """One contact point in a communication check."""

    organisation: str
    organisation_name: str
    contact_point: str
    contact_point_name: str
    channels: list[ChannelCheck]
    acknowledged_at: AwareDatetime | None
    ack_seconds: float | None
    acknowledged_by: str | None


class CheckRecord(RunModel):
    """A communication check: one addressed exercise, and who received and acknowledged it
    by the deadline (IHR-style: reachability per organisation and channel, time to answer)."""

    check_id: str
    addresses: list[str] = Field(description="What it was addressed to (routing's forms).")
    sent_at: AwareDatetime
    deadline_seconds: float
    cap_sender: str
    identifier: str
    status_code: int = Field(description="The gateway's HTTP answer (0: no answer).")
    answer: Any = None
    ended_at: AwareDatetime | None = None
    contact_points: list[ContactCheck] = Field(default_factory=list)


class TrendCell(RunModel):
    check_id: str
    sent_at: AwareDatetime
    reached: int
    total: int


class TrendRow(RunModel):
    """Reachability of one organisation on one channel (or its acknowledgements) over checks."""

    organisation: str
    channel: Literal["console", "email", "acknowledged"]
    cells: list[TrendCell]
