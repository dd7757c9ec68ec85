"""Checked as a person would: headless Chromium (Debian package ``chromium``) screenshots the HTML report.

Slow and needs the browser: skipped when ``chromium`` is not installed. Chromium runs with no network
use (background networking off) and the page's Content-Security-Policy forbids any fetch anyway.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from testbed.reporting.html import render_html
from testbed.reporting.view import ReportData

pytestmark = pytest.mark.slow

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_chromium_screenshots_the_arabic_report(report_data: ReportData, tmp_path: Path) -> None:
    lang = "ar"
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = tmp_path / f"report-{lang}.html"
    page.write_text(render_html(report_data, lang), encoding="utf-8")
    shot = tmp_path / f"report-{lang}.png"
    subprocess.run(
        [
            browser,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=90,
        check=True,
    )
    assert _png_size(shot) == (1200, 1600)
    assert shot.stat().st_size > 50_000  # a rendered page, not a blank one
