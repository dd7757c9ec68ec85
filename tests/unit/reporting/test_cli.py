"""The commands report, certify, verify and keys init (exit codes 0 valid, 1 invalid, 2 usage)."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import click
import pytest
from click.testing import CliRunner

from testbed.cli.report import certify_command, keys_group, report_command, verify_command
from tests.unit.reporting.conftest import DEMO_KEY


@click.group()
def cli() -> None:
    """The commands under test (the lead registers them on ``testbed``)."""


for command in (report_command, certify_command, verify_command, keys_group):
    cli.add_command(command)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.output


def test_report_formats(run_dir: Path, tmp_path: Path) -> None:
    code, out = invoke("report", run_dir, "--format", "junit")
    assert code == 0 and ET.fromstring(out).tag == "testsuites"
    code, out = invoke("report", run_dir, "--format", "testreport")
    assert code == 0 and json.loads(out)["resourceType"] == "Bundle"
    code, out = invoke("report", run_dir, "--format", "json")
    assert code == 0 and json.loads(out)["run_id"] == "20261123T101500Z-atlas"
    target = tmp_path / "r.html"
    code, _ = invoke("report", run_dir, "--lang", "ar", "--out", target)
    assert code == 0 and 'dir="rtl"' in target.read_text(encoding="utf-8")


def test_report_refuses_to_write_into_the_evidence(run_dir: Path) -> None:
    code, out = invoke("report", run_dir, "--out", run_dir / "report.html")
    assert code == 2 and "would alter the evidence" in out


def test_report_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    code, out = invoke("report", tmp_path, "--format", "junit")
    assert code == 1 and "no run record" in out


def test_certify_then_verify(run_dir: Path) -> None:
    code, out = invoke("certify", run_dir, "--key", DEMO_KEY, "--date", "2026-11-24")
    assert code == 0 and "certificate MA-SMR-CERT-20261124-" in out
    cert = run_dir.parent / f"{run_dir.name}.certificate.json"
    code, out = invoke("verify", cert, "--evidence", run_dir, "--at", "2027-01-01")
    assert code == 0 and out.strip().endswith("VALID")
    (run_dir / "extra.txt").write_text("x", encoding="utf-8")
    code, out = invoke("verify", cert, "--evidence", run_dir, "--at", "2027-01-01")
    assert code == 1 and "extra.txt: present but not listed in the manifest" in out


def test_certify_refuses_altered_evidence(run_dir: Path) -> None:
    record = run_dir / "run.json"
    record.write_text(record.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    code, out = invoke("certify", run_dir, "--key", DEMO_KEY)
    assert code == 1 and "not certified" in out


def test_verify_usage_and_garbage(tmp_path: Path) -> None:
    code, _ = invoke("verify", tmp_path / "missing.json")
    assert code == 2
    code, _ = invoke("certify", tmp_path, "--key", DEMO_KEY, "--date", "soon")
    assert code == 2
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json", encoding="utf-8")
    code, out = invoke("verify", garbage)
    assert code == 1 and "INVALID" in out


@pytest.mark.parametrize("fmt", ["html"])
def test_keys_init(tmp_path: Path, fmt: str) -> None:
    code, out = invoke("keys", "init", "--out", tmp_path / "keys")
    assert code == 0 and "mode 0600" in out
    code, out = invoke("keys", "init", "--out", tmp_path / "keys")
    assert code == 2 and "already exists" in out
