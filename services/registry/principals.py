"""Who speaks for an organisation: its CAP sender, the regions it acts for, its competences."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.identity import Principal
from services.registry import models as m


async def speaking_for(
    db: AsyncSession,
    organisation_id: str,
    kind: Literal["client", "user"],
    subject: str,
    scopes: list[str],
    **extra: Any,
) -> Principal:
    """Who a token (or a seed entry) speaks for: the organisation's sender, regions and
    competences, with the subject and scopes given."""
    organisation = await db.get(m.Organisation, organisation_id)
    assert organisation is not None  # a foreign key, or the caller, guarantees it
    regions = await db.scalars(
        select(m.OrganisationRegion.region_code)
        .where(m.OrganisationRegion.organisation_id == organisation.id)
        .order_by(m.OrganisationRegion.region_code)
    )
    categories = await db.scalars(
        select(m.Competence.category)
        .join(m.ContactPoint, m.ContactPoint.id == m.Competence.contact_point_id)
        .where(m.ContactPoint.organisation_id == organisation.id)
        .distinct()
        .order_by(m.Competence.category)
    )
    return Principal(
        sub=subject,
        kind=kind,
        org=organisation.id,
        sender=organisation.cap_sender,
        scope=" ".join(sorted(scopes)),
        regions=tuple(regions),
        categories=tuple(categories),
        # The gateway decides offline, from the approver's token, whether four eyes are needed.
        single_approval=tuple(organisation.single_approval) if kind == "user" else (),
        cap_mode=organisation.cap_mode,
        max_cap_bytes=organisation.max_cap_bytes,
        signature_policy=organisation.signature_policy,
        **extra,
    )
