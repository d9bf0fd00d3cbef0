"""Consoles for the notifier benchmarks: WebSocket clients in worker processes that note when
each alert reaches them, so that the clients never compete with the measurement in one loop.

A console sends its Hello, waits for Synced, then stamps every feed item it reads with
`clock()`. Workers take commands through a pipe; `Consoles` spreads them over the workers.
`StuckConsole` is the other kind: one that says hello and never reads again (the abuse
benchmark and tests/notifier/test_feed_abuse.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import re
import resource
import socket
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

import websockets
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

ITEM = '{"type":"item"'
SYNCED = '{"type":"synced"'
IDENTIFIER = re.compile(r'"key":\{"sender":"[^"]*","identifier":"([^"]+)"')
Compression = Literal["deflate"] | None


def clock() -> float:
    """Seconds on CLOCK_MONOTONIC, one clock for every process of the machine."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def raise_open_files_limit() -> None:
    """Let this process hold as many sockets as the hard limit allows."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@dataclass(frozen=True)
class Connect:
    """Open one console per hello on `url`, `concurrency` handshakes at a time."""

    url: str
    hellos: list[str]
    concurrency: int
    compression: Compression


@dataclass(frozen=True)
class Collect:
    """Wait until every console on `url` has every identifier (or `within` s); their arrivals."""

    url: str
    identifiers: list[str]
    within: float


@dataclass(frozen=True)
class Disconnect:
    """Close every console on `url`."""

    url: str


Command = Connect | Collect | Disconnect | None  # None: stop the worker


@dataclass(frozen=True)
class Connected:
    """How many consoles a worker opened, and the extensions the server agreed to."""

    count: int
    extensions: str


@dataclass(frozen=True)
class Arrivals:
    """When each identifier reached each console of a worker; consoles that never got it."""

    times: dict[str, list[float]]
    missing: int


@dataclass
class _Console:
    """One open console and when each alert reached it."""

    socket: ClientConnection
    arrivals: dict[str, float] = field(default_factory=dict)

    async def read(self) -> None:
        """Stamp every feed item until the connection closes."""
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.socket:
                now = clock()
                if isinstance(message, str) and message.startswith(ITEM):
                    found = IDENTIFIER.search(message, 0, 512)
                    if found is not None:
                        self.arrivals.setdefault(found[1], now)


async def _open(url: str, hello: str, compression: Compression) -> _Console:
    # Browsers send no keepalive pings; the server pings on its own schedule.
    socket = await connect(url, compression=compression, ping_interval=None, open_timeout=None)
    await socket.send(hello)
    while True:
        message = await socket.recv()
        if isinstance(message, str) and message.startswith(SYNCED):
            return _Console(socket)


class _Worker:
    """The consoles of one worker process."""

    def __init__(self, pipe: Connection) -> None:
        self._pipe = pipe
        self._consoles: dict[str, list[_Console]] = defaultdict(list)
        self._readers: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Carry out commands until told to stop."""
        while (command := await asyncio.to_thread(self._pipe.recv)) is not None:
            try:
                self._pipe.send(await self._do(command))
            except Exception as exc:
                # The benchmark's process waits for an answer: it gets the failure instead.
                self._pipe.send(exc)
        for url in list(self._consoles):
            await self._close(url)

    async def _do(self, command: Connect | Collect | Disconnect) -> object:
        if isinstance(command, Connect):
            return await self._connect(command)
        if isinstance(command, Disconnect):
            return await self._close(command.url)
        return await self._collect(command)

    async def _connect(self, command: Connect) -> Connected:
        gate = asyncio.Semaphore(command.concurrency)

        async def one(hello: str) -> _Console:
            async with gate, asyncio.timeout(300):
                return await _open(command.url, hello, command.compression)

        opened = await asyncio.gather(*(one(hello) for hello in command.hellos))
        for console in opened:
            reader = asyncio.create_task(console.read())
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
        self._consoles[command.url] += opened
        response = opened[0].socket.response if opened else None
        extensions = response.headers.get("Sec-WebSocket-Extensions", "") if response else ""
        return Connected(len(opened), extensions)

    async def _collect(self, command: Collect) -> Arrivals:
        consoles = self._consoles[command.url]
        wanted = set(command.identifiers)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(command.within):
                # Polling: checking thousands of consoles at every arrival would cost more.
                while not all(wanted <= c.arrivals.keys() for c in consoles):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        times: dict[str, list[float]] = defaultdict(list)
        missing = 0
        for console in consoles:
            for identifier in command.identifiers:
                arrived = console.arrivals.pop(identifier, None)
                if arrived is None:
                    missing += 1
                else:
                    times[identifier].append(arrived)
        return Arrivals(dict(times), missing)

    async def _close(self, url: str) -> int:
        consoles = self._consoles.pop(url, [])
        await asyncio.gather(*(c.socket.close() for c in consoles), return_exceptions=True)
        return len(consoles)


