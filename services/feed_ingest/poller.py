"""Polling one feed: what is new in it goes to the gateway as an alert of the feed's source.

* The feed is asked conditionally (If-None-Match, If-Modified-Since): 304 means nothing new.
* Its entries are read oldest first (feeds list the newest first), so that an Update follows
  the Alert it refers to. An entry dealt with for good (same id, same `updated`) is not fetched
  again; a CAP alert (sender, identifier) brought in before, by any feed, is not sent again
  (one refused before is: another entry may carry the genuine document).
* Each new document goes to the gateway's `POST /v1/alerts` as `application/cap+xml`, its bytes
  exactly as fetched (the gateway verifies its signatures by the sender's policy), with a token
  on behalf of the feed's organisation: the gateway reads it by that organisation's cap_mode.
* A linked document is fetched only from the feed's own host (redirects too).
* 202 records it as brought in; a refusal for good (400, 403, 409, 413, 415, 422), a document
  over the organisation's max_cap_bytes, a link off the feed's host, one that is no CAP alert
  or a link that is gone is recorded as refused with its code, and not tried again. Anything
  else (a busy gateway, a registry or server out of reach) leaves the entry unrecorded, and the
  feed's validators unchanged, so that the next poll tries it again: nothing is lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import structlog
from prometheus_client import Counter

from schemas.cap import MAX_CAP_BYTES
from schemas.cap_ingest import MAX_INGEST_BYTES, CapMode
from schemas.identity import Principal, Scope
from schemas.registry import CapFeedOut
from services.common.registry_client import (
    REFUSED_FOR_GOOD,
    RegistryClient,
    RegistryRefused,
    RegistryUnavailable,
    issued_claims,
    post_as,
)
from services.feed_ingest.feeds import (
    CAP_MEDIA_TYPE,
    FeedEntry,
    NotCap,
    UnreadableFeed,
    cap_identity,
    read_feed,
)
from services.feed_ingest.fetch import ForeignHost, TooLarge, fetch, host_of
from services.feed_ingest.ledger import Identity, Ledger, Outcome
from services.feed_ingest.settings import FeedIngestSettings

log = structlog.get_logger(__name__)

ALERTS_PATH = "/v1/alerts"
GONE = frozenset({404, 410})
"""A linked document's answers that asking again will not change."""

POLLS = Counter(
    "crossalert_feed_polls",
    "Polls of CAP feeds, by feed and outcome: fetched, not_modified (304), unreachable, failed "
    "(an error status, a feed too large or unreadable), waiting (the registry did not answer).",
    ["feed", "outcome"],
)
ENTRIES = Counter(
    "crossalert_feed_entries",
    "Feed entries dealt with, by outcome: brought_in, refused, duplicate (brought in before), "
    "waiting (tried again at the next poll).",
    ["outcome"],
)


class Waiting(Exception):
    """The entry cannot be dealt with now; the next poll tries again."""


