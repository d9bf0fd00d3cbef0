"""Agencies' threshold rules in the registry: owned, versioned, read by whom they concern, and
the evaluator's right to raise their alerts as the owning agency."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from evaluator_support import version
from registry_support import Registry, running_registry

AVIQ = ("aviq-system", "aviq-secret-123")
GGD = ("ggd-system", "ggd-secret-123")
EVALUATOR = ("evaluator", "evaluator-secret-123")
FEED_WORKER = ("feed-ingest", "feed-ingest-secret-123")


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with running_registry(f"sqlite+aiosqlite:///{tmp_path / 'r.sqlite3'}", tmp_path) as reg:
        yield reg


def aviq_rule(**changes: Any) -> dict[str, Any]:
    """AViQ's rule for Liège's province, common through the Euregio health agreement."""
    return version(**({"id": "aviq-rate-be33", "owner": "be-aviq", "regions": ["BE33"]} | changes))


async def write(
    registry: Registry, client: tuple[str, str], body: dict[str, Any], **headers: str
) -> httpx.Response:
    auth = await registry.auth(*client)
    if "If-Match" in headers:
        return await registry.http.put(f"/v1/threshold-rules/{body['id']}", json=body,
                                       headers=auth | headers)  # fmt: skip
    return await registry.http.post("/v1/threshold-rules", json=body, headers=auth)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_an_agency_writes_its_rule_and_each_change_is_a_new_version(
    registry: Registry,
) -> None:
    created = await write(registry, AVIQ, aviq_rule())
    second = await write(
        registry, AVIQ, aviq_rule(effective_from="2026-03-01T00:00:00+01:00", recovery_level=30),
        **{"If-Match": created.headers["ETag"]},
    )  # fmt: skip
    stale = await write(registry, AVIQ, aviq_rule(), **{"If-Match": created.headers["ETag"]})
    read = await registry.http.get(
        "/v1/threshold-rules/aviq-rate-be33", headers=await registry.auth(*AVIQ)
    )

    assert created.status_code == 201, created.text
    assert second.status_code == 200, second.text
    assert second.headers["ETag"] == '"2"'
    assert stale.status_code == 412
    versions = read.json()["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert [v["recovery_level"] for v in versions] == [40, 30]  # every version stays readable
    assert versions[0]["created_by"] == "aviq-system"


@pytest.mark.parametrize(
    ("changes", "status", "code", "field"),
    [
        ({"owner": "nl-ggd"}, 403, "not_owner", "owner"),
        ({"regions": ["NL42"]}, 403, "outside_regions", "regions[0]"),
        ({"indicator": "meuse-discharge"}, 403, "not_competent", "indicator"),
        ({"indicator": "no-such-indicator"}, 422, "unknown_reference", "indicator"),
        ({"agreement": "meuse-flood"}, 403, "not_a_party", "agreement"),
        ({"regions": ["XX9"]}, 422, "unknown_reference", "regions[0]"),
    ],
)
async def test_a_rule_the_agency_may_not_write_is_refused_naming_the_field(
    registry: Registry, changes: dict[str, Any], status: int, code: str, field: str
) -> None:
    refused = await write(registry, AVIQ, aviq_rule(**changes))

    assert refused.status_code == status, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == (code, field)
    listed = await registry.http.get("/v1/threshold-rules", headers=await registry.auth(*AVIQ))
    assert listed.json() == []


async def test_a_version_keeps_the_indicator_and_only_the_owner_writes_one(
    registry: Registry,
) -> None:
    created = await write(registry, AVIQ, aviq_rule())
    etag = {"If-Match": created.headers["ETag"]}

    other_indicator = await write(registry, AVIQ, aviq_rule(indicator="positivity"), **etag)
    by_ggd = await write(registry, GGD, aviq_rule(), **etag)

    assert (other_indicator.status_code, other_indicator.json()["code"]) == (
        422,
        "indicator_changed",
    )
    assert (by_ggd.status_code, by_ggd.json()["code"]) == (403, "not_owner")


async def test_a_rule_is_read_by_its_owner_the_parties_of_its_agreement_and_the_services(
    registry: Registry,
) -> None:
    await write(registry, AVIQ, aviq_rule())
    private = aviq_rule(id="aviq-private", agreement=None)
    await write(registry, AVIQ, private)

    async def listed(client: tuple[str, str]) -> list[str]:
        answer = await registry.http.get(
            "/v1/threshold-rules", headers=await registry.auth(*client)
        )
        assert answer.status_code == 200, answer.text
        return [rule["id"] for rule in answer.json()]

    ggd_private = await registry.http.get(
        "/v1/threshold-rules/aviq-private", headers=await registry.auth(*GGD)
    )

    assert await listed(AVIQ) == ["aviq-private", "aviq-rate-be33"]
    assert await listed(GGD) == ["aviq-rate-be33"]  # a party of euregio-health
    assert await listed(EVALUATOR) == ["aviq-private", "aviq-rate-be33"]
    assert (ggd_private.status_code, ggd_private.json()["code"]) == (403, "not_owner_or_party")


async def on_behalf(
    registry: Registry, client: tuple[str, str], organisation: str
) -> httpx.Response:
    """The registry's answer to `client` asking a publishing token as `organisation`."""
    form = {"grant_type": "client_credentials", "client_id": client[0],
            "client_secret": client[1], "on_behalf_of": organisation}  # fmt: skip
    return await registry.http.post("/v1/oauth/token", data=form)


