"""Certificates: the label decision of a run, signed by the agency as an Ed25519 JWS (spec §9).

A certificate is a JSON document (product, version, vendor, actors and the level reached by each,
framework edition, testbed and content versions, date, validity, and the evidence digest of the run
folder), canonicalised with RFC 8785 and signed as a compact JWS (alg ``Ed25519``, RFC 9864). The
certificate file holds the readable document beside the JWS that signs it::

    {"format": "testbed-certificate/1", "certificate": {...}, "jws": "<header>.<payload>.<signature>"}

It is written in one deterministic layout, so any byte changed in it is noticed by
:func:`testbed.reporting.verify.verify_certificate`.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from joserfc import jws

from testbed.core.errors import InputError
from testbed.reporting.agency import Agency
from testbed.reporting.evidence import EvidenceCheck, canonical
from testbed.reporting.labels import LabelDecision, LabelRules
from testbed.reporting.runrecord import RUN_FILE, RunRecord
from testbed.reporting.signing import ALG
from testbed.security.keys import PrivateJwk

FORMAT = "testbed-certificate/1"
JWS_TYPE = "testbed-certificate+jws"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the last day of the month when that day does not exist)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def build_certificate(
    run: RunRecord,
    decisions: Mapping[str, LabelDecision],
    evidence: EvidenceCheck,
    agency: Agency,
    rules: LabelRules,
    *,
    issued: date,
) -> dict[str, Any]:
    """The certificate document for a run (not yet signed).

    Args:
        run: the run record.
        decisions: the label decision per actor (:func:`testbed.reporting.labels.decide_labels`).
        evidence: the checked run folder (its digest is certified).
        agency: the issuer: name, id prefix, validity.
        rules: the label rules (their edition is used when the run names none).
        issued: the date of issue.
    """
    edition = run.framework_edition or rules.edition
    key_of = {lv.level: lv.key for lv in rules.levels}
    return {
        "id": f"{agency.certificate_id_prefix}-{issued:%Y%m%d}-{evidence.digest[:16].upper()}",
        "issuer": agency.issuer,
        "demonstration": agency.demonstration,
        "vendor": run.vendor,
        "product": run.product,
        "version": run.version,
        "actors": [
            {"actor": actor, "level": d.level_reached, "level_key": key_of.get(d.level_reached, "none")}
            for actor, d in decisions.items()
        ],
        "framework_edition": edition,
        "testbed_version": run.testbed_version,
        "content_versions": run.content_versions,
        "run_id": run.run_id,
        "seed": run.seed,
        "results": {actor: run.counts(actor) for actor in decisions},
        "issued": issued.isoformat(),
        "valid_from": issued.isoformat(),
        "valid_until": add_months(issued, agency.validity_months).isoformat(),
        "evidence": {
            "algorithm": "sha256",
            "digest": evidence.digest,
            "run_record_sha256": evidence.files.get(RUN_FILE, ""),
            "files": len(evidence.files),
        },
    }


@dataclass(frozen=True, slots=True)
class SignedCertificate:
    """A certificate document and the compact JWS that signs its canonical form."""

    certificate: dict[str, Any]
    jws: str

    def to_bytes(self) -> bytes:
        """The certificate file, in its one deterministic layout."""
        return serialise({"format": FORMAT, "certificate": self.certificate, "jws": self.jws})

    def write(self, path: Path) -> Path:
        """Write the certificate file."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.to_bytes())
        return target

    @property
    def qr_text(self) -> str:
        """What the QR code on the certificate page carries: the id and the evidence digest (JCS)."""
        return qr_payload(self.certificate)


def qr_payload(certificate: Mapping[str, Any]) -> str:
    """The QR text for a certificate document: canonical JSON of its id and evidence digest."""
    evidence = certificate.get("evidence") or {}
    return canonical({"id": certificate.get("id"), "sha256": evidence.get("digest")}).decode()


def serialise(obj: Any) -> bytes:
    """The one layout of a certificate file: sorted keys, two-space indent, UTF-8, final newline."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def sign_certificate(certificate: dict[str, Any], key: PrivateJwk) -> SignedCertificate:
    """Sign the canonical (RFC 8785) form of a certificate with an Ed25519 key as a compact JWS."""
    key.ensure_kid()
    header = {"alg": ALG, "kid": str(key.kid), "typ": JWS_TYPE, "cty": "json"}
    token = jws.serialize_compact(header, canonical(certificate), key, algorithms=[ALG])
    return SignedCertificate(certificate, token)


def read_certificate_file(path: Path) -> tuple[dict[str, Any], bytes]:
    """The parsed certificate file and its raw bytes.

    Raises:
        InputError: unreadable, not JSON, or not a certificate file.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
        data = json.loads(raw)
    except OSError as exc:
        raise InputError(f"{source}: cannot read the certificate ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: the certificate is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'{source}: not a testbed certificate (expected "format": "{FORMAT}")')
    if not isinstance(data.get("certificate"), dict) or not isinstance(data.get("jws"), str):
        raise InputError(f"{source}: a certificate file needs a 'certificate' object and a 'jws' string")
    return data, raw


__all__ = [
    "FORMAT",
    "SignedCertificate",
    "add_months",
    "build_certificate",
    "qr_payload",
    "read_certificate_file",
    "serialise",
    "sign_certificate",
]
