"""Everything a report shows, gathered once from a stored run: the data behind every output format.

:func:`load_report` reads the run folder (run record, evidence check, label decision, certificate if
any); :func:`template_context` turns it into the plain values the Jinja2 templates print, in one
language, with every free text and exchange redacted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import segno

from testbed import __version__
from testbed.core.errors import InputError
from testbed.reporting.certificate import qr_payload, read_certificate_file
from testbed.reporting.chart import RESULT_COLOURS, STATUS_COLOURS, area_level_chart, results_bar
from testbed.reporting.evidence import EvidenceCheck, canonical, check_evidence
from testbed.reporting.exchanges import MAX_BODY, load_exchange, redact_url
from testbed.reporting.i18n import Messages
from testbed.reporting.labels import LabelDecision, LabelRules, Status, decide_labels
from testbed.reporting.runrecord import Assertion, Result, RunRecord, Scenario, Step, load_run
from testbed.security.redact import redact_json, redact_text

MAX_BLOCKERS = 12
PDF_BODY = 2500


@dataclass(frozen=True, slots=True)
class ReportData:
    """A stored run, read and decided once, ready to render in any format and language."""

    run_dir: Path
    run: RunRecord
    rules: LabelRules
    decisions: Mapping[str, LabelDecision]
    evidence: EvidenceCheck | None
    certificate: Mapping[str, Any] | None
    certificate_kid: str = ""

    @property
    def digest(self) -> str:
        """The evidence digest (empty when the folder has no manifest)."""
        return self.evidence.digest if self.evidence is not None else ""


def default_certificate_path(run_dir: Path) -> Path:
    """Where ``testbed certify`` writes a run's certificate by default: beside the run folder."""
    run_dir = Path(run_dir).resolve()
    return run_dir.parent / f"{run_dir.name}.certificate.json"


def load_report(
    run_dir: Path, *, rules: LabelRules | None = None, certificate: Path | None = None
) -> ReportData:
    """Read a run folder for reporting; nothing is re-run.

    Args:
        run_dir: the run folder.
        rules: the label rules (default ``reports/label-rules.yaml``).
        certificate: a certificate file to show on the certificate page (default: the one beside the
            run folder, if there is one).

    Raises:
        InputError: the run record or the certificate cannot be read.
    """
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    rules = rules or LabelRules.load()
    try:
        evidence: EvidenceCheck | None = check_evidence(run_dir)
    except InputError:
        evidence = None
    cert: Mapping[str, Any] | None = None
    kid = ""
    path = certificate or default_certificate_path(run_dir)
    if certificate is not None or path.is_file():
        data, _ = read_certificate_file(path)
        cert = data["certificate"]
        kid = _kid(data["jws"])
    return ReportData(run_dir, run, rules, decide_labels(run, rules), evidence, cert, kid)


def _kid(token: str) -> str:
    import base64

    head = token.split(".", 1)[0]
    try:
        return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))).get("kid", ""))
    except (ValueError, AttributeError):
        return ""


def _r(text: Any) -> str:
    return redact_text(str(text), ()) if text not in (None, "") else ""


