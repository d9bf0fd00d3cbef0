"""The network the notifier benchmarks measure: broker, registry, gateway and notifier as their
own processes (`crossalert serve`, SQLite), a mail sink, the seed's officers and the alert posted.

Ports: the broker on 29300/29301 (unless CROSSALERT_BENCH_KAFKA=host:port names one), the
registry, gateway, notifier and mail sink on 29310-29313, further notifier processes on 29314 and
up. State and logs in .state/bench-notifier (a further notifier's log in a folder of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.synchronize
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.broker import bench_broker
from bench.consoles import raise_open_files_limit
from schemas import Alert, parse_cap_xml, to_cap_json
from schemas.console import Hello
from schemas.registry import RoutingAnswer
from services.common.kafka import create_topics
from services.localnet import kafka, process
from services.localnet.mailsink import MailSink
from services.localnet.service import (
    NOTIFIER_CLIENT,
    LocalService,
    gateway_service,
    notifier_service,
    registry_service,
    start_service,
)
from services.registry.cli import seed_database
from services.registry.seed import DEFAULT_SEED, read_seed

EXAMPLE = Path(__file__).parent.parent / "schemas" / "examples" / "alert.meuse-flood-warning.xml"
PUBLISHER = ("nl-vrln-system", "demo-secret-nl-vrln")  # from the default seed; acts for NL421/2
BROKER_PORTS = (29300, 29301)
REGISTRY_PORT, GATEWAY_PORT, NOTIFIER_PORT, MAIL_PORT = 29310, 29311, 29312, 29313
FURTHER_NOTIFIER_PORTS = 29314
STOP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Officer:
    """A duty officer of the seed, and the contact point whose console they open."""

    username: str
    password: str
    contact_point: str


@dataclass(frozen=True)
class Network:
    """The running network: where each service answers, and each service's pid."""

    bootstrap: str
    registry_url: str
    gateway_url: str
    notifier_urls: list[str]
    pids: dict[str, int]

    @property
    def notifier_url(self) -> str:
        """The (first) notifier's base URL."""
        return self.notifier_urls[0]

    @property
    def notifier_pid(self) -> int:
        """The (first) notifier's process id."""
        return self.pids["notifier"]

    @property
    def feed_url(self) -> str:
        """The (first) notifier's WebSocket feed."""
        return feed_url_of(self.notifier_url)


def feed_url_of(notifier_url: str) -> str:
    """The consoles' WebSocket feed of a notifier process."""
    return notifier_url.replace("http://", "ws://") + "/v1/feed"


def officers() -> list[Officer]:
    """The default seed's duty officers."""
    users = read_seed(DEFAULT_SEED)["console_users"]
    return [Officer(u["username"], u["password"], u["contact_point"]) for u in users]


def alerts(prefix: str, count: int, *, lasting: timedelta = timedelta(days=1)) -> list[Alert]:
    """`count` distinct copies of the Meuse flood example, sent now, expiring `lasting` later."""
    # The example's German info block names DEA1E; the client acts for NL421 and NL422.
    document = EXAMPLE.read_bytes().replace(b"<value>DEA1E</value>", b"<value>NL422</value>")
    alert = parse_cap_xml(document)
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + lasting
    info = [i.model_copy(update={"onset": now, "expires": expires}) for i in alert.info]
    return [
        alert.model_copy(update={"identifier": f"{prefix}-{n}", "sent": now, "info": info})
        for n in range(count)
    ]


def body_of(alert: Alert) -> bytes:
    """The request body the gateway is posted."""
    return to_cap_json(alert).encode()


async def client_token(registry_url: str, client: tuple[str, str], scope: str) -> str:
    """An access token of an API client (client credentials grant)."""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{registry_url}/v1/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": client[0],
                "client_secret": client[1],
                "scope": scope,
            },
        )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def routing(registry_url: str, alert: Alert) -> RoutingAnswer:
    """The registry's routing answer for `alert`, asked as the notifier asks it."""
    token = await client_token(registry_url, NOTIFIER_CLIENT, "routing:resolve")
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{registry_url}/v1/routing",
            content=f'{{"alert": {to_cap_json(alert)}}}',
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    answer.raise_for_status()
    return RoutingAnswer.model_validate_json(answer.content)


def recipients(answer: RoutingAnswer) -> set[str]:
    """The contact points an alert goes to at once (not only on escalation)."""
    return {r.contact_point for r in answer.recipients if not r.escalation_only}


def console_officers(answer: RoutingAnswer) -> list[Officer]:
    """The seed's officers whose contact point the alert goes to; fails if there is none."""
    routed = recipients(answer)
    chosen = [o for o in officers() if o.contact_point in routed]
    if not chosen:
        raise RuntimeError(f"the alert reaches no officer's contact point (routed: {routed})")
    return chosen


async def login(notifier_url: str, officer: Officer) -> str:
    """A duty officer's console token, through the notifier's login."""
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{notifier_url}/v1/login",
            json={"username": officer.username, "password": officer.password},
        )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


async def console_hellos(notifier_url: str, chosen: list[Officer], count: int) -> list[str]:
    """The Hello of each of `count` consoles, the officers taking turns (one login each)."""
    tokens = [await login(notifier_url, officer) for officer in chosen]
    return [Hello(token=tokens[n % len(tokens)]).model_dump_json() for n in range(count)]


