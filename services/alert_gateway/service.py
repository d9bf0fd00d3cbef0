"""Accepting an alert: authorise it, place it in its chain, publish it durably, remember it.

The promise to a crisis centre: an alert answered 202 is on the Kafka log (the broker
acknowledged it, acks=all), in order with the rest of its incident; an alert refused was
refused for a reason it can read and fix.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import Alert, Area, Category, MsgType, Status
from schemas.envelopes import AlertKey, AlertPublished
from schemas.errors import IngestWarning
from schemas.gateway import Acceptance, AlertState
from schemas.identity import Scope, TokenClaims
from schemas.registry import NUTS_GEOCODE_NAMES, addressed_exercise
from schemas.signatures import SignatureVerdict
from schemas.topics import EXERCISE_STATUSES
from services.alert_gateway.ledger import ALERTS, THIS_ALERT, Ledger, Pending, Published, key_of
from services.alert_gateway.models import AcceptedAlert, AlertReference
from services.alert_gateway.recipients import organisations_reached
from services.common.boundaries import Boundaries, circle_shape, polygon_shape
from services.common.kafka import BrokerUnavailable, LazyProducer, publish
from services.common.problems import ProblemError
from services.common.registry_routing import RoutingClient

RETRY_AFTER_SECONDS = 5
_SAME_SENDER = (MsgType.UPDATE, MsgType.CANCEL)
_ANSWERS = (MsgType.ACK, MsgType.ERROR)

_EARLIER = select(ALERTS).where(THIS_ALERT)


def authorise(alert: Alert, claims: TokenClaims, *, composed: bool = False) -> None:
    """Refuse (403, naming the field and the rule) what this client may not publish.

    A `composed` alert was written and approved by duty officers in the console: their
    approval stands for the publishing scope; every other rule holds as for a machine client.
    """
    addressed = addressed_exercise(alert)
    if addressed and (composed or Scope.EXERCISES_PLAN not in claims.scopes):
        # It would reach any contact point it names, past competences and agreements.
        raise ProblemError(
            403,
            "not_a_planner",
            "a Private exercise reaches exactly the contact points its addresses name: only an "
            "exercise planner's client (scope exercises:plan) sends one.",
            field="scope",
        )
    if not addressed and not composed and Scope.ALERTS_PUBLISH not in claims.scopes:
        raise ProblemError(
            403,
            "insufficient_scope",
            "this client sends addressed exercises only (scope Private, status Exercise).",
            field="scope",
        )
    if alert.sender != claims.sender:
        raise ProblemError(
            403,
            "wrong_sender",
            f"this client publishes as {claims.sender}, not as {alert.sender}.",
            field="sender",
        )
    for i, info in enumerate(alert.info):
        for j, category in enumerate(info.category):
            if category not in claims.categories:
                raise ProblemError(
                    403,
                    "not_competent",
                    f"{claims.org} holds no competence for {category} alerts.",
                    field=f"info[{i}].category[{j}]",
                )
        for j, area in enumerate(info.area):
            for k, geocode in enumerate(area.geocode):
                named = geocode.value_name.upper() in NUTS_GEOCODE_NAMES
                # NUTS codes nest by prefix: BE336 lies in BE33, in BE3, in BE.
                if named and not geocode.value.startswith(tuple(claims.regions)):
                    raise ProblemError(
                        403,
                        "outside_regions",
                        f"{claims.org} acts for {', '.join(claims.regions) or 'no region'}, "
                        f"not for {geocode.value}.",
                        field=f"info[{i}].area[{j}].geocode[{k}]",
                    )
            _authorise_drawn(area, claims, f"info[{i}].area[{j}]")


def _authorise_drawn(area: Area, claims: TokenClaims, field: str) -> None:
    """Refuse (403) a polygon or circle that touches none of the regions the sender acts for.

    One that touches them and goes past them is accepted: a flood does not stop at a border,
    and the agreements bring it to the neighbours."""
    if not (area.polygon or area.circle):
        return  # nothing drawn: the outlines (a quarter of a second to load) are not needed
    boundaries = Boundaries.load()
    own = {code for code in claims.regions if boundaries.known(code)}
    if not own:
        return  # no outline to check against
    drawn = [("polygon", k, polygon_shape(p)) for k, p in enumerate(area.polygon)]
    drawn += [("circle", k, circle_shape(c)) for k, c in enumerate(area.circle)]
    for kind, k, shape in drawn:
        if not boundaries.touching([shape]) & own:
            raise ProblemError(
                403,
                "outside_regions",
                f"{claims.org} acts for {', '.join(sorted(own))}; this {kind} lies outside them.",
                field=f"{field}.{kind}[{k}]",
            )


async def authorise_answers(
    *,
    sessions: async_sessionmaker[AsyncSession],
    router: RoutingClient,
    alert: Alert,
    claims: TokenClaims,
) -> None:
    """Refuse (403) an Ack or Error referring to a message the client's organisation neither
    sent nor received: nobody answers into another organisation's incident."""
    if alert.msg_type not in _ANSWERS:
        return
    for index, reference in enumerate(alert.references):
        async with sessions() as session:
            row = await session.get(AcceptedAlert, (reference.sender, reference.identifier))
        if row is None or not row.published:
            continue  # placing it in its chain refuses it (422, unknown reference)
        if claims.sender in (row.sender, row.chain_sender):
            continue
        if claims.org not in await organisations_reached(sessions, router, row):
            raise ProblemError(
                403,
                "not_a_recipient",
                f"{claims.org} did not receive {reference.sender},{reference.identifier}, so it "
                f"may not answer it with an {alert.msg_type}.",
                field=f"references[{index}]",
            )


