"""Every assertion kind passes on a good exchange and fails on a bad one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testbed.scenarios import checks_effects  # noqa: F401 - registers the effect checks
from testbed.scenarios.checks import CHECKS, CheckContext, paths_match
from testbed.scenarios.exchange import Exchange, body_json
from testbed.scenarios.results import IssueRecord, StepError, StepFailure


def exchange(
    status: int | None = 200,
    body: Any = None,
    headers: dict[str, str] | None = None,
    *,
    request: Any = None,
    direction: str = "outbound",
    method: str = "GET",
    path: str = "Patient",
    request_headers: dict[str, str] | None = None,
    raw: bytes = b"",
    error: str | None = None,
) -> Exchange:
    req = {
        "method": method,
        "url": f"https://x/fhir/{path}",
        "path": path,
        "headers": request_headers or {},
        "body": body_json(json.dumps(request).encode(), "application/json")
        if request is not None
        else {"format": "empty"},
    }
    resp = None
    if status is not None:
        data = json.dumps(body).encode() if body is not None else b""
        resp = {"status": status, "headers": headers or {}, "body": body_json(data, "application/fhir+json")}
    ex = Exchange("http", direction, req, resp, error=error)
    ex.raw_reply = raw or (json.dumps(body).encode() if body is not None else b"")
    return ex


class FakeRuntime:
    step_started = 0.0
    audit_wait = 0.1

    def __init__(
        self,
        *,
        fetched: list[Exchange] | None = None,
        inbound: list[Exchange] | None = None,
        secrets: list[str] | None = None,
        issues: list[IssueRecord] | None = None,
    ) -> None:
        self.fetched = list(fetched or [])
        self.calls: list[tuple[str, str, str]] = []
        self.inbound = inbound or []
        self._secrets = secrets or []
        self._issues = issues or []

    def evaluate_fhirpath(self, expression: str, resource: Any) -> list[Any]:
        from testbed.fhir.fhirpath import FhirPathEngine

        return FhirPathEngine().evaluate(
            expression,
            resource,
            type_name=resource.get("resourceType"),
            resource=resource,
            root_resource=resource,
        )

    def validate_resource(self, resource: dict[str, Any], profile: str | None) -> list[IssueRecord]:
        return self._issues

    def fetch(self, method: str, path: str, *, client: str = "primary", headers: Any = None) -> Exchange:
        self.calls.append((method, path, client))
        return self.fetched.pop(0) if len(self.fetched) > 1 else self.fetched[0]

    def inbound_evidence(self) -> list[Exchange]:
        return self.inbound

    def secrets(self) -> list[str]:
        return self._secrets


def judge(
    kind: str,
    args: Any,
    subject: Exchange | None,
    runtime: FakeRuntime | None = None,
    direction: str = "response",
) -> Any:
    return CHECKS[kind](CheckContext(subject, direction, runtime or FakeRuntime(), "fhir"), args)


def fails(
    kind: str,
    args: Any,
    subject: Exchange | None,
    runtime: FakeRuntime | None = None,
    direction: str = "response",
) -> str:
    with pytest.raises(StepFailure) as info:
        judge(kind, args, subject, runtime, direction)
    return info.value.message


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "birthDate": "2001-02-03",
    "gender": "female",
    "identifier": [{"system": "urn:ins", "value": "123"}],
}
OO = {
    "resourceType": "OperationOutcome",
    "issue": [
        {
            "severity": "error",
            "code": "value",
            "expression": ["Patient.identifier[0].value"],
            "diagnostics": "bad key",
        }
    ],
}


def searchset(
    *resources: dict[str, Any], total: int | None = None, next_link: bool = False
) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    bundle["total"] = len(resources) if total is None else total
    if next_link:
        bundle["link"] = [{"relation": "next", "url": "https://x/fhir/Patient?page=2"}]
    return bundle


def test_status() -> None:
    judge("status", [200, 201], exchange(201, PATIENT))
    assert "Received: HTTP 500" in fails("status", 201, exchange(500, OO))
    assert "no reply: refused" in fails("status", 200, exchange(None, error="refused"))


def test_header() -> None:
    ok = exchange(200, PATIENT, {"Location": "https://x/fhir/Patient/1/_history/1"})
    judge("header", "Location", ok)
    judge("header", {"name": "location", "matches": "Patient/[0-9]+"}, ok)
    assert "missing" in fails("header", "ETag", ok)
    assert "does not match" in fails("header", {"name": "Location", "matches": "Condition/"}, ok)
    assert "must not be" in fails("header", {"name": "Location", "present": False}, ok)


def test_outcome() -> None:
    judge(
        "outcome",
        {"expression": "Patient.identifier[0].value", "code": ["value"], "complete": True},
        exchange(422, OO),
    )
    assert "no issue points at Patient.birthDate" in fails(
        "outcome", {"expression": "Patient.birthDate"}, exchange(422, OO)
    )
    assert "not an OperationOutcome" in fails("outcome", {}, exchange(422, PATIENT))
    assert "code invariant" in fails("outcome", {"code": ["invariant"]}, exchange(422, OO))
    incomplete = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "value"}]}
    assert "lack a severity, a code or an expression" in fails(
        "outcome", {"complete": True}, exchange(422, incomplete)
    )
    warning = {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "value"}]}
    assert "no issue of severity" in fails("outcome", {}, exchange(422, warning))


@pytest.mark.parametrize(
    ("expected", "found", "match"),
    [
        ("Patient.identifier[0].value", "Patient.identifier[0].value", True),
        ("Patient.birthDate", "Patient", True),
        ("Patient.name[0].family", "Patient", False),
        ("Patient.identifier[0].value", "Patient.identifier[1].value", False),
        (
            "MedicationRequest.medicationCodeableConcept.coding",
            "MedicationRequest.medication.ofType(CodeableConcept).coding",
            True,
        ),
        ("Observation.valueQuantity.system", "Observation.value.system", True),
        ("Patient.gender", "Patient.birthDate", False),
    ],
)
def test_paths_match(expected: str, found: str, match: bool) -> None:
    assert paths_match(expected, found) is match


def test_conforms() -> None:
    judge("conforms", True, exchange(200, searchset(PATIENT, PATIENT)))
    bad = [IssueRecord("error", "required", "Patient", "Patient.birthDate: minimum required = 1")]
    message = fails("conforms", True, exchange(200, PATIENT), FakeRuntime(issues=bad))
    assert "1 error(s) against the MA profiles" in message and "minimum required" in message
    warnings = [IssueRecord("warning", "value", "Patient.name", "no Arabic name")]
    detail = judge("conforms", True, exchange(200, PATIENT), FakeRuntime(issues=warnings))
    assert detail.issues == warnings or detail.issues[0].message == "no Arabic name"


def test_conforms_uses_the_real_validator(make_services: Any) -> None:
    from testbed.scenarios.runner import ScenarioRuntime

    services = make_services(lambda request: None)
    runtime = ScenarioRuntime(None, services, {})  # type: ignore[arg-type]
    assert runtime.validate_resource({"resourceType": "Patient"}, None)  # MAPatient needs much more
    context = CheckContext(exchange(200, {"resourceType": "Patient"}), "response", runtime, "fhir")
    with pytest.raises(StepFailure, match="against the MA profiles"):
        CHECKS["conforms"](context, True)


def test_fhirpath() -> None:
    ok = exchange(200, PATIENT)
    judge("fhirpath", "birthDate = @2001-02-03", ok)
    judge("fhirpath", {"expression": "gender", "equals": "female"}, ok)
    judge("fhirpath", {"expression": "identifier", "count": 1}, ok)
    judge("fhirpath", {"expression": "deceased", "exists": False}, ok)
    assert "is not true" in fails("fhirpath", "gender = 'male'", ok)
    assert "Expected: 'male'" in fails("fhirpath", {"expression": "gender", "equals": "male"}, ok)
    assert "expected >= 2" in fails("fhirpath", {"expression": "identifier", "count": {"min": 2}}, ok)
    assert "not a FHIR resource" in fails("fhirpath", "true", exchange(200, ["a"]))


def test_bundle() -> None:
    ok = exchange(200, searchset(PATIENT, total=5, next_link=True))
    judge(
        "bundle",
        {
            "type": "searchset",
            "total": {"min": 5},
            "matches": 1,
            "entries": 1,
            "next": True,
            "every": "gender = 'female'",
            "none": "gender = 'male'",
        },
        ok,
    )
    assert "Bundle.total is 5" in fails("bundle", {"total": 1}, ok)
    assert "Bundle.type" in fails("bundle", {"type": "history"}, ok)
    assert "has a next link" in fails("bundle", {"next": False}, ok)
    assert "fails gender = 'male'" in fails("bundle", {"every": "gender = 'male'"}, ok)
    assert "satisfies" in fails("bundle", {"none": "gender = 'female'"}, ok)
    assert "1 matching entries" in fails("bundle", {"matches": 0}, ok)


def test_resource_type_and_json() -> None:
    judge("resource_type", "Patient", exchange(200, PATIENT))
    assert "Expected: Bundle" in fails("resource_type", "Bundle", exchange(200, PATIENT))
    config = {"token_endpoint": "https://x/token", "methods": ["private_key_jwt"]}
    judge("json", {"path": "token_endpoint", "matches": "^https://"}, exchange(200, config))
    judge("json", {"path": "methods", "contains": "private_key_jwt"}, exchange(200, config))
    judge("json", {"path": "access_token", "exists": False}, exchange(200, config))
    assert "missing" in fails("json", {"path": "access_token"}, exchange(200, config))
    assert "lacks" in fails(
        "json", {"path": "methods", "contains": ["client_secret_basic"]}, exchange(200, config)
    )


def test_refused() -> None:
    judge("refused", True, exchange(None, error="TLS handshake failed"))
    judge("refused", True, exchange(400, OO))
    assert "redirected" in fails("refused", True, exchange(301, None, {"Location": "https://x"}))
    assert "accepted" in fails("refused", True, exchange(200, PATIENT))


def test_no_secret_echo() -> None:
    runtime = FakeRuntime(secrets=["eyJsecret.token.value"])
    judge("no_secret_echo", True, exchange(200, PATIENT), runtime)
    echoed = exchange(401, OO, raw=b'{"issue":"token eyJsecret.token.value is bad"}')
    assert "echoes the access token" in fails("no_secret_echo", True, echoed, runtime)


def test_ack() -> None:
    ack = Exchange(
        "mllp", "outbound", {"message": "MSH|..."}, {"message": "MSH|^~\\&|SMR\rMSA|AE|123\rERR|||"}
    )
    judge("ack", ["AE", "AR"], ack)
    assert "Received: MSA-1 AE" in fails("ack", "AA", ack)


def test_audit() -> None:
    event = {
        "resourceType": "AuditEvent",
        "action": "C",
        "subtype": [{"code": "create"}],
        "entity": [{"what": {"reference": "Patient/p1"}}],
        "agent": [{"who": {"identifier": {"value": "123456789"}}}],
        "purposeOfEvent": [{"coding": [{"code": "TREAT"}]}],
    }
    runtime = FakeRuntime(fetched=[exchange(200, searchset(event))])
    judge(
        "audit",
        {"patient": "p1", "action": ["C"], "entity": "Patient/p1", "agent_inpe": "123456789", "purpose": "*"},
        None,
        runtime,
    )
    assert runtime.calls == [("GET", "AuditEvent?patient=Patient/p1", "primary")]
    runtime = FakeRuntime(fetched=[exchange(200, searchset(event))])
    message = fails("audit", {"patient": "p1", "action": ["R"]}, None, runtime)
    assert "no AuditEvent for Patient/p1 matches" in message and "action=C" in message
    assert "answered HTTP 403" in fails(
        "audit", {"patient": "p1"}, None, FakeRuntime(fetched=[exchange(403, OO)])
    )
    message = fails(
        "audit",
        {"patient": "p1", "action": ["C"], "absent": True},
        None,
        FakeRuntime(fetched=[exchange(200, searchset(event))]),
    )
    assert "none should" in message


def test_consent_enforced() -> None:
    condition = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}}
    empty = FakeRuntime(fetched=[exchange(200, searchset()), exchange(403, OO)])
    judge(
        "consent_enforced",
        {"patient": "p1", "search": ["Condition?patient=Patient/p1"], "read": ["Condition/c1"]},
        None,
        empty,
    )
    assert [c[2] for c in empty.calls] == ["other", "other"]
    leaking = FakeRuntime(fetched=[exchange(200, searchset(PATIENT | {"id": "p1"}, condition))])
    assert "returned the objecting patient's data: Condition/c1" in fails(
        "consent_enforced",
        {"patient": "p1", "search": ["Patient?_id=p1&_revinclude=Condition:subject"]},
        None,
        leaking,
    )
    readable = FakeRuntime(fetched=[exchange(200, condition)])
    assert "expected 403" in fails(
        "consent_enforced", {"patient": "p1", "read": ["Condition/c1"]}, None, readable
    )
    allowed = FakeRuntime(fetched=[exchange(200, searchset(condition)), exchange(200, condition)])
    judge(
        "consent_enforced",
        {
            "patient": "p1",
            "allowed": True,
            "search": ["Condition?patient=Patient/p1"],
            "read": ["Condition/c1"],
        },
        None,
        allowed,
    )
    with pytest.raises(StepError):
        judge("consent_enforced", {"patient": ""}, None, FakeRuntime())


def test_evidence_and_authorized() -> None:
    discovery = exchange(200, {}, direction="inbound", path=".well-known/smart-configuration")
    token = exchange(200, {}, direction="inbound", method="POST", path="auth/token")
    post = exchange(
        201,
        PATIENT,
        direction="inbound",
        method="POST",
        path="Patient",
        request=PATIENT,
        request_headers={"Authorization": "Bearer [redacted]", "X-User-INPE": "123456789"},
    )
    runtime = FakeRuntime(inbound=[discovery, token, post])
    judge(
        "evidence",
        {"method": "GET", "path": r"\.well-known/smart-configuration", "before": True},
        post,
        runtime,
    )
    judge("evidence", {"method": "POST", "path": ".*token", "status": [200]}, post, runtime)
    judge("evidence", {"method": "POST", "path": "Patient", "header": "X-User-INPE"}, post, runtime)
    assert "never sent GET metadata" in fails(
        "evidence", {"method": "GET", "path": "metadata"}, post, runtime
    )
    assert "must not" in fails(
        "evidence", {"method": "POST", "path": "Patient", "absent": True}, post, runtime
    )
    judge("authorized", True, post, runtime)
    assert "carries no bearer token" in fails("authorized", True, exchange(201, PATIENT, direction="inbound"))
    refused = exchange(401, OO, direction="inbound", request_headers={"Authorization": "Bearer [redacted]"})
    assert "refused the client's token" in fails("authorized", True, refused)
