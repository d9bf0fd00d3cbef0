"""HTTP request plumbing shared by the services: bounded bodies and one log line per request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping

import structlog
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.metrics import REQUEST_SECONDS, REQUESTS
from services.common.problems import ProblemError

log = structlog.get_logger("crossalert.request")


async def read_bounded(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it grows past `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


class BodyLimit:
    """Refuses (413) every request whose body is larger than `limit` bytes, on every route
    (`larger` names the paths that read more, such as a whole CAP alert).

    Checked on the declared Content-Length first, then while the body arrives, so that an
    anonymous route never reads or parses more than the bound (a 10 MB login, say). FastAPI's
    own `max_body_size` would answer some refusals as plain text, not as problem documents.
    """

    def __init__(
        self, app: ASGIApp, *, limit: int, larger: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.larger = dict(larger or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a body reader that stops at the bound."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await _too_large(limit).response()(scope, receive, send)
                return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
            return message

        await self.app(scope, bounded_receive, send)


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, "too_large", f"the request body is larger than {limit} bytes.", field="body"
    )


def note(request: Request, **fields: object) -> None:
    """Add fields (the alert key, the client, the outcome) to the request's log line.

    They are bound as context variables too, so every line logged while handling the
    request carries them.
    """
    request.state.log_fields.update(fields)
    structlog.contextvars.bind_contextvars(**fields)


def _count(scope: Scope, status: int, seconds: float) -> None:
    # By the route's template: the paths asked (an alert's identifier) would be a series each.
    route = scope.get("route")
    template = getattr(route, "path", None) or "unmatched"
    settings = getattr(scope["app"].state, "settings", None) if "app" in scope else None
    service = getattr(settings, "service_name", "unknown")
    method = scope["method"]
    REQUESTS.labels(service, method, template, str(status)).inc()
    REQUEST_SECONDS.labels(service, method, template).observe(seconds)


class RequestLog:
    """Writes one structured line per request: method, path, status, duration and context.

    Handlers add to the line with `note`. A plain ASGI middleware: the handler runs in the
    request's own task, with no second task and no streams between it and the server.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, then log its line (a refusal or a crash included)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=str(uuid.uuid4()))
        fields: dict[str, object] = {}
        # `request.state.log_fields` for the handlers: a request's state lives in its scope.
        scope.setdefault("state", {})["log_fields"] = fields
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - started
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 2),
                **fields,
            )
            _count(scope, status, seconds)
