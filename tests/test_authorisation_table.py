"""Who may read and write what, route by route and token by token: the authorisation table.

Liège's system publishes a flood alert for its province. The Meuse agreement brings it to
Zuid-Limburg; it never reaches Metz (tests/registry/world.yaml). Every route of the registry,
the gateway, the notifier and the feed ingest worker is then called with every kind of token:
the sender's system and officer, a recipient's, a stranger's, the network's routing service,
a directory reader, the feed ingest worker, the administrator, and none. Each row says who gets
an answer; everyone else is refused, and nobody's answer or log line holds a secret.

A route that is not in the table fails `test_every_route_is_in_the_table`: a new route is born
with its row (see docs/security.md, which states the same table in words).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from evaluator_support import version
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from feed_support import feed_ingest_app
from notifier_support import Network, login, meuse_alert, network_on
from registry_support import WORLD
from starlette.routing import Route, WebSocketRoute

from services.exercise.check import check_message

SYSTEMS = {
    "sender_system": ("liege-system", "liege-secret-123"),
    "recipient_system": ("limburg-system", "limburg-secret-123"),
    "stranger_system": ("metz-system", "metz-secret-123"),
    "rule_owner": ("aviq-system", "aviq-secret-123"),
    "rule_party": ("ggd-system", "ggd-secret-123"),
    "evaluator_service": ("evaluator", "evaluator-secret-123"),
    "network_service": ("notifier", "notifier-secret-123"),
    "directory_reader": ("reader", "reader-secret-123"),
    "exercise_planner": ("planner", "planner-secret-123"),
    "feed_service": ("feed-ingest", "feed-ingest-secret-123"),
    "administrator": ("admin", "admin-secret-123"),
}
OFFICERS = {
    "sender_officer": "officer.liege",
    "recipient_officer": "officer.limburg",
    "stranger_officer": "officer.metz",
}
SENDERS = {
    "sender_system": "crisis@liege.example.org",
    "recipient_system": "meldkamer@vrzl.example.org",
    "stranger_system": "cogic@metz.example.org",
    "rule_owner": "surveillance@aviq.example.org",
    "rule_party": "infectieziekten@ggdzl.example.org",
    "exercise_planner": "cogic@metz.example.org",
}
# The administrator comes last: a refused kind that wrongly deleted a record would leave the
# administrator a 404 to show it.
KINDS = ["anonymous", *OFFICERS, *SYSTEMS]
EVERYONE = frozenset(KINDS)

Service = str  # "registry", "gateway", "notifier" or "feeds" (the feed ingest worker)


@dataclass
class World:
    network: Network
    tokens: dict[str, str | None]
    alert: dict[str, Any]
    by_service: dict[Service, httpx.AsyncClient]
    feeds: FastAPI | None = None
    """The feed ingest worker's app (its routes are its health and metrics)."""

    def headers(self, kind: str) -> dict[str, str]:
        token = self.tokens[kind]
        return {} if token is None else {"Authorization": f"Bearer {token}"}


Call = Callable[[World, str], Awaitable[httpx.Response]]
"""Sends a row's request as the kind of token given."""


@dataclass(frozen=True)
class Row:
    """One request on one route, and the kinds of token it answers."""

    service: Service
    method: str
    path: str
    allowed: frozenset[str]
    call: Call
    refused: frozenset[int] = field(default=frozenset({401, 403}))
    why: str = ""

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.path}{' ' + self.why if self.why else ''}"


def simple(
    service: Service, method: str, route: str, allowed: frozenset[str], **params: str
) -> Row:
    """A row whose request is the route with `params` filled in and no body."""

    async def call(world: World, kind: str) -> httpx.Response:
        url = route.format(**params)
        return await world.by_service[service].request(method, url, headers=world.headers(kind))

    return Row(service, method, route, allowed, call)


def fixed(body: dict[str, Any]) -> Callable[[World, str], dict[str, Any]]:
    """The same body whoever sends it."""
    return lambda _world, _kind: body


