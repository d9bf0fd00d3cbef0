"""Signing the CAP the network emits on an organisation's behalf, with the organisation's key.

A service that publishes as an organisation (the evaluator, raising a health agency's alerts)
signs the CAP XML with that organisation's private key when the deployment gives it one: an
enveloped XML signature (signxml; RSA or ECDSA with SHA-256, exclusive canonicalisation, the
certificate in KeyInfo), which the gateway verifies against the certificate registered with
the organisation, as any sender's (services.alert_gateway.signatures).

Keys live in a directory of the deployment, never in the registry: `<organisation id>.key.pem`
(the private key, PKCS#8 or traditional PEM, unencrypted) and `<organisation id>.cert.pem` (its
certificate). An organisation without both files is published unsigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from signxml.algorithms import SignatureConstructionMethod
from signxml.signer import XMLSigner

from schemas.cap_types import safe_xml_parser

EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass(frozen=True)
class SigningIdentity:
    """An organisation's private key and the certificate registered for it."""

    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def sign(self, document: bytes) -> bytes:
        """`document` with this identity's enveloped signature added, beside any already
        there (a distributor signing after an originator)."""
        algorithm = "rsa-sha256" if isinstance(self.key, rsa.RSAPrivateKey) else "ecdsa-sha256"
        signed = XMLSigner(
            method=SignatureConstructionMethod.enveloped,
            signature_algorithm=algorithm,
            digest_algorithm="sha256",
            c14n_algorithm=EXCLUSIVE_C14N,
        ).sign(
            etree.fromstring(document, safe_xml_parser()),
            key=self.key,
            cert=[self.certificate],
        )
        return bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))


class SigningIdentities:
    """The organisations' identities in a directory (None: nobody signs), read once each."""

    def __init__(self, directory: Path | None) -> None:
        self._directory = directory
        self._read: dict[str, SigningIdentity | None] = {}

    def of(self, organisation: str) -> SigningIdentity | None:
        """The organisation's identity; None when the directory holds none for it."""
        if organisation not in self._read:
            self._read[organisation] = self._load(organisation)
        return self._read[organisation]

    def _load(self, organisation: str) -> SigningIdentity | None:
        if self._directory is None:
            return None
        key_file = self._directory / f"{organisation}.key.pem"
        cert_file = self._directory / f"{organisation}.cert.pem"
        if not (key_file.is_file() and cert_file.is_file()):
            return None
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_file}: an RSA or EC private key is needed to sign CAP")
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
        return SigningIdentity(key, certificate)
