"""Who must receive an alert, and why: a pure function of the registry's data.

The rules, in the words a duty officer would use:

* **Competence.** Only contact points holding a competence for one of the alert's categories
  receive it (a competence narrowed to event codes needs one of them in the alert). The
  sending organisation does not receive its own alert.
* **Area.** A real alert reaches every competent organisation acting for a region the alert's
  area names, or for a region containing it or contained in it — on either side of a border;
  and every one acting for a region one of its polygons or circles touches (on Eurostat's
  NUTS outlines, `services/common/boundaries.py`).
* **Agreement.** An agreement applies when it is valid on the day the alert was sent, covers
  one of its categories, its minimum severity is reached, and it binds the source: the sending
  organisation is a party, or acts within a party region. It then reaches the other parties:
  party organisations, and organisations acting within party regions.
* **Exercises** (CAP status Exercise or Test) travel only through agreements that apply to
  exercises; the area rule alone never routes an exercise.
* **Addressed exercises** (a communication check: CAP scope Private, status Exercise or Test)
  reach exactly the contact points their addresses name, whatever their competences, and
  nobody else; no agreement applies and nobody is chased.
* **Escalation.** The escalation contacts of the applying agreements are named too, marked
  escalation-only unless another rule reaches them: they are chased when a deadline passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from schemas.cap import Severity, Status
from schemas.envelopes import Channel
from schemas.registry import (
    ContactFunction,
    MatchedAgreement,
    Reason,
    Recipient,
    RoutingAnswer,
    RoutingFacts,
)
from schemas.topics import EXERCISE_STATUSES
from services.common.boundaries import Boundaries, drawn_shapes


@dataclass(frozen=True)
class CompetenceRow:
    """A contact point's competence."""

    category: str
    event_codes: frozenset[str]


@dataclass(frozen=True)
class ContactRow:
    """A contact point, as routing needs it."""

    id: str
    organisation: str
    name: str
    function: str
    email: str | None
    languages: tuple[str, ...]
    competences: tuple[CompetenceRow, ...]


@dataclass(frozen=True)
class OrganisationRow:
    """An organisation, as routing needs it."""

    id: str
    name: str
    cap_sender: str
    regions: frozenset[str]
    languages: tuple[str, ...]


@dataclass(frozen=True)
class AgreementRow:
    """An agreement, as routing needs it."""

    id: str
    name: str
    categories: frozenset[str]
    min_severity: Severity
    applies_to_exercises: bool
    ack_deadline_minutes: int | None
    valid_from: date
    valid_until: date | None
    party_organisations: frozenset[str]
    party_regions: frozenset[str]
    escalation_contacts: tuple[str, ...]


@dataclass(frozen=True)
class RoutingData:
    """Everything routing reads, loaded at once so that answers are consistent."""

    parents: dict[str, str | None]
    organisations: dict[str, OrganisationRow]
    contacts: dict[str, ContactRow]
    agreements: tuple[AgreementRow, ...]
    by_sender: dict[str, str] = field(init=False)
    contacts_of: dict[str, tuple[ContactRow, ...]] = field(init=False)

    def __post_init__(self) -> None:
        # Indexes built once per load, not once per resolution.
        senders = {org.cap_sender: org.id for org in self.organisations.values()}
        object.__setattr__(self, "by_sender", senders)
        by_organisation: dict[str, list[ContactRow]] = {}
        for contact in self.contacts.values():
            by_organisation.setdefault(contact.organisation, []).append(contact)
        contacts = {org: tuple(rows) for org, rows in by_organisation.items()}
        object.__setattr__(self, "contacts_of", contacts)

    def ancestors_or_self(self, code: str) -> set[str]:
        """The region and every region containing it."""
        found = set()
        current: str | None = code
        while current is not None and current not in found:
            found.add(current)
            current = self.parents.get(current)
        return found

    def within(self, inner: str, outer: str) -> bool:
        """Whether region `inner` is `outer` or lies inside it."""
        return outer in self.ancestors_or_self(inner)

    def overlap(self, a: str, b: str) -> bool:
        """Whether one region contains the other (or they are the same)."""
        return self.within(a, b) or self.within(b, a)


