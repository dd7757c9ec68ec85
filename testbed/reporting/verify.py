"""Offline verification of a certificate, and of the evidence it was decided on.

Every check names what does not match: the signature (altered content or an untrusted key), each
field of the readable document that differs from what the signature covers, the file's layout, the
revocation list, the validity dates, the framework edition in force, and, with the run folder, every
file whose hash differs from the manifest, a dropped or added file, a manifest that no longer has the
certified digest, and a label decision that the run record no longer supports.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import KeySet

from testbed.core.errors import InputError
from testbed.reporting.agency import Agency
from testbed.reporting.certificate import read_certificate_file, serialise
from testbed.reporting.evidence import canonical, check_evidence
from testbed.reporting.labels import LabelRules, decide_labels
from testbed.reporting.runrecord import RUN_FILE, RunRecordError, load_run
from testbed.reporting.signing import ALG


@dataclass(slots=True)
class Verification:
    """The outcome of :func:`verify_certificate`: ``valid`` only when ``problems`` is empty."""

    status: str = "valid"  # valid, invalid, revoked, expired, not-yet-valid, superseded
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    certificate: dict[str, Any] = field(default_factory=dict)
    kid: str = ""

    @property
    def valid(self) -> bool:
        """True when nothing failed."""
        return not self.problems

    def problem(self, message: str, status: str = "invalid") -> None:
        """Record a failed check: ``invalid`` outranks the specific statuses; the first of those sticks."""
        self.problems.append(message)
        if status == "invalid" or self.status == "valid":
            self.status = status


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _canonical_b64(segment: str) -> bool:
    try:
        return base64.urlsafe_b64encode(_b64decode(segment)).rstrip(b"=").decode() == segment
    except (ValueError, UnicodeDecodeError):
        return False


def _diff(found: Any, signed: Any, path: str = "") -> Iterator[str]:
    if isinstance(found, dict) and isinstance(signed, dict):
        for key in sorted(set(found) | set(signed)):
            where = f"{path}.{key}" if path else key
            if key not in signed:
                yield f"field {where}: added to the file, not covered by the signature"
            elif key not in found:
                yield f"field {where}: removed from the file; the signature covers {json.dumps(signed[key])}"
            else:
                yield from _diff(found[key], signed[key], where)
    elif isinstance(found, list) and isinstance(signed, list) and len(found) == len(signed):
        for i, (a, b) in enumerate(zip(found, signed, strict=True)):
            yield from _diff(a, b, f"{path}[{i}]")
    elif found != signed or type(found) is not type(signed):
        yield (
            f"field {path}: the file says {json.dumps(found, ensure_ascii=False)}, "
            f"the signature covers {json.dumps(signed, ensure_ascii=False)}"
        )


def _check_signature(data: dict[str, Any], keys: KeySet, out: Verification) -> dict[str, Any] | None:
    token = data["jws"]
    segments = token.split(".")
    if len(segments) != 3 or not all(_canonical_b64(s) for s in segments):
        out.problem("jws: not a compact JWS in canonical base64url (three segments)")
        return None
    try:
        header = json.loads(_b64decode(segments[0]))
        unverified = json.loads(_b64decode(segments[1]))
    except (ValueError, UnicodeDecodeError) as exc:
        out.problem(f"jws: the header or payload is not JSON ({exc})")
        return None
    out.kid = str(header.get("kid", ""))
    if header.get("alg") != ALG:
        out.problem(f"jws: algorithm {header.get('alg')!r}; certificates are signed with {ALG}")
        return None
    for line in _diff(data["certificate"], unverified):
        out.problem(line)
    try:
        obj = jws.deserialize_compact(token, keys, algorithms=[ALG])
    except BadSignatureError:
        out.problem(
            "jws: the signature does not match the signed content (the signed part of the certificate was "
            f"altered, or it was signed by another key with the same kid {out.kid!r})"
        )
        return None
    except JoseError as exc:
        trusted = ", ".join(str(k.kid) for k in keys.keys) or "none"
        out.problem(f"jws: no trusted key verifies it (kid {out.kid!r}; trusted: {trusted}): {exc}")
        return None
    signed = json.loads(obj.payload)
    if canonical(signed) != obj.payload:
        out.problem("jws: the signed payload is not in canonical (RFC 8785) form")
    return dict(signed)


def _check_dates(cert: dict[str, Any], at: date, out: Verification) -> None:
    try:
        start, end = date.fromisoformat(cert["valid_from"]), date.fromisoformat(cert["valid_until"])
    except (KeyError, TypeError, ValueError):
        out.problem("field valid_from/valid_until: missing or not a date")
        return
    if at < start:
        out.problem(f"not yet valid: valid from {start}, checked on {at}", "not-yet-valid")
    elif at > end:
        out.problem(f"expired: valid until {end}, checked on {at}", "expired")


def _check_agency(cert: dict[str, Any], agency: Agency, out: Verification, *, agency_keys: bool) -> None:
    revoked = agency.revocations.get(str(cert.get("id")))
    if revoked is not None:
        out.problem(f"revoked on {revoked.date}: {revoked.reason}", "revoked")
    edition = str(cert.get("framework_edition", ""))
    status = agency.edition_status(edition)
    if status == "superseded":
        out.problem(
            f"superseded: issued under framework edition {edition}; edition {agency.in_force} is in force",
            "superseded",
        )
    elif status != "in-force":
        out.notes.append(f"framework edition {edition!r} is not listed in the agency's editions")
    if agency.demonstration and agency_keys:
        out.notes.append(
            "trusted keys are the DEMONSTRATION agency's: a certificate they verify proves nothing"
        )


def _check_evidence(cert: dict[str, Any], run_dir: Path, rules: LabelRules | None, out: Verification) -> None:
    certified = cert.get("evidence") or {}
    try:
        run = load_run(run_dir)
    except RunRecordError as exc:
        run = None
        out.problem(f"evidence: {exc}")
    try:
        check = check_evidence(run_dir)
    except InputError as exc:
        out.problem(f"evidence: {exc}")
        return
    for finding in check.findings:
        out.problem(f"evidence: {finding}")
    if check.digest != certified.get("digest"):
        out.problem(
            f"evidence: manifest.json: digest {check.digest} differs from the certified "
            f"{certified.get('digest')} (the manifest was rewritten after certification)"
        )
    record_hash = check.files.get(RUN_FILE)
    if certified.get("run_record_sha256") and record_hash != certified["run_record_sha256"]:
        out.problem(
            f"evidence: {RUN_FILE}: the manifest lists SHA-256 {record_hash}, certified "
            f"{certified['run_record_sha256']}"
        )
    if run is None:
        return
    for key in ("vendor", "product", "version", "run_id"):
        if str(getattr(run, key)) != str(cert.get(key)):
            out.problem(
                f"evidence: {RUN_FILE}: {key} is {getattr(run, key)!r}, "
                f"the certificate says {cert.get(key)!r}"
            )
    for actor, counts in (cert.get("results") or {}).items():
        if run.counts(actor) != counts:
            out.problem(
                f"evidence: {RUN_FILE}: results of {actor} are {run.counts(actor)}, certified {counts}"
            )
    if rules is not None:
        decided = {a: d.level_reached for a, d in decide_labels(run, rules).items()}
        for entry in cert.get("actors") or []:
            actor, level = entry.get("actor"), entry.get("level")
            if decided.get(actor) != level:
                out.problem(
                    f"evidence: {RUN_FILE}: the run supports level {decided.get(actor)} for {actor}, "
                    f"the certificate says {level}"
                )


def verify_certificate(
    path: Path,
    *,
    keys: KeySet,
    agency: Agency | None = None,
    evidence: Path | None = None,
    rules: LabelRules | None = None,
    at: date | None = None,
    agency_keys: bool = True,
) -> Verification:
    """Verify a certificate file offline.

    Args:
        path: the certificate file.
        keys: the public keys trusted to sign certificates.
        agency: the agency's revocation list and framework editions (skipped when ``None``).
        evidence: the run folder the certificate was decided on, to check too.
        rules: the label rules, to re-decide the levels from the run record.
        at: the date to check validity on (default today).
        agency_keys: ``keys`` are the agency's own (a demonstration agency is then pointed out).

    Raises:
        InputError: the file is not a certificate file at all.
    """
    data, raw = read_certificate_file(path)
    out = Verification(certificate=dict(data["certificate"]))
    signed = _check_signature(data, keys, out)
    if raw != serialise(data):
        out.problem("file layout differs from the issued one (bytes changed outside the values)")
    cert = signed if signed is not None else out.certificate
    _check_dates(cert, at or date.today(), out)
    if agency is not None:
        _check_agency(cert, agency, out, agency_keys=agency_keys)
    if evidence is not None:
        _check_evidence(cert, Path(evidence), rules, out)
    if out.problems and out.status == "valid":
        out.status = "invalid"
    return out


__all__ = ["Verification", "verify_certificate"]
