"""Guessing credentials at the registry: slowed per address and per account, never a lock the
attacker can turn against the officer, and hashing bounded so that publishers keep their tokens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from registry_support import Registry, running_registry

from services.common.ratelimit import Rate
from services.registry.credentials import Throttles

SQLITE = "sqlite+aiosqlite:///{}"
RIGHT = {"username": "officer.liege", "password": "liege-password-1"}
WRONG = {"username": "officer.liege", "password": "not-the-password"}
LIEGE_SYSTEM = {"grant_type": "client_credentials", "client_id": "liege-system"}


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with running_registry(SQLITE.format(tmp_path / "r.sqlite3"), tmp_path) as registry:
        yield registry


async def login(http: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/v1/login", json=body)


async def client_token(http: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await http.post("/v1/oauth/token", data=LIEGE_SYSTEM | {"client_secret": secret})


def assert_throttled(answer: httpx.Response, longest: float) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "too_many_attempts"
    assert 1 <= int(answer.headers["Retry-After"]) <= longest


async def test_wrong_passwords_slow_the_account_down_at_that_address(registry: Registry) -> None:
    wrong = [await login(registry.http, WRONG) for _ in range(5)]
    sixth = await login(registry.http, WRONG)
    right = await login(registry.http, RIGHT)

    assert [answer.status_code for answer in wrong] == [401] * 5
    # Five failures are the burst; the next attempt waits, whatever its password.
    assert_throttled(sixth, longest=Throttles().per_account_at_address.window)
    assert_throttled(right, longest=Throttles().per_account_at_address.window)


async def test_the_officers_own_browser_logs_in_while_the_account_is_under_attack(
    registry: Registry,
) -> None:
    earlier = await login(registry.http, RIGHT)
    device = earlier.json()["device_token"]
    # Guessing from many addresses exhausts the account's own allowance.
    for n in range(12):
        async with registry.from_address(f"203.0.113.{n}") as attacker:
            for _ in range(2):
                await login(attacker, WRONG)

    async with registry.from_address("198.51.100.7") as new_browser:
        elsewhere = await login(new_browser, RIGHT)
    own_browser = await login(registry.http, RIGHT | {"device_token": device})

    assert earlier.status_code == 200
    assert_throttled(elsewhere, longest=Throttles().per_account.window)
    assert own_browser.status_code == 200, own_browser.text
    assert own_browser.json()["device_token"] == device


async def test_a_device_token_of_another_officer_opens_nothing(registry: Registry) -> None:
    eupen = await login(
        registry.http, {"username": "officer.eupen", "password": "eupen-password-1"}
    )
    borrowed_token = eupen.json()["device_token"]
    given_back = await login(registry.http, RIGHT | {"device_token": borrowed_token})
    for _ in range(5):
        await login(registry.http, WRONG)

    borrowed = await login(registry.http, RIGHT | {"device_token": borrowed_token})

    # Liège's officer is given a device token of its own, not Eupen's back.
    assert given_back.status_code == 200
    assert given_back.json()["device_token"] != borrowed_token
    assert_throttled(borrowed, longest=Throttles().per_account_at_address.window)


async def test_an_unknown_username_is_answered_exactly_like_a_known_one(registry: Registry) -> None:
    known = [await login(registry.http, WRONG) for _ in range(7)]
    unknown = [
        await login(registry.http, WRONG | {"username": "no.such.officer"}) for _ in range(7)
    ]

    assert (
        [a.status_code for a in known] == [a.status_code for a in unknown] == [401] * 5 + [429] * 2
    )
    assert known[0].json() == unknown[0].json()


async def test_a_lock_ends_by_itself(tmp_path: Path) -> None:
    quick = Throttles(per_account_at_address=Rate(burst=2, every_seconds=0.5))
    async with running_registry(
        SQLITE.format(tmp_path / "r.sqlite3"), tmp_path, throttles=quick
    ) as registry:
        for _ in range(2):
            await login(registry.http, WRONG)
        locked = await login(registry.http, RIGHT)
        await asyncio.sleep(int(locked.headers["Retry-After"]) + 0.1)

        after = await login(registry.http, RIGHT)

    assert locked.status_code == 429
    assert after.status_code == 200, after.text


async def test_guessing_a_clients_secret_does_not_silence_the_client(registry: Registry) -> None:
    async with registry.from_address("203.0.113.9") as attacker:
        wrong = [await client_token(attacker, "guess-guess-guess") for _ in range(5)]
        sixth = await client_token(attacker, "liege-secret-123")
    publisher = await client_token(registry.http, "liege-secret-123")

    assert [answer.status_code for answer in wrong] == [401] * 5
    assert wrong[0].json()["error"] == "invalid_client"
    assert_throttled(sixth, longest=Throttles().per_account_at_address.window)
    assert publisher.status_code == 200, publisher.text


async def test_failures_count_across_registry_processes(tmp_path: Path, database_url: str) -> None:
    async with (
        running_registry(database_url, tmp_path / "one") as one,
        running_registry(database_url, tmp_path / "two", seed=None) as two,
    ):
        for http in (one.http, two.http, one.http, two.http, one.http):
            assert (await login(http, WRONG)).status_code == 401

        answers = [await login(one.http, RIGHT), await login(two.http, RIGHT)]

    for answer in answers:
        assert_throttled(answer, longest=Throttles().per_account_at_address.window)


async def test_a_login_flood_does_not_hold_back_the_publishers_tokens(tmp_path: Path) -> None:
    # Generous throttles: here the hashing gate, not the throttle, meets the flood.
    lax = Throttles(
        per_address=Rate(burst=10_000, every_seconds=1),
        per_account_at_address=Rate(burst=10_000, every_seconds=1),
        per_account=Rate(burst=10_000, every_seconds=1),
    )
    async with running_registry(
        SQLITE.format(tmp_path / "r.sqlite3"), tmp_path, throttles=lax, hashing_queue=4
    ) as registry:
        assert (await client_token(registry.http, "liege-secret-123")).status_code == 200
        flood = [asyncio.create_task(login(registry.http, WRONG)) for _ in range(100)]
        await asyncio.sleep(0)  # the flood is under way

        renewal = await client_token(registry.http, "liege-secret-123")
        flood_over_by_then = all(task.done() for task in flood)
        first_time = await registry.http.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "limburg-system",
                  "client_secret": "limburg-secret-123"},
        )  # fmt: skip
        flood_over_after_first_time = all(task.done() for task in flood)
        answers = await asyncio.gather(*flood)

    assert renewal.status_code == 200, renewal.text
    assert not flood_over_by_then, "the renewal waited for the flood's hashing"
    assert first_time.status_code == 200, first_time.text
    # Its secret is hashed on the clients' own thread, not behind the flood's passwords.
    assert not flood_over_after_first_time, "the first token waited for the flood's hashing"
    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {401, 503}, statuses
    busy = [answer for answer in answers if answer.status_code == 503]
    # One hashing thread and four waiting places: what comes meanwhile is refused at once.
    assert len(busy) > statuses.count(401), statuses
    assert all(answer.headers["Retry-After"] == "1" for answer in busy)
    assert busy[0].json()["code"] == "temporarily_unavailable"


async def test_bodies_and_passwords_are_bounded_before_anything_is_hashed(
    registry: Registry,
) -> None:
    huge = b'{"username": "officer.liege", "password": "' + b"x" * 10_000_000 + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536]

    declared = await registry.http.post(
        "/v1/login", content=huge, headers={"content-type": "application/json"}
    )
    undeclared = await registry.http.post(
        "/v1/login", content=streamed(), headers={"content-type": "application/json"}
    )
    long_password = await login(registry.http, RIGHT | {"password": "x" * 10_000})
    long_secret = await client_token(registry.http, "x" * 10_000)

    for answer in (declared, undeclared):
        assert answer.status_code == 413, answer.text
        assert answer.json()["code"] == "too_large"
    assert long_password.status_code == 422
    assert long_password.json()["field"] == "password"
    assert long_secret.status_code == 422
    assert long_secret.json()["field"] == "client_secret"
