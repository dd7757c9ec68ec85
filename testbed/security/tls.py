"""TLS for the embedded SMR and TLS checks of a vendor endpoint (contexts and probes re-exported here).

A local certificate authority is created on first use in a data folder (EC P-256 keys, owner-only
key files) and reused afterwards; it issues the SMR's server certificate and, for mutual TLS, client
certificates. The probes (``probe_tls``, ``probe_tls_version``, ``probe_plaintext_http``,
``check_hsts``) give the security suite (issue 10) facts to judge, and do not judge themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import ipaddress
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from testbed.core.errors import UsageError
from testbed.security.errors import TlsError
from testbed.security.keys import write_private_file
from testbed.security.tlscontext import HSTS_VALUE, check_hsts, client_ssl_context, server_ssl_context
from testbed.security.tlsprobe import (
    PlaintextReport,
    TlsReport,
    VersionProbe,
    certificate_names_host,
    probe_plaintext_http,
    probe_tls,
    probe_tls_version,
)

__all__ = [
    "CA_CERT",
    "CA_KEY",
    "HSTS_VALUE",
    "LocalCA",
    "PlaintextReport",
    "TlsReport",
    "VersionProbe",
    "certificate_names_host",
    "check_hsts",
    "client_ssl_context",
    "ensure_local_ca",
    "probe_plaintext_http",
    "probe_tls",
    "probe_tls_version",
    "server_ssl_context",
]

CA_CERT = "ca-cert.pem"
CA_KEY = "ca-key.pem"
_LEAF_DAYS = 397
_RENEW_BEFORE = dt.timedelta(days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    with open(folder / ".lock", "a+b") as handle:  # serialises CA creation between processes
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _tighten(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)


@dataclass(frozen=True)
class LocalCA:
    """The testbed's local certificate authority kept in ``folder`` (see :func:`ensure_local_ca`)."""

    folder: Path
    cert_path: Path
    key_path: Path
    certificate: x509.Certificate = field(repr=False, compare=False)
    _key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @property
    def ca_file(self) -> Path:
        """The CA certificate file that clients trust."""
        return self.cert_path

    def _issue(
        self, subject_cn: str, san: list[x509.GeneralName], usage: x509.ObjectIdentifier, days: int, stem: str
    ) -> tuple[Path, Path]:
        cert_path, key_path = self.folder / f"{stem}.pem", self.folder / f"{stem}-key.pem"
        with _folder_lock(self.folder):
            if self._reusable(cert_path, key_path):
                _tighten(key_path)
                return cert_path, key_path
            key = ec.generate_private_key(ec.SECP256R1())
            now = _now()
            builder = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn[:64])]))
                .issuer_name(self.certificate.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1))
                .not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(_leaf_key_usage(), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
                )
            )
            if san:
                builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            cert = builder.sign(self._key, hashes.SHA256())
            write_private_file(key_path, _pem_key(key))
            _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, key_path

    def _reusable(self, cert_path: Path, key_path: Path) -> bool:
        if not (cert_path.is_file() and key_path.is_file()):
            return False
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            cert.verify_directly_issued_by(self.certificate)
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, OSError):
            return False
        same_key = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) == cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return same_key and cert.not_valid_after_utc - _now() > _RENEW_BEFORE

    def issue_server_cert(
        self,
        hostnames: Sequence[str] = ("localhost",),
        ips: Sequence[str] = ("127.0.0.1",),
        *,
        days: int = _LEAF_DAYS,
    ) -> tuple[Path, Path]:
        """A server certificate for these names (reused while valid), as ``(cert_path, key_path)``.

        Raises:
            UsageError: no name at all, or an IP address that does not parse.
        """
        if not hostnames and not ips:
            raise UsageError("a server certificate needs at least one hostname or IP address")
        try:
            addresses = [ipaddress.ip_address(ip) for ip in ips]
        except ValueError as exc:
            raise UsageError(f"not an IP address: {exc}") from None
        san: list[x509.GeneralName] = [x509.DNSName(h.lower()) for h in hostnames]
        san += [x509.IPAddress(a) for a in addresses]
        names = ",".join(sorted(h.lower() for h in hostnames) + sorted(str(a) for a in addresses))
        stem = "server-" + hashlib.sha256(names.encode()).hexdigest()[:12]
        return self._issue(
            (list(hostnames) or [str(addresses[0])])[0], san, ExtendedKeyUsageOID.SERVER_AUTH, days, stem
        )

    def issue_client_cert(self, common_name: str, *, days: int = _LEAF_DAYS) -> tuple[Path, Path]:
        """A client certificate for mutual TLS, as ``(cert_path, key_path)``."""
        stem = "client-" + hashlib.sha256(common_name.encode()).hexdigest()[:12]
        return self._issue(common_name, [], ExtendedKeyUsageOID.CLIENT_AUTH, days, stem)


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _create_ca(cert_path: Path, key_path: Path, common_name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "testbed"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} {secrets.token_hex(4)}"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private_file(key_path, _pem_key(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _load_ca(folder: Path, cert_path: Path, key_path: Path) -> LocalCA:
    hint = f"delete {folder} to make a new CA (clients must then trust the new {CA_CERT})"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError, OSError) as exc:
        raise TlsError(f"{folder}: the local CA cannot be read ({exc}); {hint}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{key_path}: the local CA key is not an EC key; {hint}")
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, pub) != cert.public_key().public_bytes(
        serialization.Encoding.DER, pub
    ):
        raise TlsError(f"{folder}: {CA_KEY} does not belong to {CA_CERT}; {hint}")
    if cert.not_valid_after_utc <= _now():
        raise TlsError(f"{cert_path}: the local CA expired on {cert.not_valid_after_utc:%Y-%m-%d}; {hint}")
    _tighten(key_path)
    return LocalCA(folder, cert_path, key_path, cert, key)


def ensure_local_ca(folder: Path, *, common_name: str = "testbed local CA") -> LocalCA:
    """The local CA kept in ``folder``: created on first use (key file 0600), reused afterwards.

    Raises:
        TlsError: the folder holds only half a CA, a key that does not match, or an expired CA.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = folder / CA_CERT, folder / CA_KEY
    with _folder_lock(folder):
        have_cert, have_key = cert_path.is_file(), key_path.is_file()
        if have_cert != have_key:
            missing = CA_KEY if have_cert else CA_CERT
            raise TlsError(
                f"{folder}: {missing} is missing; restore it, or delete the folder to make a new CA"
            )
        if not have_cert:
            _create_ca(cert_path, key_path, common_name)
    return _load_ca(folder, cert_path, key_path)
