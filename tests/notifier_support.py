"""A real notifier for tests: served over real HTTP and WebSocket, and consoles that talk to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import STDOUT, Popen
from typing import Any

import httpx
import uvicorn
import websockets
from fastapi import FastAPI
from gateway_support import Gateway, flood_alert, running_gateway
from registry_support import NO_KAFKA, Registry, running_registry
from smtp_support import SmtpServer, running_smtp

from schemas import to_cap_xml, validate_alert
from schemas.console import SERVER_MESSAGE, FeedItem, ItemKind, ServerMessage
from schemas.topics import MAX_RECORD_BYTES
from services.cli import KEEP_ALIVE_SECONDS, SERVICE_SETTINGS, ping_seconds
from services.notifier.app import create_app
from services.notifier.settings import NotifierSettings

FLOOD_RECIPIENTS = {  # of meuse_alert(), in tests/registry/world.yaml
    # The national crisis centre acts for BE, which contains BE33 (area rule).
    "be-nccn-duty",
    # Eupen acts for BE336, inside BE33 (area), and within the Meuse agreement's BE33.
    "be-eupen-desk",
    # The Meuse agreement binds BE33 and NL42, for which Zuid-Limburg acts.
    "nl-limburg-duty",
}
OFFICERS = {
    "be-nccn-duty": "officer.nccn",
    "be-eupen-desk": "officer.eupen",
    "nl-limburg-duty": "officer.limburg",
    "lu-duty": "officer.lu",
    "de-nrw-lagezentrum": "officer.nrw",
    "fr-metz-cogic": "officer.metz",
    "de-aachen-leitstelle": "officer.aachen",
    "be-liege-duty": "officer.liege",
}
EMAILS = {
    "be-nccn-duty": "duty@nccn.example.org",
    "be-eupen-desk": "krisenstab@eupen.example.org",
    "nl-limburg-duty": "meldkamer@vrzl.example.org",
    "lu-duty": "permanence@cgccr.example.org",
    "de-nrw-lagezentrum": "lagezentrum@nrw.example.org",
    "fr-metz-cogic": "coz@metz.example.org",
}

PASSWORDS = {
    "officer.eupen": "eupen-password-1",
    "officer.liege": "liege-password-1",
    "officer.liege.2": "liege-password-2",
    "officer.liege.3": "liege-password-3",
    "trainee.liege": "liege-trainee-1",
    "officer.limburg": "limburg-password-1",
    "officer.nccn": "nccn-password-1",
    "officer.nccn.2": "nccn-password-2",
    "officer.nrw": "nrw-password-1",
    "officer.lu": "lu-password-1",
    "officer.metz": "metz-password-1",
    "officer.aachen": "aachen-password-1",
}
"""The duty officers of tests/registry/world.yaml."""


GRACEFUL_SHUTDOWN_SECONDS = 5


@asynccontextmanager
async def serving(app: FastAPI, port: int, *, lifespan: bool = True) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1:`port` in this event loop; yield its base URL.

    `lifespan=False` serves an app whose lifespan already runs (e.g. a registry under test).
    """
    settings = getattr(app.state, "settings", NotifierSettings())
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        lifespan="on" if lifespan else "off",
        ws="websockets-sansio",
        ws_max_size=settings.max_body_bytes,
        ws_ping_interval=ping_seconds(settings),
        ws_ping_timeout=ping_seconds(settings),
        # A client that stopped reading (a test's flood) must not hold the shutdown forever.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,  # as deployed: see there
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("uvicorn stopped during start-up")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Notifier:
    """A running notifier: its app (None when it runs as a process of its own), base URL and an
    HTTP client."""

    app: FastAPI | None
    url: str
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        """The live feed's WebSocket URL."""
        return self.url.replace("http://", "ws://") + "/v1/feed"


