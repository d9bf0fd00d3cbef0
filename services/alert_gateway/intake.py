"""From a request body to the one alert model: one reader per format, the verdict on its
signatures, and the refusals."""

from __future__ import annotations

import asyncio

from schemas import CapValidationError
from schemas.cap import Alert
from schemas.cap_ingest import CapMode, IngestedAlert, read_cap
from schemas.cap_types import XMLDSIG_NAMESPACE
from schemas.identity import TokenClaims
from schemas.signatures import SignaturePolicy, SignatureVerdict, SigningKey
from services.alert_gateway import signatures
from services.alert_gateway.organisations import Organisations
from services.common.problems import ProblemError

XML_TYPES = ("application/cap+xml", "application/xml", "text/xml")
JSON_TYPES = ("application/json",)

# Refusals of the document itself (it is not a CAP document we may read) rather than of a field.
_UNREADABLE = {"doctype_forbidden", "xinclude_forbidden", "malformed_xml", "json_invalid"}


def read_alert(
    body: bytes, content_type: str, mode: CapMode = CapMode.STRICT, max_bytes: int | None = None
) -> IngestedAlert:
    """The alert in `body`, read as JSON or CAP XML according to its Content-Type, strictly
    or (an external source's) in ingest mode."""
    media_type = content_type.split(";")[0].strip().lower()
    try:
        if media_type in XML_TYPES + JSON_TYPES:
            json_form = media_type in JSON_TYPES
            return read_cap(body, json_form=json_form, mode=mode, max_bytes=max_bytes)
    except CapValidationError as error:
        if error.code == "too_large":
            raise ProblemError.from_cap(error, status=413) from None
        status = 400 if error.code in _UNREADABLE else 422
        raise ProblemError.from_cap(error, status=status) from None
    raise ProblemError(
        415,
        "unsupported_media_type",
        f"send the alert as application/json or application/cap+xml, not {media_type or 'no type'}"
        ".",
        field="Content-Type",
    )


async def judge_signatures(
    body: bytes, alert: Alert, claims: TokenClaims, organisations: Organisations
) -> SignatureVerdict:
    """The verdict on the XML signatures of `body` under the sender's policy; 422 when the
    policy requires a signature by one of its registered keys and none is there."""
    policy = claims.signature_policy
    if not alert.signature:
        verdict = SignatureVerdict(policy=policy, status="unsigned")
    elif XMLDSIG_NAMESPACE.encode() not in body:
        # Signatures written into a JSON document: nothing canonical to check them against.
        verdict = SignatureVerdict(policy=policy, status="not_checked")
    else:
        keys: list[SigningKey] = []
        if policy is not SignaturePolicy.IGNORE:
            record = await organisations.record(claims.org, needed_for="the sender's keys")
            keys = record.signing_keys if record is not None else []
        # Canonicalising a large document takes a while: off the event loop.
        verdict = await asyncio.to_thread(
            signatures.verify, body, policy=policy, keys=keys, sent=alert.sent
        )
    if policy is SignaturePolicy.REQUIRE and verdict.status != "verified":
        raise ProblemError(
            422,
            "signature_required" if verdict.status == "unsigned" else "signature_not_verified",
            f"{alert.sender}'s alerts must carry an XML signature by one of the keys registered "
            f"for it in the registry, signing the whole alert; this one: {verdict.summary()}.",
            field="Signature",
        )
    return verdict
