"""HTTP to the system under test: TLS settings, and a transport that records every exchange.

Every request the testbed makes through :class:`HttpSession` (steps, discovery, token requests) goes
through :class:`RecordingTransport`, which keeps an :class:`~testbed.scenarios.exchange.Exchange` in the
current sink. A transport failure (connection refused, TLS handshake, timeout) is recorded too, with
the error, and re-raised as :class:`TransportFailure`: a *fail* of the system under test at level 1.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from testbed.scenarios.exchange import Exchange, body_json, record_headers
from testbed.security.tlscontext import set_protocol_versions

DEFAULT_TIMEOUT = 30.0
AUTH_EXTENSION = "testbed_auth"
_TLS_VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


class TransportFailure(Exception):  # noqa: N818 - reads as an outcome
    """No reply came from the system under test (refused, TLS, timeout); carries the recorded exchange."""

    def __init__(self, message: str, exchange: Exchange) -> None:
        super().__init__(message)
        self.exchange = exchange


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How to trust the server and, for mTLS, who the testbed is."""

    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    verify: bool = True

    def context(self, *, only_version: str | None = None) -> ssl.SSLContext:
        """An SSL context; ``only_version`` pins one TLS version (to probe what the server accepts)."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key) if self.client_key else None)
        if only_version is not None:
            version = _TLS_VERSIONS[only_version]
            set_protocol_versions(ctx, version, version)  # legacy versions on purpose, without warnings
        return ctx


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe_transport_error(exc: BaseException) -> str:
    """A one-line description of why no reply came."""
    kind = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "no reply within the timeout",
        httpx.WriteTimeout: "the request could not be sent within the timeout",
        httpx.PoolTimeout: "no connection available within the timeout",
        httpx.ConnectError: "could not connect",
        httpx.RemoteProtocolError: "the server broke the HTTP protocol or closed the connection",
        httpx.ReadError: "the connection failed while reading the reply",
        httpx.WriteError: "the connection failed while sending the request",
    }
    for cls, text in kind.items():
        if isinstance(exc, cls):
            return f"{text} ({exc})" if str(exc) else text
    return f"{type(exc).__name__}: {exc}"


class ExchangeSink:
    """Where recorded exchanges go: a stack of lists, the innermost one receiving."""

    def __init__(self) -> None:
        self.all: list[Exchange] = []
        self._stack: list[list[Exchange]] = []

    def add(self, exchange: Exchange) -> None:
        self.all.append(exchange)
        for target in self._stack:
            target.append(exchange)

    @contextmanager
    def collect(self) -> Iterator[list[Exchange]]:
        """Collect the exchanges recorded inside the ``with`` block."""
        bucket: list[Exchange] = []
        self._stack.append(bucket)
        try:
            yield bucket
        finally:
            self._stack.remove(bucket)


class RecordingTransport(httpx.BaseTransport):
    """Wraps a transport; records each request and its reply (or failure) into a sink."""

    def __init__(self, inner: httpx.BaseTransport, sink: ExchangeSink, *, base_url: str = "") -> None:
        self.inner = inner
        self.sink = sink
        self.base_url = base_url.rstrip("/")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = now_iso()
        t0 = time.perf_counter()
        content = request.read()
        url = str(request.url)
        req: dict[str, Any] = {
            "method": request.method,
            "url": url,
            "headers": record_headers(request.headers.multi_items()),
            "body": body_json(content, request.headers.get("content-type")),
        }
        if self.base_url and url.startswith(self.base_url + "/"):
            req["base"] = self.base_url
            req["path"] = url[len(self.base_url) + 1 :]
        auth = request.extensions.get(AUTH_EXTENSION)
        exchange = Exchange("http", "outbound", req, auth=dict(auth) if auth else None, started=started)
        try:
            response = self.inner.handle_request(request)
            data = response.read()
        except httpx.TransportError as exc:
            exchange.error = describe_transport_error(exc)
            exchange.response = None
            self.sink.add(exchange)
            raise TransportFailure(exchange.error, exchange) from exc
        exchange.response = {
            "status": response.status_code,
            "headers": record_headers(response.headers.multi_items()),
            "body": body_json(data, response.headers.get("content-type")),
            "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        exchange.raw_reply = data
        self.sink.add(exchange)
        response.extensions = {**response.extensions, "testbed_exchange": exchange}
        return response

    def close(self) -> None:
        self.inner.close()


class HttpSession:
    """An httpx client bound to one FHIR base, recording into ``sink``.

    Args:
        base_url: the FHIR base of the system under test, taken as given.
        tls: trust and mTLS settings.
        sink: where exchanges are recorded.
        transport: an inner transport (``httpx.MockTransport`` in tests); by default real HTTP.
        timeout: seconds per request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        tls: TlsSettings | None = None,
        sink: ExchangeSink | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tls = tls or TlsSettings()
        self.sink = sink or ExchangeSink()
        self.timeout = timeout
        self._inner_factory = transport
        inner = transport or httpx.HTTPTransport(verify=self.tls.context(), retries=0)
        self.client = httpx.Client(
            transport=RecordingTransport(inner, self.sink, base_url=self.base_url),
            timeout=timeout,
            follow_redirects=False,
        )

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` relative to the base (the base path is never assumed)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        params: Any = None,
        content: bytes | None = None,
        auth_info: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Exchange:
        """Send one request and return its recorded exchange.

        Raises:
            TransportFailure: no reply came (the exchange records why).
        """
        request = self.client.build_request(
            method,
            url,
            headers=headers,
            params=params,
            content=content,
            extensions={
                AUTH_EXTENSION: auth_info or {},
                "timeout": httpx.Timeout(timeout or self.timeout).as_dict(),
            },
        )
        response = self.client.send(request)
        exchange: Exchange = response.extensions["testbed_exchange"]
        return exchange

    def probe(self, url: str, *, only_version: str | None) -> Exchange:
        """One GET with a pinned TLS version (or plaintext when ``only_version`` is ``none``), recorded.

        Raises:
            TransportFailure: the server did not answer under those conditions.
        """
        if only_version == "none":
            url = "http://" + url.split("://", 1)[1]
            inner = self._inner_factory or httpx.HTTPTransport(retries=0)
        else:
            inner = self._inner_factory or httpx.HTTPTransport(
                verify=self.tls.context(only_version=only_version), retries=0
            )
        with httpx.Client(
            transport=RecordingTransport(inner, self.sink, base_url=self.base_url),
            timeout=self.timeout,
            follow_redirects=False,
        ) as client:
            response = client.get(url, extensions={AUTH_EXTENSION: {"mode": "none", "tls": only_version}})
            exchange: Exchange = response.extensions["testbed_exchange"]
            return exchange

    def close(self) -> None:
        """Close the connections."""
        self.client.close()