@asynccontextmanager
async def running_notifier(
    state: Path,
    kafka: str,
    registry: Registry,
    port: int,
    *,
    use_registry_client: bool = True,
    gateway: Gateway | None = None,
    **settings: Any,
) -> AsyncIterator[Notifier]:
    """Start the notifier on a SQLite file in `state` (unless given), asking `registry`.

    It reaches the registry in-process, or, with `use_registry_client=False`, over HTTP at the
    `registry_url` setting (so that the registry can be stopped under it).
    """
    settings.setdefault(
        "database_url",
        f"sqlite+aiosqlite:///{state / f'notifier-{uuid.uuid4().hex[:6]}.sqlite3'}",
    )
    # The test broker holds every earlier test's alerts: a new notifier reads only new ones.
    settings.setdefault("consumer_group", f"notifier-{uuid.uuid4().hex[:8]}")
    settings.setdefault("consumer_start", "latest")
    settings.setdefault("registry_url", "http://registry")
    app = create_app(
        NotifierSettings(
            kafka_bootstrap_servers=kafka,
            registry_client_id="notifier",
            registry_client_secret="notifier-secret-123",
            log_format="json",
            mail_retry_seconds=0.2,
            # Generous: a shared, loaded test machine must not turn a slow 250 into a retry.
            smtp_timeout_seconds=30,
            **settings,
        ),
        registry_client=registry.http if use_registry_client else None,
        gateway_client=gateway.http if gateway is not None else None,
    )
    async with serving(app, port) as url, httpx.AsyncClient(base_url=url) as http:
        await ready(http)
        yield Notifier(app, url, http)


def service_env(service: str, **settings: object) -> dict[str, str]:
    """The environment configuring `crossalert serve SERVICE` with these settings (by name)."""
    prefix = SERVICE_SETTINGS[service].model_config["env_prefix"]
    return {f"{prefix}{name.upper()}": str(value) for name, value in settings.items()}


def killable_notifier(state: Path, kafka: str, registry_url: str, smtp_port: int) -> dict[str, Any]:
    """The settings of a notifier process a test kills and starts again (on the same database
    in `state`, in the same consumer group)."""
    return {
        "kafka_bootstrap_servers": kafka,
        "registry_url": registry_url,
        "registry_client_id": "notifier",
        "registry_client_secret": "notifier-secret-123",
        "database_url": f"sqlite+aiosqlite:///{state / 'notifier.sqlite3'}",
        "consumer_group": f"notifier-{uuid.uuid4().hex[:8]}",
        "consumer_start": "latest",
        "smtp_port": smtp_port,
        "mail_retry_seconds": 0.2,
        # A mail the killed process had claimed waits for the claim (twice this) to lapse.
        "smtp_timeout_seconds": 3,
    }


@contextlib.contextmanager
def service_process(service: str, env: dict[str, str], log: Path) -> Iterator[Popen[bytes]]:
    """`crossalert serve SERVICE` as a child process (output to `log`), killed at the end if
    still running: for the tests that kill a service mid-work."""
    with log.open("ab") as output:
        child = Popen(
            [sys.executable, "-m", "services.cli", "serve", service],
            env={**os.environ, **env},
            stdout=output,
            stderr=STDOUT,
        )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()


