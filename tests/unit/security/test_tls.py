"""Local CA, TLS contexts and probes, against real sockets on 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from testbed.core.errors import UsageError
from testbed.security.errors import TlsError
from testbed.security.tls import (
    CA_CERT,
    CA_KEY,
    HSTS_VALUE,
    LocalCA,
    certificate_names_host,
    check_hsts,
    client_ssl_context,
    ensure_local_ca,
    probe_plaintext_http,
    probe_tls,
    probe_tls_version,
    server_ssl_context,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nStrict-Transport-Security: max-age=31536000\r\n\r\nok"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return ensure_local_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def server_files(ca: LocalCA) -> tuple[Path, Path]:
    return ca.issue_server_cert()


@contextlib.contextmanager
def serving(ctx: ssl.SSLContext | None, answer: bytes = OK) -> Iterator[int]:
    """A tiny server on 127.0.0.1 in a thread: TLS handshake (unless ctx is None), read a request, answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(2)
            try:
                stream = ctx.wrap_socket(conn, server_side=True) if ctx else conn
                with stream:
                    if stream.recv(4096):
                        stream.sendall(answer)
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        listener.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----------------------------------------------------------------------------- CA


def test_ca_is_created_once_and_reused(tmp_path: Path) -> None:
    first = ensure_local_ca(tmp_path / "data" / "tls")
    assert _mode(first.key_path) == 0o600 and first.ca_file.name == CA_CERT
    constraints = first.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    again = ensure_local_ca(tmp_path / "data" / "tls")
    assert again.cert_path.read_bytes() == first.cert_path.read_bytes()
    assert again.certificate.subject == first.certificate.subject


def test_half_a_ca_or_a_foreign_key_is_refused(tmp_path: Path) -> None:
    ca = ensure_local_ca(tmp_path / "a")
    other = ensure_local_ca(tmp_path / "b")
    other.key_path.write_bytes(ca.key_path.read_bytes())
    with pytest.raises(TlsError, match="does not belong"):
        ensure_local_ca(tmp_path / "b")
    (tmp_path / "a" / CA_KEY).unlink()
    with pytest.raises(TlsError, match=f"{CA_KEY} is missing"):
        ensure_local_ca(tmp_path / "a")


def test_loosened_key_permissions_are_tightened(tmp_path: Path) -> None:
    ca = ensure_local_ca(tmp_path)
    ca.key_path.chmod(0o644)
    ensure_local_ca(tmp_path)
    assert _mode(ca.key_path) == 0o600


def test_server_cert_names_reuse_and_key_mode(ca: LocalCA) -> None:
    cert_path, key_path = ca.issue_server_cert(("localhost", "smr.test"), ("127.0.0.1", "::1"))
    assert _mode(key_path) == 0o600
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    cert.verify_directly_issued_by(ca.certificate)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert certificate_names_host(der, "smr.test") and certificate_names_host(der, "::1")
    assert not certificate_names_host(der, "other.test")
    assert ca.issue_server_cert(("localhost", "smr.test"), ("127.0.0.1", "::1")) == (cert_path, key_path)
    assert (
        cert_path.read_bytes()
        == ca.issue_server_cert(("smr.test", "localhost"), ("::1", "127.0.0.1"))[0].read_bytes()
    )
    assert ca.issue_server_cert(("other.test",), ())[0] != cert_path
    with pytest.raises(UsageError):
        ca.issue_server_cert((), ())
    with pytest.raises(UsageError, match="IP"):
        ca.issue_server_cert(("x",), ("999.1.1.1",))


def test_wildcard_names() -> None:
    from testbed.security.tlsprobe import _name_matches

    assert _name_matches("*.smr.test", "api.smr.test")
    assert not _name_matches("*.smr.test", "a.b.smr.test") and not _name_matches("*.smr.test", "smr.test")
    assert not _name_matches("*.test", "smr.test")  # never a wildcard over a bare top-level domain
    assert _name_matches("SMR.test.", "smr.test")


# ----------------------------------------------------------------------------- handshakes and probes


