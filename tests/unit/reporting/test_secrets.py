"""No output of the reporting layer carries a token, a client secret or a private key.

The sample run folder DELIBERATELY holds a bearer token, a client assertion, an access token and a
client secret in its exchanges (as a client sent them): every output is searched for each of them,
for the demo agency's private key, and for anything that looks like a secret.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.reporting.html import render_html
from testbed.reporting.machine import render_junit, render_run_json, render_testreports
from testbed.reporting.view import ReportData, default_certificate_path
from testbed.security.redact import find_secrets
from tests.unit.reporting.conftest import DEMO_KEY, SAMPLE

sys.path.insert(0, str(SAMPLE.parent))
from build_sample import SECRETS  # noqa: E402


def test_the_fixture_really_holds_the_secrets() -> None:
    stored = "".join(p.read_text(encoding="utf-8") for p in (SAMPLE / "exchanges").iterdir())
    assert all(secret in stored for secret in SECRETS)


def _outputs(data: ReportData, pdf: Path) -> dict[str, str]:
    out = {f"html-{lang}": render_html(data, lang) for lang in ("fr", "ar", "en")}
    out["junit"] = render_junit(data.run)
    out["testreport"] = render_testreports(data.run)
    out["json"] = render_run_json(data.run_dir)[0].decode("utf-8")
    if shutil.which("pdftotext"):
        out["pdf"] = subprocess.run(
            ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
        ).stdout
    return out


def test_no_output_holds_a_secret(report_data: ReportData, pdf_ar: Path) -> None:
    private_d = json.loads(DEMO_KEY.read_text(encoding="utf-8"))["d"]
    for name, text in _outputs(report_data, pdf_ar).items():
        leaked = [s[:12] + "…" for s in (*SECRETS, private_d) if s in text]
        assert leaked == [], f"{name} leaks {leaked}"
        assert find_secrets(text) == [], f"{name}: {find_secrets(text)}"
        assert "PRIVATE KEY" not in text


def test_the_certificate_holds_no_secret(report_data: ReportData) -> None:
    text = default_certificate_path(report_data.run_dir).read_text(encoding="utf-8")
    private_d = json.loads(DEMO_KEY.read_text(encoding="utf-8"))["d"]
    assert not [s for s in (*SECRETS, private_d) if s in text]
    assert "PRIVATE KEY" not in text


@pytest.mark.parametrize("secret", SECRETS)
def test_each_secret_is_in_the_exchanges_the_report_shows(report_data: ReportData, secret: str) -> None:
    shown = {x for s in report_data.run.scenarios for st in s.steps for x in st.exchanges}
    files = "".join((SAMPLE / "exchanges" / f"{x}.json").read_text(encoding="utf-8") for x in shown)
    assert secret in files  # so the redaction above is proven on real input
