"""Alerts composed by duty officers in the console: drafts, four-eyes approval, publication.

A crisis centre without a CAP system of its own writes its alert in the console. One officer
composes it (`alerts:compose`) and submits it; a second officer of the same organisation
(`alerts:approve`) approves the version they read, and the gateway publishes it exactly as it
publishes a machine client's alert: same authorisation (the organisation's sender, regions and
competences, from the approver's token), same chain rules, 202 only once the broker holds it.
The organisation's `single_approval` rules (in the registry, carried in officers' tokens) let
one officer's approval publish an alert of a given severity, at any hour or between two local
times: at night one officer may hold the desk alone. An officer holding
`alerts:compose-exercise` rather than `alerts:compose` (a trainee, an exercise participant)
composes Exercise alerts only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import CapValidationError, parse_cap_json, to_cap_json, to_cap_xml
from schemas.cap import Alert, Status
from schemas.errors import Problem
from schemas.gateway import (
    Acceptance,
    CompositionCheck,
    CompositionIn,
    RecipientPreview,
)
from schemas.gateway import Composition as CompositionOut
from schemas.gateway import CompositionEvent as EventOut
from schemas.identity import Scope, TokenClaims
from schemas.registry import AlertTemplate, routing_facts
from services.alert_gateway import service
from services.alert_gateway.ledger import Ledger
from services.alert_gateway.models import AcceptedAlert, Composition, CompositionEvent
from services.alert_gateway.organisations import RETRY_AFTER_SECONDS, Organisations
from services.common.kafka import LazyProducer
from services.common.problems import ProblemError
from services.common.registry_client import RegistryRefused, RegistryUnavailable
from services.common.registry_routing import RoutingClient

_OPEN = ("draft", "submitted")


async def check(
    document: dict[str, Any], claims: TokenClaims, router: RoutingClient
) -> CompositionCheck:
    """What publishing this document would meet: the CAP model's and the authorisation rules'
    refusals, else whom it reaches and in which languages it is still missing."""
    identifier = str(document.get("identifier") or f"{claims.org}-console-preview")
    stamped = _stamped(document, claims, identifier, datetime.now(UTC))
    try:
        alert = _alert_of(json.loads(stamped))
        _authorise(alert, claims)
        recipients = await _recipients(alert, router)
    except CapValidationError as error:
        return _refused(list(error.problems))
    except ProblemError as refusal:
        if refusal.status not in (403, 422):
            raise  # the registry unreachable (503): nothing to correct in the form
        return _refused(
            [Problem(field=refusal.field or "", code=refusal.code, message=refusal.detail)]
        )
    # A recipient reading none of the alert's languages asks for its first one.
    missing = sorted({r.reads[0] for r in recipients if r.reads and not r.language_available})
    return CompositionCheck(
        valid=True, problems=[], recipients=recipients, missing_languages=missing,
        cap_xml=to_cap_xml(alert).decode(),
        publishes_alone=Scope.ALERTS_APPROVE in claims.scopes and _alone_allowed(alert, claims),
    )  # fmt: skip


def _refused(problems: list[Problem]) -> CompositionCheck:
    return CompositionCheck(
        valid=False, problems=problems, recipients=[], missing_languages=[], cap_xml=None
    )


async def create(
    sessions: async_sessionmaker[AsyncSession], claims: TokenClaims, body: CompositionIn
) -> CompositionOut:
    """A new draft of the officer's organisation (version 1)."""
    _require_composer(claims)
    now = datetime.now(UTC)
    row = Composition(
        id=uuid.uuid4().hex,
        organisation=claims.org,
        state="draft",
        version=1,
        created_by=claims.sub,
        updated_by=claims.sub,
        updated_at=now,
    )
    row.document = _stamped(body.document, claims, f"{claims.org}-console-{row.id[:12]}", now)
    async with sessions() as session, session.begin():
        session.add(row)
        session.add(_event(row, "saved", claims, now, document=row.document))
    return await read(sessions, claims, row.id)


