"""The registry's identity endpoints: client credentials, officer login, JWKS, revocation."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from registry_support import Registry, running_registry

from schemas.identity import JWKS_PATH, Audience, JwkSet, SingleApproval
from services.common.auth import TokenVerifier

SQLITE = "sqlite+aiosqlite:///{}"


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[Registry]:
    async with running_registry(SQLITE.format(tmp_path / "r.sqlite3"), tmp_path) as registry:
        yield registry


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_client_credentials_give_a_short_lived_token_the_jwks_verifies(
    registry: Registry,
) -> None:
    token = await registry.token("liege-system", "liege-secret-123")
    keys = JwkSet.model_validate((await registry.http.get(JWKS_PATH)).json())

    claims = await TokenVerifier(
        keys, issuer="crossalert-registry", audience=Audience.GATEWAY
    ).verify(token)

    assert claims.sub == "liege-system"
    assert claims.kind == "client"
    assert claims.org == "be-liege"
    assert claims.sender == "crisis@liege.example.org"
    assert claims.scopes == {"alerts:publish", "alerts:read", "routing:read", "observations:submit"}
    assert claims.aud == (Audience.REGISTRY, Audience.GATEWAY, Audience.NOTIFIER)
    assert claims.regions == ("BE33",)
    assert claims.categories == ("Fire", "Geo", "Met", "Safety")
    assert claims.exp - claims.iat == 300
    assert keys.keys[0].alg == "EdDSA"


async def test_duty_officer_logs_in_with_a_password(registry: Registry) -> None:
    response = await registry.http.post(
        "/v1/login", json={"username": "officer.eupen", "password": "eupen-password-1"}
    )

    assert response.status_code == 200
    claims = claims_of(response.json()["access_token"])
    assert (claims["kind"], claims["contact_point"], claims["name"]) == (
        "user",
        "be-eupen-desk",
        "Anna Kessler",
    )
    assert claims["scope"] == "console"


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "client_credentials", "client_id": "liege-system", "client_secret": "wrong"},
        {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
        {"grant_type": "password", "username": "officer.eupen", "password": "wrong-password"},
    ],
)
async def test_wrong_credentials_get_401(registry: Registry, form: dict[str, str]) -> None:
    response = await registry.http.post("/v1/oauth/token", data=form)

    assert response.status_code == 401
    assert response.json()["error"] in ("invalid_client", "invalid_grant")
    assert "access_token" not in response.text


async def test_a_scope_not_granted_is_refused(registry: Registry) -> None:
    response = await registry.http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "liege-system",
            "client_secret": "liege-secret-123",
            "scope": "alerts:publish registry:admin",
        },
    )

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_revoking_a_client_takes_effect_at_its_next_token(registry: Registry) -> None:
    admin = await registry.auth("admin", "admin-secret-123")
    before = await registry.token("liege-system", "liege-secret-123")
    current = (await registry.http.get("/v1/api-clients/liege-system", headers=admin)).json()

    revoked = await registry.http.put(
        "/v1/api-clients/liege-system",
        json={k: v for k, v in current.items() if k != "version"} | {"revoked": True},
        headers=admin | {"If-Match": f'"{current["version"]}"'},
    )
    after = await registry.http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "liege-system",
            "client_secret": "liege-secret-123",
        },
    )

    assert revoked.status_code == 200
    assert before
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("token", "code"),
    [
        # alg=none, claiming admin rights
        ("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0."
         "eyJzdWIiOiJhZG1pbiIsInNjb3BlIjoicmVnaXN0cnk6cmVhZCJ9.", "invalid_token"),
        ("not-a-token", "invalid_token"),
    ],
)  # fmt: skip
async def test_forged_tokens_get_401(registry: Registry, token: str, code: str) -> None:
    response = await registry.http.get("/v1/regions", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["code"] == code


async def test_a_token_of_another_registry_is_refused(registry: Registry, tmp_path: Path) -> None:
    other_state = tmp_path / "other"
    other_state.mkdir()
    async with running_registry(SQLITE.format(other_state / "r.sqlite3"), other_state) as other:
        foreign = await other.token("reader", "reader-secret-123")

    response = await registry.http.get(
        "/v1/regions", headers={"Authorization": f"Bearer {foreign}"}
    )

    assert response.status_code == 401


async def test_the_openapi_page_documents_every_endpoint(registry: Registry) -> None:
    spec = (await registry.http.get("/openapi.json")).json()

    paths = spec["paths"]
    for kind in ("regions", "organisations", "contact-points", "agreements", "api-clients",
                 "console-users"):  # fmt: skip
        assert set(paths[f"/v1/{kind}"]) == {"get", "post"}
        assert set(paths[f"/v1/{kind}/{{key}}"]) == {"get", "put", "delete"}
    for path in ("/v1/routing", "/v1/oauth/token", "/v1/login", JWKS_PATH, "/healthz", "/readyz"):
        assert path in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary") or operation.get("description"), (method, path)
    schemas = spec["components"]["schemas"]
    for name in ("RegionIn", "OrganisationIn", "ContactPointIn", "AgreementIn", "RoutingRequest"):
        assert schemas[name].get("examples"), f"{name} has no example"


async def test_jwks_is_public_and_cacheable(registry: Registry) -> None:
    response = await registry.http.get(JWKS_PATH)

    assert response.status_code == 200
    assert isinstance(response, httpx.Response)
    assert [key["kty"] for key in response.json()["keys"]] == ["OKP"]


async def test_an_officers_session_renews_short_tokens_once_each_and_ends_at_logout(
    registry: Registry,
) -> None:
    login = await registry.http.post(
        "/v1/login", json={"username": "officer.eupen", "password": "eupen-password-1"}
    )
    first = login.json()
    assert first["expires_in"] == 300
    assert first["refresh_expires_in"] == 13 * 3600

    renewed = await registry.http.post(
        "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )

    assert renewed.status_code == 200, renewed.text
    second = renewed.json()
    assert claims_of(second["access_token"])["contact_point"] == "be-eupen-desk"
    assert second["refresh_token"] != first["refresh_token"]
    assert 0 < second["refresh_expires_in"] <= first["refresh_expires_in"]
    reused = await registry.http.post(
        "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
    )
    assert reused.status_code == 401 and reused.json()["error"] == "invalid_grant"
    assert (
        await registry.http.post("/v1/logout", json={"refresh_token": second["refresh_token"]})
    ).status_code == 204
    ended = await registry.http.post(
        "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
    )
    assert ended.status_code == 401


async def test_a_disabled_officers_session_is_not_renewed(registry: Registry) -> None:
    login = await registry.http.post(
        "/v1/login", json={"username": "officer.eupen", "password": "eupen-password-1"}
    )
    admin = await registry.auth("admin", "admin-secret-123")
    user = await registry.http.get("/v1/console-users/officer.eupen", headers=admin)
    assert user.status_code == 200, user.text
    body = {k: v for k, v in user.json().items() if k != "version"} | {"disabled": True}
    changed = await registry.http.put(
        "/v1/console-users/officer.eupen",
        json=body,
        headers={**admin, "If-Match": user.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text

    renewed = await registry.http.post(
        "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]},
    )

    assert renewed.status_code == 401


async def test_client_credentials_carry_no_refresh_token(registry: Registry) -> None:
    answer = await registry.http.post(
        "/v1/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "liege-system",
            "client_secret": "liege-secret-123",
        },
    )
    assert "refresh_token" not in answer.json()


async def test_an_organisations_single_approval_hours_travel_in_its_officers_tokens(
    registry: Registry,
) -> None:
    admin = await registry.auth("admin", "admin-secret-123")
    record = await registry.http.get("/v1/organisations/be-liege", headers=admin)
    night = {
        "severity": "Severe",
        "between": ["22:00:00", "07:00:00"],
        "time_zone": "Europe/Luxembourg",
    }
    body = {k: v for k, v in record.json().items() if k != "version"}
    body["single_approval"] = ["Extreme", night]
    changed = await registry.http.put(
        "/v1/organisations/be-liege",
        json=body,
        headers={**admin, "If-Match": record.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    extreme = {"severity": "Extreme", "between": None, "time_zone": "Europe/Brussels"}
    assert changed.json()["single_approval"] == [extreme, night]

    login = await registry.http.post(
        "/v1/login", json={"username": "officer.liege", "password": "liege-password-1"}
    )

    carried = claims_of(login.json()["access_token"])["single_approval"]
    assert isinstance(carried, list)
    assert [SingleApproval.model_validate(rule) for rule in carried] == [
        SingleApproval.model_validate(extreme),
        SingleApproval.model_validate(night),
    ]


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"severity": "Severe", "between": ["22:00", "22:00"]}, "between"),
        ({"severity": "Severe", "between": ["22:00", "07:00"], "time_zone": "Mars/X"}, "time_zone"),
        ({"severity": "Dreadful"}, "severity"),
    ],
)
async def test_a_single_approval_rule_that_means_nothing_is_refused_naming_it(
    registry: Registry, rule: dict[str, object], field: str
) -> None:
    admin = await registry.auth("admin", "admin-secret-123")
    record = await registry.http.get("/v1/organisations/be-liege", headers=admin)
    body = {k: v for k, v in record.json().items() if k != "version"} | {"single_approval": [rule]}

    refused = await registry.http.put(
        "/v1/organisations/be-liege",
        json=body,
        headers={**admin, "If-Match": record.headers["ETag"]},
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == f"single_approval[0].{field}"
    unchanged = await registry.http.get("/v1/organisations/be-liege", headers=admin)
    assert unchanged.json() == record.json()
