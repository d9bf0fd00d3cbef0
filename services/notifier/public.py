"""What anyone may read of the notifier's records: alerts of CAP scope Public and status
Actual. Restricted and Private alerts, and exercise, test, system and draft traffic, are never
shown to the public, whatever else is asked.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas.cap import Alert, Category, MsgType, Scope, Status
from schemas.console import AlertState
from schemas.envelopes import AlertKey
from schemas.registry import RoutingAnswer, routing_facts
from services.common.problems import ProblemError
from services.notifier.models import ALERTS, ReceivedAlert, stored_alert
from services.notifier.report import document_of

FEED_LIMIT = 100
"""The most entries a feed holds, newest first."""
SCANNED_LIMIT = 1000
"""The most current alerts read to fill a feed: an anonymous request's work is bounded."""


def is_public(alert: Alert) -> bool:
    """Whether anyone may read the alert: real (Actual) and meant for the public (Public)."""
    return alert.scope is Scope.PUBLIC and alert.status is Status.ACTUAL


async def current_alerts(
    session: AsyncSession,
    *,
    regions: Collection[str],
    categories: Collection[Category],
    now: datetime,
) -> list[Alert]:
    """The public alerts in force now, newest first, at most FEED_LIMIT of them: neither
    expired, nor cancelled, nor replaced by an update (aggregators poll for what is current,
    and see a message drop out when it ends). With `regions`, those covering one of them;
    with `categories`, those of one of them."""
    rows = await session.execute(
        select(ALERTS.c.cap_json, ALERTS.c.routing_json)
        .where(
            ALERTS.c.status == Status.ACTUAL,
            ALERTS.c.state == AlertState.ACTIVE,
            ALERTS.c.msg_type.in_([MsgType.ALERT, MsgType.UPDATE]),
            or_(ALERTS.c.expires.is_(None), ALERTS.c.expires > now),
        )
        .order_by(ALERTS.c.sent.desc(), ALERTS.c.sender, ALERTS.c.identifier)
        .limit(SCANNED_LIMIT)
    )
    found: list[Alert] = []
    for cap_json, routing_json in rows:
        # The scope is not a column: it is read from the stored alert.
        alert = stored_alert(cap_json)
        if not is_public(alert):
            continue
        if categories and not set(categories) & {c for i in alert.info for c in i.category}:
            continue
        if regions and not _overlap(regions, regions_of(alert, routing_json)):
            continue
        found.append(alert)
        if len(found) == FEED_LIMIT:
            break
    return found


def regions_of(alert: Alert, routing_json: str) -> set[str]:
    """The regions an alert covers, as the notifier knows them: the NUTS codes its area names,
    and the regions its drawn area (polygons, circles) was found to touch when it was routed.

    Only area reasons name a region: an agreement brings an alert to organisations beyond its
    area, and their regions are not where the hazard is (nor stored with the delivery). A drawn
    area is known by the regions of the organisations the routing reached through it."""
    covered = set(routing_facts(alert).regions)
    answer = RoutingAnswer.model_validate_json(routing_json) if routing_json != "null" else None
    for recipient in answer.recipients if answer else []:
        covered |= {r.region for r in recipient.reasons if r.kind == "area" and r.region}
    return covered


def _overlap(asked: Collection[str], covered: Collection[str]) -> bool:
    # NUTS codes nest by prefix: an alert for BE33 is in BE's feed, and in BE336's (it covers
    # all of BE33); an alert for BE336 is in BE33's.
    return any(a.startswith(c) or c.startswith(a) for a in asked for c in covered)


async def public_document(session: AsyncSession, key: AlertKey) -> tuple[bytes, str]:
    """The CAP XML of a public alert (any, current or not): the document its source sent when
    the notifier kept it, else the network's; 404 for every other alert, as for one unknown,
    so that nobody learns a Restricted alert exists."""
    alert = await session.get(ReceivedAlert, (key.sender, key.identifier))
    if alert is None or not is_public(stored_alert(alert.cap_json)):
        raise ProblemError(404, "unknown_alert", f"No public alert {key} is known here.")
    return document_of(alert, xml=True)
