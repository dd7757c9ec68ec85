"""Security step kinds: ``hostile`` (robustness, spec §8) and ``tls`` (TLS facts of the FHIR endpoint).

``hostile`` sends one hostile payload (:mod:`testbed.scenarios.hostile`) with the step's credentials, so
that the server has to read it; its reply (or ACK) is the subject, judged by ``rejected``, ``status``,
``outcome`` or ``ack``, and ``still_up`` then probes the server. The body of a ``huge-body`` is streamed:
it is never held in memory, and only its size and SHA-256 are recorded.

``tls`` runs the probes of :mod:`testbed.security.tls` against the host and port of the FHIR base and
records what they found (protocol, chain, hostname, versions accepted, plaintext answer, HSTS header,
whether a client certificate is required); the ``tls_secure`` assertion judges it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from testbed.scenarios import hostile as h
from testbed.scenarios.auth import AuthChoice
from testbed.scenarios.exchange import MAX_BODY, Exchange, body_json, record_headers, sha256_hex
from testbed.scenarios.results import StepError, StepResult, StepSkipped
from testbed.scenarios.steps import FHIR_JSON, executor, send_http
from testbed.scenarios.transport import AUTH_EXTENSION, TransportFailure, describe_transport_error, now_iso

if TYPE_CHECKING:
    from testbed.scenarios.runner import ScenarioRuntime

CLOSED_WHILE_SENDING = "closed-while-sending"
CANARY_NOTE = "hostile-canary: "
_MLLP_READ_LIMIT = 1 << 20
_KEPT_HOSTILE = 4096  # a deeply nested body kept whole would break the JSON readers of the run folder
_TLS_VERSIONS = {"1.0": "TLSv1", "1.1": "TLSv1.1", "1.2": "TLSv1.2", "1.3": "TLSv1.3"}


def _recorded_body(content: bytes, limit: int = MAX_BODY) -> dict[str, Any]:
    """A body as recorded, never parsed (a hostile body may break a JSON parser).

    Beyond ``limit`` bytes only its start, size and SHA-256 are kept (the scenario makes it again).
    """
    if not content:
        return {"format": "empty"}
    out: dict[str, Any] = {}
    if len(content) > limit:
        out.update(truncated=True, size=len(content), sha256=sha256_hex(content))
        content = content[:limit]
    try:
        out.update(format="text", value=content.decode("utf-8"))
    except UnicodeDecodeError:
        out.update(format="base64", value=base64.b64encode(content).decode("ascii"))
    return out


def _reply_body(data: bytes, content_type: str | None) -> dict[str, Any]:
    try:
        return body_json(data, content_type)
    except RecursionError:
        return _recorded_body(data)


def _headers(rt: ScenarioRuntime, content_type: str) -> tuple[dict[str, str], dict[str, Any]]:
    headers = {"Accept": FHIR_JSON, "Content-Type": content_type}
    user_header = rt.services.national.headers.get("userInpe")
    if user_header and rt.services.user_inpe:
        headers[user_header] = rt.services.user_inpe
    choice = AuthChoice()
    info: dict[str, Any] = {"mode": "none"}
    if rt.services.tokens is not None:
        value, info, raw = rt.services.tokens.authorization(choice)
        if value is not None:
            headers["Authorization"] = value
        if raw:
            rt.sent_secrets.append(raw)
    return headers, info


def _send_body(rt: ScenarioRuntime, args: dict[str, Any], payload: h.HttpPayload) -> Exchange:
    """POST (or the step's method) a hostile body to the system under test, recorded without parsing it."""
    http = rt.services.http
    if http is None:
        raise StepSkipped("Missing the following required inputs: target")
    url = http.url(args.get("path", "Patient"))
    headers, info = _headers(rt, payload.content_type)
    sent, digest = [0], hashlib.sha256()
    if payload.streamed:
        headers["Content-Length"] = str(payload.size)
        content: Any = payload.chunks(sent, digest)
        recorded: dict[str, Any] = {
            "format": "text",
            "value": f"[{payload.description}: not kept]",
            "truncated": True,
            "size": payload.size,
        }
    else:
        content = payload.content
        recorded = _recorded_body(payload.content, _KEPT_HOSTILE)
    request: dict[str, Any] = {
        "method": args.get("method", "POST"),
        "url": url,
        "headers": record_headers(headers),
        "body": recorded,
    }
    if url.startswith(http.base_url + "/"):
        request.update(base=http.base_url, path=url[len(http.base_url) + 1 :])
    ex = Exchange("http", "outbound", request, auth=info, started=now_iso())
    ex.notes.append(f"hostile payload {payload.kind}: {payload.description}")
    if payload.canary:
        ex.notes.append(CANARY_NOTE + payload.canary)
    inner = http._inner_factory or httpx.HTTPTransport(verify=http.tls.context(), retries=0)
    t0 = time.perf_counter()
    timeout = float(args.get("timeout") or http.timeout)
    with httpx.Client(transport=inner, timeout=timeout, follow_redirects=False) as client:
        try:
            response = client.send(
                client.build_request(
                    request["method"],
                    url,
                    headers=headers,
                    content=content,
                    extensions={AUTH_EXTENSION: info},
                )
            )
            data = response.read()
        except httpx.TransportError as exc:
            ex.error = describe_transport_error(exc)
            if payload.streamed and isinstance(exc, httpx.WriteError) and sent[0] < payload.size:
                ex.notes.append(
                    f"{CLOSED_WHILE_SENDING}: the server closed the connection after {sent[0]} bytes"
                )
            _finish_stream(ex, payload, sent, digest)
            rt.services.sink.add(ex)
            return ex
    _finish_stream(ex, payload, sent, digest)
    ex.response = {
        "status": response.status_code,
        "headers": record_headers(response.headers.multi_items()),
        "body": _reply_body(data, response.headers.get("content-type")),
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 1),
    }
    ex.raw_reply = data
    rt.services.sink.add(ex)
    return ex


