"""Step kinds against a scripted server (httpx.MockTransport), a fake evidence log and a tiny MLLP server."""

from __future__ import annotations

import json
import socketserver
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from testbed.scenarios.inbound import SimulatorLink
from testbed.scenarios.results import Result
from testbed.scenarios.services import Services, SimulatorInfo
from testbed.scenarios.steps import apply_edit
from testbed.scenarios.trigger import TriggerRunner, fill
from tests.unit.scenarios.conftest import BASE, Server, json_response

Run = Callable[[str, Services], Any]
PATIENT = {"resourceType": "Patient", "id": "new1", "gender": "female"}


def fhir_server() -> Server:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/Patient"):
            return json_response(201, PATIENT, {"Location": f"{BASE}/Patient/new1/_history/1"})
        if request.url.path.endswith("/Patient/new1"):
            return json_response(200, PATIENT, {"ETag": 'W/"1"'})
        return json_response(
            404,
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "not-found", "expression": ["Patient"]}],
            },
        )

    return Server(handle)


def test_fhir_requests_are_relative_to_the_base_and_values_are_saved(make_services: Any, run: Run) -> None:
    server = fhir_server()
    result = run(
        """
        id: steps-fhir
        title: create then read
        actor: SMR
        level: 1
        requirements: [MA-PAT-034]
        steps:
          - fhir:
              method: POST
              path: Patient
              params: {identifier: "urn:x|1"}
              body: {resourceType: Patient, gender: "{{ 'fe' ~ 'male' }}", name: [{family: old}]}
              edit:
                set: {"name[0].family": "new", birthDate: "2001-01-01"}
                remove: [gender]
            expect:
              - status: 201
            save:
              pid: {header: Location, pattern: "Patient/([^/]+)"}
              gender: gender
          - fhir: {method: GET, path: "Patient/{{ saved.pid }}"}
            expect:
              - status: 200
              - header: ETag
              - fhirpath: {expression: gender, equals: "{{ saved.gender }}"}
    """,
        make_services(server),
    )
    assert result.result is Result.PASS, result.failure_text()
    first, second = server.requests
    assert str(first.url) == f"{BASE}/Patient?identifier=urn%3Ax%7C1"
    assert json.loads(first.content) == {
        "resourceType": "Patient",
        "name": [{"family": "new"}],
        "birthDate": "2001-01-01",
    }
    assert first.headers["content-type"] == "application/fhir+json"
    assert first.headers["x-user-inpe"] == "123456789"
    assert "authorization" not in first.headers
    assert str(second.url) == f"{BASE}/Patient/new1"
    assert [s.exchanges for s in result.steps] and all(len(s.exchanges) == 1 for s in result.steps)


def test_a_saved_fhirpath_expression_is_templated(make_services: Any, run: Run) -> None:
    scenario = """
        id: steps-save-template
        title: save with a templated expression
        actor: SMR
        level: 1
        requirements: [MA-PAT-034]
        steps:
          - fhir: {method: GET, path: "Patient/new1"}
            save:
              value_of: "{{ 'gen' ~ 'der' }}"
          - fhir: {method: GET, path: "Patient/new1"}
            expect:
              - fhirpath: {expression: gender, equals: "{{ saved.value_of }}"}
    """
    result = run(scenario, make_services(fhir_server()))
    assert result.result is Result.PASS, result.failure_text()
    broken = run(scenario.replace("'der'", "'derX'"), make_services(fhir_server()))
    assert broken.result is Result.FAIL
    assert "genderX gives nothing" in broken.failure_text()