def with_body(
    service: Service,
    method: str,
    path: str,
    allowed: frozenset[str],
    body: Callable[[World, str], dict[str, Any]],
    *,
    refused: frozenset[int] = frozenset({401, 403}),
    why: str = "",
    **params: str,
) -> Row:
    """A row whose request carries a JSON body made for the kind of token."""

    async def call(world: World, kind: str) -> httpx.Response:
        url = path.format(**params)
        headers = world.headers(kind)
        return await world.by_service[service].request(
            method, url, json=body(world, kind), headers=headers
        )

    return Row(service, method, path, allowed, call, refused, why)


# Records of every kind the administrator keeps, as new ones (created), and throwaway ones that
# exist already (replaced, then deleted).
def records(prefix: str) -> dict[str, tuple[str, dict[str, Any]]]:
    code = {"zy": "ZY", "zz": "ZZ"}[prefix]
    return {
        "regions": (code, {"code": code, "country": code, "level": 0, "names": {"en": code}}),
        "organisations": (
            f"{prefix}-org",
            {"id": f"{prefix}-org", "name": "Test organisation", "kind": "crisis_centre",
             "home_region": "BE", "cap_sender": f"{prefix}@example.org"},
        ),
        "contact-points": (
            f"{prefix}-desk",
            {"id": f"{prefix}-desk", "organisation": "be-nccn", "function": "duty_desk",
             "name": "Test desk"},
        ),
        "agreements": (
            f"{prefix}-agreement",
            {"id": f"{prefix}-agreement", "name": "Test agreement",
             "parties": {"organisations": ["be-nccn", "lu-cgccr"]}, "categories": ["Geo"],
             "min_severity": "Minor", "valid_from": "2020-01-01"},
        ),
        "api-clients": (
            f"{prefix}-client",
            {"client_id": f"{prefix}-client", "organisation": "be-nccn",
             "secret": "a-long-secret-123", "scopes": []},
        ),
        "console-users": (
            f"{prefix}.officer",
            {"username": f"{prefix}.officer", "organisation": "be-nccn",
             "contact_point": "be-nccn-duty", "display_name": "Test officer",
             "password": "a-long-passphrase-1"},
        ),
        "indicators": (
            f"{prefix}-indicator",
            {"id": f"{prefix}-indicator", "unit": "cases", "period": "day", "category": "Health",
             "names": {"en": "Test indicator"}},
        ),
        "cap-feeds": (
            f"{prefix}-feed",
            {"id": f"{prefix}-feed", "url": "http://127.0.0.1:9/feed.atom",
             "organisation": "be-nccn", "enabled": False},
        ),
    }  # fmt: skip


DIRECTORY = frozenset({"directory_reader", "administrator"})
CATALOGUE = DIRECTORY | {"rule_owner", "rule_party", "evaluator_service"}
RULE_READERS = CATALOGUE
"""The owner, a party of the rule's agreement, the services and the directory read a rule."""
ADMINISTRATOR = frozenset({"administrator"})


def record_rows() -> list[Row]:
    rows = []
    for kind, (_, body) in records("zy").items():
        # Indicators and regions' public names are read by the agencies and the evaluator too.
        readers = CATALOGUE if kind in ("indicators", "regions") else DIRECTORY
        # The feed ingest worker reads the feeds it polls.
        readers |= {"feed_service"} if kind == "cap-feeds" else set()
        rows += [
            simple("registry", "GET", f"/v1/{kind}", readers),
            simple("registry", "GET", f"/v1/{kind}/{{key}}", readers, key=records("zz")[kind][0]),
            with_body("registry", "POST", f"/v1/{kind}", ADMINISTRATOR, fixed(body)),
        ]
    for kind, (key, body) in records("zz").items():
        rows += [
            Row("registry", "PUT", f"/v1/{kind}/{{key}}", ADMINISTRATOR, replace(kind, key, body)),
            simple("registry", "DELETE", f"/v1/{kind}/{{key}}", ADMINISTRATOR, key=key),
        ]
    return rows