def _finish_stream(ex: Exchange, payload: h.HttpPayload, sent: list[int], digest: Any) -> None:
    if payload.streamed and sent[0] == payload.size:
        ex.request["body"]["sha256"] = digest.hexdigest()


def _submit_hostile_document(rt: ScenarioRuntime, args: dict[str, Any], kind: str) -> Exchange:
    name = args.get("fixture")
    if not name or name not in rt.fixtures:
        raise StepError(f"hostile {kind} needs 'fixture': a patient fixture with a document")
    bundle = rt.fixtures[name].document_bundle(args.get("document", 0))
    bundle, what = h.hostile_submission(bundle, kind)
    ex = send_http(
        rt,
        "POST",
        args.get("path", ""),
        headers=None,
        params=None,
        content=json.dumps(bundle, ensure_ascii=False).encode(),
        content_type=FHIR_JSON,
        auth=None,
        timeout=args.get("timeout"),
    )
    ex.notes.append(f"hostile payload {kind}: {what}")
    if kind == "xxe-cda":
        ex.notes.append(CANARY_NOTE + h.XXE_CANARY)
    return ex


def _mllp_exchange(rt: ScenarioRuntime, args: dict[str, Any], kind: str) -> Exchange:
    address = rt.services.mllp
    if not address:
        raise StepSkipped("Missing the following required inputs: mllp (host:port of the MLLP listener)")
    host, _, port = address.rpartition(":")
    message = str(args.get("message") or h.minimal_message("testbed-hostile"))
    size = int(float(args.get("size_mb", 8)) * 1024 * 1024)
    payload = h.mllp_payload(kind, message, size=size, seed=str(rt.services.seed))
    ex = Exchange(
        "mllp", "outbound", {"message": h.preview(payload.data), "address": address}, started=now_iso()
    )
    ex.notes.append(f"hostile payload {kind}: {payload.description}")
    timeout = float(args.get("timeout", 10))
    try:
        reply = _mllp_send(host, int(port), payload, timeout)
    except OSError as exc:
        ex.error = f"the MLLP connection to {address} failed: {exc}"
        rt.services.sink.add(ex)
        raise TransportFailure(ex.error, ex) from None
    if reply is None:
        ex.error = "no acknowledgement (the receiver dropped the bytes or closed the connection)"
    else:
        ex.response = {"message": reply}
    rt.services.sink.add(ex)
    return ex