async def save(
    sessions: async_sessionmaker[AsyncSession],
    claims: TokenClaims,
    composition_id: str,
    body: CompositionIn,
) -> CompositionOut:
    """A new version of an open composition; 409 if someone saved since `body.version`."""
    _require_composer(claims)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        row = await _open_row(session, claims, composition_id, body.version)
        row.version += 1
        identifier = json.loads(row.document)["identifier"]  # kept from the first save
        row.document = _stamped(body.document, claims, identifier, now)
        row.updated_by, row.updated_at = claims.sub, now
        session.add(_event(row, "saved", claims, now, document=row.document))
    return await read(sessions, claims, composition_id)


async def submit(
    sessions: async_sessionmaker[AsyncSession],
    claims: TokenClaims,
    composition_id: str,
    version: int,
    publish: Publisher,
) -> CompositionOut:
    """Ask for approval of a valid composition; an officer who may approve it alone (its
    severity is allowed alone now by the organisation's `single_approval`) publishes it at once."""
    _require_composer(claims)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        row = await _open_row(session, claims, composition_id, version)
        alert = _valid_alert(row, claims)
        row.state = "submitted"
        session.add(_event(row, "submitted", claims, now))
    if Scope.ALERTS_APPROVE in claims.scopes and _alone_allowed(alert, claims):
        return await approve(sessions, claims, composition_id, version, publish)
    return await read(sessions, claims, composition_id)


async def approve(
    sessions: async_sessionmaker[AsyncSession],
    claims: TokenClaims,
    composition_id: str,
    version: int,
    publish: Publisher,
) -> CompositionOut:
    """Approve the version read, which publishes it through the gateway's own path."""
    _require(claims, Scope.ALERTS_APPROVE)
    async with sessions() as session:
        row = await _open_row(session, claims, composition_id, version)
        if row.state != "submitted":
            raise ProblemError(
                409, "not_submitted", "only a submitted composition is approved.", field="state"
            )
        editors = set(
            await session.scalars(
                select(CompositionEvent.by).where(
                    CompositionEvent.composition_id == row.id, CompositionEvent.action == "saved"
                )
            )
        )
        alert = _valid_alert(row, claims)
    if claims.sub in editors and not _alone_allowed(alert, claims):
        raise ProblemError(
            403,
            "four_eyes",
            "a composed alert is approved by an officer who did not write it; "
            f"{claims.org} lets one officer alone publish only "
            f"{'; '.join(map(str, claims.single_approval)) or 'no'} alerts.",
            field="approved_by",
        )
    now = datetime.now(UTC)
    # `sent` is the moment of publication, not of the last save.
    alert = alert.model_copy(update={"sent": now.replace(microsecond=0)})
    _authorise(alert, claims)
    acceptance = await publish(alert, claims)
    async with sessions() as session, session.begin():
        row = await _row(session, claims, composition_id)
        if row.state == "submitted":
            row.state = "published"
            row.document = to_cap_json(alert, indent=None)
            row.alert_sender, row.alert_identifier = acceptance.sender, acceptance.identifier
            row.updated_at = now
            session.add(_event(row, "approved", claims, now))
            session.add(_event(row, "published", claims, now))
    return await read(sessions, claims, composition_id)


async def withdraw(
    sessions: async_sessionmaker[AsyncSession],
    claims: TokenClaims,
    composition_id: str,
    version: int,
) -> CompositionOut:
    """Close an open composition without publishing it."""
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        row = await _open_row(session, claims, composition_id, version)
        row.state, row.updated_by, row.updated_at = "withdrawn", claims.sub, now
        session.add(_event(row, "withdrawn", claims, now))
    return await read(sessions, claims, composition_id)


async def read(
    sessions: async_sessionmaker[AsyncSession],
    claims: TokenClaims,
    composition_id: str,
    since: int | None = None,
) -> CompositionOut:
    """One composition of the officer's organisation (404 for any other's)."""
    async with sessions() as session:
        return await _whole(session, await _row(session, claims, composition_id), since)


