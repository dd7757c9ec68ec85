"""Inline SVG pictures of a run (no script, no network): requirements by area and level, results.

The SVG holds only Latin area codes and digits; every translated word sits in the HTML around it,
so the picture reads the same in a right-to-left page and in the PDF.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from testbed.reporting.labels import Status

#: Colour of each status, also used by the legend in the templates.
STATUS_COLOURS = {
    Status.MET.value: "#2e7d32",
    Status.NOT_MET.value: "#c62828",
    Status.NOT_JUDGED.value: "#ef6c00",
    Status.UNTESTED.value: "#9e9e9e",
    Status.NOT_APPLICABLE.value: "#cfd8dc",
}
RESULT_COLOURS = {
    "pass": "#2e7d32",
    "fail": "#c62828",
    "error": "#ef6c00",
    "skip": "#9e9e9e",
    "omit": "#cfd8dc",
}

_LABEL_W = 56
_CELL_W = 190
_GAP = 12
_ROW_H = 22
_BAR_H = 14


def _bar(
    x: float, y: float, width: float, counts: Mapping[str, int], colours: Mapping[str, str]
) -> list[str]:
    total = sum(counts.values())
    parts: list[str] = []
    if not total:
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{_BAR_H}" fill="none" '
            'stroke="#cfd8dc" stroke-dasharray="3 2"/>'
        )
        return parts
    cursor = x
    for key, colour in colours.items():
        n = counts.get(key, 0)
        if not n:
            continue
        w = width * n / total
        parts.append(
            f'<rect x="{cursor:.1f}" y="{y:.1f}" width="{w:.1f}" height="{_BAR_H}" fill="{colour}">'
            f"<title>{escape(key)}: {n}</title></rect>"
        )
        cursor += w
    return parts


def area_level_chart(
    cells: Mapping[tuple[str, int], Mapping[str, int]],
    areas: Sequence[str],
    levels: Sequence[int],
    *,
    title: str,
) -> str:
    """A grid: one row per area, one column per level, each cell a bar of requirement statuses.

    Args:
        cells: ``{(area, level): {status: count}}``.
        areas: the rows, in order.
        levels: the columns, in order.
        title: the picture's accessible title.
    """
    bar_w = _CELL_W - 40
    width = _LABEL_W + len(levels) * (_CELL_W + _GAP)
    height = 24 + len(areas) * _ROW_H + 4
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" direction="ltr" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" font-family="Noto Sans, sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>'
    ]
    for j, level in enumerate(levels):
        x = _LABEL_W + j * (_CELL_W + _GAP)
        out.append(f'<text x="{x}" y="14" font-weight="bold">L{level}</text>')
    for i, area in enumerate(areas):
        y = 24 + i * _ROW_H
        out.append(f'<text x="0" y="{y + 11}">{escape(area)}</text>')
        for j, level in enumerate(levels):
            x = _LABEL_W + j * (_CELL_W + _GAP)
            counts = cells.get((area, level), {})
            out.extend(_bar(x, y, bar_w, counts, STATUS_COLOURS))
            total = sum(counts.values())
            if total:
                out.append(f'<text x="{x + bar_w + 4}" y="{y + 11}" fill="#455a64">{total}</text>')
    out.append("</svg>")
    return "".join(out)


def results_bar(counts: Mapping[str, int], *, title: str, width: int = 420) -> str:
    """One bar of scenario results (pass, fail, error, skip, omit) with the count of each."""
    height = _BAR_H + 18
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" direction="ltr" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        'font-family="Noto Sans, sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>"
    ]
    out.extend(_bar(0, 0, width, counts, RESULT_COLOURS))
    cursor = 0.0
    total = sum(counts.values()) or 1
    for key in RESULT_COLOURS:
        n = counts.get(key, 0)
        if n:
            out.append(f'<text x="{cursor + 2:.1f}" y="{_BAR_H + 13}" fill="#263238">{n}</text>')
            cursor += width * n / total
    out.append("</svg>")
    return "".join(out)


__all__ = ["RESULT_COLOURS", "STATUS_COLOURS", "area_level_chart", "results_bar"]
