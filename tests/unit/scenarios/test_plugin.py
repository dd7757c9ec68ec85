"""The pytest plugin end to end (pytester): collection, outcomes, JUnit, run folder, the shipped suite."""

from __future__ import annotations

import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from typing import Any

import pytest

from testbed.scenarios.model import scenario_files
from testbed.scenarios.schema import content_dir

pytest_plugins = ["pytester"]

PLUGIN = "testbed.scenarios.plugin"


def plugin_args() -> list[str]:
    """``-p`` the plugin unless its pytest11 entry point already loads it."""
    registered = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    return [] if registered else ["-p", PLUGIN]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status: int = 404
        body: dict[str, Any] = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "not-found", "expression": ["Patient"]}],
        }
        if self.path.endswith("/metadata"):
            status = 200
            body = {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fhir_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/base/fhir"
    server.shutdown()
    server.server_close()


HEAD = """
id: {id}
title: {title}
actor: {actor}
level: 1
requirements: [MA-API-010]
"""

SCENARIOS = {
    "passes": HEAD.format(id="p-pass", title="metadata answers", actor="SMR")
    + """
steps:
  - fhir: {method: GET, path: metadata}
    expect: [{status: 200}, {resource_type: CapabilityStatement}]
""",
    "fails": HEAD.format(id="p-fail", title="wrong status", actor="SMR")
    + """
steps:
  - fhir: {method: GET, path: Patient/x}
    expect: [{status: 200}]
""",
    "errors": HEAD.format(id="p-error", title="bad template", actor="SMR")
    + """
steps:
  - fhir: {method: GET, path: "{{ saved.missing }}"}
""",
    "skips": HEAD.format(id="p-skip", title="needs another organization", actor="SMR")
    + """
inputs:
  - {name: other_client, title: a second client}
steps:
  - fhir: {method: GET, path: metadata}
""",
    "omitted": HEAD.format(id="p-omit", title="a Source scenario", actor="Source")
    + """
steps:
  - fhir: {method: GET, path: metadata}
""",
}


def test_outcomes_junit_and_run_folder(pytester: pytest.Pytester, fhir_server: str) -> None:
    for name, text in SCENARIOS.items():
        pytester.makefile(".scenario.yaml", **{name: text})
    out = pytester.path / "run"
    result = pytester.runpytest_inprocess(
        *plugin_args(),
        "--target",
        fhir_server,
        "--testbed-open",
        "--actor",
        "SMR",
        "--seed",
        "7",
        "--testbed-out",
        str(out),
        "--junitxml",
        "junit.xml",
        "-p",
        "no:cacheprovider",
        "-rs",
    )
    result.assert_outcomes(passed=1, failed=1, errors=1, skipped=2)
    text = result.stdout.str()
    assert "FAIL (the system under test)" in text and "Received: HTTP 404" in text
    assert "reproduce: testbed replay" in text and "reproduce: curl -sS -i -X GET" in text
    assert "ERROR (the testbed could not judge)" in text and "missing" in text
    assert "omit: actor Source is not declared" in text
    assert "evidence digest: sha256:" in text and "seed: 7" in text
    record = json.loads((out / "run.json").read_text())
    assert {s["id"]: s["result"] for s in record["scenarios"]} == {
        "p-pass": "pass",
        "p-fail": "fail",
        "p-error": "error",
        "p-skip": "skip",
        "p-omit": "omit",
    }
    assert (out / "manifest.json").is_file() and (out / "evidence-digest.txt").is_file()
    cases = {c.get("name"): c for c in ET.parse(pytester.path / "junit.xml").getroot().iter("testcase")}
    assert cases["p-fail"].find("failure") is not None
    assert cases["p-error"].find("error") is not None
    assert "omit:" in (cases["p-omit"].find("skipped").get("message") or "")  # type: ignore[union-attr]


def test_items_point_at_their_yaml_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", passes="# a comment first\n" + SCENARIOS["passes"].lstrip())
    items, _ = pytester.inline_genitems(*plugin_args(), "-p", "no:cacheprovider")
    assert [(item.nodeid, item.location[1:]) for item in items] == [
        ("passes.scenario.yaml::p-pass", (1, "scenario p-pass"))
    ]


def test_a_schema_error_is_a_collection_error_with_file_and_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario.yaml", broken=SCENARIOS["passes"].replace("status: 200", "stauts: 200"))
    pytester.makefile(".yaml", not_a_scenario="this: [is not collected")
    result = pytester.runpytest_inprocess(*plugin_args(), "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken.scenario.yaml:9: unknown key 'stauts'; did you mean 'status'?*"])


def test_every_shipped_scenario_is_collected(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess(
        *plugin_args(), "--collect-only", "-q", "-p", "no:cacheprovider", str(content_dir())
    )
    collected = {line.split("::")[0] for line in result.stdout.lines if ".scenario.yaml::" in line}
    expected = {str(p) for p in scenario_files([content_dir()])}
    assert {str(content_dir().parent / c) if not c.startswith("/") else c for c in collected} == expected


def test_a_real_scenario_against_the_embedded_smr(pytester: pytest.Pytester) -> None:
    scenario = content_dir() / "smr" / "t11-capability-statement.scenario.yaml"
    result = pytester.runpytest_inprocess(
        *plugin_args(), "-p", "no:cacheprovider", str(scenario), "--testbed-out", str(pytester.path / "run")
    )
    result.assert_outcomes(passed=1)
