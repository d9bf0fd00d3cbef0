"""Verifying the enveloped XML signatures (XML-DSig) of a CAP document, with signxml.

A CAP 1.2 alert may carry any number of `ds:Signature` children: the originator's, and a
distributor's beside it. Each is checked on its own, against every key registered for the
sender:

* **What is signed is the whole alert.** A signature counts only if it is a child of the root
  `alert`, has exactly one reference, `URI=""` (the whole document), and no transform beyond the
  enveloped-signature transform and canonicalisation. This refuses signature wrapping (a
  reference by `Id` to a copy of the original alert hidden elsewhere, while the root says
  something else) and transforms that leave part of the alert unsigned (XPath, XSLT).
* **Two ways to sign beside another signature.** Independent signatures each sign the alert
  without any signature (NAAD: Environment Canada's and Pelmorex's digests are the same); a
  distributor may instead sign the alert *with* the originator's signature in it. A signature
  is tried the first way, then, if its digest differs, the second.
* **Keys.** A registered certificate is used as the signing certificate, checked valid at the
  alert's `sent` time (archived and delayed documents are verified as of when they were sent,
  as CAP distributors do). A registered bare public key matches a certificate or `KeyValue`
  the signature carries. A signature intact under a key the sender has not registered is
  *untrusted*, never *verified*.
* SHA-1 is accepted (RSA-SHA1 is what most CAP issuers still sign with); HMAC is not (the
  registry holds no shared secrets).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.verifier import SignatureConfiguration, VerifyResult, XMLVerifier

from schemas.cap_types import XMLDSIG_NAMESPACE, safe_xml_parser
from schemas.signatures import (
    PublicKey,
    SignatureCheck,
    SignaturePolicy,
    SignatureVerdict,
    SigningKey,
    public_key_of,
)

_DS = f"{{{XMLDSIG_NAMESPACE}}}"
_ALLOWED_TRANSFORMS = {SignatureConstructionMethod.enveloped.value} | {
    method.value for method in CanonicalizationMethod
}
_ASYMMETRIC = frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC"))


class _Verifier(XMLVerifier):
    """signxml's verifier, canonicalising a signature's SignedInfo as a document of its own.

    libxml2 2.14's inclusive canonicalisation of an element inside a document writes a wrong
    `xmlns=""` on the children of an element with a default namespace, so RSA checks of
    inclusive-c14n signatures (USGS's, Pelmorex's) fail although they are intact. Serialised
    alone, the element keeps every namespace in scope, which is what inclusive c14n needs.
    """

    def _c14n(self, nodes: Any, algorithm: Any, inclusive_ns_prefixes: Any = None) -> bytes:
        listed = nodes if isinstance(nodes, list) else [nodes]
        alone = [
            node if node.getparent() is None else etree.fromstring(etree.tostring(node))
            for node in listed
        ]
        canonical: bytes = super()._c14n(alone, algorithm, inclusive_ns_prefixes)
        return canonical


MAX_CHECKED = 4
"""Signatures of one document checked at most (an originator's and distributors'): each costs
a canonicalisation of the whole document per registered key, so a document stacking dozens
cannot hold the gateway."""
_TOO_MANY = f"only the first {MAX_CHECKED} signatures of a document are checked"


def signatures_of(root: etree._Element) -> list[etree._Element]:
    """The enveloped signatures of an alert: the root's ds:Signature children."""
    return list(root.iterchildren(f"{_DS}Signature"))


def verify(
    document: bytes, *, policy: SignaturePolicy, keys: list[SigningKey], sent: datetime
) -> SignatureVerdict:
    """The verdict on the signatures of `document`, a CAP document already read (and so
    known to be well-formed, without DTD or XInclude)."""
    found = signatures_of(_read(document))
    count = len(found)
    if count == 0:
        return SignatureVerdict(policy=policy, status="unsigned")
    if policy is SignaturePolicy.IGNORE:
        checks = [SignatureCheck(index=i, outcome="not_checked") for i in range(count)]
        return SignatureVerdict(policy=policy, status="not_checked", signatures=checks)
    registered = [(key.name, public_key_of(key.pem), key.pem) for key in keys]
    checks = [
        _check(document, index, signature, registered, sent)
        if index < MAX_CHECKED
        else SignatureCheck(index=index, outcome="not_checked", reason=_TOO_MANY)
        for index, signature in enumerate(found)
    ]
    verified = any(check.outcome == "verified" for check in checks)
    return SignatureVerdict(
        policy=policy, status="verified" if verified else "not_verified", signatures=checks
    )


def _check(
    document: bytes,
    index: int,
    signature: etree._Element,
    registered: list[tuple[str, PublicKey, str]],
    sent: datetime,
) -> SignatureCheck:
    """What `signature`, the `index`th of `document`, proves."""
    algorithm = _algorithm(signature)
    shape = _shape_problem(signature)
    if shape is not None:
        return SignatureCheck(index=index, outcome="invalid", algorithm=algorithm, reason=shape)
    config = SignatureConfiguration(
        location="./",
        require_x509=False,
        signature_methods=_ASYMMETRIC,
        digest_algorithms=frozenset(DigestAlgorithm),
        verification_time=sent,
    )
    variants = _variants(document, index)
    for name, key, pem in registered:
        if _try(variants, config, key, pem) is None:
            return SignatureCheck(index=index, outcome="verified", signer=name, algorithm=algorithm)
    # Not by a registered key: is it at least intact under the key it carries?
    why = _try(variants, config, None, None)
    return SignatureCheck(
        index=index,
        outcome="untrusted" if why is None else "invalid",
        signer=_subject(signature),
        algorithm=algorithm,
        reason="signed by a key not registered for this sender" if why is None else why,
    )