class Refused(Exception):
    """The entry is refused for good, before the gateway is asked."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.outcome = Outcome("refused", code=code, detail=detail)


@dataclass
class Poller:
    """Polls feeds and brings their new alerts in."""

    settings: FeedIngestSettings
    ledger: Ledger
    registry: RegistryClient
    gateway: httpx.AsyncClient
    http: httpx.AsyncClient
    """The client for the feeds' servers, outside the network."""

    async def poll(self, feed: CapFeedOut) -> str:
        """Poll `feed` once; its outcome (see POLLS)."""
        outcome = await self._poll(feed)
        POLLS.labels(feed.id, outcome).inc()
        return outcome

    async def _poll(self, feed: CapFeedOut) -> str:
        s, url = self.settings, str(feed.url)
        known = await self.ledger.validators(feed.id, url)
        try:
            fetched = await fetch(
                self.http, url, host=host_of(url), limit=s.max_feed_bytes,
                within=s.fetch_timeout_seconds, known=known,
            )  # fmt: skip
        except (TooLarge, ForeignHost) as exc:
            log.warning("feed_failed", feed=feed.id, reason=str(exc))
            return "failed"
        except (httpx.HTTPError, TimeoutError) as exc:
            log.warning("feed_unreachable", feed=feed.id, reason=str(exc) or type(exc).__name__)
            return "unreachable"
        if fetched.status == 304:
            return "not_modified"
        if fetched.status >= 300:
            log.warning("feed_failed", feed=feed.id, status=fetched.status)
            return "failed"
        try:
            entries = read_feed(fetched.body, url)
        except UnreadableFeed as exc:
            log.warning("feed_failed", feed=feed.id, reason=str(exc))
            return "failed"
        fresh = await self.ledger.unseen(feed.id, reversed(entries[: s.max_entries]))
        try:
            limit = await self._limit(feed.organisation) if fresh else 0
        except (RegistryUnavailable, RegistryRefused) as exc:
            log.warning("feed_waits", feed=feed.id, reason=str(exc))
            return "waiting"
        done = [await self._bring(feed, entry, limit) for entry in fresh]
        if all(done):
            # Only now: a 304 next time must not hide an entry still waiting.
            await self.ledger.polled(feed.id, url, fetched.validators)
        return "fetched"

    async def _limit(self, organisation: str) -> int:
        """The largest document the gateway reads from `organisation`, as its token says."""
        token = await self.registry.token(Scope.ALERTS_PUBLISH, on_behalf_of=organisation)
        source = Principal.model_validate(issued_claims(token))
        if source.cap_mode is CapMode.INGEST:
            return source.max_cap_bytes or MAX_INGEST_BYTES
        return MAX_CAP_BYTES

    async def _bring(self, feed: CapFeedOut, entry: FeedEntry, limit: int) -> bool:
        """Deal with one entry; True when it ended for good (recorded)."""
        identity: Identity | None = None
        try:
            document = await self._document(entry, limit, host_of(str(feed.url)))
            try:
                identity = cap_identity(document)
            except NotCap as exc:
                raise Refused("not_cap", str(exc)) from None
            known = await self.ledger.known(identity) if identity is not None else None
            # Only an alert brought in is not sent again: a refused copy (altered, say) must
            # not keep the genuine one out.
            if known is not None and known.outcome == "brought_in":
                outcome = Outcome("duplicate")
            else:
                outcome = await self._publish(feed.organisation, document)
        except Refused as refused:
            outcome = refused.outcome
        except Waiting as exc:
            ENTRIES.labels("waiting").inc()
            log.warning("entry_waits", feed=feed.id, entry=entry.id, alert=_key(identity),
                        reason=str(exc))  # fmt: skip
            return False
        await self.ledger.record(feed.id, entry, identity, outcome)
        ENTRIES.labels(outcome.outcome).inc()
        said = log.warning if outcome.outcome == "refused" else log.info
        said(
            f"entry_{outcome.outcome}", feed=feed.id, entry=entry.id, alert=_key(identity),
            status=outcome.status, code=outcome.code, reason=(outcome.detail or "")[:500],
        )  # fmt: skip
        return True

    async def _document(self, entry: FeedEntry, limit: int, host: str) -> bytes:
        """The entry's CAP document, embedded or fetched from the feed's `host`, at most
        `limit` bytes."""
        if entry.embedded is not None:
            if len(entry.embedded) > limit:
                raise Refused("too_large", f"the embedded alert is over {limit} bytes")
            return entry.embedded
        assert entry.link is not None
        try:
            fetched = await fetch(
                self.http, entry.link, host=host, limit=limit,
                within=self.settings.fetch_timeout_seconds,
            )  # fmt: skip
        except TooLarge as exc:
            raise Refused("too_large", str(exc)) from None
        except ForeignHost as exc:
            raise Refused("foreign_host", str(exc)) from None
        except (httpx.HTTPError, TimeoutError) as exc:
            raise Waiting(f"{entry.link}: {exc or type(exc).__name__}") from None
        if fetched.status in GONE:
            raise Refused("link_gone", f"{entry.link} answered {fetched.status}")
        if fetched.status >= 300:
            raise Waiting(f"{entry.link} answered {fetched.status}")
        return fetched.body

    async def _publish(self, organisation: str, document: bytes) -> Outcome:
        """The gateway's answer for good; Waiting when it (or the registry) is out of reach."""
        try:
            async with asyncio.timeout(self.settings.gateway_timeout_seconds):
                response = await post_as(
                    self.registry, self.gateway, organisation, ALERTS_PATH,
                    content=document, content_type=CAP_MEDIA_TYPE,
                )  # fmt: skip
        except (RegistryUnavailable, RegistryRefused, httpx.HTTPError, TimeoutError) as exc:
            raise Waiting(str(exc) or type(exc).__name__) from None
        status = response.status_code
        if status in (200, 202):
            return Outcome("brought_in", status=status)
        if status in REFUSED_FOR_GOOD:
            return Outcome("refused", status=status, code=_problem_code(response),
                           detail=response.text[:2000])  # fmt: skip
        raise Waiting(f"the gateway answered {status}")


def _problem_code(response: httpx.Response) -> str | None:
    try:
        problem = response.json()
    except ValueError:
        return None
    code = problem.get("code") if isinstance(problem, dict) else None
    return str(code) if code is not None else None


def _key(identity: Identity | None) -> str | None:
    return ",".join(identity) if identity else None
