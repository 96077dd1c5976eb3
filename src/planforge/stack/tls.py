"""Mutual TLS for a stack (`planforge up --mtls`): a local CA and a certificate per service and for the gateway.

Everything lives in ``<state>/tls/`` (never in generated output): ``ca.pem`` and ``ca.key``, then
``<name>.pem`` and ``<name>.key`` for each service, for the gateway and for ``planforge-up`` itself (the
identity its readiness checks present). Each leaf certificate serves and calls (server and client auth) and
names the service, ``localhost`` and 127.0.0.1, which is where `up` runs it. The files are kept across runs,
and a leaf is issued again when it is missing or was signed by another CA.
"""

from __future__ import annotations

import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from planforge_runtime.keys import write_key_file

if TYPE_CHECKING:  # cryptography is imported when used, so that the command line stays light
    from cryptography import x509

__all__ = ["PROBE_IDENTITY", "TlsFiles", "client_context", "ensure_certificates"]

# The name of the certificate `up` itself presents when it checks /readyz and /healthz.
PROBE_IDENTITY = "planforge-up"
_CA_DAYS = 3650
_LEAF_DAYS = 825


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A name's certificate and key (PEM), and the CA that signed it (the only CA the stack trusts)."""

    certificate: Path
    key: Path
    ca: Path


def ensure_certificates(folder: Path, names: list[str]) -> tuple[dict[str, TlsFiles], list[str]]:
    """The CA and a certificate for each name, created when missing; (files by name, names issued now)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = _ensure_ca(folder)
    files: dict[str, TlsFiles] = {}
    issued: list[str] = []
    for name in names:
        found = TlsFiles(folder / f"{name}.pem", folder / f"{name}.key", folder / "ca.pem")
        if not _signed_by(found.certificate, ca_cert):
            _issue(found, name, ca_cert, ca_key)
            issued.append(name)
        files[name] = found
    return files, issued


def client_context(files: TlsFiles) -> ssl.SSLContext:
    """A client context that trusts only the stack's CA and presents files' certificate."""
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(str(files.certificate), str(files.key))
    return context


def _ensure_ca(folder: Path) -> tuple[object, object]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    cert_path, key_path = folder / "ca.pem", folder / "ca.key"
    if cert_path.exists() and key_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        return certificate, serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "planforge up local CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_key_file(key_path, _private_pem(key), 0o600)
    write_key_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    return certificate, key


def _issue(files: TlsFiles, name: str, ca_cert: object, ca_key: object) -> None:
    """A leaf certificate for name: server and client auth, for name, localhost and 127.0.0.1."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    assert isinstance(ca_cert, x509.Certificate) and isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName(name), x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_key_file(files.key, _private_pem(key), 0o600)
    write_key_file(files.certificate, certificate.public_bytes(serialization.Encoding.PEM), 0o644)


def _signed_by(path: Path, ca_cert: object) -> bool:
    """True when path holds a certificate that the CA signed (a CA made again invalidates every leaf)."""
    from cryptography import x509

    assert isinstance(ca_cert, x509.Certificate)
    if not path.exists() or not path.with_suffix(".key").exists():
        return False
    try:
        x509.load_pem_x509_certificate(path.read_bytes()).verify_directly_issued_by(ca_cert)
    except Exception:  # a bad file, another CA's signature (InvalidSignature), another key type
        return False
    return True


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