@dataclass
class ServiceProcess:
    """A service as a child process (`crossalert serve`), which a test kills (`kill -9`) and
    starts again on the same port and database."""

    service: str
    env: dict[str, str]
    state: Path
    http: httpx.AsyncClient
    processes: contextlib.ExitStack
    started: list[Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    async def start(self) -> None:
        """Start a process and wait until it is ready."""
        log = self.state / f"{self.service}-{len(self.started) + 1}.log"
        self.started.append(
            self.processes.enter_context(service_process(self.service, self.env, log))
        )
        await until_ready(self.http)

    def kill(self) -> None:
        self.started[-1].send_signal(signal.SIGKILL)
        self.started[-1].wait()


@asynccontextmanager
async def service_child(
    service: str, state: Path, **settings: object
) -> AsyncIterator[ServiceProcess]:
    """`crossalert serve SERVICE` with these settings, on a free port, logging in `state`."""
    port = free_port()
    env = service_env(service, http_port=port, log_format="json", **settings)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        with contextlib.ExitStack() as processes:
            child = ServiceProcess(service, env, state, http, processes)
            await child.start()
            yield child


async def until_ready(http: httpx.AsyncClient, timeout: float = 60) -> None:
    """Wait until a service process answers /readyz with 200 (it may not listen yet)."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                await ready(http)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.2)


async def ready(http: httpx.AsyncClient, timeout: float = 60) -> None:
    """Wait until the notifier reads the alert topics (and so misses none posted from now)."""
    async with asyncio.timeout(timeout):
        while (await http.get("/readyz")).status_code != 200:
            await asyncio.sleep(0.1)


async def login(http: httpx.AsyncClient, username: str) -> str:
    """A duty officer's access token, through the notifier's login."""
    response = await http.post(
        "/v1/login", json={"username": username, "password": PASSWORDS[username]}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@dataclass
class Console:
    """A duty officer's console as a program: it keeps what the feed sent, in order."""

    url: str
    token: str
    messages: list[ServerMessage] = field(default_factory=list)
    closed: tuple[int, str] | None = None
    _socket: Any = None
    _reader: asyncio.Task[None] | None = None

    @property
    def items(self) -> list[FeedItem]:
        """Every feed item received, over every connection."""
        return [m for m in self.messages if isinstance(m, FeedItem)]

    @property
    def cursor(self) -> int | None:
        """The highest seq seen."""
        return max((item.seq for item in self.items), default=None)

    def shown(self) -> dict[tuple[str, str], FeedItem]:
        """What the console would show: the latest view of each alert message."""
        return {(i.key.sender, i.key.identifier): i for i in self.items}

    async def connect(self, *, resume: bool = False, origin: str | None = None) -> None:
        """Open the feed; after a reconnect, resume from the highest seq seen."""
        headers = {"Origin": origin} if origin else None
        # As a browser does, it takes an item of any size (an external source's alert may be
        # several MiB; websockets' default refuses messages over 1 MiB).
        self._socket = await websockets.connect(
            self.url, additional_headers=headers, max_size=MAX_RECORD_BYTES
        )
        hello = {"type": "hello", "token": self.token}
        if resume and self.cursor is not None:
            hello["resume_after"] = self.cursor  # type: ignore[assignment]
        await self._socket.send(json.dumps(hello))
        self.closed = None
        self._reader = asyncio.create_task(self._read(self._socket))

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                self.messages.append(SERVER_MESSAGE.validate_json(raw))
        except websockets.ConnectionClosed:
            pass
        self.closed = (ws.close_code, ws.close_reason)

    async def send(self, message: dict[str, Any]) -> None:
        """Send a message on the open feed (after the hello)."""
        await self._socket.send(json.dumps(message))

    async def disconnect(self) -> None:
        """Close the WebSocket from the console's side."""
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await self._reader

    async def wait_for(
        self, check: Callable[[Console], bool], timeout: float = 20, what: str = "condition"
    ) -> None:
        """Wait until `check(self)` holds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while not check(self):
                    await asyncio.sleep(0.05)
        assert check(self), f"{what} not met in {timeout} s; got {self.summary()}"

    def summary(self) -> list[str]:
        """The messages received, briefly."""
        return [
            f"{m.seq}:{m.kind}:{m.key.identifier}:{m.state}" if isinstance(m, FeedItem) else m.type
            for m in self.messages
        ]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def meuse_alert(**changes: Any) -> dict[str, Any]:
    """A Severe flood alert of Liège for its province, BE33."""
    alert = flood_alert(**changes)
    for info in alert["info"]:
        info["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": "BE33"}]
    return alert


POLYGONS = 400


def many_polygons() -> tuple[dict[str, Any], bytes]:
    """A Meuse alert whose area holds POLYGONS distinct rings of 250 points over Liège
    (~1.7 MB), as a national service's detailed warning areas are."""
    alert = meuse_alert()
    rings = []
    for k in range(POLYGONS):
        radius = 0.02 + k * 0.0001
        points = [
            f"{50.63 + radius * math.sin(2 * math.pi * j / 250):.5f},"
            f"{5.57 + radius * math.cos(2 * math.pi * j / 250):.5f}"
            for j in range(250)
        ]
        rings.append(" ".join([*points, points[0]]))
    alert["info"][0]["area"][0]["polygon"] = rings
    return alert, to_cap_xml(validate_alert(alert))


def follow_up(original: dict[str, Any], msg_type: str) -> dict[str, Any]:
    """An Update or Cancel of `original`, referencing it."""
    reference = f"{original['sender']},{original['identifier']},{original['sent']}"
    return meuse_alert(msgType=msg_type, references=[reference])


def ids(console: Console, kind: ItemKind = ItemKind.ALERT) -> list[str]:
    return [item.key.identifier for item in console.items if item.kind is kind]


async def quiet(seconds: float = 1.5) -> None:
    """Give a wrong delivery time to show itself before asserting it did not happen."""
    await asyncio.sleep(seconds)


class Served:
    """An app (whose lifespan runs) served over HTTP, which a test takes down and serves again
    on the same port: a service going away and coming back."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._serving: contextlib.AbstractAsyncContextManager[str] | None = None

    async def start(self) -> None:
        self._serving = serving(self.app, self.port, lifespan=False)
        await self._serving.__aenter__()

    async def stop(self) -> None:
        if self._serving is not None:
            stopping, self._serving = self._serving, None
            await stopping.__aexit__(None, None, None)


@dataclass
class Network:
    registry: Registry
    gateway: Gateway
    notifier: Notifier
    smtp: SmtpServer
    publisher: dict[str, str]
    registry_served: Served | None = None  # the registry over HTTP, when the services use that

    async def post(self, alert: dict[str, Any]) -> dict[str, Any]:
        answer = await self.gateway.http.post("/v1/alerts", json=alert, headers=self.publisher)
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    async def console(self, contact_point: str, *, connect: bool = True) -> Console:
        token = await login(self.notifier.http, OFFICERS[contact_point])
        console = Console(self.notifier.ws_url, token)
        if connect:
            await console.connect()
            await console.wait_for(lambda c: any(m.type == "synced" for m in c.messages))
        return console

    async def report(self, alert: dict[str, Any], headers: dict[str, str]) -> Any:
        return await self.notifier.http.get(
            f"/v1/alerts/{alert['sender']}/{alert['identifier']}/deliveries", headers=headers
        )


@asynccontextmanager
async def network_on(
    tmp_path: Path,
    kafka: str,
    *,
    database_url: str | None = None,
    registry_changes: bool = False,
    registry_over_http: bool = False,
    gateway_settings: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[Network]:
    """The whole network, with the notifier on `database_url` (SQLite by default) and
    `settings`, the gateway with `gateway_settings`; the registry publishes its changes on the
    broker only when `registry_changes` asks for it.

    With `registry_over_http`, the gateway and notifier reach the registry over HTTP
    (`Network.registry_served`), so that a test can take it away; else in-process."""
    if database_url is not None:
        settings["database_url"] = database_url
    registry_kafka = kafka if registry_changes else NO_KAFKA
    async with contextlib.AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running_registry(
                f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path, kafka=registry_kafka
            )
        )
        served: Served | None = None
        reach: dict[str, Any] = {}
        if registry_over_http:
            served = Served(registry.app, free_port())
            await served.start()
            stack.push_async_callback(served.stop)
            reach = {"use_registry_client": False, "registry_url": served.url}
        gateway = await stack.enter_async_context(
            running_gateway(tmp_path, kafka, registry, **reach, **(gateway_settings or {}))
        )
        smtp = await stack.enter_async_context(running_smtp(free_port()))
        notifier = await stack.enter_async_context(
            running_notifier(
                tmp_path,
                kafka,
                registry,
                free_port(),
                smtp_port=smtp.port,
                gateway=gateway,
                **reach,
                **settings,
            )
        )
        publisher = await registry.auth("liege-system", "liege-secret-123")
        yield Network(registry, gateway, notifier, smtp, publisher, served)
