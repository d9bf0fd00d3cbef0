"""One console's WebSocket: who it is, what it has missed, then the live feed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import structlog
from prometheus_client import Gauge
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from schemas.console import (
    CloseCode,
    FeedItem,
    Hello,
    Renew,
    Reset,
    Synced,
    Welcome,
)
from schemas.identity import Scope, TokenClaims
from services.common.auth import TokenVerifier
from services.common.problems import ProblemError
from services.notifier import feed
from services.notifier.hub import Connection, Hub
from services.notifier.settings import NotifierSettings

log = structlog.get_logger(__name__)

CONSOLES = Gauge("crossalert_notifier_console_connections", "Consoles connected now.")

HELLO_SECONDS = 10
MAX_REPLAY = 2000
"""Beyond this many missed entries a console gets a fresh snapshot instead of the replay."""
MESSAGE_BURST = 5
MESSAGE_EVERY_SECONDS = 30.0
"""What a console may send after its hello: a renewal every few minutes, a few in a row."""


@dataclass(frozen=True)
class Refusal:
    """Why a console's message closes its connection."""

    code: int
    reason: str


class Allowance:
    """A token bucket of one connection: `burst` messages at once, then one per `every` s."""

    def __init__(self, burst: int, every_seconds: float) -> None:
        self._burst = float(burst)
        self._every = every_seconds
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        """Count one message; False when the connection has none left."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) / self._every)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    """A browser page may open the feed only from the notifier's own origin or a listed one.

    Programs other than browsers send no Origin; a page of a foreign site always does, and
    must not ride on an officer's session.
    """
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host") or origin in allowed


async def serve_console(
    websocket: WebSocket,
    *,
    hub: Hub,
    verifier: TokenVerifier,
    settings: NotifierSettings,
    instance: str,
) -> None:
    """Authenticate a console, bring it up to date, then keep it live until it goes."""
    if not origin_allowed(websocket, settings.console_origins):
        log.warning("console refused: foreign origin", origin=websocket.headers.get("origin"))
        await websocket.close(code=1008)  # before accept: the handshake is answered 403
        return
    await websocket.accept()
    claims = await _hello(websocket, verifier)
    if claims is None:
        return
    hello, token = claims
    assert token.contact_point is not None
    connection = Connection(
        websocket,
        officer=token.sub,
        contact_point=token.contact_point,
        queue_size=settings.console_queue_size,
        buffer_bytes=settings.console_buffer_bytes,
        send_timeout=settings.console_send_timeout_seconds,
    )
    if not hub.admit(connection, per_officer=settings.console_connections_per_officer):
        log.warning("console refused: too many for its officer", user=token.sub)
        await websocket.close(
            CloseCode.TOO_MANY, "This officer has too many consoles open; close one or retry."
        )
        return
    CONSOLES.inc()
    try:
        await _serve(websocket, connection, hello, token, hub=hub, verifier=verifier,
                     settings=settings, instance=instance)  # fmt: skip
    finally:
        CONSOLES.dec()
        connection.expire_at(None)
        hub.detach(connection)
        log.info("console disconnected", user=token.sub, reason=connection.close_reason)


async def _serve(
    websocket: WebSocket,
    connection: Connection,
    hello: Hello,
    token: TokenClaims,
    *,
    hub: Hub,
    verifier: TokenVerifier,
    settings: NotifierSettings,
    instance: str,
) -> None:
    assert token.contact_point is not None
    await websocket.send_text(
        Welcome(
            username=token.sub, display_name=token.name, organisation=token.org,
            contact_point=token.contact_point, instance=instance,
        ).model_dump_json()
    )  # fmt: skip
    after = hello.resume_after
    if after is not None and hub.has_all_pushed(token.contact_point, after):
        # A console that missed nothing (a reconnect storm after a restart, say) goes live
        # without reading the database.
        items: list[FeedItem] = []
        connection.cursor = cursor = after
    else:
        items, cursor = await _catching_up(websocket, connection, token.contact_point, after, hub)
    connection.expire_at(token.exp)
    await hub.attach(connection, items, cursor)
    # Synced goes through the queue, after the items it follows.
    connection.offer(connection.cursor, Synced(cursor=connection.cursor).model_dump_json())
    log.info("console connected", user=token.sub, contact_point=token.contact_point,
             resumed_after=hello.resume_after, cursor=connection.cursor)  # fmt: skip
    await connection.serve(
        _listen(websocket, connection, verifier, token, hello.token, settings.max_body_bytes)
    )


async def _catching_up(
    websocket: WebSocket, connection: Connection, contact_point: str, after: int | None, hub: Hub
) -> tuple[list[FeedItem], int]:
    """What a console is shown first: what it missed since `after`, or, with no `after` or
    too much missed (it is then told to start afresh), the alerts active now."""
    if after is not None:
        async with hub.sessions() as session:
            if await feed.count_after(session, contact_point, after) <= MAX_REPLAY:
                connection.cursor = after
                now = datetime.now(UTC)
                missed = await feed.items_after(
                    session, contact_point, after, limit=MAX_REPLAY, now=now
                )
                return missed, after
        await websocket.send_text(Reset().model_dump_json())
    return await hub.snapshot(contact_point)


async def _hello(websocket: WebSocket, verifier: TokenVerifier) -> tuple[Hello, TokenClaims] | None:
    try:
        async with asyncio.timeout(HELLO_SECONDS):
            hello = Hello.model_validate_json(await websocket.receive_text())
    except (TimeoutError, ValidationError, KeyError):
        await websocket.close(CloseCode.BAD_MESSAGE, "Send a hello with your access token first.")
        return None
    except WebSocketDisconnect:
        return None
    try:
        claims = await verifier.verify(hello.token)
    except ProblemError as exc:
        await websocket.close(CloseCode.UNAUTHORIZED, exc.detail[:120])
        return None
    if Scope.CONSOLE not in claims.scopes or claims.contact_point is None:
        await websocket.close(
            CloseCode.FORBIDDEN,
            "This token is not a duty officer's (scope console, contact point).",
        )
        return None
    return hello, claims


async def _listen(
    websocket: WebSocket,
    connection: Connection,
    verifier: TokenVerifier,
    officer: TokenClaims,
    token: str,
    max_bytes: int,
) -> None:
    """Read what the console sends (its renewed tokens) until it goes away or is dropped.

    A console sends a renewal every few minutes: a flood of messages is refused before any
    token is verified, and a renewal repeating the token in force is not verified again.
    """
    allowance = Allowance(MESSAGE_BURST, MESSAGE_EVERY_SECONDS)
    while connection.close_reason is None:
        message = await websocket.receive_text()
        if len(message) > max_bytes:
            connection.drop(CloseCode.TOO_BIG, f"A console message is {max_bytes} bytes at most.")
        elif not allowance.take():
            connection.drop(CloseCode.TOO_MANY, "The console sent too many messages.")
        else:
            outcome = await _renewal(message, verifier, officer, token)
            if isinstance(outcome, Refusal):
                connection.drop(outcome.code, outcome.reason)
            elif outcome is not None:
                token, claims = outcome
                connection.expire_at(claims.exp)


async def _renewal(
    message: str, verifier: TokenVerifier, officer: TokenClaims, current: str
) -> tuple[str, TokenClaims] | Refusal | None:
    """The new token and its claims of a valid Renew of the same officer's session, None for
    the token already in force, else why the message is refused."""
    try:
        renew = Renew.model_validate_json(message)
    except ValidationError:
        return Refusal(
            CloseCode.BAD_MESSAGE, "After the hello a console sends only renew messages."
        )
    if renew.token == current:
        return None
    try:
        claims = await verifier.verify(renew.token)
    except ProblemError as exc:
        return Refusal(CloseCode.UNAUTHORIZED, exc.detail[:120])
    if (
        Scope.CONSOLE not in claims.scopes
        or claims.sub != officer.sub
        or claims.contact_point != officer.contact_point
    ):
        return Refusal(CloseCode.FORBIDDEN, "A renewal must carry the same duty officer's token.")
    return renew.token, claims