def digest_of(alert: Alert) -> str:
    """A fingerprint of the alert's content, the same for its XML and its JSON form, signed
    or not: signatures vouch for the message, they are not part of what it says (an ECDSA
    signature differs at each signing; a distributor adds its own to the same message)."""
    content = alert.model_dump_json(exclude_defaults=True, exclude={"signature"})
    return hashlib.sha256(content.encode()).hexdigest()


async def accept(
    *,
    sessions: async_sessionmaker[AsyncSession],
    ledger: Ledger,
    producer: LazyProducer,
    alert: Alert,
    claims: TokenClaims,
    ack_timeout: float,
    producer_name: str,
    warnings: Sequence[IngestWarning] = (),
    ingest: bool = False,
    original: bytes | None = None,
    signature: SignatureVerdict | None = None,
) -> Acceptance:
    """Publish an authorised alert once; answer again what was answered for an identical one.

    An alert of an external source read in ingest mode travels with its `warnings`; its
    references to messages the network never received do not refuse it (the source published
    them before it was connected): it heads its own incident, and a warning says so. The
    `original` document travels as sent (an external source's, or a signed one, whose
    signatures only its own bytes keep verifiable), and the verdict on its `signature`s.
    """
    digest = digest_of(alert)
    warnings = list(warnings)
    notes = warnings if ingest else None
    received_at = datetime.now(UTC)
    if alert.msg_type is MsgType.ALERT and alert.status is not Status.DRAFT:
        # The hot path reads nothing: a new alert heads its own chain, and the reservation
        # tells whether its identifier is free.
        chain, category = _own_chain(alert)
        earlier = None
    else:
        async with sessions() as session:
            earlier = await _earlier(session, alert, digest)
            if earlier is not None and earlier.published:
                return acceptance_of(earlier, warnings, signature)
            chain, category = await _place_in_chain(session, alert, notes)
        if alert.status is Status.DRAFT:
            # Validated and answered, never published, and the identifier stays free.
            return Acceptance(
                sender=alert.sender,
                identifier=alert.identifier,
                published=False,
                chain=chain,
                received_at=received_at,
            )
    pending = Pending.of(
        alert,
        digest=digest,
        chain=chain,
        category=category,
        client_id=claims.sub,
        received_at=received_at,
    )
    if earlier is None and not await ledger.reserve(pending):
        async with sessions() as session:
            earlier = await _earlier(session, alert, digest)
        if earlier is None:  # reserved by a request whose broker write failed since
            raise _in_progress(alert)
        if earlier.published:
            return acceptance_of(earlier, warnings, signature)
    if earlier is not None:
        # Reserved, not published: by a request still waiting for the broker, or by one that
        # died before it could mark or forget it. A live request is done within two send
        # timeouts (connecting, then writing); an older reservation is published now, under
        # the first attempt's time of receipt.
        if received_at - aware(earlier.received_at) < timedelta(seconds=3 * ack_timeout):
            raise _in_progress(alert)
        received_at = aware(earlier.received_at)
    envelope = AlertPublished(
        producer=producer_name,
        alert=alert,
        chain=chain,
        chain_category=category,
        client_id=claims.sub,
        received_at=received_at,
        warnings=warnings,
        original=original,
        signature=signature,
    )
    try:
        connected = await producer.get(within=ack_timeout)
        written = await publish(connected, envelope, ack_timeout=ack_timeout)
    except BrokerUnavailable:
        await ledger.forget(alert.sender, alert.identifier)
        raise ProblemError(
            503,
            "broker_unavailable",
            # A write that timed out may still land (a cluster electing a new leader): then
            # the resend is a second copy under the same identifier, which receivers show once.
            "the network's log did not acknowledge the alert in time, so it may not have been "
            "published. Send it again shortly, with the same identifier.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    await ledger.mark_published(
        Published(alert.sender, alert.identifier, written.topic, written.partition, written.offset)
    )
    return Acceptance(
        sender=alert.sender,
        identifier=alert.identifier,
        published=True,
        topic=written.topic,
        partition=written.partition,
        offset=written.offset,
        chain=chain,
        received_at=received_at,
        warnings=warnings,
        signature=signature,
    )