def _duration(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def _labels(data: ReportData, t: Messages) -> list[dict[str, Any]]:
    names = {lv.level: t(f"level.{lv.key}") for lv in data.rules.levels}
    out = []
    for actor, decision in data.decisions.items():
        levels = [
            {
                "level": s.level,
                "name": names[s.level],
                "asked": s.asked,
                "met": s.met,
                "status": "reached" if s.reached else "satisfied" if s.satisfied else "blocked",
            }
            for s in decision.levels
        ]
        blocking = [
            {"kind": b.kind, "id": b.id, "status": b.status.value, "detail": _r(b.detail)}
            for b in decision.blocking[:MAX_BLOCKERS]
        ]
        out.append(
            {
                "actor": actor,
                "level": decision.level_reached,
                "name": names.get(decision.level_reached, t("level.none")),
                "levels": levels,
                "blocking": blocking,
                "more": max(0, len(decision.blocking) - MAX_BLOCKERS),
                "top": decision.level_reached >= data.rules.max_level,
            }
        )
    return out


def _coverage(
    data: ReportData,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[tuple[str, int], dict[str, int]]]:
    actors = list(data.decisions)
    rows, untested = [], []
    cells: dict[tuple[str, int], dict[str, int]] = {}
    for req in data.rules.catalogue:
        mine = [a for a in actors if a in req.actors]
        if not mine:
            continue
        statuses = {a: data.decisions[a].requirements[req.id] for a in mine}
        scenarios = list(dict.fromkeys(sid for st in statuses.values() for sid, _ in st.scenarios))
        row = {
            "id": req.id,
            "area": req.area,
            "level": req.level,
            "strength": req.strength.value,
            "text": req.text,
            "section": req.section,
            "scenarios": scenarios,
            "statuses": {a: statuses[a].status.value for a in mine},
        }
        rows.append(row)
        for st in statuses.values():
            cell = cells.setdefault((req.area, req.level), {})
            cell[st.status.value] = cell.get(st.status.value, 0) + 1
        if req.strength.value == "SHALL" and any(s.status is Status.UNTESTED for s in statuses.values()):
            untested.append(row)
    return rows, untested, cells


def _value(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(redact_json(value), ensure_ascii=False)
    text = _r(text)
    return text if len(text) <= 400 else text[:400] + "…"


def _assertion(assertion: Assertion) -> dict[str, Any]:
    return {
        "kind": assertion.kind,
        "title": _r(assertion.title),
        "result": assertion.result.value,
        "message": _r(assertion.message),
        "location": _r(assertion.location),
        "requirements": list(assertion.requirements),
        "expected": _value(assertion.expected),
        "received": _value(assertion.received),
        "issues": [
            {
                "severity": i.severity,
                "code": i.code,
                "location": _r(i.location),
                "message": _r(i.message),
                "rule": i.rule or "",
            }
            for i in assertion.issues
        ],
    }


def _exchanges(data: ReportData, step: Step, media: str) -> list[dict[str, Any]]:
    # In print, only the exchanges of failed or errored steps are shown in full (the evidence folder
    # holds them all); in HTML every exchange is there, folded.
    full = media != "pdf" or step.result in (Result.FAIL, Result.ERROR)
    limit = MAX_BODY if media != "pdf" else PDF_BODY
    return [{"view": load_exchange(data.run_dir, x, limit=limit), "full": full} for x in step.exchanges]


def _scenario(data: ReportData, scenario: Scenario, media: str) -> dict[str, Any]:
    steps = []
    for step in scenario.steps:
        steps.append(
            {
                "index": step.index,
                "title": _r(step.title),
                "result": step.result.value,
                "message": _r(step.message),
                "kind": step.kind,
                "requirements": list(step.requirements),
                "reproduce": [_r(line) for line in step.reproduce],
                "duration": _duration(step.duration_ms),
                "assertions": [_assertion(a) for a in step.assertions],
                "exchanges": _exchanges(data, step, media),
            }
        )
    return {
        "id": scenario.id,
        "title": _r(scenario.title),
        "actor": scenario.actor,
        "level": scenario.level,
        "result": scenario.result.value,
        "message": _r(scenario.message),
        "requirements": list(scenario.requirements),
        "duration": _duration(scenario.duration_ms),
        "source": _r(scenario.source),
        "steps": steps,
    }


def qr_data_uri(text: str) -> str:
    """A QR code (error correction M) as an SVG data URI."""
    return str(segno.make(text, error="m").svg_data_uri(scale=4, border=2))


def _certificate(data: ReportData) -> dict[str, Any]:
    cert = data.certificate
    if cert is None:
        text = canonical({"id": None, "sha256": data.digest}).decode()
        return {"present": False, "digest": data.digest, "qr": qr_data_uri(text), "qr_text": text}
    evidence = cert.get("evidence") or {}
    text = qr_payload(cert)
    return {
        "present": True,
        "id": cert.get("id", ""),
        "issuer": cert.get("issuer", ""),
        "issued": cert.get("issued", ""),
        "valid_until": cert.get("valid_until", ""),
        "edition": cert.get("framework_edition", ""),
        "kid": data.certificate_kid,
        "digest": evidence.get("digest", ""),
        "demonstration": bool(cert.get("demonstration")),
        "actors": cert.get("actors") or [],
        "qr": qr_data_uri(text),
        "qr_text": text,
    }


def template_context(data: ReportData, t: Messages, *, media: str = "html") -> dict[str, Any]:
    """The values the report templates print, in the language of ``t``."""
    run = data.run
    rows, untested, cells = _coverage(data)
    areas = list(dict.fromkeys(r["area"] for r in rows))
    levels = [lv.level for lv in data.rules.levels]
    target = {k: redact_url(str(v)) if isinstance(v, str) else _r(v) for k, v in run.target.items()}
    return {
        "t": t,
        "lang": t.lang,
        "dir": t.dir,
        "media": media,
        "run": {
            "id": run.run_id,
            "vendor": _r(run.vendor),
            "product": _r(run.product),
            "version": _r(run.version),
            "actors": list(run.actors),
            "target": target,
            "started": run.started,
            "finished": run.finished,
            "seed": run.seed,
        },
        "versions": {
            "testbed": run.testbed_version,
            "framework": run.framework_edition or data.rules.edition,
            "content": run.content_versions,
            "seed": run.seed,
            "digest": data.digest,
            "reporter": __version__,
        },
        "evidence_findings": [str(f) for f in data.evidence.findings] if data.evidence else [],
        "labels": _labels(data, t),
        "counts": run.counts(),
        "results_svg": results_bar(run.counts(), title=t("summary.results")),
        "result_colours": RESULT_COLOURS,
        "chart_svg": area_level_chart(cells, areas, levels, title=t("chart.title")),
        "status_colours": STATUS_COLOURS,
        "coverage": rows,
        "untested": untested,
        "scenarios": [_scenario(data, s, media) for s in run.scenarios],
        "certificate": _certificate(data),
    }


__all__ = ["ReportData", "default_certificate_path", "load_report", "qr_data_uri", "template_context"]