def replace(kind: str, key: str, body: dict[str, Any]) -> Call:
    async def call(world: World, token_kind: str) -> httpx.Response:
        registry = world.by_service["registry"]
        admin = world.headers("administrator")
        version = (await registry.get(f"/v1/{kind}/{key}", headers=admin)).headers["ETag"]
        headers = world.headers(token_kind) | {"If-Match": version}
        return await registry.put(f"/v1/{kind}/{key}", json=body, headers=headers)

    return call


def liege_facts(world: World, kind: str) -> dict[str, Any]:
    facts = {"status": "Actual", "categories": ["Geo"], "severity": "Severe", "regions": ["BE33"]}
    return {"facts": facts | {"sender": world.alert["sender"]}}


def answer_to_the_alert(msg_type: str) -> Callable[[World, str], dict[str, Any]]:
    """A message of the token's own organisation referring to Liège's alert."""

    def body(world: World, kind: str) -> dict[str, Any]:
        alert = world.alert
        message: dict[str, Any] = {
            "identifier": f"{msg_type.upper()}-{uuid.uuid4().hex[:10]}",
            "sender": SENDERS.get(kind, "nobody@example.org"),
            "sent": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "status": "Actual",
            "msgType": msg_type,
            "scope": "Public",
            "references": [f"{alert['sender']},{alert['identifier']},{alert['sent']}"],
        }
        if msg_type == "Update":
            info = meuse_alert()["info"]
            region = {"sender_system": "BE33", "recipient_system": "NL42"}.get(kind, "FRF3")
            info[0]["area"][0]["geocode"] = [{"valueName": "NUTS2", "value": region}]
            message["info"] = info
        return message

    return body


def addressed_exercise(world: World, kind: str) -> dict[str, Any]:
    """A communication check to Liège's desk, in the token's own organisation's name."""
    return check_message(
        f"t{uuid.uuid4().hex[:8]}", ["contact:be-liege-duty"],
        sender=SENDERS.get(kind, "nobody@example.org"), category="Geo", sent=datetime.now(UTC),
    )  # fmt: skip


ALERT = "/v1/alerts/{sender}/{identifier}"
SENDER_AND_RECIPIENT_SYSTEMS = frozenset({"sender_system", "recipient_system"})
READERS_OF_THE_REPORT = SENDER_AND_RECIPIENT_SYSTEMS | {"sender_officer", "recipient_officer"}


def alert_rows() -> list[Row]:
    routers = frozenset({"network_service", "sender_system"})
    return [
        with_body("registry", "POST", "/v1/routing", routers, liege_facts),
        with_body("gateway", "POST", "/v1/alerts", SENDER_AND_RECIPIENT_SYSTEMS,
                  answer_to_the_alert("Ack"), why="(an Ack of Liège's alert)"),
        with_body("gateway", "POST", "/v1/alerts", frozenset({"sender_system"}),
                  answer_to_the_alert("Update"), refused=frozenset({401, 403, 422}),
                  why="(an Update of Liège's alert)"),
        with_body("gateway", "POST", "/v1/alerts", frozenset({"exercise_planner"}),
                  addressed_exercise, why="(an addressed exercise: a communication check)"),
        alert_row("gateway", "GET", ALERT, SENDER_AND_RECIPIENT_SYSTEMS),
        alert_row("notifier", "GET", ALERT + "/deliveries", READERS_OF_THE_REPORT),
        alert_row("notifier", "GET", ALERT + "/cap", READERS_OF_THE_REPORT),
        alert_row("notifier", "POST", ALERT + "/acknowledgements",
                  frozenset({"recipient_officer"}), body={"note": "seen"}),
    ]  # fmt: skip


