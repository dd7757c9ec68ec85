"""Machine formats of a stored run: JUnit XML, FHIR R4 TestReport resources, the JSON run record.

JUnit: one ``<testsuite>`` per actor, one ``<testcase>`` per scenario; fail → ``<failure>``, error →
``<error>`` (the testbed could not judge), skip and omit → ``<skipped>``. TestReport: one R4 resource
per scenario in a ``collection`` Bundle; ``testScript`` is a Reference by identifier to the scenario
id; an error becomes ``fail`` with a message saying the testbed could not judge. Every free text is
redacted.
"""

from __future__ import annotations

import json
import uuid
from html import escape
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from testbed import __version__
from testbed.reporting.runrecord import RUN_FILE, Assertion, Result, RunRecord, Scenario
from testbed.security.redact import redact_json, redact_text

#: Identifier system of scenario ids (the testbed's own namespace, like ``urn:testbed:requirement``).
SCENARIO_SYSTEM = "urn:testbed:scenario"
COULD_NOT_JUDGE = "error: the testbed could not judge (this is not a verdict on the system under test)"
_UUID_NS = uuid.UUID("6c1b0c8e-7a43-4c55-9f49-4a1e5f0d2b11")


def _r(text: object) -> str:
    return redact_text(str(text), ()) if text not in (None, "") else ""


def _seconds(ms: float | None) -> str:
    return f"{(ms or 0) / 1000:.3f}"


def _details(scenario: Scenario) -> str:
    lines = []
    for step in scenario.steps:
        lines.append(f"step {step.index} [{step.result.value}] {_r(step.title)}")
        if step.message:
            lines.append(f"    {_r(step.message)}")
        for assertion in step.assertions:
            if assertion.result is Result.PASS:
                continue
            lines.append(f"    [{assertion.result.value}] {_assertion_text(assertion)}")
            for issue in assertion.issues:
                where = f" at {_r(issue.location)}" if issue.location else ""
                lines.append(f"        {issue.severity}{where}: {_r(issue.message)}")
        lines.extend(f"    reproduce: {_r(line)}" for line in step.reproduce)
    return "\n".join(lines)


def _assertion_text(assertion: Assertion) -> str:
    text = _r(assertion.title)
    if assertion.location:
        text += f" at {_r(assertion.location)}"
    if assertion.message:
        text += f": {_r(assertion.message)}"
    if assertion.requirements:
        text += f" ({', '.join(assertion.requirements)})"
    return text


def render_junit(run: RunRecord) -> str:
    """JUnit XML: ``<testsuites>`` › one ``<testsuite>`` per actor › one ``<testcase>`` per scenario."""
    root = ET.Element("testsuites", name=f"testbed {_r(run.product)} {_r(run.version)}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    actors = list(dict.fromkeys([*run.actors, *(s.actor for s in run.scenarios)]))
    for actor in actors:
        scenarios = run.scenarios_of(actor)
        counts = run.counts(actor)
        stats = {
            "tests": len(scenarios),
            "failures": counts["fail"],
            "errors": counts["error"],
            "skipped": counts["skip"] + counts["omit"],
        }
        attrs = {
            "name": actor,
            "timestamp": run.started,
            "time": _seconds(sum(s.duration_ms or 0 for s in scenarios)),
        }
        attrs.update({k: str(v) for k, v in stats.items()})
        suite = ET.SubElement(root, "testsuite", attrs)
        props = ET.SubElement(suite, "properties")
        for name, value in (
            ("run_id", run.run_id),
            ("vendor", run.vendor),
            ("seed", run.seed),
            ("testbed", run.testbed_version),
            ("framework", run.framework_edition),
        ):
            ET.SubElement(props, "property", name=name, value=_r(value))
        for scenario in scenarios:
            _testcase(suite, scenario)
        for key in totals:
            totals[key] += stats[key]
    for key, total in totals.items():
        root.set(key, str(total))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _testcase(suite: ET.Element, scenario: Scenario) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"{scenario.actor}.level{scenario.level}",
        name=scenario.id,
        time=_seconds(scenario.duration_ms),
    )
    if scenario.source:
        case.set("file", _r(scenario.source.split(":", 1)[0]))
    props = ET.SubElement(case, "properties")
    ET.SubElement(props, "property", name="title", value=_r(scenario.title))
    for rid in scenario.requirements:
        ET.SubElement(props, "property", name="requirement", value=rid)
    details = _details(scenario)
    message = _r(scenario.message) or scenario.result.value
    if scenario.result is Result.FAIL:
        ET.SubElement(case, "failure", message=message, type="ConformanceFailure").text = details
    elif scenario.result is Result.ERROR:
        ET.SubElement(
            case, "error", message=f"{COULD_NOT_JUDGE}: {message}", type="TestbedError"
        ).text = details
    elif scenario.result in (Result.SKIP, Result.OMIT):
        prefix = "omitted (not applicable)" if scenario.result is Result.OMIT else "skipped"
        ET.SubElement(case, "skipped", message=f"{prefix}: {message}")
    if details:
        ET.SubElement(case, "system-out").text = details