def test_a_failure_stops_the_scenario_and_gives_reproduction_lines(
    make_services: Any, run: Run, tmp_path: Path
) -> None:
    services = make_services(fhir_server(), run_dir=tmp_path / "run")
    result = run(
        """
        id: steps-fail
        title: wrong status
        actor: SMR
        level: 1
        requirements: [MA-PAT-034]
        steps:
          - fhir: {method: GET, path: Patient/unknown}
            expect:
              - status: 200
          - fhir: {method: GET, path: metadata}
    """,
        services,
    )
    assert result.result is Result.FAIL
    assert result.steps[1].result is Result.SKIP and "not run: step 1 failed" in result.steps[1].message
    assert "Received: HTTP 404" in result.failure_text()
    replay, curl = result.steps[0].reproduce
    assert replay == f"testbed replay {tmp_path}/run/exchanges/{result.steps[0].exchanges[0]}.json"
    assert curl.startswith("curl -sS -i -X GET") and f"{BASE}/Patient/unknown" in curl


def test_no_reply_is_a_transport_fail_and_a_template_error_is_an_error(make_services: Any, run: Run) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    text = """
        id: steps-transport
        title: down
        actor: SMR
        level: 1
        requirements: [MA-PAT-034]
        steps:
          - fhir: {method: GET, path: "{{ PATH }}"}
    """
    result = run(text.replace("{{ PATH }}", "metadata"), make_services(refuse))
    assert result.result is Result.FAIL
    assert "level 1, transport" in result.steps[0].message and "could not connect" in result.steps[0].message
    result = run(text.replace("{{ PATH }}", "{{ saved.nothing }}"), make_services(fhir_server()))
    assert result.result is Result.ERROR
    assert ".scenario.yaml:7: template" in result.steps[0].message and "nothing" in result.steps[0].message


def smart_server(scopes_seen: list[str]) -> Server:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/.well-known/smart-configuration"):
            return httpx.Response(200, json={"token_endpoint": f"{BASE}/auth/token"})
        if path.endswith("/auth/token"):
            form = parse_qs(request.content.decode())
            scopes_seen.append(form["scope"][0])
            assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
            return httpx.Response(
                200,
                json={
                    "access_token": "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0YiJ9.c2lnbmF0dXJl",
                    "token_type": "bearer",
                    "expires_in": 300,
                    "scope": form["scope"][0],
                },
            )
        auth = request.headers.get("authorization", "")
        if auth != "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0YiJ9.c2lnbmF0dXJl":
            return json_response(
                401,
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "login", "expression": ["Bundle"]}],
                },
            )
        return json_response(200, {"resourceType": "Bundle", "type": "searchset", "total": 0})

    return Server(handle)


def test_credentials_are_discovered_and_spoiled_on_demand(make_services: Any, run: Run) -> None:
    scopes: list[str] = []
    server = smart_server(scopes)
    result = run(
        """
        id: steps-auth
        title: tokens
        actor: SMR
        level: 3
        requirements: [MA-SEC-007]
        steps:
          - fhir: {method: GET, path: Patient}
            expect: [{status: 200}, {no_secret_echo: true}]
          - fhir: {method: GET, path: Patient, auth: none}
            expect: [{status: 401}]
          - fhir: {method: GET, path: Patient, auth: {token: malformed}}
            expect: [{status: 401}]
          - fhir: {method: GET, path: Patient, auth: {token: tampered}}
            expect: [{status: 401}]
          - fhir: {method: GET, path: Patient, auth: {scopes: [system/Patient.read]}}
            expect: [{status: 200}]
    """,
        make_services(server, tokens=True),
    )
    assert result.result is Result.PASS, result.failure_text()
    assert scopes == ["system/*.*", "system/Patient.read"]
    paths = [r.url.path.removeprefix("/some/base/fhir") for r in server.requests]
    assert paths[:3] == ["/.well-known/smart-configuration", "/auth/token", "/Patient"]
    sent = [r.headers.get("authorization") for r in server.requests if r.url.path.endswith("/Patient")]
    assert sent[1] is None and sent[2] == "Bearer not-a-token.testbed"
    assert sent[3] not in (sent[0], None) and sent[3].startswith("Bearer eyJ")
    recorded = [ex for ex in result.steps[0].exchanges]
    assert len(recorded) == 3  # discovery and token request are recorded with the first step