def alert_row(
    service: Service,
    method: str,
    path: str,
    allowed: frozenset[str],
    body: dict[str, Any] | None = None,
) -> Row:
    async def call(world: World, kind: str) -> httpx.Response:
        url = path.format(sender=world.alert["sender"], identifier=world.alert["identifier"])
        return await world.by_service[service].request(
            method, url, json=body, headers=world.headers(kind)
        )

    return Row(service, method, path, allowed, call)


RULE = "aviq-rate-be33"


def rule_body(rule_id: str) -> dict[str, Any]:
    """AViQ's rule for Liège's province, bound to the Euregio health agreement."""
    return version(id=rule_id, owner="be-aviq", regions=["BE33"])


def rule_rows() -> list[Row]:
    owner = frozenset({"rule_owner"})

    async def next_version(world: World, kind: str) -> httpx.Response:
        registry = world.by_service["registry"]
        current = await registry.get(
            f"/v1/threshold-rules/{RULE}", headers=world.headers("rule_owner")
        )
        headers = world.headers(kind) | {"If-Match": current.headers["ETag"]}
        return await registry.put(
            f"/v1/threshold-rules/{RULE}", json=rule_body(RULE), headers=headers
        )

    async def new_rule(world: World, kind: str) -> httpx.Response:
        body = rule_body(f"aviq-new-{kind.replace('_', '-')}")
        return await world.by_service["registry"].post(
            "/v1/threshold-rules", json=body, headers=world.headers(kind)
        )

    return [
        simple("registry", "GET", "/v1/threshold-rules", RULE_READERS),
        simple("registry", "GET", "/v1/threshold-rules/{rule_id}", RULE_READERS, rule_id=RULE),
        Row("registry", "POST", "/v1/threshold-rules", owner, new_rule),
        Row("registry", "PUT", "/v1/threshold-rules/{rule_id}", owner, next_version),
        with_body("gateway", "POST", "/v1/observations", AGENCIES, observation),
    ]


COMPOSER = frozenset({"sender_officer"})
"""officer.liege composes and approves Liège's alerts in the console; officers who do neither
hold no token for the gateway (401), systems no composer's scope (403)."""


def composed(_world: World, _kind: str) -> dict[str, Any]:
    """What the console's form sends: Liège's flood, sender, identifier and sent left out."""
    alert = meuse_alert()
    return {k: v for k, v in alert.items() if k not in ("sender", "identifier", "sent")}


def on_a_composition(action: str, *, by: str = "sender_officer", via: str = "gateway") -> Call:
    """A request (to `via`) on a fresh composition, written (and, for an approval, submitted)
    by `by`."""

    async def call(world: World, kind: str) -> httpx.Response:
        gateway = world.by_service["gateway"]
        if by == "colleague":
            token = await login(world.by_service["notifier"], "officer.liege.2")
            author = {"Authorization": f"Bearer {token}"}
        else:
            author = world.headers(by)
        body = {"document": composed(world, kind)}
        created = (await gateway.post("/v1/compositions", json=body, headers=author)).json()
        path = f"/v1/compositions/{created['id']}"
        version = {"version": created["version"]}
        if action == "approve":
            submitted = await gateway.post(f"{path}/submit", json=version, headers=author)
            assert submitted.status_code == 200, submitted.text
        headers, service = world.headers(kind), world.by_service[via]
        if action == "read":
            return await service.get(path, headers=headers)
        if action == "save":
            return await service.put(path, json=body | version, headers=headers)
        return await service.post(f"{path}/{action}", json=version, headers=headers)

    return call


def through_the_notifier(method: str) -> Call:
    """The console's list (GET) or new draft (POST), sent to its own origin."""

    async def call(world: World, kind: str) -> httpx.Response:
        body = {"document": composed(world, kind)} if method == "POST" else None
        return await world.by_service["notifier"].request(
            method, "/v1/compositions", json=body, headers=world.headers(kind)
        )

    return call


