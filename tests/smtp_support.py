"""A real SMTP server for tests: keeps what it accepts and can refuse the first transactions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOST = "127.0.0.1"
ACCEPTED = "250 2.0.0 OK"
_REFUSALS = {451: "4.3.0 Try again later", 550: "5.1.1 Mailbox unavailable"}
_WHOLE_REPLY = re.compile(r"\d{3}[ -]")


@dataclass
class SmtpServer:
    """What a running test SMTP server has seen so far."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refused: int = 0
    peers: set[str] = field(default_factory=set)
    """The client connections (address and port) that tried to send a message."""
    refused_recipients: set[str] = field(default_factory=set)
    """Mailboxes this server refuses (550 at RCPT TO), as a receiving domain's would."""
    busy: bool = False
    """While set, every message is refused for now (451), as by a server under load."""
    _controller: Controller | None = None
    _new_controller: Callable[[], Controller] | None = None

    async def stop_listening(self) -> None:
        """Close the port: connections are refused until `listen_again`."""
        assert self._controller is not None
        await asyncio.to_thread(self._controller.stop)
        self._controller = None

    async def listen_again(self) -> None:
        """Open the port again, with everything received so far kept."""
        assert self._controller is None and self._new_controller is not None
        self._controller = self._new_controller()
        await asyncio.to_thread(self._controller.start)

    async def wait_for(
        self,
        count: int,
        timeout: float,
    ) -> list[EmailMessage]:
        """The messages, once at least `count` have arrived; AssertionError after `timeout` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() >= deadline:
                subjects = [str(message["Subject"]) for message in self.messages]
                raise AssertionError(
                    f"expected {count} message(s) on port {self.port} within {timeout:g} s; "
                    f"got {len(subjects)}: {subjects} (refused {self.refused})"
                )
            await asyncio.sleep(0.05)
        return list(self.messages)


class _Handler:
    def __init__(self, server: SmtpServer, refuse_first: int, refusal: str) -> None:
        self.server = server
        self.refuse_first = refuse_first
        self.refusal = refusal
        self.parser = BytesParser(EmailMessage, policy=policy.default)

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.server.refused_recipients:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        self.server.peers.add(str(session.peer))
        if self.server.busy:
            self.server.refused += 1
            return f"451 {_REFUSALS[451]}"
        if self.server.refused < self.refuse_first:
            self.server.refused += 1
            return self.refusal
        self.server.messages.append(self.parser.parsebytes(envelope.original_content or b""))
        return ACCEPTED


@asynccontextmanager
async def running_smtp(
    port: int,
    *,
    refuse_first: int = 0,
    refuse_code: int = 451,
    refuse_with: str | None = None,
    smtputf8: bool = False,
) -> AsyncIterator[SmtpServer]:
    """Run an SMTP server on 127.0.0.1:`port` that refuses the first `refuse_first` DATA.

    A refusal is `refuse_code` followed by `refuse_with` (by default an enhanced status and
    text fitting 451 or 550); a `refuse_with` that starts with a reply code is sent as it is.
    With `smtputf8` the server takes addresses beyond ASCII (RFC 6531).
    """
    text = refuse_with if refuse_with is not None else _REFUSALS.get(refuse_code, "Refused")
    refusal = text if _WHOLE_REPLY.match(text) else f"{refuse_code} {text}"
    server = SmtpServer(port)
    handler = _Handler(server, refuse_first, refusal)
    server._new_controller = lambda: Controller(
        handler, hostname=HOST, port=port, enable_SMTPUTF8=smtputf8
    )
    # The server runs on a thread of its own, so a test that blocks its loop still gets answers.
    await server.listen_again()
    try:
        yield server
    finally:
        if server._controller is not None:
            await server.stop_listening()
