"""What the reporting layer does for a user: render a stored run, certify it, verify a certificate.

Example:
    ```python
    render_report(run_dir, "pdf", lang="ar")                      # bytes of the PDF
    signed = certify_run(run_dir, Path("agency-private.jwk"))       # raises if the evidence was altered
    signed.write(default_certificate_path(run_dir))
    verify_file(default_certificate_path(run_dir), evidence=run_dir).valid
    ```
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from testbed.core.errors import InputError, UsageError
from testbed.reporting.agency import Agency
from testbed.reporting.certificate import SignedCertificate, build_certificate, sign_certificate
from testbed.reporting.evidence import check_evidence
from testbed.reporting.html import render_html, render_pdf
from testbed.reporting.labels import LabelRules, decide_labels
from testbed.reporting.machine import render_junit, render_run_json, render_testreports
from testbed.reporting.runrecord import load_run
from testbed.reporting.signing import load_signing_key, load_trusted_keys
from testbed.reporting.verify import Verification, verify_certificate
from testbed.reporting.view import load_report

FORMATS = ("html", "pdf", "junit", "json", "testreport")
SUFFIXES = {
    "html": ".html",
    "pdf": ".pdf",
    "junit": ".junit.xml",
    "json": ".json",
    "testreport": ".testreport.json",
}


class EvidenceError(InputError):
    """The run folder does not match its manifest: it cannot be certified."""


def render_report(
    run_dir: Path,
    fmt: str,
    *,
    lang: str = "fr",
    certificate: Path | None = None,
    rules: LabelRules | None = None,
) -> bytes:
    """Render a stored run in one format (nothing is re-run).

    Args:
        run_dir: the run folder.
        fmt: ``html``, ``pdf``, ``junit``, ``json`` (the run record, redacted if it holds a secret) or
            ``testreport`` (FHIR R4 TestReport resources in a Bundle).
        lang: ``fr``, ``ar`` or ``en`` (HTML and PDF).
        certificate: the certificate to show on the certificate page (default: the one beside the folder).
        rules: the label rules (default ``reports/label-rules.yaml``).

    Raises:
        UsageError: an unknown format or language.
        InputError: the run folder cannot be read.
    """
    if fmt not in FORMATS:
        raise UsageError(f"no report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "json":
        load_run(run_dir)  # a clean error when it is not a run record
        return render_run_json(run_dir)[0]
    if fmt == "junit":
        return render_junit(load_run(run_dir)).encode("utf-8")
    if fmt == "testreport":
        return render_testreports(load_run(run_dir)).encode("utf-8")
    data = load_report(run_dir, rules=rules, certificate=certificate)
    if fmt == "pdf":
        return render_pdf(data, lang)
    return render_html(data, lang).encode("utf-8")


def certify_run(
    run_dir: Path,
    key: Path,
    *,
    issued: date | None = None,
    rules: LabelRules | None = None,
    agency: Agency | None = None,
) -> SignedCertificate:
    """Decide the labels of a stored run and sign the certificate.

    Raises:
        EvidenceError: a file of the run folder does not match the manifest (every mismatch is named).
        InputError: the run folder, the key or the agency material cannot be read.
    """
    run = load_run(run_dir)
    evidence = check_evidence(run_dir)
    if not evidence.intact:
        lines = "\n".join(f"  {f}" for f in evidence.findings)
        raise EvidenceError(f"{run_dir}: the evidence does not match its manifest; not certified:\n{lines}")
    rules = rules or LabelRules.load()
    agency = agency or Agency.load()
    signing_key = load_signing_key(key)
    document = build_certificate(
        run, decide_labels(run, rules), evidence, agency, rules, issued=issued or date.today()
    )
    return sign_certificate(document, signing_key)


def verify_file(
    certificate: Path,
    *,
    evidence: Path | None = None,
    public_key: Path | None = None,
    at: date | None = None,
    rules: LabelRules | None = None,
    agency: Agency | None = None,
) -> Verification:
    """Verify a certificate offline: against ``public_key`` if given, else the agency's JWKS.

    The agency's revocation list and framework editions are checked whenever the agency folder is
    readable; with ``evidence`` the run folder is checked too and the labels are decided again.

    Raises:
        InputError: the certificate, the key or the agency material cannot be read.
    """
    if agency is None:
        try:
            agency = Agency.load()
        except InputError:
            if public_key is None:
                raise
    keys = load_trusted_keys(public_key) if public_key is not None else agency.key_set()  # type: ignore[union-attr]
    if evidence is not None and rules is None:
        rules = LabelRules.load()
    return verify_certificate(
        certificate,
        keys=keys,
        agency=agency,
        evidence=evidence,
        rules=rules,
        at=at,
        agency_keys=public_key is None,
    )


__all__ = ["FORMATS", "SUFFIXES", "EvidenceError", "certify_run", "render_report", "verify_file"]
