"""Facts about a vendor's TLS endpoint for the security suite (issue 10 item 1); they do not judge.

``probe_tls`` (protocol, cipher, chain, hostname), ``probe_tls_version`` (is TLS 1.0/1.1 refused?),
``probe_plaintext_http`` (is plaintext refused rather than redirected?).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from testbed.core.errors import UsageError
from testbed.security.tlscontext import client_ssl_context, set_protocol_versions

_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.0": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True, slots=True)
class TlsReport:
    """What a TLS handshake with an endpoint showed.

    ``protocol``/``cipher`` are None when no handshake succeeded at all (then ``error`` says why);
    ``cert_ok`` means the chain verifies against the given CA; ``hostname_ok`` that the certificate
    names ``server_hostname``; ``error`` also carries the verification failure when one of them is false.
    """

    protocol: str | None
    cipher: str | None
    cert_ok: bool
    hostname_ok: bool
    error: str | None = None

    @property
    def protocol_ok(self) -> bool:
        """Whether the negotiated protocol is TLS 1.2 or higher (spec §8)."""
        return self.protocol in ("TLSv1.2", "TLSv1.3")


@dataclass(frozen=True, slots=True)
class VersionProbe:
    """Whether an endpoint accepted a handshake limited to one protocol ``version``."""

    version: str
    accepted: bool
    reachable: bool
    negotiated: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PlaintextReport:
    """What a plaintext ``GET`` to an endpoint got (spec §8: refused, never redirected)."""

    answered_http: bool
    status: int | None = None
    location: str | None = None
    error: str | None = None

    @property
    def refused(self) -> bool:
        """True unless the server answered the plaintext request with a success or a redirect."""
        return not self.answered_http or self.status is None or self.status >= 400


def _handshake(
    host: str, port: int, ctx: ssl.SSLContext, server_hostname: str | None, timeout: float
) -> tuple[str | None, str | None, bytes | None]:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            cipher = tls.cipher()
            return tls.version(), cipher[0] if cipher else None, tls.getpeercert(binary_form=True)


def _name_matches(pattern: str, hostname: str) -> bool:
    pattern, hostname = pattern.lower().rstrip("."), hostname.lower().rstrip(".")
    if not pattern.startswith("*."):
        return pattern == hostname
    head, _, rest = hostname.partition(".")
    return bool(head) and rest == pattern[2:] and "." in rest  # one label, never a bare TLD


def certificate_names_host(der: bytes, hostname: str) -> bool:
    """Whether a DER certificate's subjectAltName covers ``hostname`` (DNS with a left-most ``*``, or IP)."""
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return any(_name_matches(n, hostname) for n in san.get_values_for_type(x509.DNSName))
    return address in san.get_values_for_type(x509.IPAddress)


def probe_tls(
    host: str,
    port: int,
    ca_file: Path | None,
    server_hostname: str,
    *,
    timeout: float = 5.0,
    client_cert: tuple[Path, Path] | None = None,
) -> TlsReport:
    """Handshake with ``host:port`` and report protocol, cipher, chain and hostname verdicts.

    The chain is checked against ``ca_file`` (the system store when None), the name separately, so a
    wrong hostname and an untrusted chain are told apart.
    """
    ctx = client_ssl_context(ca_file, client_cert, min_version=ssl.TLSVersion.TLSv1)
    ctx.check_hostname = False
    try:
        protocol, cipher, der = _handshake(host, port, ctx, server_hostname, timeout)
        cert_ok, error = True, None
    except ssl.SSLCertVerificationError as exc:
        cert_ok, error = False, f"certificate chain not trusted: {exc.verify_message}"
        loose = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        loose.check_hostname, loose.verify_mode = False, ssl.CERT_NONE
        set_protocol_versions(loose, ssl.TLSVersion.TLSv1)
        try:
            protocol, cipher, der = _handshake(host, port, loose, server_hostname, timeout)
        except (OSError, ssl.SSLError) as again:
            return TlsReport(None, None, False, False, f"{error}; then {again}")
    except (OSError, ssl.SSLError) as exc:
        return TlsReport(None, None, False, False, f"no TLS handshake with {host}:{port}: {exc}")
    hostname_ok = der is not None and certificate_names_host(der, server_hostname)
    if not hostname_ok:
        mismatch = f"the certificate does not name {server_hostname}"
        error = f"{error}; {mismatch}" if error else mismatch
    return TlsReport(protocol, cipher, cert_ok, hostname_ok, error)


def probe_tls_version(
    host: str,
    port: int,
    version: ssl.TLSVersion | str,
    *,
    server_hostname: str | None = None,
    timeout: float = 5.0,
) -> VersionProbe:
    """Try a handshake limited to one protocol version (e.g. ``"TLSv1"``) to see whether it is refused.

    Certificates are not checked here (only the protocol is in question); TLS 1.0/1.1 use security
    level 0 so that OpenSSL 3 offers them at all.
    """
    if isinstance(version, str):
        if version not in _VERSIONS:
            raise UsageError(f"unknown TLS version {version!r}; use one of {sorted(_VERSIONS)}")
        version = _VERSIONS[version]
    name = {v: k for k, v in _VERSIONS.items()}[version]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    set_protocol_versions(ctx, version, version)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return VersionProbe(
            name, accepted=False, reachable=False, error=f"cannot connect to {host}:{port}: {exc}"
        )
    try:
        with raw, ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return VersionProbe(name, accepted=True, reachable=True, negotiated=tls.version())
    except (OSError, ssl.SSLError) as exc:
        return VersionProbe(name, accepted=False, reachable=True, error=str(exc))


def probe_plaintext_http(
    host: str, port: int, *, path: str = "/", host_header: str | None = None, timeout: float = 5.0
) -> PlaintextReport:
    """Send a plaintext ``GET`` to ``host:port`` and report whether an HTTP answer (and which) came back."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host_header or host}\r\nConnection: close\r\n\r\n".encode()
    data = b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            while len(data) < 65536 and b"\r\n\r\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as exc:
        if not isinstance(exc, (ConnectionResetError, TimeoutError, BrokenPipeError)):
            return PlaintextReport(False, error=f"cannot connect to {host}:{port}: {exc}")
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2) if lines else []
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return PlaintextReport(False, error="no HTTP answer (connection closed or TLS alert)")
    location = next(
        (ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("location:")), None
    )
    return PlaintextReport(True, status=int(parts[1]), location=location)
