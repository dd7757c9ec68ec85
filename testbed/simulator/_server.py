"""Starting and stopping a simulated SMR: storage, TLS, authorization, the HTTP server and MLLP listener."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from testbed.api import Validator
from testbed.core.errors import PackageError, UsageError
from testbed.identifiers import IdentifierRules
from testbed.national import NationalContent
from testbed.security.server import FAULTS as SECURITY_FAULTS
from testbed.security.server import ClientRegistration, ClientRegistry, TokenIssuer
from testbed.security.tls import HSTS_VALUE, ensure_local_ca, server_ssl_context
from testbed.simulator._app import AppSettings, SmrApp
from testbed.simulator._audit import Auditor
from testbed.simulator._capability import content_statement, served_statement
from testbed.simulator._context import Ctx
from testbed.simulator._evidence import EvidenceLog
from testbed.simulator._identity import IdentityService
from testbed.simulator._index import now_instant
from testbed.simulator._search import PageTokens
from testbed.simulator._service import FhirService
from testbed.simulator._storage import Storage
from testbed.simulator._validation import WriteValidator

log = logging.getLogger(__name__)

BASE_PATH = "/fhir"
FAULTS = frozenset(
    {
        "skip-validation",
        "ignore-consent",
        "ignore-consent-include",
        "no-audit",
        "no-audit-search",
        "accept-any-token",
        "accept-alg-none",
        "no-hsts",
        "tls10",
    }
)
"""Deliberate defects, to build broken SMRs that prove the suite fails them (all off by default)."""


@dataclass
class RunningSMR:
    """A simulated SMR serving in a background thread (a context manager; ``stop()`` ends it).

    Attributes:
        base_url: The FHIR base URL (``https://127.0.0.1:PORT/fhir``).
        mllp_address: ``(host, port)`` of the HL7 v2 MLLP listener, or None.
        ca_file: The local CA certificate clients must trust (None without TLS, or with ``tls_cert``).
        db_url: The database URL.
        evidence: Every exchange, secrets redacted (a list-like view).
        data_dir: The data folder (database, CA).
        token_url: The token endpoint (also discoverable from the base URL).
    """

    base_url: str
    mllp_address: tuple[str, int] | None
    ca_file: Path | None
    db_url: str
    evidence: EvidenceLog
    data_dir: Path
    token_url: str
    faults: frozenset[str]
    open_mode: bool
    registry: ClientRegistry
    issuer: TokenIssuer
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _storage: Storage = field(repr=False)
    _extras: list[Any] = field(default_factory=list, repr=False)
    _cleanup: Path | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def register_client(self, client: ClientRegistration) -> None:
        """Register (or replace) a backend client."""
        self.registry.add(client, replace=True)

    def stop(self) -> None:
        """Stop serving, finish pending writes, close the database."""
        if self._stopped:
            return
        self._stopped = True
        for extra in self._extras:
            extra.stop()
        self._server.should_exit = True
        deadline = time.monotonic() + 10
        while self._server.server_state.tasks and time.monotonic() < deadline:
            time.sleep(0.02)  # let replies in progress finish
        self._server.force_exit = True  # idle keep-alive TLS connections need not be waited for
        self._thread.join(timeout=30)
        self._storage.close()
        self.evidence.close()
        if self._cleanup is not None:
            shutil.rmtree(self._cleanup, ignore_errors=True)

    def __enter__(self) -> RunningSMR:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_smr(
    *,
    data_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    mllp_port: int | None = 0,
    db_url: str | None = None,
    tls: bool = True,
    open_mode: bool = False,
    clients: Sequence[ClientRegistration] = (),
    faults: frozenset[str] = frozenset(),
    validator: Validator | None = None,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    mtls: bool = False,
) -> RunningSMR:
    """Start a simulated SMR and return once it listens.

    Args:
        data_dir: Folder for the SQLite database and the local CA (a fresh temporary folder when None,
            removed on stop).
        host: Interface to listen on.
        port: TCP port (0: any free port).
        mllp_port: HL7 v2 MLLP port (0: any free port; None: no MLLP listener).
        db_url: Database URL (PostgreSQL for shared deployments); SQLite in ``data_dir`` when None.
        tls: Serve HTTPS with a certificate from the local CA (plain HTTP when False).
        open_mode: No authorization at all (logged loudly, and said on every response).
        clients: Backend clients registered from the start.
        faults: Deliberate defects (see :data:`FAULTS`).
        validator: The validator to use (built when None; share one between SMRs in tests).
        tls_cert: Server certificate to use instead of one from the local CA (with ``tls_key``).
        tls_key: The key of ``tls_cert``.
        mtls: Require client certificates issued by the local CA.

    Raises:
        UsageError: an unknown fault, a port in use, or a server that does not start.
    """
    unknown = set(faults) - FAULTS
    if unknown:
        raise UsageError(f"Unknown SMR fault(s) {sorted(unknown)}; known: {', '.join(sorted(FAULTS))}.")
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("Give both --tls-cert and --tls-key, or neither.")
    faults = frozenset(faults)
    validator = validator or Validator()
    registry = validator.context.registry
    national = NationalContent.from_registry(registry)
    headers = _national_headers(national)
    with contextlib.ExitStack() as undo:  # everything started so far is closed again if a later step fails
        cleanup = None
        if data_dir is None:
            data_dir = cleanup = Path(tempfile.mkdtemp(prefix="testbed-smr-"))
            undo.callback(shutil.rmtree, cleanup, True)
        options = _Options(
            Path(data_dir).expanduser(),
            host,
            port,
            mllp_port,
            db_url,
            tls,
            open_mode,
            tuple(clients),
            faults,
            tls_cert,
            tls_key,
            mtls,
            cleanup,
        )
        running = _start(undo, options, validator, national, headers)
        undo.pop_all()
    return running


def _national_headers(national: NationalContent) -> tuple[str, str, str]:
    try:
        h = national.headers
        return h["userInpe"], h["purposeOfUse"], h["breakTheGlass"]
    except KeyError as exc:
        raise PackageError(
            f"{national.package}: package.json testbed.national.headers has no {exc}."
        ) from None


@dataclass(frozen=True)
class _Options:
    data_dir: Path
    host: str
    port: int
    mllp_port: int | None
    db_url: str | None
    tls: bool
    open_mode: bool
    clients: tuple[ClientRegistration, ...]
    faults: frozenset[str]
    tls_cert: Path | None
    tls_key: Path | None
    mtls: bool
    cleanup: Path | None


def _start(
    undo: contextlib.ExitStack,
    o: _Options,
    validator: Validator,
    national: NationalContent,
    headers: tuple[str, str, str],
) -> RunningSMR:
    o.data_dir.mkdir(parents=True, exist_ok=True)
    registry = validator.context.registry
    storage = Storage(o.db_url) if o.db_url else Storage.sqlite_file(o.data_dir)
    undo.callback(storage.close)
    sock = _bind(o.host, o.port)
    undo.callback(sock.close)
    bound_port = sock.getsockname()[1]
    url_host = "localhost" if o.host in ("0.0.0.0", "::", "") else o.host
    url_host = f"[{url_host}]" if ":" in url_host else url_host
    base_url = f"{'https' if o.tls else 'http'}://{url_host}:{bound_port}{BASE_PATH}"
    token_url = f"{base_url}/auth/token"
    ssl_context, ca_file = (
        _tls(o.data_dir, o.host, o.tls_cert, o.tls_key, o.faults, o.mtls) if o.tls else (None, None)
    )
    if o.open_mode:
        log.warning(
            "OPEN MODE: the SMR simulator at %s accepts every request WITHOUT AUTHORIZATION", base_url
        )
    clients_registry = ClientRegistry(o.clients)
    issuer = TokenIssuer(clients_registry, issuer=base_url, faults=o.faults & SECURITY_FAULTS)
    secret = storage.setting("page-token-secret", lambda: secrets.token_hex(32))
    ctx = Ctx(
        storage=storage,
        checker=WriteValidator(validator, national, skip="skip-validation" in o.faults),
        national=national,
        identity=IdentityService(national, IdentifierRules.from_registry(registry)),
        auditor=Auditor(
            national,
            f"testbed SMR simulator ({base_url})",
            enabled="no-audit" not in o.faults,
            searches="no-audit-search" not in o.faults,
        ),
        tokens=PageTokens(secret.encode("ascii")),
        faults=o.faults,
        base_url=base_url,
    )
    source = content_statement(registry, national)
    statement = served_statement(
        source, base_url=base_url, token_url=token_url, open_mode=o.open_mode, date=now_instant()
    )
    inpe = IdentifierRules.from_registry(registry).rule_for(national.identifier("inpe").uri)
    settings = AppSettings(
        base_path=BASE_PATH,
        base_url=base_url,
        token_url=token_url,
        open_mode=o.open_mode,
        hsts=HSTS_VALUE if o.tls and "no-hsts" not in o.faults else None,
        user_header=headers[0],
        purpose_header=headers[1],
        btg_code=headers[2],
        inpe_rule=inpe,
        statement=lambda: statement,
    )
    evidence = EvidenceLog(o.data_dir)
    undo.callback(evidence.close)
    service = FhirService(ctx)
    app = SmrApp(service, issuer, evidence, settings)
    server, thread = _serve(app, sock, ssl_context)
    undo.callback(_halt, server, thread)
    running = RunningSMR(
        base_url=base_url,
        mllp_address=None,
        ca_file=ca_file,
        db_url=storage.db_url,
        evidence=evidence,
        data_dir=o.data_dir,
        token_url=token_url,
        faults=o.faults,
        open_mode=o.open_mode,
        registry=clients_registry,
        issuer=issuer,
        _server=server,
        _thread=thread,
        _storage=storage,
        _cleanup=o.cleanup,
    )
    if o.mllp_port is not None:
        from testbed.simulator._mllp import start_mllp

        listener = start_mllp(ctx, service, evidence, o.host, o.mllp_port)
        running._extras.append(listener)
        running.mllp_address = listener.address
    return running


def _halt(server: uvicorn.Server, thread: threading.Thread) -> None:
    server.should_exit = server.force_exit = True
    thread.join(timeout=30)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY on accepted sockets
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    sock.set_inheritable(True)
    return sock


def _tls(
    data_dir: Path, host: str, cert: Path | None, key: Path | None, faults: frozenset[str], mtls: bool
) -> tuple[ssl.SSLContext, Path | None]:
    """The server TLS context, and the CA clients must trust (None with a certificate given by the user)."""
    ca = ensure_local_ca(data_dir / "ca")
    trusted: Path | None = None
    if cert is None or key is None:
        trusted = ca.ca_file
        names, ips = ["localhost"], ["127.0.0.1", "::1"]
        if host not in ("0.0.0.0", "::", "", "localhost", "127.0.0.1", "::1"):
            try:
                ipaddress.ip_address(host)
                ips.append(host)
            except ValueError:
                names.append(host)
        cert, key = ca.issue_server_cert(names, ips)
    minimum = ssl.TLSVersion.TLSv1 if "tls10" in faults else ssl.TLSVersion.TLSv1_2
    context = server_ssl_context(cert, key, min_version=minimum, client_ca=ca.ca_file if mtls else None)
    return context, trusted


def _serve(
    app: SmrApp, sock: socket.socket, context: ssl.SSLContext | None
) -> tuple[uvicorn.Server, threading.Thread]:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
        ssl_context_factory=(lambda _config, _default: context) if context is not None else None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="smr-http", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise UsageError("The SMR simulator did not start (see the log above).")
        time.sleep(0.01)
    return server, thread
