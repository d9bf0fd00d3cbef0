"""HTTP request plumbing shared by the services: bounded bodies and one log line per request."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response

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


def log_each_request(app: FastAPI) -> None:
    """Write one structured line per request: method, path, status, duration and context.

    Handlers add to the line with `note`.
    """

    @app.middleware("http")
    async def request_line(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=str(uuid.uuid4()))
        # Shared through the request's scope: the handler runs in another task, whose
        # context variables this middleware cannot see.
        fields: dict[str, object] = {}
        request.state.log_fields = fields
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            log.info(
                "request",
                method=request.method,
                path=request.url.path,
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                **fields,
            )