def _work(pipe: Connection) -> None:
    raise_open_files_limit()
    asyncio.run(_Worker(pipe).run())


class Consoles:
    """Worker processes holding consoles, driven from the benchmark's process."""

    def __init__(self, workers: int, *, compression: Compression) -> None:
        context = multiprocessing.get_context("spawn")
        self._compression = compression
        self._pipes: list[Connection] = []
        self._processes: list[BaseProcess] = []
        for _ in range(workers):
            ours, theirs = context.Pipe()
            worker = context.Process(target=_work, args=(theirs,), daemon=True)
            worker.start()
            self._pipes.append(ours)
            self._processes.append(worker)

    async def connect(self, url: str, hellos: Sequence[str], *, concurrency: int) -> str:
        """Open one console per hello, spread over the workers; the extensions agreed."""
        count = len(self._pipes)
        replies = await self._exchange(
            [
                Connect(url, list(hellos[n::count]), concurrency, self._compression)
                for n in range(count)
            ]
        )
        return next((r.extensions for r in replies if isinstance(r, Connected) and r.count), "")

    async def collect(
        self, url: str, identifiers: Sequence[str], *, within: float
    ) -> tuple[dict[str, list[float]], int]:
        """When each identifier reached each console on `url`, and how many never got it."""
        replies = await self._exchange(
            [Collect(url, list(identifiers), within) for _ in self._pipes]
        )
        times: dict[str, list[float]] = defaultdict(list)
        missing = 0
        for reply in replies:
            assert isinstance(reply, Arrivals)
            missing += reply.missing
            for identifier, arrived in reply.times.items():
                times[identifier] += arrived
        return dict(times), missing

    async def disconnect(self, url: str) -> int:
        """Close every console on `url`; how many there were."""
        replies = await self._exchange([Disconnect(url) for _ in self._pipes])
        return sum(reply for reply in replies if isinstance(reply, int))

    async def _exchange(self, commands: list[Command]) -> list[object]:
        """Send each worker its command, then wait for every answer (the workers run meanwhile)."""
        for pipe, command in zip(self._pipes, commands, strict=True):
            pipe.send(command)
        replies = await asyncio.to_thread(lambda: [pipe.recv() for pipe in self._pipes])
        for reply in replies:
            if isinstance(reply, BaseException):
                raise RuntimeError(f"a console worker failed: {reply!r}") from reply
        return replies

    def __enter__(self) -> Consoles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(None)
        for worker in self._processes:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()


class StuckConsole:
    """A console that says hello and never reads again: a raw socket with a tiny buffer."""

    def __init__(self, url: str, hello: str) -> None:
        protocol = ClientProtocol(parse_uri(url))
        address = urlsplit(url)
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.connect((address.hostname, address.port))
        protocol.send_request(protocol.connect())
        self.socket.sendall(b"".join(protocol.data_to_send()))
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += self.socket.recv(1)  # the handshake's answer only, not a byte of the feed
        protocol.receive_data(answer)
        protocol.send_text(hello.encode())
        self.socket.sendall(b"".join(protocol.data_to_send()))

    def cut_off(self, within: float) -> bool:
        """Whether the notifier dropped the connection (reading ends rather than waits)."""
        self.socket.settimeout(within)
        try:
            while self.socket.recv(1 << 20):
                pass
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        return True