async def _earlier(session: AsyncSession, alert: Alert, digest: str) -> Row[Any] | None:
    """The row of an earlier message under this alert's identifier; 409 if it said otherwise."""
    earlier = (
        await (await session.connection()).execute(_EARLIER, key_of(alert.sender, alert.identifier))
    ).first()
    if earlier is not None and earlier.digest != digest:
        raise ProblemError(
            409,
            "identifier_taken",
            f"{alert.sender} already published a different message as {alert.identifier}; "
            "a new message needs a new identifier.",
            field="identifier",
        )
    return earlier


def _in_progress(alert: Alert) -> ProblemError:
    return ProblemError(
        409,
        "in_progress",
        f"{alert.sender},{alert.identifier} is being published by another request; repeat the "
        "request to read its answer.",
        headers={"Retry-After": "1"},
    )


def acceptance_of(
    row: Row[Any] | AcceptedAlert,
    warnings: Sequence[IngestWarning] = (),
    signature: SignatureVerdict | None = None,
) -> Acceptance:
    """The answer given for an accepted alert (the same each time it is asked: the same
    document has the same `warnings` and verdict on its `signature`s)."""
    return Acceptance(
        sender=row.sender,
        identifier=row.identifier,
        published=row.published,
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        chain=AlertKey(sender=row.chain_sender, identifier=row.chain_identifier),
        received_at=aware(row.received_at),
        warnings=list(warnings),
        signature=signature,
    )


async def state_for(
    *,
    sessions: async_sessionmaker[AsyncSession],
    router: RoutingClient,
    sender: str,
    identifier: str,
    claims: TokenClaims,
) -> AlertState:
    """What the gateway knows of an accepted alert, for its sender and the organisations of its
    incident; 404 when nothing, 403 for anyone else.

    Which client sent it and where it lies on the log are the sender's own business.
    """
    async with sessions() as session:
        row = await session.get(AcceptedAlert, (sender, identifier))
        if row is None or not row.published:
            raise ProblemError(404, "not_found", f"no alert {sender},{identifier} was accepted.")
        state = await _state_of(session, row)
    if claims.sender == row.sender:
        return state
    if claims.sender != row.chain_sender and claims.org not in await organisations_reached(
        sessions, router, row
    ):
        raise ProblemError(
            403,
            "not_sender_or_recipient",
            f"{claims.org} neither sent {sender},{identifier} nor received it, so it may not "
            "read its state.",
        )
    return state.model_copy(
        update={"client_id": None, "topic": None, "partition": None, "offset": None}
    )


async def _state_of(session: AsyncSession, row: AcceptedAlert) -> AlertState:
    sender, identifier = row.sender, row.identifier
    later = (
        await session.scalars(
            select(AcceptedAlert)
            .join(
                AlertReference,
                (AlertReference.sender == AcceptedAlert.sender)
                & (AlertReference.identifier == AcceptedAlert.identifier),
            )
            .where(
                AlertReference.ref_sender == sender,
                AlertReference.ref_identifier == identifier,
                AcceptedAlert.published,
            )
            .order_by(AcceptedAlert.received_at)
        )
    ).all()
    references = (
        await session.scalars(
            select(AlertReference).where(
                AlertReference.sender == sender, AlertReference.identifier == identifier
            )
        )
    ).all()
    expires = aware(row.expires) if row.expires else None
    if await _chain_cancelled(session, row.chain_sender, row.chain_identifier):
        state = "cancelled"
    elif any(r.msg_type == MsgType.UPDATE for r in later):
        state = "updated"
    elif expires is not None and expires < datetime.now(UTC):
        state = "expired"
    else:
        state = "active"
    return AlertState(
        sender=row.sender,
        identifier=row.identifier,
        msg_type=MsgType(row.msg_type),
        status=Status(row.status),
        sent=aware(row.sent),
        received_at=aware(row.received_at),
        client_id=row.client_id,
        published=row.published,
        topic=row.topic,
        partition=row.partition,
        offset=row.offset,
        chain=AlertKey(sender=row.chain_sender, identifier=row.chain_identifier),
        chain_category=Category(row.chain_category),
        references=[AlertKey(sender=r.ref_sender, identifier=r.ref_identifier) for r in references],
        referenced_by=[AlertKey(sender=r.sender, identifier=r.identifier) for r in later],
        expires=expires,
        state=state,
    )


