"""How each kind of registry record is read from, checked against and written to the tables.

One `Kind` per record type says which table holds it, how an API record becomes rows and
back, which references it makes (checked, 422 naming the value), and what refers to it
(reported on delete, 409). The generic operations in `store.py` need nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.envelopes import RegistryEntity
from schemas.identity import Scope
from schemas.registry import (
    AgreementIn,
    AgreementOut,
    ApiClientIn,
    ApiClientOut,
    CapFeedIn,
    CapFeedOut,
    ConsoleUserIn,
    ConsoleUserOut,
    ContactPointIn,
    ContactPointOut,
    OrganisationIn,
    OrganisationOut,
    Parties,
    RegionIn,
    RegionOut,
)
from schemas.registry import Competence as CompetenceRecord
from schemas.thresholds import IndicatorIn, IndicatorOut
from services.common.problems import ProblemError
from services.registry import models as m
from services.registry.identity import hash_secret

Row = Any  # one of the mapped classes of services.registry.models
Child = TypeVar("Child")


@dataclass(frozen=True)
class Reference:
    """A field of a record that names another record, which must exist."""

    field: str
    table: type[m.Base]
    label: str


@dataclass(frozen=True)
class Referrer:
    """A column elsewhere that may name a record of this kind (blocking its deletion)."""

    column: Any
    label: str
    key: Any


Coherence = Callable[[AsyncSession, Any], Awaitable[None]]
"""Refuses (a ProblemError naming the field) a record at odds with the records it names."""


@dataclass(frozen=True)
class Kind:
    """Everything the generic store needs to know about one kind of record."""

    path: str
    entity: RegistryEntity
    table: type[m.Base]
    key: str
    record_in: type[BaseModel]
    record_out: type[BaseModel]
    to_record: Callable[[Row], BaseModel]
    to_row: Callable[[BaseModel, Row | None], Row]
    references: Sequence[Reference]
    referrers: Sequence[Referrer]
    filters: dict[str, Callable[[BaseModel, str], bool]]
    coherence: Sequence[Coherence] = ()
    """Rules between this record and others, checked on every write after the references."""
    readers: tuple[Scope, ...] = (Scope.REGISTRY_READ,)
    """Any of these scopes reads the records (writing always takes registry:admin)."""


def _reuse(
    existing: Sequence[Child],
    wanted: Sequence[str],
    key: Callable[[Child], str | None],
    make: Callable[[str], Child],
) -> list[Child]:
    """Children for the `wanted` keys, reusing stored ones.

    The unit of work inserts before it deletes, so dropping a child and adding an equal one
    in the same flush would collide on its key.
    """
    by_key = {key(child): child for child in existing}
    return [by_key.get(k) or make(k) for k in wanted]


def _region_record(row: m.Region) -> RegionOut:
    return RegionOut(
        code=row.code,
        country=row.country,
        level=row.level,
        parent=row.parent_code,
        names=row.names,
        basins=row.basins,
        neighbours=[n.neighbour_code for n in row.neighbours],
        version=row.version,
    )


def _region_row(record: BaseModel, row: m.Region | None) -> m.Region:
    assert isinstance(record, RegionIn)
    row = row or m.Region(code=record.code)
    row.country = record.country
    row.level = record.level
    row.parent_code = record.parent
    row.names = {str(lang): name for lang, name in record.names.items()}
    row.basins = list(record.basins)
    row.neighbours = _reuse(
        row.neighbours,
        sorted(set(record.neighbours)),
        lambda n: n.neighbour_code,
        lambda code: m.RegionNeighbour(region_code=record.code, neighbour_code=code),
    )
    return row


def _organisation_record(row: m.Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        home_region=row.home_region_code,
        acts_for=[r.region_code for r in row.acts_for],
        cap_sender=row.cap_sender,
        languages=row.languages,
        single_approval=row.single_approval,
        alert_templates=row.alert_templates,
        cap_mode=row.cap_mode,
        max_cap_bytes=row.max_cap_bytes,
        signature_policy=row.signature_policy,
        signing_keys=row.signing_keys,
        version=row.version,
    )


def _organisation_row(record: BaseModel, row: m.Organisation | None) -> m.Organisation:
    assert isinstance(record, OrganisationIn)
    row = row or m.Organisation(id=record.id)
    row.name = record.name
    row.kind = record.kind
    row.home_region_code = record.home_region
    # An organisation always acts for its home region.
    regions = sorted({record.home_region, *record.acts_for})
    row.acts_for = _reuse(
        row.acts_for,
        regions,
        lambda r: r.region_code,
        lambda code: m.OrganisationRegion(organisation_id=record.id, region_code=code),
    )
    row.cap_sender = record.cap_sender
    row.languages = [str(lang) for lang in record.languages]
    row.single_approval = [
        rule.model_dump(mode="json", exclude_defaults=True) for rule in record.single_approval
    ]
    row.alert_templates = [
        t.model_dump(mode="json", exclude_none=True) for t in record.alert_templates
    ]
    row.cap_mode = record.cap_mode
    row.max_cap_bytes = record.max_cap_bytes
    row.signature_policy = record.signature_policy
    row.signing_keys = [key.model_dump() for key in record.signing_keys]
    return row


def _contact_record(row: m.ContactPoint) -> ContactPointOut:
    return ContactPointOut(
        id=row.id,
        organisation=row.organisation_id,
        function=row.function,
        name=row.name,
        email=row.email,
        languages=row.languages,
        staffed_24_7=row.staffed_24_7,
        competences=[
            CompetenceRecord(category=c.category, event_codes=c.event_codes)
            for c in row.competences
        ],
        version=row.version,
    )


def _contact_row(record: BaseModel, row: m.ContactPoint | None) -> m.ContactPoint:
    assert isinstance(record, ContactPointIn)
    row = row or m.ContactPoint(id=record.id)
    row.organisation_id = record.organisation
    row.function = record.function
    row.name = record.name
    row.email = record.email
    row.languages = [str(lang) for lang in record.languages]
    row.staffed_24_7 = record.staffed_24_7
    wanted = {str(c.category): sorted(set(c.event_codes)) for c in record.competences}
    row.competences = _reuse(
        row.competences,
        sorted(wanted),
        lambda c: c.category,
        lambda cat: m.Competence(category=cat),
    )
    for competence in row.competences:
        competence.event_codes = wanted[competence.category]
    return row


def _agreement_record(row: m.Agreement) -> AgreementOut:
    return AgreementOut(
        id=row.id,
        name=row.name,
        reference=row.reference,
        parties=Parties(
            organisations=[p.organisation_id for p in row.parties if p.organisation_id],
            regions=[p.region_code for p in row.parties if p.region_code],
        ),
        categories=row.categories,
        min_severity=row.min_severity,
        applies_to_exercises=row.applies_to_exercises,
        ack_deadline_minutes=row.ack_deadline_minutes,
        escalation_contacts=[e.contact_point_id for e in row.escalation_contacts],
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        version=row.version,
    )


def _agreement_row(record: BaseModel, row: m.Agreement | None) -> m.Agreement:
    assert isinstance(record, AgreementIn)
    row = row or m.Agreement(id=record.id)
    row.name = record.name
    row.reference = record.reference
    row.categories = sorted({str(c) for c in record.categories})
    row.min_severity = record.min_severity
    row.applies_to_exercises = record.applies_to_exercises
    row.ack_deadline_minutes = record.ack_deadline_minutes
    row.valid_from = record.valid_from
    row.valid_until = record.valid_until
    row.parties = [
        *(m.AgreementParty(organisation_id=o) for o in dict.fromkeys(record.parties.organisations)),
        *(m.AgreementParty(region_code=r) for r in dict.fromkeys(record.parties.regions)),
    ]
    row.escalation_contacts = _reuse(
        row.escalation_contacts,
        sorted(set(record.escalation_contacts)),
        lambda e: e.contact_point_id,
        lambda cid: m.AgreementEscalation(contact_point_id=cid),
    )
    return row


def _client_record(row: m.ApiClient) -> ApiClientOut:
    return ApiClientOut(
        client_id=row.client_id,
        organisation=row.organisation_id,
        scopes=row.scopes,
        revoked=row.revoked,
        version=row.version,
    )


def _client_row(record: BaseModel, row: m.ApiClient | None) -> m.ApiClient:
    assert isinstance(record, ApiClientIn)
    if row is None and record.secret is None:
        raise ProblemError(422, "missing", "secret is required for a new client.", field="secret")
    row = row or m.ApiClient(client_id=record.client_id)
    row.organisation_id = record.organisation
    if record.secret is not None:
        row.secret_hash = hash_secret(record.secret)
    row.scopes = sorted({str(s) for s in record.scopes})
    row.revoked = record.revoked
    return row


def _user_record(row: m.ConsoleUser) -> ConsoleUserOut:
    return ConsoleUserOut(
        username=row.username,
        organisation=row.organisation_id,
        contact_point=row.contact_point_id,
        display_name=row.display_name,
        scopes=row.scopes,
        disabled=row.disabled,
        version=row.version,
    )


def _user_row(record: BaseModel, row: m.ConsoleUser | None) -> m.ConsoleUser:
    assert isinstance(record, ConsoleUserIn)
    if row is None and record.password is None:
        raise ProblemError(422, "missing", "password is required for a new user.", field="password")
    row = row or m.ConsoleUser(username=record.username)
    row.organisation_id = record.organisation
    row.contact_point_id = record.contact_point
    row.display_name = record.display_name
    if record.password is not None:
        row.password_hash = hash_secret(record.password)
    row.scopes = sorted({str(s) for s in record.scopes})
    row.disabled = record.disabled
    return row


async def _desk_of_own_organisation(session: AsyncSession, record: ConsoleUserIn) -> None:
    """An officer watches a contact point of the officer's own organisation."""
    if record.contact_point is None:
        return
    owner = await session.scalar(
        select(m.ContactPoint.organisation_id).where(m.ContactPoint.id == record.contact_point)
    )
    if owner is not None and owner != record.organisation:
        raise ProblemError(
            422,
            "foreign_contact_point",
            f"contact point '{record.contact_point}' belongs to {owner}, not to "
            f"{record.organisation}: an officer would read and acknowledge for another "
            "organisation.",
            field="contact_point",
        )


