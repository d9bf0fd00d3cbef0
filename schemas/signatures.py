"""Signed CAP: a sender's signature policy, its registered keys, and the verdict on a document.

CAP 1.2 lets an alert carry enveloped XML signatures (XML-DSig), any number of them: the
originator's, and often a distributor's beside it. The network verifies them against the keys
registered for the sender in the registry; the policy registered with the sender decides what
a missing or failing signature does. The verdict travels with the alert (schemas.envelopes) and
shows in the console.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from pydantic import BaseModel, ConfigDict, Field


class SignaturePolicy(StrEnum):
    """What the gateway does with a sender's signatures."""

    REQUIRE = "require"
    """Refuse a document that carries no signature verified with one of the sender's keys."""
    VERIFY_IF_PRESENT = "verify-if-present"
    """Verify the signatures a document carries; accept it either way, with the verdict."""
    IGNORE = "ignore"
    """Keep signatures as received, unchecked."""


class SigningKey(BaseModel):
    """A key a sender signs with: an X.509 certificate or a bare public key, in PEM."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=120, description="What the key is, e.g. 'originator 2026'."
    )
    pem: str = Field(
        min_length=64,
        max_length=16384,
        description="A PEM certificate (-----BEGIN CERTIFICATE-----) or public key "
        "(-----BEGIN PUBLIC KEY-----).",
    )


class SignerKeys(BaseModel):
    """A sender's signature policy and keys, as the registry tells the gateway."""

    model_config = ConfigDict(extra="forbid")

    sender: str
    policy: SignaturePolicy
    keys: list[SigningKey] = Field(default_factory=list)


SignatureOutcome = Literal["verified", "untrusted", "invalid", "not_checked"]


class SignatureCheck(BaseModel):
    """What one ds:Signature of a document proved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0, description="Its position among the document's signatures.")
    outcome: SignatureOutcome = Field(
        description="verified: intact, by one of the sender's registered keys; untrusted: "
        "intact, by a key not registered for the sender; invalid: the document or the "
        "signature was altered, or it does not sign the whole alert; not_checked: policy "
        "ignore."
    )
    signer: str | None = Field(
        default=None,
        description="Who signed: the registered key's name, else its certificate's subject.",
    )
    algorithm: str | None = Field(default=None, description="The signature method's name.")
    reason: str | None = Field(default=None, description="Why it is not verified.")


SignatureStatus = Literal["verified", "not_verified", "unsigned", "not_checked"]


class SignatureVerdict(BaseModel):
    """The verdict on a document's signatures: its policy, the outcome, each signature's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: SignaturePolicy
    status: SignatureStatus = Field(
        description="verified: at least one signature by a key registered for the sender "
        "signs the whole alert; not_verified: signed, but none does; unsigned; not_checked."
    )
    signatures: list[SignatureCheck] = Field(default_factory=list)

    def summary(self) -> str:
        """One line for a duty officer: who signed, and whether it is verified."""
        if self.status == "unsigned":
            return "not signed"
        if self.status == "not_checked":
            return f"signed ({len(self.signatures)}), not checked"
        parts = []
        for check in self.signatures:
            who = check.signer or "an unknown key"
            if check.outcome == "verified":
                parts.append(f"signed by {who}, verified")
            elif check.outcome == "untrusted":
                parts.append(f"signed by {who}, a key not registered for this sender")
            else:
                parts.append(f"a signature that does not verify ({check.reason or 'invalid'})")
        return "; ".join(parts)


PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey


def public_key_of(pem: str) -> PublicKey:
    """The public key in a PEM certificate or public key; ValueError if it holds neither."""
    data = pem.strip().encode()
    key: object
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ValueError("is neither a PEM certificate nor a PEM public key.") from None
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | dsa.DSAPublicKey):
        raise ValueError("holds a key of a kind XML signatures do not use (RSA, EC or DSA).")
    return key
