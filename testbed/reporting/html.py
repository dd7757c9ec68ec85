"""HTML and PDF renderings of a stored run, from the Jinja2 templates of ``reports/templates``.

The HTML opens from disk with no network: the stylesheet and the vendored OFL fonts are inlined
(fonts as data URIs), pictures are inline SVG or data URIs, and a Content-Security-Policy forbids any
fetch. The PDF is the same document laid out by WeasyPrint (Pango/HarfBuzz shape the Arabic), with
every exchange unfolded and the certificate on a page of its own.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

import jinja2

from testbed.core.errors import InputError
from testbed.reporting._paths import reports_dir
from testbed.reporting.i18n import Messages
from testbed.reporting.view import ReportData, template_context

#: (family, weight, file) of the vendored fonts under ``reports/assets/fonts``.
FONTS = (
    ("Noto Sans", 400, "NotoSans-Regular.ttf"),
    ("Noto Sans", 700, "NotoSans-Bold.ttf"),
    ("Noto Naskh Arabic", 400, "NotoNaskhArabic-Regular.ttf"),
    ("Noto Naskh Arabic", 700, "NotoNaskhArabic-Bold.ttf"),
)


@lru_cache(maxsize=8)
def _fonts_css(folder: Path, inline: bool) -> str:
    rules = []
    for family, weight, name in FONTS:
        path = folder / "fonts" / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read a report font ({exc.strerror or exc})") from None
        # Inlined for the HTML (opens anywhere); a file URL for WeasyPrint (parsed much faster).
        url = f"data:font/ttf;base64,{base64.b64encode(data).decode('ascii')}" if inline else path.as_uri()
        rules.append(
            f'@font-face {{ font-family: "{family}"; font-weight: {weight}; font-style: normal; '
            f'src: url({url}) format("truetype"); }}'
        )
    return "\n".join(rules)


@lru_cache(maxsize=4)
def _environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )


def render_html(data: ReportData, lang: str, *, media: str = "html") -> str:
    """The report as one self-contained HTML page.

    Args:
        data: the stored run (:func:`testbed.reporting.view.load_report`).
        lang: ``fr``, ``ar`` (right to left) or ``en``.
        media: ``html`` (exchanges folded) or ``pdf`` (everything unfolded, for print).

    Raises:
        UsageError: an unknown language.
        InputError: a template, catalogue, stylesheet or font is missing.
    """
    folder = reports_dir()
    t = Messages.load(lang, folder / "i18n")
    context = template_context(data, t, media=media)
    try:
        css = (folder / "assets" / "report.css").read_text(encoding="utf-8")
        template = _environment(folder).get_template("report.html.j2")
    except OSError as exc:
        raise InputError(f"{folder}: cannot read the report stylesheet ({exc})") from None
    except jinja2.TemplateError as exc:
        raise InputError(f"{folder / 'templates'}: {exc}") from None
    return template.render(**context, css=css, fonts_css=_fonts_css(folder / "assets", media != "pdf"))


def render_pdf(data: ReportData, lang: str) -> bytes:
    """The report as a PDF (WeasyPrint; fonts embedded, Arabic shaped and right to left)."""
    from weasyprint import HTML

    html = render_html(data, lang, media="pdf")
    return bytes(HTML(string=html, base_url=str(reports_dir() / "assets")).write_pdf())


__all__ = ["FONTS", "render_html", "render_pdf"]