def test_good_server_passes_every_probe(ca: LocalCA, server_files: tuple[Path, Path]) -> None:
    with serving(server_ssl_context(*server_files)) as port:
        report = probe_tls("127.0.0.1", port, ca.ca_file, "localhost")
        assert (report.cert_ok, report.hostname_ok, report.error) == (True, True, None)
        assert report.protocol == "TLSv1.3" and report.protocol_ok and report.cipher
        by_ip = probe_tls("127.0.0.1", port, ca.ca_file, "127.0.0.1")
        assert by_ip.hostname_ok
        with httpx.Client(verify=client_ssl_context(ca.ca_file)) as client:
            response = client.get(f"https://localhost:{port}/")
        assert response.text == "ok" and check_hsts(response.headers.get("strict-transport-security")) == []


def test_hostname_mismatch_is_detected(ca: LocalCA, server_files: tuple[Path, Path]) -> None:
    with serving(server_ssl_context(*server_files)) as port:
        report = probe_tls("127.0.0.1", port, ca.ca_file, "smr.example")
    assert report.cert_ok and not report.hostname_ok
    assert report.error and "smr.example" in report.error


def test_untrusted_chain_is_detected(tmp_path: Path, server_files: tuple[Path, Path]) -> None:
    stranger = ensure_local_ca(tmp_path / "stranger")
    with serving(server_ssl_context(*server_files)) as port:
        report = probe_tls("127.0.0.1", port, stranger.ca_file, "localhost")
    assert not report.cert_ok and report.hostname_ok and report.protocol == "TLSv1.3"
    assert report.error and "not trusted" in report.error


def test_tls10_is_refused_by_a_tls12_server_and_accepted_by_a_weak_one(
    server_files: tuple[Path, Path],
) -> None:
    with serving(server_ssl_context(*server_files)) as port:
        old = probe_tls_version("127.0.0.1", port, "TLSv1")
        assert old.reachable and not old.accepted and old.error
        assert not probe_tls_version("127.0.0.1", port, ssl.TLSVersion.TLSv1_1).accepted
        assert probe_tls_version("127.0.0.1", port, "TLSv1.2").accepted
    weak = server_ssl_context(*server_files, min_version=ssl.TLSVersion.TLSv1)
    with serving(weak) as port:
        probe = probe_tls_version("127.0.0.1", port, "TLSv1.0")
        assert probe.accepted and probe.negotiated == "TLSv1"
    with pytest.raises(UsageError):
        probe_tls_version("127.0.0.1", port, "SSLv3")


def test_unreachable_endpoint_is_not_a_refusal() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        probe = probe_tls_version("127.0.0.1", port, "TLSv1", timeout=1)
        report = probe_tls("127.0.0.1", port, None, "localhost", timeout=1)
    assert not probe.reachable and not probe.accepted
    assert report.protocol is None and report.error and "no TLS handshake" in report.error


def test_mutual_tls(ca: LocalCA, server_files: tuple[Path, Path]) -> None:
    client_cert = ca.issue_client_cert("his-rabat")
    with serving(server_ssl_context(*server_files, client_ca=ca.ca_file)) as port:
        assert probe_tls("127.0.0.1", port, ca.ca_file, "localhost", client_cert=client_cert).error is None
        with httpx.Client(verify=client_ssl_context(ca.ca_file)) as client, pytest.raises(httpx.HTTPError):
            client.get(f"https://localhost:{port}/")


def test_plaintext_probe(server_files: tuple[Path, Path]) -> None:
    with serving(server_ssl_context(*server_files)) as port:
        assert probe_plaintext_http("127.0.0.1", port).refused
    redirect = b"HTTP/1.1 301 Moved\r\nLocation: https://smr.test/\r\nContent-Length: 0\r\n\r\n"
    with serving(None, redirect) as port:
        report = probe_plaintext_http("127.0.0.1", port)
    assert not report.refused and (report.status, report.location) == (301, "https://smr.test/")
    with serving(None, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as port:
        assert probe_plaintext_http("127.0.0.1", port).refused


def test_bad_files_are_tls_errors(tmp_path: Path, server_files: tuple[Path, Path]) -> None:
    with pytest.raises(TlsError):
        server_ssl_context(tmp_path / "none.pem", server_files[1])
    with pytest.raises(TlsError):
        client_ssl_context(tmp_path / "none.pem")


def test_hsts_rules() -> None:
    assert check_hsts(HSTS_VALUE) == [] and check_hsts("max-age=63072000; includeSubDomains; preload") == []
    assert check_hsts(None) == ["no Strict-Transport-Security header"]
    assert "max-age" in check_hsts("includeSubDomains")[0]
    assert "disables" in check_hsts("max-age=0")[0]
