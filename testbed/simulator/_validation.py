"""Validation on write (SMR-T1, T4, T6): which MA profile applies, and the CDA inside a Binary.

Profile choice, written down: a resource is checked against the MA profiles its ``meta.profile`` names;
when it names none, against the MA profile of its type (``NationalContent.profiles``). An Observation
naming none is checked as a vital sign (``MAVitalSigns``) when one of its ``category`` codings has the
code ``vital-signs``, otherwise as a lab result (``MAObservationLab``). A transaction Bundle is validated
whole, every entry against its profile as above and the Bundle against the profile its own
``meta.profile`` names (``MABundleDocumentSubmission`` for an SMR-T4 submission); the CDA document in
every Binary is checked with the CDA validator (XSD, MA schematron, bindings).
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import threading
import weakref
from typing import Any

from testbed.api import Validator
from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome
from testbed.national import NationalContent

log = logging.getLogger(__name__)

_VITAL_SIGNS_CATEGORY = "vital-signs"
_XML_TYPES = ("text/xml", "application/xml", "application/hl7-v3+xml", "application/cda+xml")


class WriteValidator:
    """Checks what clients write, with the project's validator (see the module docstring)."""

    def __init__(self, validator: Validator, national: NationalContent, *, skip: bool = False) -> None:
        self.validator = validator
        self.national = national
        self.skip = skip
        self.ma_profiles = frozenset(national.profile_url(kind) for kind in national.profiles)
        self._cda = _load_cda_validator(validator)
        self._lock = threading.Lock()  # the validator's caches are not meant for concurrent writers

    @property
    def cda_mode(self) -> str:
        """``cda-validator`` when the CDA package checks documents, else ``well-formedness``."""
        return "cda-validator" if self._cda is not None else "well-formedness"

    def default_profile(self, resource: dict[str, Any]) -> str | None:
        """The MA profile a resource is checked against when its ``meta.profile`` names none."""
        rtype = resource.get("resourceType")
        if rtype == "Observation":
            kind = "VitalSigns" if _is_vital_sign(resource) else "ObservationLab"
        else:
            kind = str(rtype)
        if kind not in self.national.profiles:
            return None
        return self.national.profile_url(kind)

    def declared_ma(self, resource: dict[str, Any]) -> bool:
        """Whether ``meta.profile`` names an MA profile."""
        meta = resource.get("meta")
        declared = meta.get("profile") if isinstance(meta, dict) else None
        return isinstance(declared, list) and any(p in self.ma_profiles for p in declared)

    def check(self, resource: dict[str, Any]) -> ValidationOutcome:
        """Validate one resource against its MA profile."""
        if self.skip:
            return ValidationOutcome(source="request", standard="fhir")
        extra: tuple[str, ...] = ()
        if not self.declared_ma(resource):
            profile = self.default_profile(resource)
            extra = (profile,) if profile else ()
        with self._lock:
            outcome = self.validator.fhir.validate(resource, profiles=extra, label="request")
        if resource.get("resourceType") == "Binary":
            outcome.extend(self.check_binary(resource, str(resource.get("resourceType"))))
        return outcome

    def check_bundle(self, bundle: dict[str, Any]) -> ValidationOutcome:
        """Validate a transaction or batch Bundle whole, each entry against its MA profile."""
        if self.skip:
            return ValidationOutcome(source="request", standard="fhir")
        probe = copy.deepcopy(bundle)
        found = probe.get("entry")
        entries: list[Any] = found if isinstance(found, list) else []
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            if not self.declared_ma(resource):
                profile = self.default_profile(resource)
                if profile:
                    meta = resource.setdefault("meta", {})
                    if isinstance(meta, dict):
                        meta["profile"] = [*(meta.get("profile") or []), profile]
        with self._lock:
            outcome = self.validator.fhir.validate(probe, label="request")
        for n, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "Binary":
                outcome.extend(self.check_binary(resource, f"Bundle.entry[{n}].resource"))
        return outcome

    def check_binary(self, binary: dict[str, Any], where: str) -> list[Issue]:
        """Check a CDA document carried by a Binary (safe XML parsing, then the CDA validator)."""
        content_type = str(binary.get("contentType") or "").split(";")[0].strip().lower()
        data = binary.get("data")
        if content_type not in _XML_TYPES or not isinstance(data, str):
            return []
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return []  # the FHIR validator reports a malformed base64Binary
        location = f"{where}.data"
        if self._cda is not None:
            with self._lock:
                found = self._cda(raw)
            return [_relocate(i, location) for i in found]
        return _well_formed(raw, location)


def _is_vital_sign(resource: dict[str, Any]) -> bool:
    for category in resource.get("category") or []:
        for coding in (category.get("coding") or []) if isinstance(category, dict) else []:
            if isinstance(coding, dict) and coding.get("code") == _VITAL_SIGNS_CATEGORY:
                return True
    return False


def _relocate(found: Issue, location: str) -> Issue:
    where = f"{location} (CDA {found.location})" if found.location else location
    return Issue(found.severity, found.code, where, found.message, found.rule, found.requirements)


def _well_formed(raw: bytes, location: str) -> list[Issue]:
    from testbed.fhir._xml_errors import XmlFormatError
    from testbed.fhir._xml_safe import parse_xml_safely

    try:
        parse_xml_safely(raw, "Binary.data")
    except XmlFormatError as exc:
        return [
            Issue(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                location,
                f"The CDA document in the Binary cannot be read: {problem.message}"
                + (f" (line {problem.line})" if problem.line else ""),
                "cda-well-formed",
            )
            for problem in exc.problems
        ]
    return []


_CDA: weakref.WeakKeyDictionary[Validator, Any] = weakref.WeakKeyDictionary()
_CDA_LOCK = threading.Lock()


def _load_cda_validator(validator: Validator) -> Any:
    """A callable ``bytes -> issues`` from ``testbed.cda``, built once per Validator (None when it fails)."""
    with _CDA_LOCK:
        if validator in _CDA:
            return _CDA[validator]
        try:
            from testbed.cda import CdaValidator

            cda = CdaValidator.from_registry(validator.context.registry)
        except Exception:  # noqa: BLE001 - the simulator still runs, with well-formedness checks only
            log.exception(
                "the CDA validator could not be loaded; CDA documents get well-formedness checks only"
            )
            _CDA[validator] = None
            return None

        def run(raw: bytes) -> list[Issue]:
            return list(cda.validate(raw, "Binary.data").issues)

        _CDA[validator] = run
        return run
