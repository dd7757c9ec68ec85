"""PDF report (WeasyPrint): Arabic text present and extractable, fonts embedded, certificate page."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from testbed.reporting.certificate import qr_payload
from testbed.reporting.view import ReportData


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package poppler-utils)")
    return path


def test_pdf_is_a_pdf(pdf_ar: Path) -> None:
    assert pdf_ar.read_bytes().startswith(b"%PDF-")


def test_pdf_holds_the_arabic_text(pdf_ar: Path, report_data: ReportData) -> None:
    text = subprocess.run(
        [_tool("pdftotext"), str(pdf_ar), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "تقرير المطابقة" in text  # logical order after extraction: the glyphs were shaped as one word
    assert "الشهادة" in text  # certificate.title
    assert report_data.certificate is not None and report_data.certificate["id"] in text
    assert report_data.run.product in text


def test_pdf_embeds_the_vendored_arabic_font(pdf_ar: Path) -> None:
    fonts = subprocess.run(
        [_tool("pdffonts"), str(pdf_ar)], capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    naskh = [r for r in rows if "Noto-Naskh-Arabic" in r[0]]
    assert naskh, fonts
    assert all(r[-5] == "yes" for r in rows), fonts  # every font embedded
    assert not any("Helvetica" in r[0] for r in rows)


def test_pdf_pages_rasterise(pdf_ar: Path, tmp_path: Path) -> None:
    subprocess.run(
        [_tool("pdftoppm"), "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf_ar), str(tmp_path / "p")],
        check=True,
    )
    pages = list(tmp_path.glob("p*.png"))
    assert pages and pages[0].stat().st_size > 5000


def test_the_qr_code_on_the_certificate_page_carries_id_and_digest(
    pdf_ar: Path, tmp_path: Path, report_data: ReportData
) -> None:
    zbarimg = shutil.which("zbarimg")
    if zbarimg is None:
        pytest.skip("zbarimg is not installed (Debian package zbar-tools)")
    info = subprocess.run([_tool("pdfinfo"), str(pdf_ar)], capture_output=True, text=True, check=True).stdout
    last = next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:"))
    subprocess.run(
        [_tool("pdftoppm"), "-r", "150", "-png", "-f", last, "-l", last, str(pdf_ar), str(tmp_path / "cert")],
        check=True,
    )
    image = next(tmp_path.glob("cert*.png"))
    decoded = subprocess.run([zbarimg, "-q", "--raw", str(image)], capture_output=True, text=True, check=True)
    assert report_data.certificate is not None
    assert decoded.stdout.strip() == qr_payload(report_data.certificate)
    assert json.loads(decoded.stdout) == {"id": report_data.certificate["id"], "sha256": report_data.digest}