async def listing(
    sessions: async_sessionmaker[AsyncSession], claims: TokenClaims
) -> list[CompositionOut]:
    """The organisation's compositions: every open one, then the latest 50 closed ones."""
    async with sessions() as session:
        newest_first = select(Composition).order_by(Composition.updated_at.desc())
        mine = newest_first.where(Composition.organisation == claims.org)
        rows = [
            *(await session.scalars(mine.where(Composition.state.in_(_OPEN)))),
            *(await session.scalars(mine.where(Composition.state.not_in(_OPEN)).limit(50))),
        ]
        return [await _whole(session, row) for row in rows]


async def _whole(
    session: AsyncSession, row: Composition, since: int | None = None
) -> CompositionOut:
    """The composition with its history, where it was published and, asked `since` a
    version, the fields changed since."""
    events = (
        await session.scalars(
            select(CompositionEvent)
            .where(CompositionEvent.composition_id == row.id)
            .order_by(CompositionEvent.id)
        )
    ).all()
    published = None
    if row.alert_sender is not None:
        accepted = await session.get(AcceptedAlert, (row.alert_sender, row.alert_identifier))
        published = service.acceptance_of(accepted) if accepted is not None else None
    changed = None
    if since is not None:
        earlier = next(
            (e.document for e in events if e.action == "saved" and e.version == since), None
        )
        if earlier is None:
            raise ProblemError(
                422, "unknown_version", f"there is no version {since}.", field="since"
            )
        changed = sorted(_changed_fields(json.loads(earlier), json.loads(row.document)))
    return _out(row, events, published, changed)


class Templates:
    """Organisations' hazard templates, from their registry records (kept a minute)."""

    def __init__(self, organisations: Organisations) -> None:
        self._organisations = organisations

    async def of(self, claims: TokenClaims) -> list[AlertTemplate]:
        """The officer's organisation's templates; 503 if never read and unreachable now."""
        _require_composer(claims)
        record = await self._organisations.record(claims.org, needed_for="the templates")
        return record.alert_templates if record is not None else []


# ------------------------------------------------------------------------------- publishing


class Publisher:
    """Publishes an approved alert with the gateway's own accept path."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        ledger: Ledger,
        producer: LazyProducer,
        *,
        ack_timeout: float,
        producer_name: str,
    ) -> None:
        self._sessions, self._ledger, self._producer = sessions, ledger, producer
        self._ack_timeout, self._producer_name = ack_timeout, producer_name

    async def __call__(self, alert: Alert, claims: TokenClaims) -> Acceptance:
        return await service.accept(
            sessions=self._sessions,
            ledger=self._ledger,
            producer=self._producer,
            alert=alert,
            claims=claims,
            ack_timeout=self._ack_timeout,
            producer_name=self._producer_name,
        )


# --------------------------------------------------------------------------------- helpers


def _require_composer(claims: TokenClaims) -> None:
    if Scope.ALERTS_COMPOSE_EXERCISE not in claims.scopes:
        _require(claims, Scope.ALERTS_COMPOSE)


def _authorise(alert: Alert, claims: TokenClaims) -> None:
    """The publishing rules of a machine client, and an exercise-only officer's own limit:
    whatever they check, submit or approve is an Exercise alert."""
    service.authorise(alert, claims, composed=True)
    exercise_only = (
        Scope.ALERTS_COMPOSE_EXERCISE in claims.scopes and Scope.ALERTS_COMPOSE not in claims.scopes
    )
    if exercise_only and alert.status is not Status.EXERCISE:
        raise ProblemError(
            403,
            "exercise_only",
            f"{claims.sub} composes exercise alerts only: the status must be Exercise.",
            field="status",
        )


def _require(claims: TokenClaims, scope: Scope) -> None:
    if scope not in claims.scopes:
        raise ProblemError(
            403, "insufficient_scope", f"this needs the scope {scope}.", field="scope"
        )


async def _row(session: AsyncSession, claims: TokenClaims, composition_id: str) -> Composition:
    row = await session.get(Composition, composition_id)
    if row is None or row.organisation != claims.org:
        # Another organisation's drafts are not even said to exist.
        raise ProblemError(404, "not_found", f"no composition {composition_id}.")
    return row


async def _open_row(
    session: AsyncSession, claims: TokenClaims, composition_id: str, version: int | None
) -> Composition:
    row = await _row(session, claims, composition_id)
    if row.state not in _OPEN:
        raise ProblemError(409, "closed", f"this composition was {row.state}.", field="state")
    if version != row.version:
        raise ProblemError(
            409,
            "changed",
            f"{row.updated_by} saved version {row.version} since you read version {version}: "
            "read it again.",
            field="version",
        )
    return row


def _stamped(document: dict[str, Any], claims: TokenClaims, identifier: str, now: datetime) -> str:
    """The document with what the composer decides: the organisation's sender, the
    composition's identifier, and `sent` (set again at publication)."""
    return json.dumps(
        {
            **document,
            "sender": claims.sender,
            "identifier": identifier,
            "sent": now.replace(microsecond=0).isoformat(),
        },
        ensure_ascii=False,
    )


