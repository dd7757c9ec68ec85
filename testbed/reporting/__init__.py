"""Labelling and certification reports from a stored run (issue 8; spec §9).

Layer: imports core, requirements, national, api, scenarios, security and itself.

- ``runrecord``    reading ``run.json`` (the run record) into frozen dataclasses
- ``evidence``     the manifest, the evidence digest, and a check naming every altered file
- ``labels``       the label decision per actor, from ``reports/label-rules.yaml``
- ``view``         everything a report shows, gathered once; ``html`` renders HTML and PDF
- ``machine``      JUnit XML, FHIR R4 TestReport, the JSON run record
- ``certificate``  the certificate document, signed as an Ed25519 JWS; ``verify`` checks it offline
- ``agency``       the agency's JWKS, revocation list and framework editions (``profiles/``)
- ``outputs``      render / certify / verify in one call each (what the command line uses)
"""

from __future__ import annotations

from testbed.reporting.evidence import EvidenceCheck, check_evidence
from testbed.reporting.labels import LabelDecision, LabelRules, Status, decide_labels
from testbed.reporting.outputs import FORMATS, EvidenceError, certify_run, render_report, verify_file
from testbed.reporting.runrecord import Result, RunRecord, load_run
from testbed.reporting.verify import Verification

__all__ = [
    "FORMATS",
    "EvidenceCheck",
    "EvidenceError",
    "LabelDecision",
    "LabelRules",
    "Result",
    "RunRecord",
    "Status",
    "Verification",
    "certify_run",
    "check_evidence",
    "decide_labels",
    "load_run",
    "render_report",
    "verify_file",
]
