"""TLS contexts for the SMR (server) and for clients and probes, and the HSTS header rules (spec §8)."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path

from testbed.security.errors import TlsError

#: The HSTS header value the SMR sends (one year).
HSTS_VALUE = "max-age=31536000"


def set_protocol_versions(
    ctx: ssl.SSLContext, minimum: ssl.TLSVersion, maximum: ssl.TLSVersion | None = None
) -> None:
    """Set a context's protocol range; below TLS 1.2 also lower OpenSSL 3's security level so it works."""
    with warnings.catch_warnings():  # legacy versions are asked for on purpose (weak test servers, probes)
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    if minimum < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 refuses TLS 1.0/1.1 at the default level


def server_ssl_context(
    cert: Path,
    key: Path,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    client_ca: Path | None = None,
) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2+ by default; mutual TLS when ``client_ca`` is given).

    A ``min_version`` below TLS 1.2 makes a deliberately weak server (security level 0), for tests.

    Raises:
        TlsError: the certificate, key or client CA cannot be loaded.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    set_protocol_versions(ctx, min_version)
    try:
        ctx.load_cert_chain(str(cert), str(key))
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cafile=str(client_ca))
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(f"cannot load the TLS certificate/key ({cert}, {key}, {client_ca}): {exc}") from None
    return ctx


def client_ssl_context(
    ca_file: Path | None,
    client_cert: tuple[Path, Path] | None = None,
    *,
    min_version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
) -> ssl.SSLContext:
    """A client TLS context trusting ``ca_file`` only (the system store when None), checking hostnames.

    ``client_cert`` (cert, key) is presented for mutual TLS.

    Raises:
        TlsError: a file cannot be loaded.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    set_protocol_versions(ctx, min_version)
    try:
        if ca_file is None:
            ctx.load_default_certs()
        else:
            ctx.load_verify_locations(cafile=str(ca_file))
        if client_cert is not None:
            ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    except (OSError, ssl.SSLError) as exc:
        raise TlsError(
            f"cannot load the CA file or client certificate ({ca_file}, {client_cert}): {exc}"
        ) from None
    return ctx


def check_hsts(value: str | None, *, min_max_age: int = 1) -> list[str]:
    """Problems with a ``Strict-Transport-Security`` header value (empty list when it is sound)."""
    if value is None or not value.strip():
        return ["no Strict-Transport-Security header"]
    directives = {}
    for part in value.split(";"):
        name, _, arg = part.strip().partition("=")
        if name:
            directives[name.lower()] = arg.strip().strip('"')
    max_age = directives.get("max-age")
    if max_age is None or not max_age.isdigit():
        return [f"Strict-Transport-Security {value!r} has no valid max-age"]
    if int(max_age) < min_max_age:
        return [f"Strict-Transport-Security max-age={max_age} is below {min_max_age} (0 disables HSTS)"]
    return []
