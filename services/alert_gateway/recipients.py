"""Whom an accepted message reached: the organisations the registry routes its incident to.

The gateway keeps no delivery records; it asks the registry, by the routing facts it kept of
each message, the question the notifier asked when it delivered. An Update or Cancel reaches
everyone an earlier message of its incident reached, so the recipients of a message are those
of every message of its incident up to it.
"""

from __future__ import annotations

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas.cap import MsgType
from schemas.registry import RoutingFacts
from services.alert_gateway.models import AcceptedAlert
from services.common.problems import ProblemError
from services.common.registry_client import RegistryRefused, RegistryUnavailable
from services.common.registry_routing import RoutingClient

log = structlog.get_logger(__name__)

RETRY_AFTER_SECONDS = 5
_DELIVERED = (MsgType.ALERT.value, MsgType.UPDATE.value, MsgType.CANCEL.value)


async def organisations_reached(
    sessions: async_sessionmaker[AsyncSession], router: RoutingClient, row: AcceptedAlert
) -> set[str]:
    """The organisations routing reached with `row` (and the messages of its incident before it).

    503 when the registry cannot answer and its answer for these facts was never seen.
    """
    async with sessions() as session:
        chain = await session.scalars(
            select(AcceptedAlert.routing_facts).where(
                AcceptedAlert.chain_sender == row.chain_sender,
                AcceptedAlert.chain_identifier == row.chain_identifier,
                AcceptedAlert.published,
                AcceptedAlert.msg_type.in_(_DELIVERED),
                AcceptedAlert.received_at <= row.received_at,
            )
        )
        facts = [RoutingFacts.model_validate_json(text) for text in chain if text is not None]
    reached: set[str] = set()
    for message in facts:
        try:
            answer = await router.route(message)
        except RegistryUnavailable:
            raise ProblemError(
                503,
                "registry_unavailable",
                "The registry cannot say now whom this alert reached; retry shortly.",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            ) from None
        except RegistryRefused as exc:
            # Its sender left the registry since: nobody can be shown to have received it.
            log.warning("routing_refused", reason=str(exc))
            continue
        reached |= {recipient.organisation for recipient in answer.recipients}
    return reached