def composition_rows() -> list[Row]:
    path = "/v1/compositions/{composition_id}"
    passed = "/v1/compositions{rest:path}"
    return [
        with_body("gateway", "POST", "/v1/compositions/check", COMPOSER, composed),
        with_body("gateway", "POST", "/v1/compositions", COMPOSER,
                  lambda world, kind: {"document": composed(world, kind)}),
        simple("gateway", "GET", "/v1/compositions", COMPOSER),
        simple("gateway", "GET", "/v1/compositions/templates", COMPOSER),
        Row("gateway", "GET", path, COMPOSER, on_a_composition("read")),
        Row("gateway", "PUT", path, COMPOSER, on_a_composition("save")),
        Row("gateway", "POST", path + "/submit", COMPOSER, on_a_composition("submit")),
        Row("gateway", "POST", path + "/approve", COMPOSER,
            on_a_composition("approve", by="colleague"), why="(a colleague's submitted draft)"),
        Row("gateway", "POST", path + "/withdraw", COMPOSER, on_a_composition("withdraw")),
        # The console's own origin passes them to the gateway, token and all.
        Row("notifier", "GET", passed, COMPOSER, through_the_notifier("GET")),
        Row("notifier", "POST", passed, COMPOSER, through_the_notifier("POST")),
        Row("notifier", "PUT", passed, COMPOSER, on_a_composition("save", via="notifier")),
    ]  # fmt: skip


AGENCIES = frozenset({"rule_owner", "rule_party"})
PLANNER = frozenset({"exercise_planner"})


def exercise_report(run_id: str) -> dict[str, Any]:
    """A run's after-action report naming Liège's crisis unit as its one participant."""
    now = datetime.now(UTC).isoformat()
    return {
        "run_id": run_id, "scenario": "Table exercise", "state": "finished", "speed": 1.0,
        "started_at": now, "ended_at": now, "objectives": [], "made_at": now, "planned": 0,
        "timeline": [], "participants": ["be-liege"], "organisations": [],
        "contact_points": [], "expectations": [], "corrective_actions": [],
    }  # fmt: skip


def exercise_report_rows() -> list[Row]:
    async def published(world: World, kind: str) -> httpx.Response:
        notifier = world.by_service["notifier"]
        publishing = await notifier.post(
            "/v1/exercise-reports", json=exercise_report("table-run"),
            headers=world.headers("exercise_planner"),
        )  # fmt: skip
        assert publishing.status_code in (200, 201), publishing.text
        return await notifier.get("/v1/exercise-reports/table-run", headers=world.headers(kind))

    return [
        with_body("notifier", "POST", "/v1/exercise-reports", PLANNER,
                  lambda _world, kind: exercise_report(f"table-{kind.replace('_', '-')}")),
        simple("notifier", "GET", "/v1/exercise-reports", PLANNER | set(OFFICERS)),
        Row("notifier", "GET", "/v1/exercise-reports/{run_id}",
            PLANNER | {"sender_officer"}, published, why="(a participant's officer)"),
        simple("notifier", "GET", "/v1/exercise-runs/{run_id}/deliveries", PLANNER,
               run_id="20261203-abcdef"),
    ]  # fmt: skip


def observation(_world: World, kind: str) -> dict[str, Any]:
    """A week's rate, of the agency's own region for the two agencies."""
    region = "NL423" if kind == "rule_party" else "BE332"
    return {"indicator": "rate-14d", "region": region, "period": "2026-W10", "value": 12.5}


