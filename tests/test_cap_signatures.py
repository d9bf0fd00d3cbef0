"""Signed CAP: real issuers' signatures verify, and what would fool a verifier does not.

Real documents: Environment Canada's snowfall warning as the NAAD System distributed it (two
signatures, RSA-SHA1, one inclusive and one exclusive c14n, certificates in KeyInfo) and a
USGS earthquake alert (RSA-SHA1, inclusive c14n with comments, a bare KeyValue); see
tests/cap_corpus/real/SOURCES.md. Their keys are registered as an operator would from the
issuers' published certificates: here, the ones the documents carry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

from bench.signing import Signer, carried_keys, signer, tampered
from schemas import parse_cap_xml
from schemas.cap_ingest import ingest_cap_xml
from schemas.cap_types import XMLDSIG_NAMESPACE
from schemas.signatures import SignaturePolicy, SignatureVerdict, SigningKey
from services.alert_gateway.signatures import MAX_CHECKED, signatures_of, verify

REAL = Path(__file__).parent / "cap_corpus" / "real"
VALID = Path(__file__).parent / "cap_corpus" / "valid"
NAADS = REAL / "canada_eccc_naads_snowfall_warning_signed.xml"
USGS = REAL / "usgs_earthquake_el_salvador_signed_iso8859-1.xml"
DS = f"{{{XMLDSIG_NAMESPACE}}}"
REQUIRE = SignaturePolicy.REQUIRE


def judged(
    document: bytes, keys: list[SigningKey], policy: SignaturePolicy = REQUIRE
) -> SignatureVerdict:
    sent = ingest_cap_xml(document).alert.sent
    return verify(document, policy=policy, keys=keys, sent=sent)


def outcomes(verdict: SignatureVerdict) -> list[str]:
    return [check.outcome for check in verdict.signatures]


# ----------------------------------------------------------------- real issuers' documents


@pytest.mark.parametrize("path", [NAADS, USGS], ids=lambda p: p.name)
def test_real_signed_documents_verify_with_their_issuers_keys(path: Path) -> None:
    document = path.read_bytes()

    verdict = judged(document, carried_keys(document))

    assert verdict.status == "verified"
    assert outcomes(verdict) == ["verified"] * len(signatures_of(etree.fromstring(document)))
    assert all(check.algorithm == "rsa-sha1" for check in verdict.signatures)


def test_the_distributors_and_the_originators_signatures_are_both_kept_and_checked() -> None:
    document = NAADS.read_bytes()
    alert = parse_cap_xml(document)

    assert len(alert.signature) == 2  # NAAD System's and Environment Canada's
    _pelmorex, canada = carried_keys(document)
    verdict = judged(document, [canada])
    assert verdict.status == "verified"
    # The distributor's signature is intact, by a key not registered for this sender.
    assert outcomes(verdict) == ["untrusted", "verified"]
    assert verdict.signatures[0].signer == "dss1.pelmorex.com"
    assert "signed by dss1.pelmorex.com, a key not registered" in verdict.summary()


@pytest.mark.parametrize("path", [NAADS, USGS], ids=lambda p: p.name)
def test_a_real_document_changed_by_one_character_is_refused_under_require(path: Path) -> None:
    document = tampered(path.read_bytes())

    verdict = judged(document, carried_keys(path.read_bytes()))

    assert verdict.status == "not_verified"
    assert set(outcomes(verdict)) == {"invalid"}
    assert all("altered" in (check.reason or "") for check in verdict.signatures)


def test_unregistered_keys_never_verify() -> None:
    document = USGS.read_bytes()

    verdict = judged(document, [signer("someone else").registered()])

    assert verdict.status == "not_verified"
    assert outcomes(verdict) == ["untrusted"]


def test_the_policy_decides_what_is_checked() -> None:
    document = NAADS.read_bytes()

    ignored = judged(document, [], SignaturePolicy.IGNORE)
    unsigned = judged((VALID / "meuse_flood_update.xml").read_bytes(), [], REQUIRE)

    assert (ignored.status, outcomes(ignored)) == ("not_checked", ["not_checked"] * 2)
    assert unsigned.status == "unsigned" and unsigned.summary() == "not signed"


# ------------------------------------------------------------- the network's own signers


@pytest.fixture(scope="module")
def liege() -> Signer:
    return signer("Province de Liège", valid_from=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def distributor() -> Signer:
    return signer("Euregio distributor", valid_from=datetime(2026, 1, 1, tzinfo=UTC))


UPDATE = (VALID / "meuse_flood_update.xml").read_bytes()  # sent 2026-07-15


def test_a_certificate_or_a_bare_public_key_may_be_registered(liege: Signer) -> None:
    document = liege.sign(UPDATE)

    assert judged(document, [liege.registered()]).status == "verified"
    assert judged(document, [liege.registered(bare_key=True)]).status == "verified"
    assert (
        "signed by Province de Liège, verified" in judged(document, [liege.registered()]).summary()
    )


def test_a_distributor_signing_after_the_originator_keeps_both_verifiable(
    liege: Signer, distributor: Signer
) -> None:
    twice = distributor.sign(liege.sign(UPDATE))

    verdict = judged(twice, [liege.registered(), distributor.registered()])

    assert len(parse_cap_xml(twice).signature) == 2
    assert outcomes(verdict) == ["verified", "verified"]


def test_a_certificate_not_valid_when_the_alert_was_sent_does_not_verify() -> None:
    later = signer("Province de Liège", valid_from=datetime(2026, 8, 1, tzinfo=UTC))

    verdict = judged(later.sign(UPDATE), [later.registered()])

    assert outcomes(verdict) == ["invalid"]
    assert "not valid when the alert was sent" in (verdict.signatures[0].reason or "")


# ------------------------------------------------------------------ signature wrapping


def test_a_signature_over_a_copy_hidden_in_the_signature_is_refused(liege: Signer) -> None:
    """XML signature wrapping: a genuine, intact signature of the original alert, carried in
    an enveloping signature (its `Object` holds the original), set into a forged alert whose
    root says something else. The signature checks out cryptographically; what it signs is
    not the alert the network would deliver."""
    enveloping = XMLSigner(
        method=SignatureConstructionMethod.enveloping,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
    ).sign(etree.fromstring(UPDATE), key=liege.key, cert=[liege.certificate])
    forged = etree.fromstring(tampered(UPDATE))
    forged.append(enveloping)
    document = etree.tostring(forged)

    verdict = judged(document, [liege.registered()])

    assert verdict.status == "not_verified"
    assert outcomes(verdict) == ["invalid"]
    assert "does not sign the whole alert" in (verdict.signatures[0].reason or "")


def test_a_signature_moved_off_the_root_does_not_count(liege: Signer) -> None:
    signed = etree.fromstring(liege.sign(UPDATE))
    signature = signatures_of(signed)[0]
    signed.find("{*}info").append(signature)
    document = etree.tostring(signed)

    assert judged(document, [liege.registered()]).status == "unsigned"


def test_a_transform_that_could_leave_content_unsigned_is_refused(liege: Signer) -> None:
    signed = etree.fromstring(liege.sign(UPDATE))
    transforms = signed.find(f"{DS}Signature/{DS}SignedInfo/{DS}Reference/{DS}Transforms")
    assert transforms is not None
    xpath = etree.SubElement(transforms, f"{DS}Transform")
    xpath.set("Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")
    document = etree.tostring(signed)

    verdict = judged(document, [liege.registered()])

    assert outcomes(verdict) == ["invalid"]
    assert "transform" in (verdict.signatures[0].reason or "")


def test_only_the_first_signatures_are_checked(liege: Signer) -> None:
    document = UPDATE
    for _ in range(MAX_CHECKED + 1):
        document = liege.sign(document)

    verdict = judged(document, [liege.registered()])

    assert verdict.status == "verified"
    assert outcomes(verdict) == ["verified"] * MAX_CHECKED + ["not_checked"]
    assert "only the first" in (verdict.signatures[-1].reason or "")
