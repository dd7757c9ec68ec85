"""``testbed synth``: output, summary, exit codes and clear errors (no tracebacks)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from testbed.cli.synth import synth_command


def run(*args: str) -> Any:
    return CliRunner().invoke(synth_command, list(args))


def test_writes_population_and_summary(tmp_path: Path) -> None:
    out = tmp_path / "pop"
    result = run("--patients", "6", "--seed", "42", "--format", "fhir", "--out", str(out), "--invalid", "0.5")
    assert result.exit_code == 0, result.output
    assert "wrote 6 patients" in result.output and "deliberately broken" in result.output
    assert len(list((out / "fhir").glob("*.json"))) == 6
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == "42" and manifest["options"]["invalid_rate"] == 0.5
    assert "\x1b[" not in result.output  # no progress bar when stderr is not a terminal


def test_ndjson_and_all(tmp_path: Path) -> None:
    result = run("-n", "3", "-s", "1", "--ndjson", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fhir" / "patients.ndjson").is_file()
    assert "manifest:" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--invalid", "2"], "not between 0 and 1"),
        (["--invalid", "lots"], "not a number"),
        (["--region", "13"], "Unknown region code '13'"),
        (["--patients", "0"], "0 is not in the range"),
        (["--format", "pdf"], "'pdf' is not one of"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--patients": "2", "--seed": "1", "--out": str(tmp_path)}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    result = run(*[x for pair in base.items() for x in pair])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_unwritable_out_and_missing_renderer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("-n", "1", "-s", "1", "--out", str(blocker / "sub"))
    assert result.exit_code == 2 and "Cannot write to the output folder" in result.output
    monkeypatch.setitem(sys.modules, "testbed.synthetic.hl7v2", None)
    result = run("-n", "1", "-s", "1", "--format", "hl7v2", "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and "hl7v2 renderer is not available" in result.output
    result = run("-n", "1", "-s", "1", "--format", "all", "--out", str(tmp_path / "o2"))
    assert result.exit_code == 0 and "hl7v2" in result.stderr and "not available" in result.stderr


def test_help() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "--invalid RATE" in result.output and "Exit status" in result.output