def open_rows() -> list[Row]:
    """Routes anyone may call: they check credentials themselves, or hold nothing private."""
    officer = {"username": "officer.eupen", "password": "eupen-password-1"}
    nobody = {"refresh_token": "not-a-session"}
    rows = [
        with_body("registry", "POST", "/v1/login", EVERYONE, fixed(officer)),
        with_body("registry", "POST", "/v1/logout", EVERYONE, fixed(nobody)),
        Row("registry", "POST", "/v1/oauth/token", EVERYONE, client_credentials),
        simple("registry", "GET", "/.well-known/jwks.json", EVERYONE),
        with_body("notifier", "POST", "/v1/login", EVERYONE, fixed(officer)),
        Row("notifier", "POST", "/v1/refresh", EVERYONE, refresh),
        with_body("notifier", "POST", "/v1/logout", EVERYONE, fixed(nobody)),
        simple("notifier", "GET", "/console", EVERYONE),
        Row("notifier", "GET", "/console/static/{path:path}", EVERYONE, console_script),
        simple("notifier", "GET", "/feeds/alerts.atom", EVERYONE),
        Row("notifier", "GET", "/feeds/cap/{sender}/{identifier}.xml", EVERYONE, public_cap,
            why="(a Public, Actual alert)"),
    ]  # fmt: skip
    for service in ("registry", "gateway", "notifier", "feeds"):
        rows += [
            simple(service, "GET", "/healthz", EVERYONE),
            simple(service, "GET", "/readyz", EVERYONE),
            simple(service, "GET", "/openapi.json", EVERYONE),
            simple(service, "GET", "/asyncapi.json", EVERYONE),
            simple(service, "GET", "/metrics", EVERYONE),
            simple(service, "GET", "/docs", EVERYONE),
            simple(service, "GET", "/docs/oauth2-redirect", EVERYONE),
            simple(service, "GET", "/redoc", EVERYONE),
        ]
    return rows


async def public_cap(world: World, kind: str) -> httpx.Response:
    alert = world.alert
    url = f"/feeds/cap/{alert['sender']}/{alert['identifier']}.xml"
    return await world.by_service["notifier"].get(url, headers=world.headers(kind))


async def console_script(world: World, kind: str) -> httpx.Response:
    return await world.by_service["notifier"].get("/console/static/js/main.js")


async def refresh(world: World, kind: str) -> httpx.Response:
    """A session's renewal: what it needs is its refresh token, whatever else is sent."""
    notifier = world.by_service["notifier"]
    officer = {"username": "officer.eupen", "password": "eupen-password-1"}
    session = (await notifier.post("/v1/login", json=officer)).json()["refresh_token"]
    body = {"refresh_token": session}
    return await notifier.post("/v1/refresh", json=body, headers=world.headers(kind))


async def client_credentials(world: World, kind: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": "reader",
            "client_secret": "reader-secret-123"}  # fmt: skip
    return await world.by_service["registry"].post("/v1/oauth/token", data=form)


TABLE = [
    *record_rows(), *rule_rows(), *alert_rows(), *composition_rows(), *exercise_report_rows(),
    *open_rows(),
]  # fmt: skip

ELSEWHERE = {
    ("notifier", "WEBSOCKET", "/v1/feed"): "tests/notifier/test_feed_abuse.py and "
    "test_notifier_flow.py: no token, a bad, expired, machine or registry token, a foreign "
    "Origin, another officer's renewal",
    ("notifier", "GET", "/console/"): "redirects to /console",
}
"""Routes whose rules other tests state, because a request table cannot (a WebSocket)."""


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> AsyncIterator[World]:
    state = tmp_path_factory.mktemp("authorisation")
    async with network_on(state, kafka_bootstrap) as network, contextlib.AsyncExitStack() as stack:
        feeds = feed_ingest_app(state, kafka_bootstrap, network.registry, network.gateway.http)
        await stack.enter_async_context(feeds.router.lifespan_context(feeds))
        feeds_http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=feeds), base_url="http://feeds")
        )
        tokens: dict[str, str | None] = {"anonymous": None}
        for kind, (client, secret) in SYSTEMS.items():
            tokens[kind] = await network.registry.token(client, secret)
        for kind, username in OFFICERS.items():
            tokens[kind] = await login(network.notifier.http, username)
        alert = meuse_alert()
        await network.post(alert)
        by_service = {
            "registry": network.registry.http,
            "gateway": network.gateway.http,
            "notifier": network.notifier.http,
            "feeds": feeds_http,
        }
        world = World(network, tokens, alert, by_service, feeds)
        await _create_throwaway_records(world)
        written = await network.registry.http.post(
            "/v1/threshold-rules", json=rule_body(RULE), headers=world.headers("rule_owner")
        )
        assert written.status_code == 201, written.text
        await _wait_until_delivered(world)
        yield world


