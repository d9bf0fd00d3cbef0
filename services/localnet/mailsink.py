"""The local mail sink: an SMTP server on loopback that keeps every mail as an .eml file."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import socket
import tempfile
import time
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from types import TracebackType

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from services.localnet import process
from services.localnet.errors import LocalNetworkError

log = structlog.get_logger()

LOOPBACK = "127.0.0.1"
DEV_PORT = 8025

_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9.@_-]+")


class MailSinkError(LocalNetworkError):
    """The local mail sink could not start."""


class _Keeper:
    """The aiosmtpd handler: accepts every message and writes it into the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._counter = itertools.count(1)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message and answer 250, or 451 when it cannot be written."""
        try:
            self.keep(envelope)
        except OSError as error:
            log.error("mail_not_kept", to=", ".join(envelope.rcpt_tos), error=str(error))
            return "451 4.3.0 The mail sink could not write the message"
        return "250 2.0.0 OK"

    def keep(self, envelope: Envelope) -> Path:
        """Write the message atomically as `<UTC time>-<counter>-<first recipient>.eml`."""
        content = envelope.original_content or b""
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else "nobody"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{next(self._counter):04d}-{_safe(recipient)}.eml"
        path = self.folder / name
        # A reader polling the folder must never see half a message.
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".eml.tmp")
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        Path(temporary).replace(path)
        headers = BytesHeaderParser(policy=policy.default).parsebytes(content)
        log.info(
            "mail_received",
            to=", ".join(envelope.rcpt_tos),
            subject=str(headers.get("Subject", "")),
            file=str(path),
        )
        return path


class MailSink:
    """An SMTP server on `host:port` that writes every mail it receives into `folder`."""

    def __init__(self, folder: Path, host: str = LOOPBACK, port: int = DEV_PORT) -> None:
        self.folder = folder
        self.host = host
        self.port = port
        self._controller: Controller | None = None

    @property
    def address(self) -> str:
        """Where mail is accepted: host:port."""
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        """Create the folder and start listening (in a thread of its own)."""
        assert self._controller is None, "the mail sink is already running"
        self.folder.mkdir(parents=True, exist_ok=True)
        controller = Controller(_Keeper(self.folder), hostname=self.host, port=self.port)
        try:
            controller.start()
        except (OSError, TimeoutError) as error:
            controller.loop.close()
            raise MailSinkError(
                f"the mail sink could not listen on {self.address}: {error}"
            ) from None
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; mail already written stays."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def serve_mail_sink(folder: Path, host: str = LOOPBACK, port: int = DEV_PORT) -> None:
    """Run a MailSink until the task is cancelled."""
    sink = MailSink(folder, host, port)
    # Starting and stopping wait on the server's thread; the event loop keeps running meanwhile.
    await asyncio.to_thread(sink.start)
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(sink.stop)


def _safe(address: str) -> str:
    return _UNSAFE_IN_FILENAME.sub("_", address).strip("._")[:100] or "unknown"


def wait_until_listening(host: str, port: int, *, pid: int, timeout: float = 20.0) -> None:
    """Return once the sink started as `pid` accepts connections; MailSinkError otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_alive(pid):
            raise MailSinkError(f"the mail sink stopped during start-up (port {port} taken?)")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise MailSinkError(f"the mail sink did not listen on {host}:{port} within {timeout:g} s")
