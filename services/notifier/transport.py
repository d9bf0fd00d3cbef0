"""Dropping a console's TCP connection at once, whatever it has left unread.

A console that stops reading fills the server's send buffer. From then on the ASGI server
waits for that buffer to drain before any send, a close frame included, and a closed
connection is torn down only once its buffer is flushed: a client that never reads would keep
its socket and its buffer for ever. Aborting the transport frees both now.

ASGI gives an application no transport; the server's protocol object is reached through the
`send` callable the server hands the application (uvicorn's protocols keep their `transport`).
Under a server without one, a connection is closed the usual way only.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

_ABORT = "crossalert.abort"


class AbortableWebSockets:
    """ASGI middleware: remembers, in each WebSocket's scope, how to abort its connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Note the transport's `abort` of a WebSocket connection, then pass it on."""
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            abort = getattr(transport, "abort", None)
            if callable(abort):
                scope[_ABORT] = abort
        await self.app(scope, receive, send)


def aborter(websocket: WebSocket) -> Callable[[], None] | None:
    """How to drop this WebSocket's TCP connection at once, when the server lets us."""
    abort = websocket.scope.get(_ABORT)
    return abort if callable(abort) else None
