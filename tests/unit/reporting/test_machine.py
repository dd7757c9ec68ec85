"""Machine formats: JUnit XML, FHIR R4 TestReport (validated against core R4), the JSON run record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from testbed.reporting.machine import (
    COULD_NOT_JUDGE,
    SCENARIO_SYSTEM,
    render_junit,
    render_run_json,
    render_testreports,
)
from testbed.reporting.runrecord import load_run
from tests.unit.reporting.conftest import SAMPLE


def _cases() -> dict[str, ET.Element]:
    root = ET.fromstring(render_junit(load_run(SAMPLE)))
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_junit_maps_every_outcome() -> None:
    root = ET.fromstring(render_junit(load_run(SAMPLE)))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == (
        "8",
        "2",
        "1",
        "2",
    )
    assert [s.get("name") for s in root.iter("testsuite")] == ["Source", "Consumer"]
    cases = _cases()
    assert [
        c.tag for c in cases["source-t1-patient-create"] if c.tag in ("failure", "error", "skipped")
    ] == []
    failure = cases["source-t1-patient-ins-key"].find("failure")
    assert failure is not None and "Patient.identifier[0].value" in (failure.text or "")
    error = cases["source-t4-document-submission"].find("error")
    assert error is not None and "could not judge" in (error.get("message") or "")
    assert cases["consumer-t5-document-retrieve"].find("skipped") is not None
    omitted = cases["source-t7-oru-lab-result"].find("skipped")
    assert omitted is not None and "not applicable" in (omitted.get("message") or "")
    reqs = [
        p.get("value") for p in cases["source-t1-adt-a04"].iter("property") if p.get("name") == "requirement"
    ]
    assert reqs == ["MA-V2-002", "MA-V2-004", "MA-V2-005", "MA-V2-022"]


def _reports() -> dict[str, dict[str, Any]]:
    bundle = json.loads(render_testreports(load_run(SAMPLE)))
    return {e["resource"]["testScript"]["identifier"]["value"]: e["resource"] for e in bundle["entry"]}


def test_testreports_are_valid_r4(validator: Any) -> None:
    bundle = json.loads(render_testreports(load_run(SAMPLE)))
    outcome = validator.validate(bundle)
    assert outcome.valid, [f"{i.location}: {i.message}" for i in outcome.errors()]
    assert not [i for i in outcome.issues if i.severity.value == "warning"]


def test_testreport_content() -> None:
    reports = _reports()
    passed = reports["source-t1-patient-create"]
    assert passed["result"] == "pass" and passed["status"] == "completed"
    assert passed["testScript"]["identifier"]["system"] == SCENARIO_SYSTEM
    errored = reports["source-t4-document-submission"]
    assert errored["result"] == "fail"
    messages = [a["operation"]["message"] for a in errored["test"][0]["action"] if "operation" in a]
    assert COULD_NOT_JUDGE in messages[0]
    assert reports["consumer-t5-document-retrieve"]["result"] == "pending"
    failed = reports["source-t1-patient-ins-key"]
    asserts = [a["assert"] for a in failed["test"][0]["action"] if "assert" in a]
    assert asserts[0]["result"] == "fail" and "MA-ID-003" in asserts[0]["message"]


def test_json_copy_is_the_stored_record_when_clean() -> None:
    data, redacted = render_run_json(SAMPLE)
    assert not redacted and data == (SAMPLE / "run.json").read_bytes()


def test_json_copy_is_redacted_when_the_record_holds_a_secret(tmp_path: Path) -> None:
    record = json.loads((SAMPLE / "run.json").read_text(encoding="utf-8"))
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
    record["scenarios"][0]["message"] = f"sent Bearer {token}"
    (tmp_path / "run.json").write_text(json.dumps(record), encoding="utf-8")
    data, redacted = render_run_json(tmp_path)
    assert redacted and token.encode() not in data
