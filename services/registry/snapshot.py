"""The routing data of the registry, loaded at once and cached until the next write."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cap import Severity
from services.registry import models as m
from services.registry.routing import (
    AgreementRow,
    CompetenceRow,
    ContactRow,
    OrganisationRow,
    RoutingData,
)


async def load_routing_data(session: AsyncSession) -> RoutingData:
    """Read everything routing needs from the database."""
    regions = (await session.scalars(select(m.Region))).all()
    organisations = (await session.scalars(select(m.Organisation))).all()
    contacts = (await session.scalars(select(m.ContactPoint))).all()
    agreements = (await session.scalars(select(m.Agreement))).all()
    return RoutingData(
        parents={region.code: region.parent_code for region in regions},
        organisations={
            org.id: OrganisationRow(
                id=org.id,
                name=org.name,
                cap_sender=org.cap_sender,
                regions=frozenset(r.region_code for r in org.acts_for) | {org.home_region_code},
                languages=tuple(org.languages),
            )
            for org in organisations
        },
        contacts={
            contact.id: ContactRow(
                id=contact.id,
                organisation=contact.organisation_id,
                name=contact.name,
                function=contact.function,
                email=contact.email,
                languages=tuple(contact.languages),
                competences=tuple(
                    CompetenceRow(c.category, frozenset(c.event_codes)) for c in contact.competences
                ),
            )
            for contact in contacts
        },
        agreements=tuple(
            AgreementRow(
                id=a.id,
                name=a.name,
                categories=frozenset(a.categories),
                min_severity=Severity(a.min_severity),
                applies_to_exercises=a.applies_to_exercises,
                ack_deadline_minutes=a.ack_deadline_minutes,
                valid_from=a.valid_from,
                valid_until=a.valid_until,
                party_organisations=frozenset(
                    p.organisation_id for p in a.parties if p.organisation_id
                ),
                party_regions=frozenset(p.region_code for p in a.parties if p.region_code),
                escalation_contacts=tuple(e.contact_point_id for e in a.escalation_contacts),
            )
            for a in agreements
        ),
    )


async def generation(session: AsyncSession) -> int:
    """The number of writes the registry has seen; changes whenever routing data may have."""
    value = await session.scalar(select(m.Generation.value).where(m.Generation.id == 1))
    return int(value or 0)


class RoutingCache:
    """The routing data of the last generation seen; reloaded when a write bumped it."""

    def __init__(self) -> None:
        self._data: RoutingData | None = None
        self._generation = -1
        self._lock = asyncio.Lock()

    async def get(self, session: AsyncSession) -> RoutingData:
        """Current routing data: one small query when nothing changed, a reload otherwise."""
        current = await generation(session)
        if self._data is None or current != self._generation:
            async with self._lock:
                if self._data is None or current != self._generation:
                    self._data = await load_routing_data(session)
                    self._generation = current
        return self._data