_STEP_RESULT = {
    Result.PASS: "pass",
    Result.FAIL: "fail",
    Result.ERROR: "error",
    Result.SKIP: "skip",
    Result.OMIT: "skip",
}


def _report_result(result: Result) -> str:
    if result is Result.PASS:
        return "pass"
    if result in (Result.FAIL, Result.ERROR):
        return "fail"
    return "pending"


def testreport(run: RunRecord, scenario: Scenario) -> dict[str, Any]:
    """One FHIR R4 TestReport for one scenario."""
    actions: list[dict[str, Any]] = []
    for step in scenario.steps:
        message = _r(step.title) + (f": {_r(step.message)}" if step.message else "")
        if step.result is Result.ERROR:
            message = f"{COULD_NOT_JUDGE}. {message}"
        operation: dict[str, Any] = {"result": _STEP_RESULT[step.result], "message": message}
        if step.exchanges:
            operation["detail"] = (
                f"exchanges/{step.exchanges[0].rsplit('/', 1)[-1].removesuffix('.json')}.json"
            )
        actions.append({"operation": operation})
        for assertion in step.assertions:
            text = _assertion_text(assertion)
            if assertion.result is Result.ERROR:
                text = f"{COULD_NOT_JUDGE}. {text}"
            issues = "; ".join(f"{_r(i.location)}: {_r(i.message)}" for i in assertion.issues[:5])
            if issues:
                text += f" [{issues}]"
            actions.append({"assert": {"result": _STEP_RESULT[assertion.result], "message": text}})
    if not actions:
        note = _r(scenario.message) or scenario.result.value
        actions.append({"operation": {"result": _STEP_RESULT[scenario.result], "message": note}})
    report: dict[str, Any] = {
        "resourceType": "TestReport",
        "id": _resource_id(run, scenario),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{_uuid(run, scenario)}"},
        "name": f"{scenario.id} ({run.run_id})"[:250],
        "text": {"status": "generated", "div": _narrative(scenario)},
        "status": "completed",
        "testScript": {
            "identifier": {"system": SCENARIO_SYSTEM, "value": scenario.id},
            "display": _r(scenario.title) or scenario.id,
        },
        "result": _report_result(scenario.result),
        "tester": f"testbed {run.testbed_version or __version__}",
        "participant": [
            {
                "type": "test-engine",
                "uri": f"urn:testbed:{run.testbed_version or __version__}",
                "display": "testbed",
            }
        ],
        "test": [{"name": scenario.id, "description": _description(scenario), "action": actions}],
    }
    if run.started:
        report["issued"] = run.started
    target = next((v for v in run.target.values() if isinstance(v, str) and "://" in v), "")
    if target and run.target.get("mode") != "client":  # in client mode the testbed itself is the server
        report["participant"].append({"type": "server", "uri": _r(target)})
    if scenario.result is Result.PASS:
        report["score"] = 100
    return report


def _narrative(scenario: Scenario) -> str:
    body = escape(_description(scenario))
    return f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{body}</p></div>'


def _description(scenario: Scenario) -> str:
    text = f"{_r(scenario.title)}. Actor {scenario.actor}, level {scenario.level}."
    text += f" Result: {scenario.result.value}."
    if scenario.requirements:
        text += f" Requirements: {', '.join(scenario.requirements)}."
    if scenario.result is Result.ERROR:
        text += f" {COULD_NOT_JUDGE}."
    if scenario.message:
        text += f" {_r(scenario.message)}"
    return text


def _uuid(run: RunRecord, scenario: Scenario) -> uuid.UUID:
    return uuid.uuid5(_UUID_NS, f"{run.run_id}/{scenario.id}")


def _resource_id(run: RunRecord, scenario: Scenario) -> str:
    return str(_uuid(run, scenario))


def render_testreports(run: RunRecord) -> str:
    """Every scenario as a TestReport, in a FHIR R4 Bundle of type ``collection`` (JSON)."""
    entries = [
        {"fullUrl": f"urn:uuid:{_uuid(run, s)}", "resource": testreport(run, s)} for s in run.scenarios
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    if run.finished or run.started:
        bundle["timestamp"] = run.finished or run.started
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"


def render_run_json(run_dir: Path) -> tuple[bytes, bool]:
    """The run record as stored, or a redacted copy when it holds a secret; returns (bytes, redacted)."""
    raw = (Path(run_dir) / RUN_FILE).read_bytes()
    data = json.loads(raw)
    clean = redact_json(data)
    if clean == data:
        return raw, False
    return (json.dumps(clean, indent=2, ensure_ascii=False) + "\n").encode("utf-8"), True


__all__ = [
    "COULD_NOT_JUDGE",
    "SCENARIO_SYSTEM",
    "render_junit",
    "render_run_json",
    "render_testreports",
    "testreport",
]
