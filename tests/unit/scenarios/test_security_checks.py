"""The security step kinds and assertions, each passing on a good server and failing on a bad one.

``hostile`` and ``still_up`` against scripted servers (httpx.MockTransport, a tiny MLLP server), ``tls``
and ``tls_secure`` against real TLS servers made with a local CA at test time (a weak TLS 1.0 one, a
wrong name, another CA, mutual TLS, a plaintext port that redirects), ``audit_trail`` on recorded
AuditEvents, and the bad tokens of ``auth``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from testbed.scenarios import hostile as h
from testbed.scenarios.auth import AuthChoice, ClientCredentials, TokenProvider
from testbed.scenarios.checks import CHECKS, CheckContext
from testbed.scenarios.exchange import Exchange
from testbed.scenarios.results import Result, StepFailure, StepSkipped
from testbed.scenarios.runner import ScenarioRuntime  # noqa: F401 - registers the security kinds
from testbed.scenarios.services import Services
from testbed.scenarios.transport import ExchangeSink, HttpSession, TlsSettings
from testbed.security.client import TokenResponse
from testbed.security.keys import generate_client_key
from testbed.security.tls import ensure_local_ca, server_ssl_context
from tests.unit.scenarios.conftest import BASE, Server, json_response

Run = Callable[[str, Services], Any]
NO_RUNTIME: Any = None
OUTCOME = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "invalid", "expression": ["Patient"]}],
}
CAPABILITY = {"resourceType": "CapabilityStatement", "status": "active"}
HEAD = """
id: sec-unit
title: unit
actor: SMR
level: 3
requirements: [MA-SEC-022]
steps:
"""


def scripted(hostile_status: int, *, metadata: int = 200, body: Any = None) -> Server:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata"):
            return json_response(metadata, CAPABILITY if metadata == 200 else OUTCOME)
        request.read()
        return json_response(hostile_status, body if body is not None else OUTCOME)

    return Server(handle)


def hostile_step(payload: str, extra: str = "", expect: str = "rejected: true") -> str:
    return (
        HEAD
        + f"""  - hostile: {{payload: {payload}, path: Patient{extra}}}
    expect:
      - {expect}
      - still_up: {{timeout: 0.3}}