class UnknownSender(ValueError):
    """The alert's sender is no organisation of the registry."""


def resolve(data: RoutingData, facts: RoutingFacts, *, today: date) -> RoutingAnswer:
    """Every recipient of an alert with these facts, sorted by organisation and contact point."""
    source_id = data.by_sender.get(facts.sender)
    if source_id is None:
        raise UnknownSender(facts.sender)
    source = data.organisations[source_id]
    day = facts.sent.date() if facts.sent else today
    exercise = facts.status in EXERCISE_STATUSES
    if facts.status is Status.DRAFT:
        return RoutingAnswer(facts=facts, recipients=[], agreements=[])
    if facts.addresses:
        addressed = sorted(
            _addressed(data, facts.addresses).items(),
            key=lambda item: (item[0].organisation, item[0].id),
        )
        why = "The message is addressed to {}."
        recipients = [
            _recipient(data, contact, facts, [Reason(kind="address", detail=why.format(address))],
                       False, {})
            for contact, address in addressed
        ]  # fmt: skip
        return RoutingAnswer(facts=facts, recipients=recipients, agreements=[])

    reasons: dict[str, list[Reason]] = {}
    deadlines: dict[str, list[int]] = {}

    def competent(contact: ContactRow) -> bool:
        return contact.organisation != source.id and any(
            competence.category in facts.categories
            and (not competence.event_codes or competence.event_codes & set(facts.event_codes))
            for competence in contact.competences
        )

    def reach(organisation_id: str, reason: Reason, deadline: int | None = None) -> None:
        for contact in data.contacts_of.get(organisation_id, ()):
            if competent(contact):
                reasons.setdefault(contact.id, []).append(reason)
                if deadline is not None:
                    deadlines.setdefault(contact.id, []).append(deadline)

    if not exercise:
        shapes = drawn_shapes(facts.polygons, facts.circles)
        # The outlines are read (a quarter of a second, once) only for an alert drawing its area.
        touched = Boundaries.load().touching(shapes) if shapes else set()
        for org in data.organisations.values():
            named = next(
                (r for r in sorted(facts.regions) if any(data.overlap(r, o) for o in org.regions)),
                None,
            )
            drawn = next((r for r in sorted(org.regions) if r in touched), None)
            if named is not None:
                why = f"The alert's area names {named}, where {org.name} acts."
            elif drawn is not None:
                why = f"The alert's area is drawn over {drawn}, where {org.name} acts."
            else:
                continue
            reach(org.id, Reason(kind="area", region=named or drawn, detail=why))

    matched = [a for a in data.agreements if _applies(a, data, source, facts, day, exercise)]
    for agreement in matched:
        for org in data.organisations.values():
            if _bound(agreement, data, org) and org.id != source.id:
                reach(
                    org.id,
                    Reason(
                        kind="agreement",
                        agreement=agreement.id,
                        detail=f"{agreement.name} binds {source.name} to {org.name} for "
                        f"{'/'.join(sorted(agreement.categories & set(facts.categories)))} "
                        f"alerts of severity {agreement.min_severity} or higher.",
                    ),
                    agreement.ack_deadline_minutes,
                )
    escalation_only = set()
    for agreement in matched:
        for contact_id in agreement.escalation_contacts:
            contact = data.contacts.get(contact_id)
            if contact is None or contact.organisation == source.id:
                continue
            if contact_id not in reasons:
                escalation_only.add(contact_id)
            reasons.setdefault(contact_id, []).append(
                Reason(
                    kind="escalation",
                    agreement=agreement.id,
                    detail=f"Escalation contact of {agreement.name} when an acknowledgement "
                    "is late.",
                )
            )

    recipients = [
        _recipient(data, data.contacts[cid], facts, reasons[cid], cid in escalation_only, deadlines)
        for cid in sorted(reasons, key=lambda cid: (data.contacts[cid].organisation, cid))
    ]
    return RoutingAnswer(
        facts=facts,
        recipients=recipients,
        agreements=[
            MatchedAgreement(
                id=a.id,
                name=a.name,
                ack_deadline_minutes=a.ack_deadline_minutes,
                escalation_contacts=list(a.escalation_contacts),
            )
            for a in sorted(matched, key=lambda a: a.id)
        ],
    )


