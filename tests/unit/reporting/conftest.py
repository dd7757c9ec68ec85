"""Shared fixtures of the reporting tests: the sample run folder, the demo agency key, one PDF per session."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from testbed.reporting.labels import LabelRules
from testbed.reporting.view import ReportData, load_report

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "tests" / "fixtures" / "runs" / "sample"
DEMO_KEY = ROOT / "tests" / "fixtures" / "agency" / "demo-agency-private.jwk"
ISSUED = date(2026, 11, 24)


@pytest.fixture(scope="session")
def rules() -> LabelRules:
    return LabelRules.load()


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    """A private copy of the sample run folder (tests may tamper with it)."""
    target = tmp_path / "runs" / "20261123T101500Z-atlas"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture(scope="session")
def session_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample run folder shared by the session (read only), with its certificate beside it."""
    from testbed.reporting.outputs import certify_run
    from testbed.reporting.view import default_certificate_path

    target = tmp_path_factory.mktemp("session-runs") / "20261123T101500Z-atlas"
    shutil.copytree(SAMPLE, target)
    certify_run(target, DEMO_KEY, issued=ISSUED).write(default_certificate_path(target))
    return target


@pytest.fixture(scope="session")
def report_data(session_run: Path, rules: LabelRules) -> ReportData:
    return load_report(session_run, rules=rules)


@pytest.fixture(scope="session")
def pdf_ar(report_data: ReportData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Arabic PDF of the sample run, rendered once (WeasyPrint is the slow part of these tests)."""
    from testbed.reporting.html import render_pdf

    path = tmp_path_factory.mktemp("pdf") / "report-ar.pdf"
    path.write_bytes(render_pdf(report_data, "ar"))
    return path