def _alert_of(document: dict[str, Any]) -> Alert:
    return parse_cap_json(json.dumps(document))


def _valid_alert(row: Composition, claims: TokenClaims) -> Alert:
    """The composition as an alert this organisation may publish; 422 naming the field."""
    try:
        alert = _alert_of(json.loads(row.document))
    except CapValidationError as error:
        raise ProblemError.from_cap(error, status=422) from None
    _authorise(alert, claims)
    return alert


def _alone_allowed(alert: Alert, claims: TokenClaims) -> bool:
    severity = max((info.severity for info in alert.info), key=lambda s: s.rank, default=None)
    now = datetime.now(UTC)
    return severity is not None and any(r.allows(severity, now) for r in claims.single_approval)


async def _recipients(alert: Alert, router: RoutingClient) -> list[RecipientPreview]:
    try:
        answer = await router.route(routing_facts(alert))
    except RegistryUnavailable:
        raise ProblemError(
            503,
            "registry_unavailable",
            "the registry cannot say now whom this alert would reach; retry shortly.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    except RegistryRefused as refusal:
        # E.g. an area code the registry does not know.
        raise ProblemError(422, "not_routable", str(refusal), field="info[0].area") from None
    return [
        RecipientPreview(
            organisation=r.organisation,
            organisation_name=r.organisation_name,
            contact_point=r.contact_point,
            name=r.name,
            language=r.language,
            language_available=r.language_available,
            reads=r.reads,
            reasons=[reason.detail for reason in r.reasons],
        )
        for r in answer.recipients
    ]


def _event(
    row: Composition, action: str, claims: TokenClaims, at: datetime, *, document: str | None = None
) -> CompositionEvent:
    return CompositionEvent(
        composition_id=row.id, version=row.version, action=action, by=claims.sub, at=at,
        document=document,
    )  # fmt: skip


def _changed_fields(before: Any, after: Any, path: str = "") -> Iterator[str]:
    """The paths (`info[0].headline`) whose values differ between two JSON documents."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            if key == "sent":
                continue  # set by the composer at every save
            yield from _changed_fields(
                before.get(key), after.get(key), f"{path}.{key}" if path else key
            )
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (b, a) in enumerate(zip(before, after, strict=True)):
            yield from _changed_fields(b, a, f"{path}[{index}]")
    elif before != after:
        yield path


def _out(
    row: Composition,
    events: Sequence[CompositionEvent],
    published: Acceptance | None,
    changed: list[str] | None,
) -> CompositionOut:
    return CompositionOut(
        id=row.id,
        organisation=row.organisation,
        state=row.state,
        version=row.version,
        document=json.loads(row.document),
        created_by=row.created_by,
        updated_by=row.updated_by,
        updated_at=service.aware(row.updated_at),
        published=published,
        changed_since=changed,
        history=[
            EventOut(version=e.version, action=e.action, by=e.by, at=service.aware(e.at))
            for e in events
        ],
    )