def _addressed(data: RoutingData, addresses: list[str]) -> dict[ContactRow, str]:
    """The contact points an addressed exercise names, each with the first address naming it;
    an address naming nothing known reaches nobody."""
    found: dict[ContactRow, str] = {}

    def add(contacts: Iterable[ContactRow], address: str) -> None:
        for contact in contacts:
            found.setdefault(contact, address)

    for address in addresses:
        kind, _, value = address.partition(":")
        if kind == "contact" and value in data.contacts:
            add([data.contacts[value]], address)
        elif kind == "organisation":
            add(data.contacts_of.get(value, ()), address)
        elif kind == "network" and value == "all":
            add(data.contacts.values(), address)
        elif kind == "region":
            for org in data.organisations.values():
                if any(data.overlap(value, own) for own in org.regions):
                    add(data.contacts_of.get(org.id, ()), address)
        elif kind == "agreement":
            for agreement in data.agreements:
                if agreement.id != value:
                    continue
                for org in data.organisations.values():
                    if _bound(agreement, data, org):
                        add(data.contacts_of.get(org.id, ()), address)
    return found


def _bound(agreement: AgreementRow, data: RoutingData, org: OrganisationRow) -> bool:
    """Whether the agreement binds the organisation: a party, or acting within a party region."""
    return org.id in agreement.party_organisations or any(
        data.within(own, party) for own in org.regions for party in agreement.party_regions
    )


def _applies(
    agreement: AgreementRow,
    data: RoutingData,
    source: OrganisationRow,
    facts: RoutingFacts,
    day: date,
    exercise: bool,
) -> bool:
    in_force = agreement.valid_from <= day and (
        agreement.valid_until is None or day <= agreement.valid_until
    )
    return (
        in_force
        and _bound(agreement, data, source)
        and bool(agreement.categories & set(facts.categories))
        and facts.severity.rank >= agreement.min_severity.rank
        and (agreement.applies_to_exercises or not exercise)
    )


_KIND_ORDER = {"area": 0, "agreement": 1, "escalation": 2, "address": 3}


def _recipient(
    data: RoutingData,
    contact: ContactRow,
    facts: RoutingFacts,
    reasons: list[Reason],
    escalation_only: bool,
    deadlines: dict[str, list[int]],
) -> Recipient:
    organisation = data.organisations[contact.organisation]
    language, available = _language(contact, organisation, facts.languages)
    unique = {(r.kind, r.agreement or "", r.region or ""): r for r in reasons}
    return Recipient(
        contact_point=contact.id,
        organisation=organisation.id,
        organisation_name=organisation.name,
        name=contact.name,
        function=ContactFunction(contact.function),
        email=contact.email,
        channels=[Channel.CONSOLE, Channel.EMAIL] if contact.email else [Channel.CONSOLE],
        language=language,
        language_available=available,
        reads=list(contact.languages or organisation.languages),
        reasons=[unique[key] for key in sorted(unique, key=lambda k: (_KIND_ORDER[k[0]], k))],
        escalation_only=escalation_only,
        ack_deadline_minutes=min(deadlines[contact.id]) if contact.id in deadlines else None,
    )


def _language(
    contact: ContactRow, organisation: OrganisationRow, offered: list[str]
) -> tuple[str | None, bool]:
    """The alert language to show: the contact's first preference that the alert carries.

    Falls back to the organisation's working languages, then English, then the alert's first
    language; the second value says whether one of the contact's own languages was found.
    """
    by_primary = {tag.split("-")[0].lower(): tag for tag in reversed(offered)}
    for wanted in contact.languages:
        if wanted in by_primary:
            return by_primary[wanted], True
    if not offered:
        preferred = (*contact.languages, *organisation.languages)
        return (preferred[0] if preferred else None), True
    for wanted in (*organisation.languages, "en"):
        if wanted in by_primary:
            return by_primary[wanted], False
    return offered[0], False