async def test_the_evaluator_publishes_as_an_agency_owning_rules_and_says_it_acts(
    registry: Registry,
) -> None:
    await write(registry, AVIQ, aviq_rule())

    for_aviq = await on_behalf(registry, EVALUATOR, "be-aviq")
    for_ggd = await on_behalf(registry, EVALUATOR, "nl-ggd")  # owns no rule
    by_agency = await on_behalf(registry, GGD, "be-aviq")

    assert for_aviq.status_code == 200, for_aviq.text
    claims = claims_of(for_aviq.json()["access_token"])
    assert (claims["org"], claims["sender"]) == ("be-aviq", "surveillance@aviq.example.org")
    assert claims["scope"] == "alerts:publish"
    assert claims["act"] == {"sub": "evaluator", "org": "be-nccn"}
    assert claims["aud"] == ["urn:crossalert:alert-gateway"]
    for refused in (for_ggd, by_agency):
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "unauthorized_client"


async def test_the_indicator_catalogue_is_read_by_agencies_and_services_written_by_the_admin(
    registry: Registry,
) -> None:
    agency = await registry.http.get("/v1/indicators", headers=await registry.auth(*AVIQ))
    service = await registry.http.get("/v1/indicators", headers=await registry.auth(*EVALUATOR))
    written = await registry.http.post(
        "/v1/indicators",
        json={"id": "x", "unit": "u", "period": "day", "category": "Health", "names": {"en": "x"}},
        headers=await registry.auth(*AVIQ),
    )

    assert agency.status_code == service.status_code == 200
    assert "rate-14d" in {i["id"] for i in agency.json()["items"]}
    assert written.status_code == 403


async def test_the_feed_worker_publishes_only_as_the_source_of_an_enabled_feed(
    registry: Registry,
) -> None:
    """feeds:ingest opens a publishing token as the organisation of an enabled CAP feed, and
    nothing else: not an organisation without one, not one whose feed is disabled, not an
    agency owning threshold rules (the evaluator's), and the evaluator not a feed's source."""
    await write(registry, AVIQ, aviq_rule())
    admin = await registry.auth("admin", "admin-secret-123")
    for feed, organisation, enabled in (("liege", "be-liege", True), ("metz", "fr-metz", False)):
        created = await registry.http.post(
            "/v1/cap-feeds",
            json={"id": feed, "url": f"https://{feed}.example.org/cap.atom",
                  "organisation": organisation, "enabled": enabled},
            headers=admin,
        )  # fmt: skip
        assert created.status_code == 201, created.text

    for_liege = await on_behalf(registry, FEED_WORKER, "be-liege")
    refused = [
        await on_behalf(registry, FEED_WORKER, "be-nccn"),  # no feed
        await on_behalf(registry, FEED_WORKER, "fr-metz"),  # its feed is disabled
        await on_behalf(registry, FEED_WORKER, "be-aviq"),  # owns rules, has no feed
        await on_behalf(registry, EVALUATOR, "be-liege"),  # a feed's source, owns no rule
    ]

    assert for_liege.status_code == 200, for_liege.text
    claims = claims_of(for_liege.json()["access_token"])
    assert (claims["org"], claims["scope"]) == ("be-liege", "alerts:publish")
    assert claims["act"]["sub"] == "feed-ingest"
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"] == "unauthorized_client"