async def _place_in_chain(
    session: AsyncSession, alert: Alert, notes: list[IngestWarning] | None = None
) -> tuple[AlertKey, Category]:
    """The chain an alert belongs to; 422/409 when its references do not allow it.

    With `notes` (an external source's message), a reference to a message never received here,
    or received with another sent time, is noted there instead of refusing the message.
    """
    if alert.msg_type is MsgType.ALERT:
        return _own_chain(alert)
    chain: AcceptedAlert | None = None
    for index, reference in enumerate(alert.references):
        field = f"references[{index}]"
        if alert.msg_type in _SAME_SENDER and reference.sender != alert.sender:
            raise ProblemError(
                422,
                "foreign_reference",
                f"an {alert.msg_type} may only refer to the sender's own alerts, not to "
                f"{reference.sender}'s.",
                field=field,
            )
        row = await session.get(AcceptedAlert, (reference.sender, reference.identifier))
        if row is None or not row.published:
            refusal = ProblemError(
                422,
                "unknown_reference",
                f"no alert {reference.sender},{reference.identifier} was accepted here.",
                field=field,
            )
            if notes is None:
                raise refusal
            notes.append(_unlinked(refusal))
            continue
        if aware(row.sent) != reference.sent:
            refusal = ProblemError(
                422,
                "reference_mismatch",
                f"{reference.sender},{reference.identifier} was sent at {row.sent.isoformat()}, "
                f"not {reference.sent.isoformat()}.",
                field=field,
            )
            if notes is None:
                raise refusal
            notes.append(_unlinked(refusal))
            continue
        if alert.msg_type in _SAME_SENDER and row.chain_sender != alert.sender:
            raise ProblemError(
                422,
                "foreign_reference",
                f"{reference.identifier} belongs to an incident of {row.chain_sender}; only "
                "they update or cancel it.",
                field=field,
            )
        if await _chain_cancelled(session, row.chain_sender, row.chain_identifier):
            raise ProblemError(
                409,
                "chain_cancelled",
                f"{reference.sender},{reference.identifier} belongs to a cancelled incident.",
                field=field,
            )
        if (Status(row.status) in EXERCISE_STATUSES) != (alert.status in EXERCISE_STATUSES):
            raise ProblemError(
                422,
                "status_mismatch",
                f"real and exercise messages never share a chain: "
                f"{reference.identifier} is {row.status}, this message is {alert.status}.",
                field="status",
            )
        chain = chain or row
    if chain is None:
        assert notes is not None  # else CAP validation guarantees a reference, or one refused
        return _own_chain(alert)
    return (
        AlertKey(sender=chain.chain_sender, identifier=chain.chain_identifier),
        Category(chain.chain_category),
    )


def _unlinked(refusal: ProblemError) -> IngestWarning:
    return IngestWarning(
        field=refusal.field or "references",
        code=refusal.code,
        message=f"{refusal.detail} The message was not linked to it.",
        action="noted",
    )


def _own_chain(alert: Alert) -> tuple[AlertKey, Category]:
    """A new alert heads its own chain, of its first category."""
    first = alert.info[0].category[0] if alert.info else Category.OTHER
    return AlertKey(sender=alert.sender, identifier=alert.identifier), first


async def _chain_cancelled(session: AsyncSession, sender: str, identifier: str) -> bool:
    cancelled = await session.scalar(
        select(
            exists().where(
                AcceptedAlert.chain_sender == sender,
                AcceptedAlert.chain_identifier == identifier,
                AcceptedAlert.msg_type == MsgType.CANCEL.value,
                AcceptedAlert.published,
            )
        )
    )
    return bool(cancelled)


def aware(moment: datetime) -> datetime:
    """`moment`, in UTC if the database returned it naive."""
    # SQLite returns naive date-times for timezone-aware columns; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
