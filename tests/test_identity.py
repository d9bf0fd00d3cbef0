"""Credentials: secret hashes, the signing key, issued tokens, and their offline verification.

Tokens are checked through a real FastAPI app (httpx.ASGITransport); keys published over HTTP
come from a real uvicorn server on a loopback port, which the tests stop and start.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import stat
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
import uvicorn
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, FastAPI

from schemas.cap import Severity
from schemas.identity import (
    JWKS_PATH,
    Audience,
    JwkSet,
    Principal,
    Scope,
    SingleApproval,
    TokenClaims,
    TokenResponse,
)
from services.common.auth import ClaimsDep, TokenVerifier, requires
from services.common.problems import ProblemError, install_problem_handlers
from services.registry.identity import (
    hash_secret,
    issue_token,
    jwks,
    key_id,
    load_or_create_signing_key,
    needs_rehash,
    public_jwk,
    verify_secret,
)

ISSUER = "crossalert-registry"
KEY = Ed25519PrivateKey.generate()
CENTRE = Principal(
    sub="be-ncc-gateway",
    kind="client",
    org="be-ncc",
    sender="crisiscenter.be",
    scope="alerts:publish alerts:read",
    regions=("BE-WLG", "BE-WNA"),
)
DUTY_OFFICER = Principal(
    sub="jdoe",
    kind="user",
    org="lu-cgdis",
    sender="cgdis.lu",
    scope="alerts:read console",
    regions=("LU",),
    contact_point="lu-cgdis-duty",
    name="Jo Doe",
)


def token_for(
    principal: Principal = CENTRE,
    *,
    key: Ed25519PrivateKey = KEY,
    issuer: str = ISSUER,
    audience: str | list[str] | None = None,
    now: datetime | None = None,
) -> str:
    return issue_token(
        key, principal, issuer=issuer, ttl_seconds=300, audience=audience, now=now
    ).access_token


def protected_app(verifier: TokenVerifier) -> FastAPI:
    """A service with one route per kind of protection, its verifier where the helpers look."""
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/me")
    async def me(claims: ClaimsDep) -> TokenClaims:
        return claims

    @app.post("/alerts", status_code=202)
    async def publish(
        claims: Annotated[TokenClaims, Depends(requires(Scope.ALERTS_PUBLISH))],
    ) -> dict[str, str]:
        return {"sender": claims.sender}

    @app.put("/regions")
    async def edit_regions(
        _claims: Annotated[
            TokenClaims, Depends(requires(Scope.REGISTRY_READ, Scope.REGISTRY_ADMIN))
        ],
    ) -> dict[str, str]:
        return {}

    return app


def fixed_verifier(*keys: Ed25519PrivateKey, audience: str = Audience.GATEWAY) -> TokenVerifier:
    return TokenVerifier(jwks(keys or [KEY]), issuer=ISSUER, audience=audience)


async def call(
    app: FastAPI, method: str, path: str, token: str | None = None, scheme: str = "Bearer"
) -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service.test") as client:
        return await client.request(method, path, headers=headers)


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(
    header: dict[str, Any],
    sign: Callable[[bytes], bytes] | None,
    drop: str | None = None,
) -> str:
    """A token with the claims of a genuine one (less `drop`), the given header and signature."""
    payload = jwt.decode(token_for(), options={"verify_signature": False})
    payload.pop(drop or "", None)
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b64url(sign(signing_input.encode())) if sign else ""
    return f"{signing_input}.{signature}"


# Hashes


def test_a_secret_verifies_against_its_hash_and_nothing_else() -> None:
    hashed = hash_secret("correct horse battery staple")

    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert verify_secret(hashed, "correct horse battery staple")
    assert not verify_secret(hashed, "correct horse battery stapler")
    assert not verify_secret("not a hash", "correct horse battery staple")
    assert not verify_secret(None, "correct horse battery staple")
    assert hash_secret("same") != hash_secret("same"), "every hash has its own salt"


def test_a_hash_made_with_weaker_parameters_needs_a_rehash() -> None:
    assert not needs_rehash(hash_secret("s3cret"))
    assert needs_rehash(PasswordHasher(time_cost=1, memory_cost=8192).hash("s3cret"))


# The signing key


def test_the_signing_key_is_created_once_then_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "state" / "registry-signing-key.pem"

    created = load_or_create_signing_key(path)
    reloaded = load_or_create_signing_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(reloaded) == key_id(created)
    assert reloaded.public_key().public_bytes_raw() == created.public_key().public_bytes_raw()
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_a_key_file_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        load_or_create_signing_key(path)


def test_the_key_id_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037, appendix A.2 and A.3.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    key = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "="))

    assert public_jwk(key).model_dump() == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": x,
        "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        "alg": "EdDSA",
        "use": "sig",
    }


def test_the_key_set_publishes_every_key_given() -> None:
    rotated_out = Ed25519PrivateKey.generate()

    published = jwks([KEY, rotated_out.public_key()])

    assert [jwk.kid for jwk in published.keys] == [key_id(KEY), key_id(rotated_out)]
    assert JwkSet.model_validate_json(published.model_dump_json()) == published


# Issued tokens, verified offline


async def test_an_issued_token_verifies_and_carries_the_claims() -> None:
    issued_at = datetime.now(UTC).replace(microsecond=0)
    response = issue_token(KEY, DUTY_OFFICER, issuer=ISSUER, ttl_seconds=300, now=issued_at)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", response.access_token)

    assert answer.status_code == 200, answer.text
    claims = TokenClaims.model_validate(answer.json())
    assert claims.model_dump(include=set(Principal.model_fields)) == DUTY_OFFICER.model_dump()
    assert claims.iss == ISSUER
    assert claims.iat == int(issued_at.timestamp())
    assert claims.exp == claims.iat + 300
    assert claims.scopes == {Scope.ALERTS_READ, Scope.CONSOLE}
    assert response == TokenResponse(
        access_token=response.access_token, expires_in=300, scope="alerts:read console"
    )
    header = jwt.get_unverified_header(response.access_token)
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key_id(KEY)


async def test_every_token_has_its_own_id() -> None:
    verifier = fixed_verifier()

    first, second = [await verifier.verify(token_for()) for _ in range(2)]

    assert first.jti != second.jti


async def test_a_token_with_the_needed_scope_is_let_through() -> None:
    answer = await call(protected_app(fixed_verifier()), "POST", "/alerts", token_for(CENTRE))

    assert answer.status_code == 202, answer.text
    assert answer.json() == {"sender": "crisiscenter.be"}


async def test_an_expired_token_is_refused() -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token_for(now=an_hour_ago))

    assert_refused(answer, 401, "expired_token")
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_token_verified_before_is_refused_once_it_expires() -> None:
    verifier = fixed_verifier()
    # Valid for 30 s of clock skew after its 300 s: it lapses four seconds from now.
    nearly = token_for(now=datetime.now(UTC) - timedelta(seconds=326))
    app = protected_app(verifier)

    first = await call(app, "GET", "/me", nearly)
    await asyncio.sleep(4.5)
    again = await call(app, "GET", "/me", nearly)

    assert first.status_code == 200, first.text
    assert_refused(again, 401, "expired_token")


async def test_a_token_issued_in_the_future_is_refused() -> None:
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token_for(now=in_an_hour))

    assert_refused(answer, 401, "invalid_token")


async def test_a_token_signed_by_an_unpublished_key_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token_for(key=stranger))

    assert_refused(answer, 401, "unknown_key")


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()
    token = forged({"alg": "EdDSA", "typ": "at+jwt", "kid": key_id(KEY)}, stranger.sign)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token)

    assert_refused(answer, 401, "invalid_token")
    assert "signature" in answer.json()["detail"]


async def test_an_unsigned_token_is_refused() -> None:
    token = forged({"alg": "none", "typ": "at+jwt", "kid": key_id(KEY)}, None)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token)

    assert_refused(answer, 401, "invalid_token")
    assert "EdDSA" in answer.json()["detail"]


@pytest.mark.parametrize("encoding", ["raw", "pem"])
async def test_a_token_hmac_signed_with_the_public_key_is_refused(encoding: str) -> None:
    public = KEY.public_key()
    secret = (
        public.public_bytes_raw()
        if encoding == "raw"
        else public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    token = forged(
        {"alg": "HS256", "typ": "at+jwt", "kid": key_id(KEY)},
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token)

    assert_refused(answer, 401, "invalid_token")


async def test_a_token_of_another_issuer_is_refused() -> None:
    token = token_for(issuer="someone-else")

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token)

    assert_refused(answer, 401, "invalid_token")
    assert ISSUER in answer.json()["detail"]


async def test_a_jwt_that_is_not_an_access_token_is_refused() -> None:
    token = forged({"alg": "EdDSA", "typ": "JWT", "kid": key_id(KEY)}, KEY.sign)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token)

    assert_refused(answer, 401, "invalid_token")


@pytest.mark.parametrize("claim", ["kind", "sender", "jti"])
async def test_a_signed_token_missing_a_claim_is_refused_naming_it(claim: str) -> None:
    token = forged({"alg": "EdDSA", "typ": "at+jwt", "kid": key_id(KEY)}, KEY.sign, drop=claim)

    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token)

    assert_refused(answer, 401, "invalid_token")
    assert claim in answer.json()["detail"]


async def test_garbage_is_refused() -> None:
    answer = await call(protected_app(fixed_verifier()), "GET", "/me", "not.a.jwt")

    assert_refused(answer, 401, "invalid_token")


async def test_a_token_is_meant_for_the_services_its_scopes_open() -> None:
    centre = jwt.decode(token_for(CENTRE), options={"verify_signature": False})
    officer = jwt.decode(token_for(DUTY_OFFICER), options={"verify_signature": False})
    router = Principal(sub="svc", kind="client", org="be", sender="be", scope="routing:resolve")
    service = jwt.decode(token_for(router), options={"verify_signature": False})

    assert centre["aud"] == [Audience.GATEWAY, Audience.NOTIFIER]
    assert officer["aud"] == [Audience.GATEWAY, Audience.NOTIFIER]
    assert service["aud"] == [Audience.REGISTRY]


async def test_a_service_refuses_a_token_not_meant_for_it() -> None:
    gateway = protected_app(fixed_verifier(audience=Audience.GATEWAY))

    for_gateway = await call(gateway, "GET", "/me", token_for(audience=Audience.GATEWAY))
    for_notifier = await call(gateway, "GET", "/me", token_for(audience=Audience.NOTIFIER))
    for_nobody = await call(gateway, "GET", "/me", token_for(audience=[]))
    without_aud = await call(
        gateway,
        "GET",
        "/me",
        forged({"alg": "EdDSA", "typ": "at+jwt", "kid": key_id(KEY)}, KEY.sign, drop="aud"),
    )

    assert for_gateway.status_code == 200
    assert_refused(for_notifier, 401, "invalid_token")
    assert "not meant for this service" in for_notifier.json()["detail"]
    assert_refused(for_nobody, 401, "invalid_token")
    assert_refused(without_aud, 401, "invalid_token")
    assert "aud" in without_aud.json()["detail"]


@pytest.mark.parametrize(("scheme", "token"), [("Bearer", None), ("Basic", "YWxpY2U6c2VjcmV0")])
async def test_a_request_without_a_bearer_token_is_challenged(
    scheme: str, token: str | None
) -> None:
    answer = await call(protected_app(fixed_verifier()), "GET", "/me", token, scheme=scheme)

    assert_refused(answer, 401, "missing_token")
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_a_token_lacking_a_scope_is_forbidden_naming_it() -> None:
    app = protected_app(fixed_verifier())

    answer = await call(app, "POST", "/alerts", token_for(DUTY_OFFICER))
    admin = await call(app, "PUT", "/regions", token_for(DUTY_OFFICER))

    assert_refused(answer, 403, "insufficient_scope")
    assert "alerts:publish" in answer.json()["detail"]
    assert answer.json()["missing_scopes"] == ["alerts:publish"]
    assert 'error="insufficient_scope"' in answer.headers["www-authenticate"]
    assert admin.json()["missing_scopes"] == ["registry:read", "registry:admin"]


# Keys fetched from the registry's JWKS endpoint


class Registry:
    """A real HTTP server publishing a key set, counting how often it is fetched."""

    def __init__(self, *keys: Ed25519PrivateKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.app = FastAPI()

        @self.app.get(JWKS_PATH)
        async def published_keys() -> JwkSet:
            self.fetches += 1
            return jwks(self.keys)

    @contextlib.asynccontextmanager
    async def serving(self, port: int) -> AsyncIterator[None]:
        """The registry answering on 127.0.0.1:`port` until the block ends."""
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, lifespan="off", log_config=None
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        try:
            yield
        finally:
            server.should_exit = True
            await task


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def url_verifier(port: int, **options: Any) -> AsyncIterator[TokenVerifier]:
    verifier = TokenVerifier(
        f"http://127.0.0.1:{port}{JWKS_PATH}", issuer=ISSUER, audience=Audience.GATEWAY, **options
    )
    try:
        yield verifier
    finally:
        await verifier.aclose()


async def test_keys_are_fetched_once_and_a_rotated_key_is_learnt_by_one_refetch() -> None:
    new_key = Ed25519PrivateKey.generate()
    registry = Registry(KEY)
    port = free_port()
    async with registry.serving(port), url_verifier(port, refetch_interval_seconds=0) as verifier:
        app = protected_app(verifier)

        first = await call(app, "GET", "/me", token_for())
        again = await call(app, "GET", "/me", token_for())
        assert (first.status_code, again.status_code, registry.fetches) == (200, 200, 1)

        registry.keys = [new_key, KEY]
        rotated = await call(app, "GET", "/me", token_for(key=new_key))
        old = await call(app, "GET", "/me", token_for())

    assert (rotated.status_code, old.status_code) == (200, 200), rotated.text
    assert registry.fetches == 2


async def test_unknown_key_ids_do_not_make_every_request_call_the_registry() -> None:
    registry = Registry(KEY)
    port = free_port()
    async with registry.serving(port), url_verifier(port) as verifier:
        app = protected_app(verifier)

        known = await call(app, "GET", "/me", token_for())
        strangers = [
            await call(app, "GET", "/me", token_for(key=Ed25519PrivateKey.generate()))
            for _ in range(3)
        ]

    assert known.status_code == 200
    for stranger in strangers:
        assert_refused(stranger, 401, "unknown_key")
    assert registry.fetches == 1, "within the refetch interval, an unknown kid is refused as is"


async def test_requests_arriving_together_share_one_fetch() -> None:
    registry = Registry(KEY)
    port = free_port()
    async with registry.serving(port), url_verifier(port) as verifier:
        claims = await asyncio.gather(*(verifier.verify(token_for()) for _ in range(10)))

    assert {c.sub for c in claims} == {CENTRE.sub}
    assert registry.fetches == 1


async def test_cached_keys_still_verify_when_the_registry_goes_down() -> None:
    registry = Registry(KEY)
    port = free_port()
    # Refetching at once shows that a failed fetch keeps the cached keys.
    async with url_verifier(port, refetch_interval_seconds=0) as verifier:
        app = protected_app(verifier)
        async with registry.serving(port):
            assert (await call(app, "GET", "/me", token_for())).status_code == 200

        while_down = await call(app, "GET", "/me", token_for(DUTY_OFFICER))
        stranger = await call(app, "GET", "/me", token_for(key=Ed25519PrivateKey.generate()))

    assert while_down.status_code == 200, while_down.text
    assert while_down.json()["sub"] == "jdoe"
    assert_refused(stranger, 401, "unknown_key")


async def test_a_registry_never_reached_means_503_until_it_answers() -> None:
    registry = Registry(KEY)
    port = free_port()
    async with url_verifier(port, retry_interval_seconds=0) as verifier:
        app = protected_app(verifier)

        before = await call(app, "GET", "/me", token_for())
        async with registry.serving(port):
            after = await call(app, "GET", "/me", token_for())

    assert_refused(before, 503, "registry_unreachable")
    assert int(before.headers["retry-after"]) >= 1
    assert after.status_code == 200, after.text


async def test_a_registry_that_never_answers_does_not_hold_requests() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    silent = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with url_verifier(port, timeout_seconds=0.2) as verifier:
            # A guard that turns a hang into a failure; the verifier's own bound is 0.2 s.
            async with asyncio.timeout(60):
                with pytest.raises(ProblemError) as refused:
                    await verifier.verify(token_for())
    finally:
        for writer in accepted:
            writer.close()
        silent.close()
        await silent.wait_closed()

    assert (refused.value.status, refused.value.code) == (503, "registry_unreachable")
    assert accepted, "the verifier did reach the silent registry"


# When one officer may publish a composed alert alone


def brussels(hour: int, minute: int = 0, month: int = 1) -> datetime:
    """A moment given in Brussels local time (UTC+1 in January, UTC+2 in July)."""
    offset = 1 if month == 1 else 2
    return datetime(2026, month, 15, hour, minute, tzinfo=UTC) - timedelta(hours=offset)


NIGHT = {"severity": "Extreme", "between": ["22:00", "07:00"]}
OFFICE = {"severity": "Moderate", "between": ["08:00", "18:00"]}


@pytest.mark.parametrize(
    ("rule", "severity", "at", "allowed"),
    [
        ("Extreme", Severity.EXTREME, brussels(12), True),
        ("Extreme", Severity.SEVERE, brussels(12), False),
        # A window across midnight: 22:00 included, 07:00 excluded.
        (NIGHT, Severity.EXTREME, brussels(22), True),
        (NIGHT, Severity.EXTREME, brussels(3), True),
        (NIGHT, Severity.EXTREME, brussels(6, 59), True),
        (NIGHT, Severity.EXTREME, brussels(7), False),
        (NIGHT, Severity.EXTREME, brussels(21, 59), False),
        # Local time, summer time included: 23:30 in Brussels is 21:30 UTC in July.
        (NIGHT, Severity.EXTREME, brussels(23, 30, month=7), True),
        # A window within one day.
        (OFFICE, Severity.MODERATE, brussels(8), True),
        (OFFICE, Severity.MODERATE, brussels(18), False),
    ],
)
def test_a_single_approval_rule_holds_for_its_severity_in_its_local_hours(
    rule: object, severity: Severity, at: datetime, allowed: bool
) -> None:
    assert SingleApproval.model_validate(rule).allows(severity, at) is allowed


def test_a_single_approval_rule_says_itself_in_words() -> None:
    night = SingleApproval.model_validate({"severity": "Extreme", "between": ["22:00", "07:00"]})

    assert str(night) == "Extreme from 22:00 to 07:00 (Europe/Brussels)"
    assert str(SingleApproval.model_validate("Severe")) == "Severe"