async def _create_throwaway_records(world: World) -> None:
    admin = world.headers("administrator")
    for kind, (_, body) in records("zz").items():
        created = await world.by_service["registry"].post(f"/v1/{kind}", json=body, headers=admin)
        assert created.status_code == 201, created.text


async def _wait_until_delivered(world: World) -> None:
    # The notifier records the deliveries once it consumed the alert: until then the report
    # and the acknowledgement would answer 404 to everyone.
    alert, notifier = world.alert, world.by_service["notifier"]
    url = f"/v1/alerts/{alert['sender']}/{alert['identifier']}/deliveries"
    for _ in range(600):
        if (await notifier.get(url, headers=world.headers("sender_system"))).status_code == 200:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the notifier never recorded the alert's deliveries")


def secrets_of_the_world() -> list[str]:
    world = yaml.safe_load(WORLD.read_text())
    found = [client["secret"] for client in world["api_clients"]]
    found += [user["password"] for user in world["console_users"]]
    return [*found, "$argon2", "a-long-secret-123", "a-long-passphrase-1"]


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row.label)
async def test_each_route_answers_the_kinds_of_token_its_row_names(
    world: World, row: Row, caplog: pytest.LogCaptureFixture
) -> None:
    answers = {kind: await row.call(world, kind) for kind in KINDS}

    for kind, answer in answers.items():
        where = f"{row.label} as {kind}: {answer.status_code} {answer.text[:300]}"
        if kind in row.allowed:
            assert answer.status_code < 400, where
        else:
            assert answer.status_code in row.refused, where
            assert answer.headers["content-type"] == "application/problem+json", where
    secrets = secrets_of_the_world()
    leaked = [s for s in secrets for answer in answers.values() if s in answer.text]
    assert not leaked, f"{row.label} answered a secret: {leaked}"
    assert caplog.records, "no log line was captured: the next check would see nothing"
    assert not [s for s in secrets if s in caplog.text], f"{row.label} logged a secret"


def routes_of(service: Service, app: FastAPI) -> set[tuple[Service, str, str]]:
    found: set[tuple[Service, str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, WebSocketRoute):
            found.add((service, "WEBSOCKET", route.path))
        elif isinstance(route, Route) or hasattr(route, "methods"):
            methods = getattr(route, "methods", None) or set()
            found |= {(service, m, getattr(route, "path", "")) for m in methods if m != "HEAD"}
    return found


async def test_every_route_is_in_the_table(world: World) -> None:
    network = world.network
    assert network.notifier.app is not None  # in-process
    assert world.feeds is not None
    apps = {"registry": network.registry.app, "gateway": network.gateway.app,
            "notifier": network.notifier.app, "feeds": world.feeds}  # fmt: skip
    routes = set().union(*(routes_of(name, app) for name, app in apps.items()))
    tabled = {(row.service, row.method, row.path) for row in TABLE} | set(ELSEWHERE)

    assert routes - tabled == set(), "routes without a row in the authorisation table"
    assert tabled - routes == set(), "rows for routes that do not exist"


async def test_the_table_reaches_every_kind_of_token_both_ways() -> None:
    # Every kind is allowed somewhere and refused somewhere: no kind escapes the table.
    for kind in KINDS:
        assert any(kind in row.allowed for row in TABLE), kind
        if kind != "anonymous":
            assert any(kind not in row.allowed for row in TABLE), kind
    assert json.dumps(sorted(ELSEWHERE.values()))  # stated, not blank