def rss_kib(pid: int) -> int:
    """The resident set size of a process (VmRSS), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user + system), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_load(pids: list[int], seconds: float = 3.0) -> float:
    """Cores these processes use together, over `seconds`."""
    before = sum(cpu_seconds(pid) for pid in pids)
    await asyncio.sleep(seconds)
    return (sum(cpu_seconds(pid) for pid in pids) - before) / seconds


async def settle(pids: list[int], *, idle: float = 0.05, within: float = 300) -> float:
    """Wait until these processes use under `idle` of a core for half a second; seconds waited.

    The notifier keeps working after the consoles got an alert (mail, receipts): the next
    measurement starts only once that is done, whichever side it measures.
    """
    started = time.monotonic()
    while time.monotonic() - started < within:
        before = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in pids) - before < idle * 0.5:
            break
    return time.monotonic() - started


def _serve_mail(folder: Path, port: int, stop: multiprocessing.synchronize.Event) -> None:
    """Run a mail sink until `stop` is set (a process of its own, its log to a file)."""
    log = (folder.parent / "mailsink.log").open("a", encoding="utf-8")
    sys.stdout = sys.stderr = log  # one line per mail; not for the bench's terminal
    with MailSink(folder, port=port):
        stop.wait()


@contextmanager
def mail_sink(folder: Path, port: int) -> Iterator[None]:
    """A mail sink process on `port` that keeps the notifier's mails in `folder`."""
    shutil.rmtree(folder, ignore_errors=True)
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    sink = context.Process(target=_serve_mail, args=(folder, port, stop), daemon=True)
    sink.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not process.accepts_connections("127.0.0.1", port):
        if not sink.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the mail sink did not listen on port {port}")
        time.sleep(0.1)
    try:
        yield
    finally:
        stop.set()
        sink.join(timeout=10)


def _services(
    state: Path, bootstrap: str, run: str, notifiers: int, **settings: str
) -> list[LocalService]:
    # Consoles stay connected for the whole run; a 5-minute token would close them.
    registry = registry_service(state, bootstrap, REGISTRY_PORT, token_ttl_seconds="3600")
    gateway = gateway_service(
        state, bootstrap, GATEWAY_PORT, registry.url,
        rate_limit_per_minute=str(10**9),  # measure, do not throttle
    )  # fmt: skip
    settings = {
        # A broker kept from an earlier run holds its alerts: this run reads only its own.
        "consumer_group": f"bench-notifier-{run}", "consumer_start": "latest",
        # Thousands of consoles share the seed's few officers here.
        "console_connections_per_officer": str(10**6),
        **settings,
    }  # fmt: skip
    ports = [NOTIFIER_PORT, *range(FURTHER_NOTIFIER_PORTS, FURTHER_NOTIFIER_PORTS + notifiers - 1)]
    # Further processes log in folders of their own, and share the first one's database.
    settings.setdefault("database_url", f"sqlite+aiosqlite:///{state / 'notifier.sqlite3'}")
    notifier_processes = [
        notifier_service(state if n == 0 else state / f"notifier-{n + 1}", bootstrap, port,
                         registry.url, MAIL_PORT, **settings)
        for n, port in enumerate(ports)
    ]  # fmt: skip
    return [registry, gateway, *notifier_processes]


def _wait_ready(service: LocalService) -> None:
    """Wait until the service's /readyz answers 200 (the notifier: reading the alert topics)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{service.url}/readyz", timeout=5).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"the {service.name} was not ready within {READY_TIMEOUT_S:g} s")


@contextmanager
def running_network(*, notifiers: int = 1, **notifier: str) -> Iterator[Network]:
    """Start (or use) a broker, a mail sink and the services on fresh databases.

    `notifiers` processes of the notifier share one consumer group and one database;
    `notifier` are further settings of the notifier (`console_send_timeout_seconds="2"`,
    `database_url`).
    """
    root = kafka.repo_root()
    state = root / ".state" / "bench-notifier"
    raise_open_files_limit()  # the services inherit it: the notifier holds every console
    with ExitStack() as stack:
        bootstrap = bench_broker(stack, "bench-notifier-kafka", BROKER_PORTS)
        asyncio.run(create_topics(bootstrap, ["alerts.geo"]))
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
        stack.enter_context(mail_sink(state / "mail", MAIL_PORT))
        services = _services(state, bootstrap, uuid.uuid4().hex[:8], notifiers, **notifier)
        registry, notifier_processes = services[0], services[2:]
        asyncio.run(seed_database(registry.env["CROSSALERT_REGISTRY_DATABASE_URL"], DEFAULT_SEED))
        pids = {}
        for n, service in enumerate(services):
            name = service.name if n < 3 else f"{service.name}-{n - 1}"
            pids[name] = start_service(service)
            stack.callback(process.terminate, pids[name], timeout=STOP_TIMEOUT_S, marker="serve")
        for service in notifier_processes:
            _wait_ready(service)
        yield Network(
            bootstrap, registry.url, services[1].url, [s.url for s in notifier_processes], pids
        )
