"""The registry's credentials: argon2id secret hashes, the Ed25519 signing key, signed tokens."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from schemas.identity import (
    ACCESS_TOKEN_TYPE,
    TOKEN_ALGORITHM,
    Jwk,
    JwkSet,
    Principal,
    TokenClaims,
    TokenResponse,
    audiences_of,
)

_HASHER = PasswordHasher()  # argon2id with the RFC 9106 low-memory parameters


def hash_secret(secret: str) -> str:
    """An argon2id hash of a client secret or password, salted, in PHC string form."""
    return _HASHER.hash(secret)


def verify_secret(hashed: str | None, secret: str) -> bool:
    """Whether `secret` matches `hashed`; False on a mismatch, a broken hash or no hash."""
    if hashed is None:
        # An unknown client or user still costs one full verification, so the time taken
        # does not tell whether the name exists.
        with contextlib.suppress(VerificationError):
            _HASHER.verify(_dummy_hash(), secret)
        return False
    try:
        return _HASHER.verify(hashed, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """Whether `hashed` was made with other parameters than today's (rehash on next login)."""
    try:
        return _HASHER.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


@cache
def _dummy_hash() -> str:
    return _HASHER.hash(secrets.token_urlsafe(16))


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in the PEM file at `path`, created there (mode 0600) when absent."""
    if not path.exists():
        _create_key_file(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Written in full under a private name, then linked into place: two registries starting
    # together never read a half-written key, and the one that loses the race uses the winner's.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        with contextlib.suppress(FileExistsError):
            path.hardlink_to(temporary)
    finally:
        temporary.unlink()


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of the key's public part."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _public_x(key)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def public_jwk(key: Ed25519PrivateKey | Ed25519PublicKey) -> Jwk:
    """The public JSON Web Key of `key`, named by its thumbprint."""
    return Jwk(x=_public_x(key), kid=key_id(key))


def jwks(keys: Iterable[Ed25519PrivateKey | Ed25519PublicKey]) -> JwkSet:
    """The key set to publish: the signing key and any rotated-out key still within its tokens."""
    return JwkSet(keys=tuple(public_jwk(key) for key in keys))


def issue_token(
    key: Ed25519PrivateKey,
    principal: Principal,
    *,
    issuer: str,
    ttl_seconds: int,
    audience: str | Iterable[str] | None = None,
    now: datetime | None = None,
) -> TokenResponse:
    """A signed access token (JWT, EdDSA) for `principal`, valid for `ttl_seconds`.

    It is meant for `audience`, by default every service that honours one of its scopes.
    """
    issued_at = int((now or datetime.now(UTC)).timestamp())
    if audience is None:
        audience = audiences_of(principal.scopes)
    claims = TokenClaims(
        **principal.model_dump(),
        iss=issuer,
        aud=(audience,) if isinstance(audience, str) else tuple(audience),
        iat=issued_at,
        exp=issued_at + ttl_seconds,
        jti=secrets.token_urlsafe(16),
    )
    token = jwt.encode(
        claims.model_dump(mode="json", exclude_none=True),
        key,
        algorithm=TOKEN_ALGORITHM,
        headers={"kid": key_id(key), "typ": ACCESS_TOKEN_TYPE},
    )
    return TokenResponse(access_token=token, expires_in=ttl_seconds, scope=principal.scope)


def _public_x(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return _b64url(public.public_bytes_raw())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
