"""HTML report in French, Arabic (right to left) and English: content, self-containment, redaction."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from testbed.core.errors import InputError, UsageError
from testbed.reporting.exchanges import load_exchange, redact_url, render_body
from testbed.reporting.html import render_html
from testbed.reporting.i18n import LANGUAGES, Messages
from testbed.reporting.view import ReportData

I18N = Path(__file__).resolve().parents[3] / "reports" / "i18n"


@pytest.fixture(scope="module")
def pages(report_data: ReportData) -> dict[str, str]:
    return {lang: render_html(report_data, lang) for lang in LANGUAGES}


def test_catalogues_have_the_same_keys() -> None:
    keys = [set(yaml.safe_load((I18N / f"{lang}.yaml").read_text(encoding="utf-8"))) for lang in LANGUAGES]
    assert keys[0] == keys[1] == keys[2]


@pytest.mark.parametrize(("lang", "direction"), [("fr", "ltr"), ("ar", "rtl"), ("en", "ltr")])
def test_language_and_direction(pages: dict[str, str], lang: str, direction: str) -> None:
    html = pages[lang]
    assert f'<html lang="{lang}" dir="{direction}">' in html
    t = Messages.load(lang)
    for key in ("report.title", "label.title", "coverage.untested_title", "certificate.title", "result.fail"):
        assert t(key).replace("'", "&#39;") in html, key


def test_arabic_page_carries_arabic_text(pages: dict[str, str]) -> None:
    html = pages["ar"]
    assert "تقرير المطابقة" in html  # report.title in ar.yaml
    assert len(re.findall(r"[\u0600-\u06FF]", html)) > 500
    assert "Rapport de conformité" not in html


def test_the_report_shows_what_the_issue_asks(pages: dict[str, str], report_data: ReportData) -> None:
    html = pages["en"]
    run = report_data.run
    for text in (
        run.product,
        run.version,
        run.testbed_version,
        run.seed,
        report_data.digest,
        "ma.smr.core#0.1.0",
    ):
        assert text in html
    assert 'class="chart"' in html and "<svg" in html  # the picture, inline
    assert "Patient.identifier[0].value" in html  # an issue location
    assert "HTTP 201" in html and "POST http://127.0.0.1:8765/fhir/Patient" in html  # an exchange
    assert "Untested SHALL requirements" in html and "MA-PAT-040" in html
    assert "never counted as a pass" in html
    assert report_data.certificate is not None and report_data.certificate["id"] in html
    assert 'data-qr="{&#34;id&#34;:' in html  # the QR code's text: id and digest


def test_the_page_needs_no_network(pages: dict[str, str]) -> None:
    for html in pages.values():
        assert "default-src 'none'" in html
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
        assert not re.search(r"url\(\s*['\"]?(?:https?:)?//", html)
        assert "@font-face" in html and "data:font/ttf;base64," in html
        assert "<script" not in html


def test_pdf_media_unfolds_exchanges(report_data: ReportData) -> None:
    html = render_html(report_data, "fr", media="pdf")
    assert '<details class="exchange" open>' in html  # the failed steps' exchanges, in full
    assert "1 vérifications, toutes réussies" in html  # passing steps are one line in print
    assert html.count("<details") < render_html(report_data, "fr").count("<details")
    assert "data:font/ttf" not in html  # fonts by file for WeasyPrint


def test_exchanges_are_redacted_when_shown(report_data: ReportData) -> None:
    views = [
        load_exchange(report_data.run_dir, x)
        for s in report_data.run.scenarios
        for st in s.steps
        for x in st.exchanges
    ]
    headers = {k: v for v in views if v.request for k, v in v.request.headers}
    assert headers["Authorization"] == "Bearer [redacted]"
    bodies = "\n".join(
        (v.request.body if v.request else "") + (v.response.body if v.response else "") for v in views
    )
    assert "client_assertion=[redacted]" in bodies and "client_secret=[redacted]" in bodies
    assert '"access_token": "[redacted]"' in bodies
    assert "MSH|^~\\&|ATLAS" in bodies  # HL7 v2 shown, segments on their own lines


def test_missing_exchange_is_shown_as_missing(tmp_path: Path) -> None:
    view = load_exchange(tmp_path, "exchanges/" + "0" * 64 + ".json")
    assert view.missing and view.request is None


def test_bodies_are_bounded_and_urls_redacted() -> None:
    text, cut = render_body({"format": "text", "value": "x" * 50}, limit=10)
    assert (text, cut) == ("x" * 10, True)
    assert render_body({"format": "empty"}) == ("", False)
    assert "[redacted]" in redact_url("https://h/p?access_token=abcdefgh12345&x=1")
    assert "user:pw" not in redact_url("https://user:pw@h/p")


def test_unknown_language_and_missing_key() -> None:
    with pytest.raises(UsageError, match="no report language"):
        Messages.load("de")
    with pytest.raises(InputError, match="no message 'nope'"):
        Messages.load("en")("nope")