async def _officers_stay_with_their_desk(session: AsyncSession, record: ContactPointIn) -> None:
    """A contact point does not move to another organisation under its officers."""
    officers = await session.scalars(
        select(m.ConsoleUser.username)
        .where(
            m.ConsoleUser.contact_point_id == record.id,
            m.ConsoleUser.organisation_id != record.organisation,
        )
        .order_by(m.ConsoleUser.username)
    )
    names = list(officers)
    if names:
        raise ProblemError(
            409,
            "contact_point_in_use",
            f"officers of another organisation watch this contact point ({', '.join(names)}); "
            "move them before it changes organisation.",
            field="organisation",
        )


def _feed_record(row: m.CapFeed) -> CapFeedOut:
    return CapFeedOut(
        id=row.id,
        url=row.url,
        organisation=row.organisation_id,
        poll_seconds=row.poll_seconds,
        enabled=row.enabled,
        version=row.version,
    )


def _feed_row(record: BaseModel, row: m.CapFeed | None) -> m.CapFeed:
    assert isinstance(record, CapFeedIn)
    row = row or m.CapFeed(id=record.id)
    row.url = str(record.url)
    row.organisation_id = record.organisation
    row.poll_seconds = record.poll_seconds
    row.enabled = record.enabled
    return row


def _indicator_record(row: m.Indicator) -> IndicatorOut:
    return IndicatorOut(
        id=row.id,
        unit=row.unit,
        period=row.period,
        category=row.category,
        names=row.names,
        descriptions=row.descriptions,
        minimum=row.minimum,
        maximum=row.maximum,
        version=row.version,
    )


