"""The notifier's public routes: the Atom feed of the public alerts in force, and each public
alert's CAP document. No token: they hold only what the issuers published for everyone."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from schemas.cap import Alert, Category
from schemas.names import RegionCode
from services.common.problems import problem_responses
from services.notifier import public
from services.notifier.api import alert_key
from services.notifier.atom import ATOM_MEDIA_TYPE, CAP_MEDIA_TYPE, FeedHead, feed_document
from services.notifier.runtime import Notifier

router = APIRouter(prefix="/feeds", tags=["public feed"])

FEED_MAX_AGE = 60
"""Seconds a poller or cache may keep the feed: a new alert reaches aggregators within it."""
DOCUMENT_MAX_AGE = 3600
"""A CAP document never changes (an update is a new message), so it is kept longer."""
MAX_FILTER_VALUES = 20

Regions = Annotated[
    list[RegionCode] | None,
    Query(alias="region", max_length=MAX_FILTER_VALUES,
          description="NUTS code of a region; repeatable. An alert whose area lies in, covers "
          "or overlaps it (NUTS codes nest by prefix)."),
]  # fmt: skip
Categories = Annotated[
    list[Category] | None,
    Query(alias="category", max_length=MAX_FILTER_VALUES,
          description="A CAP category (Geo, Met, Safety…); repeatable."),
]  # fmt: skip


@router.get(
    "/alerts.atom",
    response_class=Response,
    responses={
        200: {"content": {ATOM_MEDIA_TYPE: {}}, "description": "The Atom 1.0 feed."},
        304: {"description": "Unchanged since the ETag sent in If-None-Match."},
        **problem_responses(422),
    },
)
async def alerts_feed(
    request: Request, asked_regions: Regions = None, asked_categories: Categories = None
) -> Response:
    """The public alerts in force (CAP scope Public, status Actual), newest first, as an Atom
    1.0 feed; each entry links to the alert's CAP document."""
    regions, categories = asked_regions or [], asked_categories or []
    notifier: Notifier = request.app.state.notifier
    async with notifier.sessions() as session:
        alerts = await public.current_alerts(
            session, regions=regions, categories=categories, now=datetime.now(UTC)
        )
    head = FeedHead(
        id=_feed_id(regions, categories),
        title=_feed_title(regions, categories),
        self_url=str(request.url),
    )
    document = feed_document(alerts, head, lambda alert: _cap_url(request, alert))
    return conditional(request, document, f"{ATOM_MEDIA_TYPE}; charset=utf-8", FEED_MAX_AGE)


@router.get(
    "/cap/{sender}/{identifier}.xml",
    response_class=Response,
    responses={
        200: {"content": {CAP_MEDIA_TYPE: {}}, "description": "The alert's CAP 1.2 XML: an "
              "external source's exactly as it sent it, any other as the network holds it."},
        304: {"description": "Unchanged since the ETag sent in If-None-Match."},
        **problem_responses(404),
    },
)  # fmt: skip
async def public_cap(request: Request, sender: str, identifier: str) -> Response:
    """A public alert's CAP document; 404 for any alert that is not Public and Actual."""
    notifier: Notifier = request.app.state.notifier
    async with notifier.sessions() as session:
        content, media_type = await public.public_document(session, alert_key(sender, identifier))
    return conditional(request, content, media_type, DOCUMENT_MAX_AGE)


def conditional(request: Request, content: bytes, media_type: str, max_age: int) -> Response:
    """The content with a strong ETag of its bytes, or 304 when If-None-Match names it.

    The ETag is of the bytes, not of a time: an alert that expires or is cancelled changes the
    feed without any write, and every notifier process serves the same bytes the same tag."""
    tag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={max_age}"}
    if _matches(request.headers.get("if-none-match", ""), tag):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


def _matches(if_none_match: str, tag: str) -> bool:
    # RFC 9110 13.1.2: a list of tags or "*", compared weakly (a W/ prefix does not count).
    sent = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in sent or tag in sent


def _cap_url(request: Request, alert: Alert) -> str:
    # Each part quoted whole: a "/" in a CAP token must not read as a path separator.
    sender, identifier = (quote(part, safe="@") for part in alert.key)
    return f"{str(request.base_url).rstrip('/')}/feeds/cap/{sender}/{identifier}.xml"


def _feed_id(regions: list[str], categories: list[Category]) -> str:
    """The same id for the same selection, however its query is written."""
    chosen = [f"region={r}" for r in sorted(set(regions))]
    chosen += [f"category={c}" for c in sorted(set(categories))]
    return ";".join(["urn:crossalert:feed:alerts", *chosen])


def _feed_title(regions: list[str], categories: list[Category]) -> str:
    title = "crossalert: public alerts in force"
    if regions:
        title += f" in {', '.join(sorted(set(regions)))}"
    if categories:
        title += f" ({', '.join(sorted(set(categories)))})"
    return title
