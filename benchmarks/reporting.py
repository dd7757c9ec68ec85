"""Reporting figures (one core): label decision, HTML and PDF rendering, certificate signing and verification.

Input: the sample run folder of the tests (8 scenarios, 2 actors, 5 exchanges) and the same run
scaled to 80 scenarios (copies with new ids, same exchanges), so the figures say how rendering grows.

- label_decision_ms: decide_labels for every declared actor (catalogue of ~260 requirements);
- html_render_ms_<n>: one HTML report (fonts inlined) in Arabic, <n> scenarios;
- pdf_render_s_<n> / pdf_render_cpu_s_<n>: one Arabic PDF through WeasyPrint, <n> scenarios (wall, CPU);
- certify_ms / verify_ms: certify (evidence check + decision + Ed25519 JWS) and verify with the evidence.
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.reporting.html import render_html, render_pdf  # noqa: E402
from testbed.reporting.labels import LabelRules, decide_labels  # noqa: E402
from testbed.reporting.outputs import certify_run, verify_file  # noqa: E402
from testbed.reporting.view import ReportData, load_report  # noqa: E402

SAMPLE = ROOT / "tests" / "fixtures" / "runs" / "sample"
KEY = ROOT / "tests" / "fixtures" / "agency" / "demo-agency-private.jwk"


def _ms(step: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _scaled(data: ReportData, rules: LabelRules, factor: int) -> ReportData:
    scenarios = tuple(
        dataclasses.replace(s, id=f"{s.id}-{i}") for i in range(factor) for s in data.run.scenarios
    )
    run = dataclasses.replace(data.run, scenarios=scenarios)
    return dataclasses.replace(data, run=run, decisions=decide_labels(run, rules))


def run(full: bool = False) -> list[dict]:
    """Figures as ``{"name", "value", "unit"}`` dicts."""
    repeat = 10 if full else 3
    out: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        shutil.copytree(SAMPLE, run_dir)
        rules = LabelRules.load()
        data = load_report(run_dir, rules=rules)
        out.append(
            {
                "name": "label_decision_ms",
                "value": round(_ms(lambda: decide_labels(data.run, rules), repeat * 3), 2),
                "unit": "ms",
            }
        )
        big = _scaled(data, rules, 10)
        for label, item in (("8", data), ("80", big)):
            value = _ms(lambda item=item: render_html(item, "ar"), repeat)
            out.append({"name": f"html_render_ms_{label}", "value": round(value, 1), "unit": "ms"})
        for label, item in (("8", data), ("80", big)) if full else (("8", data),):
            cpu = time.process_time()
            value = _ms(lambda item=item: render_pdf(item, "ar"), 1) / 1000
            out.append({"name": f"pdf_render_s_{label}", "value": round(value, 2), "unit": "s"})
            cpu_s = round(time.process_time() - cpu, 2)
            out.append({"name": f"pdf_render_cpu_s_{label}", "value": cpu_s, "unit": "s"})
        cert = Path(tmp) / "cert.json"
        out.append(
            {
                "name": "certify_ms",
                "value": round(
                    _ms(
                        lambda: certify_run(run_dir, KEY, issued=date(2026, 11, 24), rules=rules).write(cert),
                        repeat,
                    ),
                    1,
                ),
                "unit": "ms",
            }
        )
        at = date(2027, 1, 1)
        out.append(
            {
                "name": "verify_ms",
                "value": round(
                    _ms(lambda: verify_file(cert, evidence=run_dir, at=at, rules=rules), repeat), 1
                ),
                "unit": "ms",
            }
        )
    return out


if __name__ == "__main__":
    import json

    for row in run("--full" in sys.argv):
        print(json.dumps(row))