def _indicator_row(record: BaseModel, row: m.Indicator | None) -> m.Indicator:
    assert isinstance(record, IndicatorIn)
    row = row or m.Indicator(id=record.id)
    row.unit = record.unit
    row.period = record.period.value
    row.category = record.category.value
    row.names = {str(lang): text for lang, text in record.names.items()}
    row.descriptions = {str(lang): text for lang, text in record.descriptions.items()}
    row.minimum = record.minimum
    row.maximum = record.maximum
    return row


def _has(values: Callable[[Any], Sequence[str]]) -> Callable[[BaseModel, str], bool]:
    return lambda record, wanted: wanted in values(record)


def _equals(attribute: str) -> Callable[[BaseModel, str], bool]:
    return lambda record, wanted: str(getattr(record, attribute)) == wanted


KINDS: dict[str, Kind] = {
    kind.path: kind
    for kind in (
        Kind(
            path="regions",
            entity=RegistryEntity.REGION,
            table=m.Region,
            key="code",
            record_in=RegionIn,
            record_out=RegionOut,
            to_record=_region_record,
            to_row=_region_row,
            # Public names and codes: agencies and the evaluator name the regions they watch.
            readers=(Scope.REGISTRY_READ, Scope.THRESHOLDS_READ, Scope.THRESHOLDS_WRITE),
            references=(
                Reference("parent", m.Region, "region"),
                Reference("neighbours", m.Region, "region"),
            ),
            referrers=(
                Referrer(m.Region.parent_code, "regions", m.Region.code),
                Referrer(m.Organisation.home_region_code, "organisations", m.Organisation.id),
                Referrer(
                    m.OrganisationRegion.region_code,
                    "organisations",
                    m.OrganisationRegion.organisation_id,
                ),
                Referrer(m.AgreementParty.region_code, "agreements", m.AgreementParty.agreement_id),
                Referrer(
                    m.RegionNeighbour.neighbour_code, "regions", m.RegionNeighbour.region_code
                ),
            ),
            filters={
                "country": _equals("country"),
                "level": _equals("level"),
                "parent": _equals("parent"),
                "basin": _has(lambda r: r.basins),
            },
        ),
        Kind(
            path="organisations",
            entity=RegistryEntity.ORGANISATION,
            table=m.Organisation,
            key="id",
            record_in=OrganisationIn,
            record_out=OrganisationOut,
            to_record=_organisation_record,
            to_row=_organisation_row,
            references=(
                Reference("home_region", m.Region, "region"),
                Reference("acts_for", m.Region, "region"),
            ),
            referrers=(
                Referrer(m.ContactPoint.organisation_id, "contact_points", m.ContactPoint.id),
                Referrer(
                    m.AgreementParty.organisation_id, "agreements", m.AgreementParty.agreement_id
                ),
                Referrer(m.ApiClient.organisation_id, "api_clients", m.ApiClient.client_id),
                Referrer(m.ConsoleUser.organisation_id, "console_users", m.ConsoleUser.username),
                Referrer(m.CapFeed.organisation_id, "cap_feeds", m.CapFeed.id),
            ),
            filters={
                "kind": _equals("kind"),
                "region": _has(lambda r: r.acts_for),
                "cap_sender": _equals("cap_sender"),
            },
        ),
        Kind(
            path="contact-points",
            entity=RegistryEntity.CONTACT_POINT,
            table=m.ContactPoint,
            key="id",
            record_in=ContactPointIn,
            record_out=ContactPointOut,
            to_record=_contact_record,
            to_row=_contact_row,
            references=(Reference("organisation", m.Organisation, "organisation"),),
            referrers=(
                Referrer(
                    m.AgreementEscalation.contact_point_id,
                    "agreements",
                    m.AgreementEscalation.agreement_id,
                ),
                Referrer(m.ConsoleUser.contact_point_id, "console_users", m.ConsoleUser.username),
            ),
            filters={
                "organisation": _equals("organisation"),
                "function": _equals("function"),
                "category": _has(lambda r: [str(c.category) for c in r.competences]),
            },
            coherence=(_officers_stay_with_their_desk,),
        ),
        Kind(
            path="agreements",
            entity=RegistryEntity.AGREEMENT,
            table=m.Agreement,
            key="id",
            record_in=AgreementIn,
            record_out=AgreementOut,
            to_record=_agreement_record,
            to_row=_agreement_row,
            references=(
                Reference("parties.organisations", m.Organisation, "organisation"),
                Reference("parties.regions", m.Region, "region"),
                Reference("escalation_contacts", m.ContactPoint, "contact point"),
            ),
            referrers=(),
            filters={
                "category": _has(lambda r: [str(c) for c in r.categories]),
                "organisation": _has(lambda r: r.parties.organisations),
                "region": _has(lambda r: r.parties.regions),
            },
        ),
        Kind(
            path="api-clients",
            entity=RegistryEntity.API_CLIENT,
            table=m.ApiClient,
            key="client_id",
            record_in=ApiClientIn,
            record_out=ApiClientOut,
            to_record=_client_record,
            to_row=_client_row,
            references=(Reference("organisation", m.Organisation, "organisation"),),
            referrers=(),
            filters={"organisation": _equals("organisation"), "revoked": _equals("revoked")},
        ),
        Kind(
            path="console-users",
            entity=RegistryEntity.CONSOLE_USER,
            table=m.ConsoleUser,
            key="username",
            record_in=ConsoleUserIn,
            record_out=ConsoleUserOut,
            to_record=_user_record,
            to_row=_user_row,
            references=(
                Reference("organisation", m.Organisation, "organisation"),
                Reference("contact_point", m.ContactPoint, "contact point"),
            ),
            referrers=(),
            filters={"organisation": _equals("organisation")},
            coherence=(_desk_of_own_organisation,),
        ),
        Kind(
            path="indicators",
            entity=RegistryEntity.INDICATOR,
            table=m.Indicator,
            key="id",
            record_in=IndicatorIn,
            record_out=IndicatorOut,
            to_record=_indicator_record,
            to_row=_indicator_row,
            references=(),
            referrers=(),
            filters={"category": _equals("category"), "period": _equals("period")},
            # The catalogue is the network's common vocabulary: agencies and services read it.
            readers=(Scope.REGISTRY_READ, Scope.THRESHOLDS_READ, Scope.THRESHOLDS_WRITE),
        ),
        Kind(
            path="cap-feeds",
            entity=RegistryEntity.CAP_FEED,
            table=m.CapFeed,
            key="id",
            record_in=CapFeedIn,
            record_out=CapFeedOut,
            to_record=_feed_record,
            to_row=_feed_row,
            references=(Reference("organisation", m.Organisation, "organisation"),),
            referrers=(),
            filters={"organisation": _equals("organisation"), "enabled": _equals("enabled")},
            # The feed ingest worker reads what it polls with its own scope.
            readers=(Scope.REGISTRY_READ, Scope.FEEDS_INGEST),
        ),
    )
}