def test_apply_edit_paths() -> None:
    body = {"a": [{"b": 1}], "c": 2}
    assert apply_edit(body, {"set": {"a[0].b": 3, "d.e": 4, "f[1]": 5}, "remove": ["c", "zz.y"]}) == {
        "a": [{"b": 3}],
        "d": {"e": 4},
        "f": [None, 5],
    }


def test_verify_judges_effects_with_requests_of_its_own(make_services: Any, run: Run) -> None:
    event = {"resourceType": "AuditEvent", "action": "R", "entity": [{"what": {"reference": "Patient/new1"}}]}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/AuditEvent"):
            return json_response(
                200, {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": event}]}
            )
        return json_response(200, PATIENT)

    result = run(
        """
        id: steps-verify
        title: audit
        actor: SMR
        level: 3
        requirements: [MA-AUD-008]
        steps:
          - fhir: {method: GET, path: Patient/new1}
          - verify: {}
            expect:
              - audit: {patient: new1, action: [R], entity: Patient/new1}
              - audit: {patient: new1, action: [C]}
    """,
        make_services(Server(handle)),
    )
    assert result.result is Result.FAIL
    passed, failed = result.steps[1].assertions
    assert passed.result is Result.PASS and failed.result is Result.FAIL
    assert "no AuditEvent for Patient/new1" in failed.message
    assert result.steps[1].exchanges  # the audit searches are evidence of the step


def test_connect_probe_judges_refusal(make_services: Any, run: Run) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("handshake failure", request=request)

    text = """
        id: steps-connect
        title: tls
        actor: SMR
        level: 3
        requirements: [MA-SEC-016]
        steps:
          - connect: {tls_version: "1.0"}
            expect: [{refused: true}]
    """
    assert run(text, make_services(refuse)).result is Result.PASS
    result = run(text, make_services(lambda r: json_response(200, PATIENT)))
    assert result.result is Result.FAIL and "accepted" in result.failure_text()


class FakeEvidence:
    """An evidence log read from a JSON-lines file the trigger command appends to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def since(self, seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        return [dict(r, seq=n + 1) for n, r in enumerate(rows) if n + 1 > seq][:limit]


CLIENT = """
import json, sys
patient = json.load(open(sys.argv[1]))
record = {"protocol": "http", "request": {"method": "POST", "url": "https://sim/fhir/Patient",
          "headers": {"Authorization": "Bearer [redacted]", "Content-Type": "application/fhir+json"},
          "body": json.dumps(patient)}, "response": {"status": 201, "headers": {}, "body": ""}}
open(sys.argv[2], "a").write(json.dumps(record) + "\\n")
"""


def client_services(
    make_services: Any,
    tmp_path: Path,
    templates: dict[str, str],
    manual: bool = False,
    announced: list[str] | None = None,
) -> Services:
    log = tmp_path / "evidence.jsonl"
    sim = SimulatorInfo(
        link=SimulatorLink(FakeEvidence(log), "https://sim/fhir"), base_url="https://sim/fhir"
    )
    runner = TriggerRunner(
        templates, manual=manual, timeout=20, announce=announced.append if announced is not None else None
    )
    return make_services(fhir_server(), simulator=sim, triggers=runner, inbound_timeout=1.0)


TRIGGERED = """
    id: steps-client
    title: the client sends a patient
    actor: Source
    level: 1
    requirements: [MA-PAT-034]
    fixtures:
      patient: {needs: [ins]}
    steps:
      - trigger:
          transaction: SMR-T1
          files: {patient_file: "{{ patient.resource }}"}
          instructions: "send {patient_file}"
      - wait_inbound: {method: POST, path: Patient, resource_type: Patient}
        expect:
          - status: 201
          - authorized: true
          - fhirpath: {expression: "identifier.first().value", equals: "{{ patient.ins }}"}
"""


def test_trigger_then_wait_inbound(make_services: Any, run: Run, tmp_path: Path) -> None:
    script = tmp_path / "client.py"
    script.write_text(CLIENT)
    log = tmp_path / "evidence.jsonl"
    services = client_services(
        make_services, tmp_path, {"SMR-T1": f"{{python}} {script} {{patient_file}} {log}"}
    )
    result = run(TRIGGERED, services)
    assert result.result is Result.PASS, result.failure_text()
    assert "ran " in result.steps[0].messages[0]["text"]
    assert result.steps[1].exchanges and result.steps[1].exchanges[0] in {ex.id for ex in services.sink.all}


def test_a_client_that_sends_nothing_fails(make_services: Any, run: Run, tmp_path: Path) -> None:
    services = client_services(make_services, tmp_path, {"SMR-T1": f"{sys.executable} -c pass"})
    result = run(TRIGGERED, services)
    assert result.result is Result.FAIL
    assert (
        "did not send POST Patient" in result.steps[1].message
        and "received: nothing" in result.steps[1].message
    )


def test_without_trigger_skip_or_ask_a_person(make_services: Any, run: Run, tmp_path: Path) -> None:
    result = run(TRIGGERED, client_services(make_services, tmp_path, {}))
    assert result.result is Result.SKIP and "a trigger command for SMR-T1" in result.message
    announced: list[str] = []
    result = run(TRIGGERED, client_services(make_services, tmp_path, {}, manual=True, announced=announced))
    assert announced and announced[0].startswith("send ") and announced[0].endswith("patient_file.json")
    assert result.result is Result.FAIL  # nobody acted within the timeout
    result = run(
        TRIGGERED, client_services(make_services, tmp_path, {"SMR-T1": "no-such-program-xyz {patient_file}"})
    )
    assert result.result is Result.ERROR and "not found" in result.steps[0].message


def test_trigger_templates_keep_values_whole() -> None:
    assert fill("cli --p {patient_file} --x '{a} b'", {"patient_file": "/tmp/my file.json", "a": "1"}) == [
        "cli",
        "--p",
        "/tmp/my file.json",
        "--x",
        "1 b",
    ]
    with pytest.raises(Exception, match=r"uses \{missing\}"):
        fill("cli {missing}", {"a": "1"})


@pytest.fixture
def mllp_server() -> Iterator[str]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = b""
            while not data.endswith(b"\x1c\r"):
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                data += chunk
            code = "AA" if b"PID|" in data else "AE"
            self.request.sendall(b"\x0bMSH|^~\\&|SMR|||||||ACK|1|P|2.5\rMSA|" + code.encode() + b"|1\r\x1c\r")

    server = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_mllp_step_and_ack(make_services: Any, run: Run, mllp_server: str) -> None:
    text = """
        id: steps-mllp
        title: v2
        actor: SMR
        level: 1
        requirements: [MA-V2-023]
        steps:
          - mllp: {message: "MSH|^~\\\\&|A|B|||||ADT^A04|1|P|2.5\\nPID|1||123"}
            expect: [{ack: AA}]
    """
    assert run(text, make_services(fhir_server(), mllp=mllp_server)).result is Result.PASS
    bad = run(text.replace("PID|1||123", "EVN|A04"), make_services(fhir_server(), mllp=mllp_server))
    assert bad.result is Result.FAIL and "MSA-1 AE" in bad.failure_text()
    skipped = run(text, make_services(fhir_server()))
    assert skipped.result is Result.SKIP and "mllp" in skipped.message


def test_submit_document_posts_a_submission_bundle(make_services: Any, run: Run) -> None:
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return json_response(200, {"resourceType": "Bundle", "type": "transaction-response"})

    result = run(
        """
        id: steps-doc
        title: document
        actor: SMR
        level: 1
        requirements: [MA-DOC-010]
        fixtures:
          patient: {needs: [document]}
        steps:
          - submit_document: {fixture: patient}
            expect: [{status: 200}]
    """,
        make_services(Server(handle)),
    )
    assert result.result is Result.PASS, result.failure_text()
    types = sorted(e["resource"]["resourceType"] for e in seen[0]["entry"])
    assert types == ["Binary", "DocumentReference", "Patient"]
