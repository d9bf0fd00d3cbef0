"""One console's WebSocket: who it is, what it has missed, then the live feed."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import structlog
from pydantic import ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect

from schemas.console import (
    HEARTBEAT_SECONDS,
    CloseCode,
    Hello,
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

HELLO_SECONDS = 10
MAX_REPLAY = 2000
"""Beyond this many missed entries a console gets a fresh snapshot instead of the replay."""


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
        websocket, contact_point=token.contact_point, queue_size=settings.console_queue_size
    )
    await websocket.send_text(
        Welcome(
            username=token.sub, display_name=token.name, organisation=token.org,
            contact_point=token.contact_point, instance=instance,
        ).model_dump_json()
    )  # fmt: skip
    sessions = hub.sessions
    now = datetime.now(UTC)
    async with sessions() as session:
        after = hello.resume_after
        if (
            after is not None
            and await feed.count_after(session, token.contact_point, after) > MAX_REPLAY
        ):
            await websocket.send_text(Reset().model_dump_json())
            after = None
        if after is None:
            items, cursor = await feed.snapshot(session, token.contact_point, now=now)
        else:
            items = await feed.items_after(
                session, token.contact_point, after, limit=MAX_REPLAY, now=now
            )
            connection.cursor = after
            cursor = after
    expiry = asyncio.get_running_loop().call_later(
        max(0.0, token.exp - time.time()),
        connection.drop,
        CloseCode.UNAUTHORIZED,
        "The access token expired; renew it and reconnect.",
    )
    try:
        await hub.attach(connection, items, cursor)
        # Synced goes through the queue, after the items it follows.
        connection.offer(connection.cursor, Synced(cursor=connection.cursor).model_dump_json())
        log.info("console connected", user=token.sub, contact_point=token.contact_point,
                 resumed_after=hello.resume_after, cursor=connection.cursor)  # fmt: skip
        sender = asyncio.create_task(connection.send_queued(heartbeat_seconds=HEARTBEAT_SECONDS))
        receiver = asyncio.create_task(_drain(websocket))
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in (sender, receiver):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await task
    finally:
        expiry.cancel()
        hub.detach(connection)
        log.info("console disconnected", user=token.sub, reason=connection.close_reason)


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


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the console sends, to notice when it goes away."""
    while True:
        await websocket.receive_text()