"""
    )


# --- payloads ------------------------------------------------------------------------------------


def test_each_http_payload_is_wrong_in_its_own_way() -> None:
    with pytest.raises(ValueError):
        json.loads(h.malformed_json("Patient").content)
    with pytest.raises(UnicodeDecodeError):
        h.invalid_utf8("Patient").content.decode("utf-8")
    deep = h.deep_json("Patient", 50).content
    assert deep.count(b'"extension":[') == 51 and json.loads(deep)["resourceType"] == "Patient"
    with pytest.raises(RecursionError):
        json.loads(h.deep_json("Patient", 10000).content)
    huge = h.huge_body("Patient", 300_000)
    sent, digest = [0], hashlib.sha256()
    pieces = list(huge.chunks(sent, digest))
    body = b"".join(pieces)
    assert huge.streamed and len(body) == sent[0] == 300_000 and max(map(len, pieces)) <= 1 << 16
    assert (
        json.loads(body)["resourceType"] == "Patient"
        and digest.hexdigest() == hashlib.sha256(body).hexdigest()
    )


def test_a_hostile_cda_declares_its_dtd_and_uses_the_entity() -> None:
    cda = (
        b'<?xml version="1.0"?>\n'
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>Compte rendu</title></ClinicalDocument>'
    )
    xxe = h.xxe_cda(cda).decode()
    assert '<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' in xxe
    assert "<title>&xxe;Compte rendu</title>" in xxe and xxe.startswith('<?xml version="1.0"?>')
    laughs = h.billion_laughs_cda(cda).decode()
    assert laughs.count("<!ENTITY lol") == 10 and "<title>&lol9;" in laughs
    bundle = {
        "entry": [
            {"resource": {"resourceType": "Binary", "data": base64.b64encode(cda).decode()}},
            {
                "resource": {
                    "resourceType": "DocumentReference",
                    "content": [{"attachment": {"size": 1, "hash": "x"}}],
                }
            },
        ]
    }
    changed, what = h.hostile_submission(bundle, "xxe-cda")
    sent = base64.b64decode(changed["entry"][0]["resource"]["data"])
    attachment = changed["entry"][1]["resource"]["content"][0]["attachment"]
    assert b"&xxe;" in sent and attachment["size"] == len(sent) and "external entity" in what
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(sent).digest()).decode()  # noqa: S324


def test_each_mllp_payload_breaks_the_framing() -> None:
    msg = h.minimal_message("1")
    assert h.mllp_payload("mllp-missing-end", msg, size=0, seed=1).data == b"\x0b" + msg.encode()
    assert h.mllp_payload("mllp-no-start", msg, size=0, seed=1).data == msg.encode() + b"\x1c\r"
    garbage = h.mllp_payload("mllp-garbage", msg, size=0, seed=1).data
    assert len(garbage) == 4096 and b"\x0b" not in garbage
    big = h.mllp_payload("mllp-oversize", msg, size=2_000_000, seed=1)
    assert len(big.data) > 2_000_000 and big.data.endswith(b"\r\x1c\r") and not big.half_close
    assert "[5000 bytes in all]" in h.preview(b"x" * 5000)


# --- hostile + rejected + still_up over HTTP -------------------------------------------------------


@pytest.mark.parametrize("payload", ["malformed-json", "invalid-utf8", "deep-json"])
def test_a_clear_4xx_passes_and_the_body_reached_the_server(
    make_services: Any, run: Run, payload: str
) -> None:
    server = scripted(400)
    result = run(hostile_step(payload, expect="rejected: true\n      - outcome: {}"), make_services(server))
    assert result.result is Result.PASS, result.failure_text()
    sent = server.requests[0]
    assert sent.method == "POST" and str(sent.url) == f"{BASE}/Patient"
    assert sent.headers["content-type"] == "application/fhir+json" and len(sent.content) > 50


@pytest.mark.parametrize(
    ("server", "why"),
    [
        (scripted(500), "instead of refusing"),
        (scripted(201, body={"resourceType": "Patient", "id": "1"}), "accepted the hostile input"),
        (scripted(400, metadata=503), "not up after the hostile input"),
    ],
)
def test_a_crash_an_acceptance_or_a_dead_server_fails(
    make_services: Any, run: Run, server: Server, why: str
) -> None:
    result = run(hostile_step("deep-json", ", depth: 2000"), make_services(server))
    assert result.result is Result.FAIL and why in result.failure_text(), result.failure_text()


def test_a_huge_body_is_streamed_and_recorded_by_size_and_digest(make_services: Any, run: Run) -> None:
    server = scripted(413)
    services = make_services(server)
    result = run(hostile_step("huge-body", ", size_mb: 1"), services)
    assert result.result is Result.PASS, result.failure_text()
    assert server.requests[0].headers["content-length"] == str(1024 * 1024)
    ex = next(e for e in services.sink.all if e.request.get("method") == "POST")
    body = ex.request["body"]
    assert body["size"] == 1024 * 1024 and len(body["sha256"]) == 64 and len(body["value"]) < 100


class _StopsReading(httpx.BaseTransport):
    """A server that reads two chunks of an upload, then closes the connection (httpx.MockTransport
    would read the whole body first).
    """

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata"):
            return json_response(200, CAPABILITY)
        stream = iter(request.stream)  # type: ignore[arg-type]
        next(stream)
        next(stream)
        raise httpx.WriteError("broken pipe", request=request)


def test_closing_while_an_oversized_body_is_sent_counts_as_refused(
    shared: Any, national_content: Any, run: Run, make_services: Any
) -> None:
    sink = ExchangeSink()
    http = HttpSession(BASE, sink=sink, transport=_StopsReading())
    services = Services(
        validator=shared, national=national_content, sink=sink, http=http, inputs=frozenset({"target"})
    )
    result = run(hostile_step("huge-body", ", size_mb: 1"), services)
    assert result.result is Result.PASS, result.failure_text()
    assert "refused by closing the connection" in result.steps[0].assertions[0].message


def test_no_reply_to_a_hostile_input_fails(make_services: Any, run: Run) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/metadata"):
            return json_response(200, CAPABILITY)
        raise httpx.ReadTimeout("no reply", request=request)

    failed = run(hostile_step("deep-json"), make_services(Server(hang)))
    assert failed.result is Result.FAIL and "hung or went down" in failed.failure_text()


def test_a_resolved_external_entity_in_the_reply_fails() -> None:
    ex = Exchange(
        "http", "outbound", {"method": "POST", "url": BASE, "headers": {}, "body": {"format": "empty"}}
    )
    ex.response = {"status": 422, "headers": {}, "body": {"format": "empty"}}
    ex.notes.append("hostile-canary: " + h.XXE_CANARY)
    ex.raw_reply = b'{"diagnostics": "bad title root:x:0:0:root:/root:/bin/bash"}'
    with pytest.raises(StepFailure, match="XXE"):
        CHECKS["rejected"](CheckContext(ex, "response", NO_RUNTIME, "hostile"), True)
    ex.raw_reply = b'{"diagnostics": "DTDs are refused"}'
    assert CHECKS["rejected"](CheckContext(ex, "response", NO_RUNTIME, "hostile"), True) is not None


# --- hostile over MLLP ------------------------------------------------------------------------------


@pytest.fixture
def mllp_receiver() -> Iterator[dict[str, Any]]:
    """A receiver answering every complete frame (or an unterminated one at EOF) with a set MSA-1."""
    state: dict[str, Any] = {"code": "AR", "seen": []}

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while True:
                chunk = self.request.recv(65536)
                data += chunk
                if not chunk or b"\x1c\r" in data:
                    break
            state["seen"].append(data)
            if b"\x0bMSH" in data and state["code"]:
                ack = f"MSH|^~\\&|R|R|T|T|20260101||ACK|1|P|2.5\rMSA|{state['code']}|1\r"
                self.request.sendall(b"\x0b" + ack.encode() + b"\x1c\r")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    state["address"] = f"127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def test_mllp_hostile_frames_and_the_listener_probe(
    make_services: Any, run: Run, mllp_receiver: dict[str, Any]
) -> None:
    text = (
        HEAD
        + """  - hostile: {payload: mllp-missing-end}
    expect:
      - ack: [AR, AE]
      - still_up: {timeout: 1}
  - hostile: {payload: mllp-garbage}
    expect:
      - rejected: true
