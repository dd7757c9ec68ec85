"""Renderings of validation outcomes: text, JSON, OperationOutcome and JUnit XML."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from testbed.core.issues import IssueCode, Severity, ValidationOutcome

_MARK = {True: "PASS", False: "FAIL"}


def render_text(outcomes: list[ValidationOutcome], *, show_info: bool = False) -> str:
    """Human-readable report: one block per input, worst issues first, and a summary line."""
    lines: list[str] = []
    for o in outcomes:
        counts = ", ".join(
            f"{o.count(s)} {s.value}{'s' if o.count(s) != 1 and s is not Severity.INFORMATION else ''}"
            for s in Severity
            if o.count(s)
        )
        lines.append(f"{_MARK[o.valid]}  {o.source}  [{o.standard}]" + (f"  ({counts})" if counts else ""))
        for issue in o.sorted_issues():
            if issue.severity is Severity.INFORMATION and not show_info:
                continue
            rule = f" [{issue.rule}]" if issue.rule else ""
            reqs = f" ({', '.join(issue.requirements)})" if issue.requirements else ""
            where = issue.location or "-"
            lines.append(f"    {issue.severity.value:<11} {where}: {issue.message}{rule}{reqs}")
    failed = sum(1 for o in outcomes if not o.valid)
    lines.append(f"{len(outcomes)} input(s): {len(outcomes) - failed} valid, {failed} invalid")
    packages = sorted({f"{k}#{v}" for o in outcomes for k, v in o.versions.items() if ":" not in k})
    if packages:
        lines.append(f"checked with: {', '.join(packages)}")
    return "\n".join(lines)


def render_json(outcomes: list[ValidationOutcome]) -> str:
    """One JSON array, one object per input."""
    return json.dumps([o.to_dict() for o in outcomes], ensure_ascii=False, indent=2)


def render_outcome(outcomes: list[ValidationOutcome]) -> str:
    """A FHIR OperationOutcome (one input) or a collection Bundle of them (several)."""
    if len(outcomes) == 1:
        return json.dumps(outcomes[0].to_operation_outcome(), ensure_ascii=False, indent=2)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": Path(o.source).resolve().as_uri() if Path(o.source).exists() else f"urn:input:{i}",
                "resource": o.to_operation_outcome(),
            }
            for i, o in enumerate(outcomes)
        ],
    }
    return json.dumps(bundle, ensure_ascii=False, indent=2)


def render_junit(outcomes: list[ValidationOutcome]) -> str:
    """JUnit XML: an invalid input is a <failure>; an input the testbed could not judge is an <error>."""
    suite = ET.Element("testsuite", name="testbed validate", tests=str(len(outcomes)))
    failures = errors = 0
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"validate.{o.standard}", name=o.source)
        bad = o.errors()
        if any(i.code is IssueCode.EXCEPTION for i in bad):
            errors += 1
            node = ET.SubElement(case, "error", message="the testbed could not judge this input")
        elif bad:
            failures += 1
            node = ET.SubElement(case, "failure", message=f"{len(bad)} error(s)")
        else:
            continue
        node.text = "\n".join(f"{i.severity.value} {i.location or '-'}: {i.message}" for i in bad)
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


RENDERERS = {"text": render_text, "json": render_json, "outcome": render_outcome, "junit": render_junit}
