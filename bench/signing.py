"""Signing CAP documents as an issuer does: a key, its certificate, XML-DSig with signxml (for
the signature benchmark and the signed-CAP tests)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from schemas.cap_types import XMLDSIG_NAMESPACE
from schemas.signatures import SigningKey
from services.alert_gateway.signatures import signatures_of
from services.common.cap_signing import SigningIdentity

_DS = f"{{{XMLDSIG_NAMESPACE}}}"


@dataclass(frozen=True)
class Signer(SigningIdentity):
    """An issuer's signing key and its self-signed certificate, under a name."""

    name: str = "issuer"

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def public_key_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def registered(self, *, bare_key: bool = False) -> SigningKey:
        """The key as the registry holds it: the certificate, or the bare public key."""
        return SigningKey(
            name=self.name, pem=self.public_key_pem if bare_key else self.certificate_pem
        )

    def keep_in(self, directory: Path, organisation: str) -> None:
        """Write the key and certificate as a service signing for `organisation` reads them
        (services.common.cap_signing)."""
        directory.mkdir(parents=True, exist_ok=True)
        key = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (directory / f"{organisation}.key.pem").write_bytes(key)
        (directory / f"{organisation}.cert.pem").write_text(self.certificate_pem)


def signer(
    name: str, *, valid_from: datetime | None = None, valid_for: timedelta = timedelta(days=365)
) -> Signer:
    """A new signer whose certificate is valid from `valid_from` (default: yesterday)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = valid_from or datetime.now(UTC) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Signer(key=key, certificate=certificate, name=name)


def carried_keys(document: bytes) -> list[SigningKey]:
    """The keys a document's signatures carry, as PEM: each certificate, else its KeyValue."""
    keys = []
    for index, signature in enumerate(signatures_of(etree.fromstring(document))):
        certificate = signature.findtext(f".//{_DS}X509Certificate")
        if certificate is not None:
            der = base64.b64decode("".join(certificate.split()))
            pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        else:
            number = {
                name: int.from_bytes(base64.b64decode(signature.findtext(f".//{_DS}{name}") or ""))
                for name in ("Modulus", "Exponent")
            }
            key = rsa.RSAPublicNumbers(number["Exponent"], number["Modulus"]).public_key()
            pem = key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        keys.append(SigningKey(name=f"key {index}", pem=pem.decode()))
    return keys


def tampered(document: bytes) -> bytes:
    """One character of the first description changed."""
    start = document.index(b"<description>") + len(b"<description>")
    changed = b"X" if document[start : start + 1] != b"X" else b"Y"
    return document[:start] + changed + document[start + 1 :]