"""
    )
    services = make_services(scripted(400), mllp=mllp_receiver["address"])
    result = run(text, services)
    assert result.result is Result.PASS, result.failure_text()
    assert mllp_receiver["seen"][0].startswith(b"\x0bMSH|") and b"\x1c" not in mllp_receiver["seen"][0]
    assert any(b"testbed-probe" in s for s in mllp_receiver["seen"])  # still_up sent a new message
    mllp_receiver["code"] = "AA"
    accepted = run(
        text.replace("ack: [AR, AE]", "rejected: true"),
        make_services(scripted(400), mllp=mllp_receiver["address"]),
    )
    assert (
        accepted.result is Result.FAIL and "accepted the broken input (MSA-1 AA)" in accepted.failure_text()
    )
    skipped = run(text, make_services(scripted(400)))
    assert skipped.result is Result.SKIP and "mllp" in skipped.message


def test_a_dead_mllp_listener_fails_still_up(make_services: Any, run: Run) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()  # nothing listens there any more
    ex = Exchange("mllp", "outbound", {"message": "x", "address": address})

    class Runtime:
        def fetch(self, method: str, path: str, **kw: Any) -> Exchange:
            done = Exchange(
                "http", "outbound", {"method": "GET", "url": path, "headers": {}, "body": {"format": "empty"}}
            )
            done.response = {"status": 200, "headers": {}, "body": {"format": "json", "value": CAPABILITY}}
            return done

    with pytest.raises(StepFailure, match="MLLP listener is not up"):
        CHECKS["still_up"](CheckContext(ex, "response", Runtime(), "hostile"), {"timeout": 0.3})  # type: ignore[arg-type]


# --- tls + tls_secure against real servers -----------------------------------------------------------


class _Metadata(BaseHTTPRequestHandler):
    redirect = False
    hsts: str | None = None

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.redirect:
            self.send_response(301)
            self.send_header("Location", "https://127.0.0.1/fhir/metadata")
            self.end_headers()
            return
        body = json.dumps(CAPABILITY).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        if self.hsts:
            self.send_header("Strict-Transport-Security", self.hsts)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _Redirect(_Metadata):
    redirect = True


class _Hsts(_Metadata):
    hsts = "max-age=31536000; includeSubDomains"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Callable[..., tuple[str, Path]]]:
    """Start HTTPS servers (certificate names, TLS floor, client CA) with a local CA made for the test."""
    servers: list[ThreadingHTTPServer] = []
    ca = ensure_local_ca(tmp_path / "ca")

    def start(
        *,
        names: tuple[str, ...] = ("localhost",),
        ips: tuple[str, ...] = ("127.0.0.1",),
        minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        mtls: bool = False,
        plain: type[BaseHTTPRequestHandler] | None = None,
        handler: type[BaseHTTPRequestHandler] = _Hsts,
    ) -> tuple[str, Path]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), plain or handler)
        if plain is None:
            cert, key = ca.issue_server_cert(names, ips)
            context = server_ssl_context(
                cert, key, min_version=minimum, client_ca=ca.ca_file if mtls else None
            )
            server.socket = context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        scheme = "http" if plain else "https"
        return f"{scheme}://127.0.0.1:{server.server_address[1]}/fhir", ca.ca_file

    start.ca = ca  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def tls_services(shared: Any, national: Any, base: str, tls: TlsSettings, **kw: Any) -> Services:
    sink = ExchangeSink()
    return Services(
        validator=shared,
        national=national,
        sink=sink,
        http=HttpSession(base, tls=tls, sink=sink, timeout=5),
        seed=1,
        inputs=frozenset({"target"}),
        **kw,
    )


def tls_step(probes: str, expect: str) -> str:
    return (
        HEAD
        + f"""  - tls: {{probes: [{probes}], timeout: 3}}
    expect:
      - tls_secure: {expect}