async def check_record(session: AsyncSession, kind: Kind, record: BaseModel) -> None:
    """Refuse a record naming what is not stored (422), or at odds with what it names."""
    await check_references(session, kind, record)
    for rule in kind.coherence:
        await rule(session, record)


async def check_references(session: AsyncSession, kind: Kind, record: BaseModel) -> None:
    """Refuse (422, naming the value) a record naming a region, organisation... not stored."""
    for reference in kind.references:
        values = _values(record, reference.field)
        if not values:
            continue
        key_column = next(iter(reference.table.__table__.primary_key.columns))  # type: ignore[attr-defined]
        found = set((await session.scalars(select(key_column).where(key_column.in_(values)))).all())
        for index, value in enumerate(values):
            if value not in found:
                path = (
                    reference.field
                    if isinstance(_raw(record, reference.field), str)
                    else (f"{reference.field}[{index}]")
                )
                raise ProblemError(
                    422,
                    "unknown_reference",
                    f"{reference.label} '{value}' is not in the registry.",
                    field=path,
                )


def _raw(record: BaseModel, dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _values(record: BaseModel, dotted: str) -> list[str]:
    value = _raw(record, dotted)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


async def referrers_of(session: AsyncSession, kind: Kind, key: str) -> list[str]:
    """Every record naming this one, as 'path/key' strings, sorted."""
    found: set[str] = set()
    for referrer in kind.referrers:
        keys = await session.scalars(select(referrer.key).where(referrer.column == key))
        found.update(f"{referrer.label}/{k}" for k in keys)
    # A region listed as its own parent or neighbour does not block its own deletion.
    found.discard(f"{kind.path}/{key}")
    return sorted(found)