def _mllp_send(host: str, port: int, payload: h.MllpPayload, timeout: float) -> str | None:
    """Send raw bytes and read until one complete frame came back, the peer closed, or ``timeout``."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(payload.data)
            if payload.half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the receiver stopped reading: what it answered, if anything, is still read below
        data = b""
        deadline = time.monotonic() + timeout
        while len(data) < _MLLP_READ_LIMIT and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
            if b"\x1c\x0d" in data:
                break
    start = data.find(b"\x0b")
    end = data.find(b"\x1c\x0d", start + 1)
    if start < 0 or end < 0:
        return None
    return data[start + 1 : end].decode("utf-8", "replace")


@executor("hostile")
def hostile_input(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """Send one hostile payload (see :mod:`testbed.scenarios.hostile`); its reply is the subject."""
    kind = str(args["payload"])
    resource_type = str(args.get("path", "Patient")).split("/")[0].split("?")[0] or "Bundle"
    if kind in h.MLLP_KINDS:
        return _mllp_exchange(rt, args, kind)
    if kind in h.CDA_KINDS:
        return _submit_hostile_document(rt, args, kind)
    makers: dict[str, Callable[[], h.HttpPayload]] = {
        "malformed-json": lambda: h.malformed_json(resource_type),
        "invalid-utf8": lambda: h.invalid_utf8(resource_type),
        "deep-json": lambda: h.deep_json(resource_type, int(args.get("depth", 10000))),
        "huge-body": lambda: h.huge_body(resource_type, int(float(args.get("size_mb", 50)) * 1024 * 1024)),
    }
    if kind not in makers:
        raise StepError(f"unknown hostile payload {kind!r}")
    return _send_body(rt, args, makers[kind]())


# --- TLS --------------------------------------------------------------------------------------------


def tls_report(base_url: str, tls: Any, probes: list[str], path: str, timeout: float) -> dict[str, Any]:
    """What the TLS probes found at the host and port of ``base_url`` (``tls``: the session's settings)."""
    from testbed.security.tls import probe_plaintext_http, probe_tls, probe_tls_version

    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    report: dict[str, Any] = {"host": host, "port": port, "scheme": parts.scheme}
    if parts.scheme != "https":
        report["error"] = f"the FHIR base {base_url} is not an https URL: no TLS at all"
        return report
    client_cert = (tls.client_cert, tls.client_key or tls.client_cert) if tls.client_cert else None
    if "certificate" in probes:
        cert = probe_tls(host, port, tls.ca_file, host, timeout=timeout, client_cert=client_cert)
        report["certificate"] = {
            "protocol": cert.protocol,
            "cipher": cert.cipher,
            "chain_trusted": cert.cert_ok,
            "hostname_matches": cert.hostname_ok,
            "ca_file": str(tls.ca_file) if tls.ca_file else "system store",
            "error": cert.error,
        }
    if "versions" in probes:
        versions = {}
        for short, name in _TLS_VERSIONS.items():
            found = probe_tls_version(host, port, name, server_hostname=host, timeout=timeout)
            versions[short] = {
                "accepted": found.accepted,
                "negotiated": found.negotiated,
                "error": found.error,
            }
        report["versions"] = versions
    if "plaintext" in probes:
        plain = probe_plaintext_http(host, port, path=f"{parts.path.rstrip('/')}/{path}", timeout=timeout)
        report["plaintext"] = {
            "answered_http": plain.answered_http,
            "status": plain.status,
            "location": plain.location,
            "error": plain.error,
        }
    if "hsts" in probes:
        report["hsts"] = _hsts(base_url, tls, path, timeout)
    if "client_cert" in probes:
        report["client_cert"] = _without_client_cert(base_url, tls, path, timeout)
    return report


def _hsts(base_url: str, tls: Any, path: str, timeout: float) -> dict[str, Any]:
    """The Strict-Transport-Security header of a GET over the verified connection, and its problems."""
    from testbed.security.tls import check_hsts

    try:
        with httpx.Client(verify=tls.context(), timeout=timeout) as client:
            response = client.get(f"{base_url.rstrip('/')}/{path}", headers={"Accept": FHIR_JSON})
    except httpx.HTTPError as exc:
        return {"answered": False, "error": describe_transport_error(exc)}
    value = response.headers.get("strict-transport-security")
    return {"answered": True, "status": response.status_code, "value": value, "problems": check_hsts(value)}


def _without_client_cert(base_url: str, tls: Any, path: str, timeout: float) -> dict[str, Any]:
    """A GET without the client certificate (when mTLS is declared): whether the server still answers."""
    from testbed.scenarios.transport import TlsSettings

    if not tls.client_cert:
        return {"configured": False}
    bare = TlsSettings(ca_file=tls.ca_file, verify=tls.verify)
    url = f"{base_url.rstrip('/')}/{path}"
    try:
        with httpx.Client(verify=bare.context(), timeout=timeout) as client:
            response = client.get(url, headers={"Accept": FHIR_JSON})
    except httpx.HTTPError as exc:
        return {"configured": True, "answered": False, "error": describe_transport_error(exc)}
    return {"configured": True, "answered": True, "status": response.status_code}


@executor("tls")
def tls_probe(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """Probe the TLS of the FHIR endpoint; the report is the reply body of the recorded exchange."""
    http = rt.services.http
    if http is None:
        raise StepSkipped("Missing the following required inputs: target")
    probes = list(args.get("probes") or ["certificate", "versions", "plaintext", "hsts", "client_cert"])
    timeout = float(args.get("timeout", 5))
    started = now_iso()
    report = tls_report(http.base_url, http.tls, probes, str(args.get("path", "metadata")), timeout)
    parts = urlsplit(http.base_url)
    ex = Exchange(
        "tls",
        "outbound",
        {
            "method": "TLS",
            "url": f"{parts.scheme}://{parts.netloc}",
            "headers": {},
            "body": {"format": "text", "value": "probes: " + ", ".join(probes)},
        },
        response={"status": None, "headers": {}, "body": {"format": "json", "value": report}},
        started=started,
    )
    rt.services.sink.add(ex)
    return ex


# --- tokens the reference SMR can mint for the negative cases -------------------------------------


def reference_token_minters(issuer: Any) -> dict[str, Callable[[Any, tuple[str, ...]], str]]:
    """Makers of an expired token and of a token for another audience, signed by ``issuer``'s key.

    For the embedded reference SMR only (its :class:`testbed.security.server.TokenIssuer` is at hand);
    a vendor's SMR cannot be asked for such tokens, so these scenarios are skipped for it.
    """

    def expired(creds: Any, scopes: tuple[str, ...]) -> str:
        return str(issuer.issue_access_token(creds.client_id, scopes, now=time.time() - 3600))

    def other_audience(creds: Any, scopes: tuple[str, ...]) -> str:
        return str(
            issuer.issue_access_token(creds.client_id, scopes, audience="https://elsewhere.invalid/fhir")
        )

    return {"expired": expired, "other-audience": other_audience}