"""
    )


def test_a_sound_endpoint_passes_every_tls_check(
    tls_server: Any, shared: Any, national_content: Any, run: Run
) -> None:
    base, ca = tls_server()
    services = tls_services(shared, national_content, base, TlsSettings(ca_file=ca))
    text = tls_step(
        "certificate, versions, hsts",
        '{chain: true, hostname: true, negotiated_min: "1.2", refuses: ["1.0", "1.1"], accepts: ["1.2"], '
        "hsts: true}",
    )
    result = run(text, services)
    assert result.result is Result.PASS, result.failure_text()
    report = services.sink.all[0].reply_json()
    assert services.sink.all[0].protocol == "tls" and report["certificate"]["protocol"] in (
        "TLSv1.2",
        "TLSv1.3",
    )


def test_tls_10_a_wrong_name_and_another_ca_fail(
    tls_server: Any, shared: Any, national_content: Any, run: Run, tmp_path: Path
) -> None:
    weak, ca = tls_server(minimum=ssl.TLSVersion.TLSv1)
    failed = run(
        tls_step("versions", '{refuses: ["1.0", "1.1"]}'),
        tls_services(shared, national_content, weak, TlsSettings(ca_file=ca)),
    )
    assert failed.result is Result.FAIL and "accepts TLS 1.0" in failed.failure_text(), failed.failure_text()
    misnamed, ca = tls_server(names=("smr.example",), ips=())
    result = run(
        tls_step("certificate", "{hostname: true}"),
        tls_services(shared, national_content, misnamed, TlsSettings(ca_file=ca)),
    )
    assert result.result is Result.FAIL and "does not name 127.0.0.1" in result.failure_text()
    assert (
        run(
            tls_step("certificate", "{chain: true}"),
            tls_services(shared, national_content, misnamed, TlsSettings(ca_file=ca)),
        ).result
        is Result.PASS
    )
    other = ensure_local_ca(tmp_path / "other-ca")
    sound, _ = tls_server()
    untrusted = run(
        tls_step("certificate", "{chain: true}"),
        tls_services(shared, national_content, sound, TlsSettings(ca_file=other.ca_file)),
    )
    assert untrusted.result is Result.FAIL and "not trusted" in untrusted.failure_text()


def test_plaintext_must_be_refused_not_redirected(
    tls_server: Any, shared: Any, national_content: Any
) -> None:
    from testbed.scenarios.security_steps import tls_report

    redirecting, _ = tls_server(plain=_Redirect)
    port = redirecting.split(":")[2].split("/")[0]
    report = tls_report(f"https://127.0.0.1:{port}/fhir", TlsSettings(), ["plaintext"], "metadata", 3)
    ex = Exchange(
        "tls",
        "outbound",
        {},
        response={"status": None, "headers": {}, "body": {"format": "json", "value": report}},
    )
    with pytest.raises(StepFailure, match="redirected"):
        CHECKS["tls_secure"](CheckContext(ex, "response", NO_RUNTIME, "tls"), {"plaintext_refused": True})
    sound, _ = tls_server()
    report = tls_report(sound, TlsSettings(), ["plaintext"], "metadata", 3)
    ex.response = {"status": None, "headers": {}, "body": {"format": "json", "value": report}}
    assert (
        CHECKS["tls_secure"](CheckContext(ex, "response", NO_RUNTIME, "tls"), {"plaintext_refused": True})
        is not None
    )
    plain = tls_report("http://127.0.0.1:1/fhir", TlsSettings(), ["certificate"], "metadata", 1)
    assert "not an https URL" in plain["error"]


def test_mutual_tls_declared_is_judged(tls_server: Any, shared: Any, national_content: Any, run: Run) -> None:
    cert, key = tls_server.ca.issue_client_cert("testbed-client")
    text = tls_step("certificate, client_cert", "{chain: true, client_cert_required: true}")
    strict, ca = tls_server(mtls=True)
    with_cert = TlsSettings(ca_file=ca, client_cert=cert, client_key=key)
    result = run(text, tls_services(shared, national_content, strict, with_cert))
    assert result.result is Result.PASS, result.failure_text()
    lax, _ = tls_server()
    failed = run(text, tls_services(shared, national_content, lax, with_cert))
    assert failed.result is Result.FAIL and "without a certificate" in failed.failure_text()
    unjudged = run(text, tls_services(shared, national_content, lax, TlsSettings(ca_file=ca)))
    assert (
        unjudged.result is Result.ERROR and "no client certificate is configured" in unjudged.failure_text()
    )


# --- audit_trail --------------------------------------------------------------------------------------


def _event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "action": "R",
        "recorded": datetime.now(UTC).isoformat(),
        "purposeOfEvent": [{"coding": [{"code": "TREAT"}]}],
        "entity": [{"what": {"reference": "Patient/p1"}}],
        "agent": [
            {"who": {"identifier": {"value": "200000001"}}, "network": {"address": "127.0.0.1", "type": "2"}},
            {"who": {"identifier": {"value": "100000001"}}},
        ],
    }
    event.update(changes)
    return event


class AuditRuntime:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.step_started = time.monotonic()
        self.audit_wait = 0.2

    def fetch(self, method: str, path: str, **kw: Any) -> Exchange:
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": e} for e in self.events],
        }
        ex = Exchange(
            "http", "outbound", {"method": method, "url": path, "headers": {}, "body": {"format": "empty"}}
        )
        ex.response = {"status": 200, "headers": {}, "body": {"format": "json", "value": bundle}}
        return ex


AUDIT_ARGS = {
    "patient": "p1",
    "action": ["R"],
    "entity": "Patient/p1",
    "who": ["200000001", "100000001"],
    "when": True,
    "where": True,
    "why": True,
}


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_event(agent=[{"who": {"identifier": {"value": "100000001"}}}]), "who: 200000001"),
        (_event(recorded="2001-01-01T00:00:00Z"), "when: recorded"),
        (_event(recorded=None), "when: recorded"),
        (
            _event(agent=[{"who": {"identifier": {"value": v}}} for v in ("200000001", "100000001")]),
            "where from",
        ),
        (_event(purposeOfEvent=[]), "why: no purpose"),
        (_event(action="C"), "no AuditEvent"),
        (
            _event(agent=[{"who": {"display": "someone"}, "network": {"address": "127.0.0.1"}}]),
            "no agent is identified",
        ),
    ],
)
def test_an_audit_record_must_name_who_when_where_from_and_why(event: dict[str, Any], why: str) -> None:
    check = CHECKS["audit_trail"]
    assert check(CheckContext(None, "response", AuditRuntime([_event()]), "verify"), AUDIT_ARGS) is not None  # type: ignore[arg-type]
    with pytest.raises(StepFailure, match=why):
        check(CheckContext(None, "response", AuditRuntime([event]), "verify"), AUDIT_ARGS)  # type: ignore[arg-type]


# --- bad tokens ------------------------------------------------------------------------------------------


def test_bad_tokens_are_made_from_a_valid_one_or_minted() -> None:
    http = HttpSession(BASE, transport=httpx.MockTransport(lambda r: httpx.Response(404)))
    creds = ClientCredentials("tb", generate_client_key("ES384"), "100000001", ("system/*.read",))
    provider = TokenProvider(http, {"primary": creds})
    header = base64.urlsafe_b64encode(b'{"alg":"ES256","typ":"at+jwt"}').rstrip(b"=").decode()
    claims = base64.urlsafe_b64encode(b'{"scope":"system/*.read"}').rstrip(b"=").decode()
    provider._tokens[("primary", ("system/*.read",))] = TokenResponse(
        f"{header}.{claims}.c2ln", "bearer", 300, "system/*.read"
    )
    value, info, raw = provider.authorization(AuthChoice(mode="custom", token="alg-none"))
    assert raw is not None
    unsigned = json.loads(base64.urlsafe_b64decode(raw.split(".")[0] + "=="))
    assert (
        unsigned["alg"] == "none"
        and raw.endswith(".")
        and value == f"Bearer {raw}"
        and info["token"] == "alg-none"
    )
    with pytest.raises(StepSkipped, match="expired access token"):
        provider.authorization(AuthChoice(mode="custom", token="expired"))
    provider.minters["expired"] = lambda c, scopes: f"expired-for-{c.client_id}-{' '.join(scopes)}"
    assert (
        provider.authorization(AuthChoice(mode="custom", token="expired"))[2]
        == "expired-for-tb-system/*.read"
    )
    provider._tokens[("primary", ("system/*.read",))] = TokenResponse(
        "opaque-token", "bearer", 300, "system/*.read"
    )
    with pytest.raises(StepSkipped, match="not JWTs"):
        provider.authorization(AuthChoice(mode="custom", token="alg-none"))


def test_an_https_reply_without_hsts_fails(
    tls_server: Any, shared: Any, national_content: Any, run: Run
) -> None:
    bare, ca = tls_server(handler=_Metadata)
    result = run(
        tls_step("hsts", "{hsts: true}"),
        tls_services(shared, national_content, bare, TlsSettings(ca_file=ca)),
    )
    assert result.result is Result.FAIL and "no Strict-Transport-Security header" in result.failure_text()
    skipped_probe = run(
        tls_step("certificate", "{hsts: true}"),
        tls_services(shared, national_content, bare, TlsSettings(ca_file=ca)),
    )
    assert (
        skipped_probe.result is Result.ERROR
        and "did not run the 'hsts' probe" in skipped_probe.failure_text()
    )
