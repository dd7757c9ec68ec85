from __future__ import annotations

import json
import tarfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from click.testing import CliRunner

from testbed.cli import main
from tests.conftest import EXAMPLES

IG = Path(__file__).resolve().parents[2] / "fixtures" / "test-ig"
GOOD = EXAMPLES / "patient-example.json"


@pytest.fixture(autouse=True)
def _no_default_ig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TESTBED_PROFILES", "")


@pytest.fixture()
def bad(tmp_path: Path) -> Path:
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"resourceType": "Patient", "gender": "F", "foo": 1}))
    return f


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_help_on_every_command() -> None:
    assert run("--help")[0] == 0
    code, out = run("validate", "--help")
    assert code == 0 and "--format" in out and "Exit status" in out


def test_exit_codes_and_text(bad: Path) -> None:
    assert run("validate", str(GOOD))[0] == 0
    code, out = run("validate", str(GOOD), str(bad))
    assert code == 1
    assert "FAIL" in out and "Patient.foo" in out and "2 input(s): 1 valid, 1 invalid" in out
    assert out.rstrip().endswith("checked with: hl7.fhir.r4.core#4.0.1")
    assert run("validate", "/does/not/exist")[0] == 2
    assert run("validate")[0] == 2
    assert run("validate", "--profile", "http://example.org/none", str(GOOD))[0] == 2
    assert run("validate", "--format", "yaml", str(GOOD))[0] == 2


def test_json_format(bad: Path) -> None:
    code, out = run("validate", "--format", "json", str(bad))
    data = json.loads(out)
    assert (
        code == 1
        and data[0]["file"] == str(bad)
        and data[0]["standard"] == "fhir"
        and data[0]["valid"] is False
    )
    issue = next(i for i in data[0]["issues"] if i["location"] == "Patient.gender")
    assert set(issue) == {"severity", "code", "location", "message", "rule", "requirements"}
    assert issue["rule"] == "Patient.gender" and issue["requirements"] == []


def test_outcome_and_junit_formats(bad: Path) -> None:
    _, out = run("validate", "--format", "outcome", str(bad))
    assert json.loads(out)["resourceType"] == "OperationOutcome"
    _, out = run("validate", "--format", "outcome", str(bad), str(GOOD))
    assert json.loads(out)["resourceType"] == "Bundle"
    _, out = run("validate", "--format", "junit", str(bad), str(GOOD))
    suite = ET.fromstring(out.split("?>", 1)[-1])
    assert suite.get("tests") == "2" and suite.get("failures") == "1"


def test_folder_recursion_and_ig(tmp_path: Path) -> None:
    tgz = tmp_path / "ig.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(IG / "package", arcname="package")
    data = tmp_path / "data" / "nested"
    data.mkdir(parents=True)
    (data / "ok.json").write_text((IG / "examples" / "valid-patient.json").read_text())
    (data / "bad.json").write_text(
        json.dumps(json.loads((IG / "examples" / "invalid-missing-nid.json").read_text())["resource"])
    )
    code, out = run("validate", "--ig", str(tgz), "--format", "json", str(tmp_path / "data"))
    results = {Path(r["file"]).name: r["valid"] for r in json.loads(out)}
    assert code == 1 and results == {"ok.json": True, "bad.json": False}
    code, out = run("validate", str(data / "ok.json"))
    assert code == 0 and "is not defined by any loaded package" in out  # profile unknown without --ig


def test_bad_ig_is_a_usage_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"nope")
    code, out = run("validate", "--ig", str(broken), str(GOOD))
    assert code == 2 and "Cannot read package archive" in out