def _try(
    variants: list[etree._Element],
    config: SignatureConfiguration,
    key: PublicKey | None,
    pem: str | None,
) -> str | None:
    """None if the signature verifies with `key` (None: with the key it carries) over one of
    the `variants` of the document; else why not."""
    why = "the alert was altered after it was signed"
    for variant in variants:
        signature = signatures_of(variant)[0]
        try:
            cert = _certificate_for(signature, key, pem)
            if key is not None and cert is None and not _has_key_value(signature):
                return "signed with another key"
            result = _Verifier().verify(
                variant, x509_cert=cert, expect_config=config, validate_schema=False
            )
            assert isinstance(result, VerifyResult)  # one reference (see _shape_problem)
        except InvalidDigest:
            continue  # perhaps computed the other way (see _variants)
        except InvalidCertificate:
            sent = config.verification_time
            return f"its certificate was not valid when the alert was sent ({sent})"
        except InvalidSignature:
            return "its signature value does not match the key"
        except (InvalidInput, ValueError) as exc:
            return f"it cannot be read: {exc}"
        if key is None or cert is not None or _same_key(result.signature_key, key):
            return None
        return "signed with another key"
    return why


def _variants(document: bytes, index: int) -> list[etree._Element]:
    """The document as signature `index` may have been computed over, that signature first
    among the root's: without the other signatures; then (a distributor signing after an
    originator) with the signatures before it."""
    alone = _read(document)
    signatures = signatures_of(alone)
    for other in signatures[:index] + signatures[index + 1 :]:
        _remove(other)
    variants = [alone]
    if index > 0:
        after = _read(document)
        signatures = signatures_of(after)
        for later in signatures[index + 1 :]:
            _remove(later)
        # Its own position is immaterial: the enveloped transform takes it out, tail kept.
        mine = signatures[index]
        _remove(mine)
        mine.tail = None
        after.insert(0, mine)
        variants.append(after)
    return variants


def _read(document: bytes) -> etree._Element:
    """A fresh tree of the document (each reading of a signature changes its own)."""
    return etree.fromstring(document, safe_xml_parser())


def _remove(element: etree._Element) -> None:
    """Take `element` out of its parent, keeping the text after it (as the enveloped-signature
    transform does)."""
    parent = element.getparent()
    assert parent is not None
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _shape_problem(signature: etree._Element) -> str | None:
    """Why this signature cannot vouch for the whole alert, if it cannot."""
    references = signature.findall(f"{_DS}SignedInfo/{_DS}Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        return 'it does not sign the whole alert (one reference, URI="", is required)'
    for transform in references[0].iterfind(f"{_DS}Transforms/{_DS}Transform"):
        if transform.get("Algorithm") not in _ALLOWED_TRANSFORMS:
            return (
                f"it uses a transform that can leave content unsigned: {transform.get('Algorithm')}"
            )
    return None


def _certificate_for(
    signature: etree._Element, key: PublicKey | None, pem: str | None
) -> x509.Certificate | None:
    """The certificate to verify with: the registered one; else, for a registered bare key
    (or none), the certificate the signature carries with that key."""
    if pem is not None and "BEGIN CERTIFICATE" in pem:
        return x509.load_pem_x509_certificate(pem.strip().encode())
    for text in signature.itertext(f"{_DS}X509Certificate"):
        carried = x509.load_der_x509_certificate(_b64(text))
        if key is None or _same_key(carried.public_key(), key):
            return carried
    return None


def _has_key_value(signature: etree._Element) -> bool:
    return signature.find(f"{_DS}KeyInfo/{_DS}KeyValue") is not None


def _same_key(candidate: bytes | object, key: PublicKey) -> bool:
    """Whether `candidate` (a public key, or one in PEM) is `key`."""
    if isinstance(candidate, bytes):
        candidate = serialization.load_pem_public_key(candidate)
    return isinstance(candidate, PublicKey) and _spki(candidate) == _spki(key)


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _subject(signature: etree._Element) -> str | None:
    """The common name of the certificate a signature carries, if it carries one."""
    for text in signature.itertext(f"{_DS}X509Certificate"):
        try:
            cert = x509.load_der_x509_certificate(_b64(text))
        except ValueError:
            return None
        names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        return str(names[0].value) if names else cert.subject.rfc4514_string()
    return None


def _algorithm(signature: etree._Element) -> str | None:
    method = signature.find(f"{_DS}SignedInfo/{_DS}SignatureMethod")
    uri = method.get("Algorithm") if method is not None else None
    return uri.rsplit("#", 1)[-1] if uri else None


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()))
