"""What one patient's data say in each standard, in one shape: the facts a cross-standard check compares.

:class:`Facts` holds the patient identifiers (FHIR system, value), the names by script (family and first
given name), the birth date (ISO), the sex (as a FHIR administrative gender), the clinical codes
(FHIR system, code), the numeric results (code, value, unit) and the document type codes. They are read
from an HL7 v2 message (PID, OBX), from FHIR resources (Patient, Condition, Observation, …,
DocumentReference; a Binary holding CDA is read as CDA) and from a CDA document (recordTarget, coded
entries, ``ClinicalDocument/code``).

The national names come from the content, never from here: identifier systems by OID from
:class:`~testbed.national.NationalContent` (an OID outside it becomes ``urn:oid:<oid>``), v2 coding system
names from the v2 profile content (``codingSystems``), CDA code system OIDs from the CDA content.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from testbed.hl7v2 import Hl7v2ParseError, Message, parse_message
from testbed.hl7v2.checks_coded import script_of
from testbed.national import NationalContent

Code = tuple[str, str]
Result = tuple[str, str, Decimal, str]
_UCUM = "http://unitsofmeasure.org"
_V2_SEX = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}
_CDA_SEX = {"M": "male", "F": "female", "UN": "unknown"}
_CLINICAL_CODES = {
    "Condition": ("code",),
    "Observation": ("code",),
    "AllergyIntolerance": ("code",),
    "Immunization": ("vaccineCode",),
    "MedicationRequest": ("medicationCodeableConcept",),
    "Procedure": ("code",),
}
_V3 = "{urn:hl7-org:v3}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


class FactsError(ValueError):
    """A source cannot be read (not HL7 v2, not XML, …)."""


@dataclass
class Facts:
    """One source's facts about the patient (see the module docstring)."""

    label: str
    identifiers: set[Code] = field(default_factory=set)
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    birth_date: str | None = None
    sex: str | None = None
    codes: set[Code] = field(default_factory=set)
    results: list[Result] = field(default_factory=list)
    document_types: set[Code] = field(default_factory=set)
    raw: bytes | None = None

    def add_name(self, family: str, given: str, script: str | None = None) -> None:
        """Keep the first name met of each script (``Latn``, ``Arab`` …: as said, else from the letters)."""
        family, given = family.strip(), given.strip()
        if not family and not given:
            return
        self.names.setdefault(script or script_of(f"{family} {given}"), (family, given))


class Reader:
    """Reads facts from v2, FHIR and CDA with the national names of one content set."""

    def __init__(self, national: NationalContent) -> None:
        self.national = national
        self.by_oid = {i.oid: i.uri for i in national.identifiers.values() if i.oid}
        self.by_v2_name = {
            (i.v2_authority, i.v2_type): i.uri for i in national.identifiers.values() if i.v2_authority
        }
        self.v2_systems = _v2_coding_systems()
        self.cda_systems = _cda_code_systems(national)
        self.national_systems = frozenset(i.uri for i in national.identifiers.values())
        self.script_url = national.extensions.get("nameScript")

    def system_of_oid(self, oid: str) -> str:
        """The FHIR system of an identifier OID (national, else ``urn:oid:``)."""
        return self.by_oid.get(oid) or f"urn:oid:{oid}"

    # ------------------------------------------------------------------ HL7 v2

    def v2(self, text: str | bytes, label: str = "the HL7 v2 message") -> Facts:
        """Facts of an ER7 message: PID-3, PID-5, PID-7, PID-8 and every OBX.

        Raises:
            FactsError: the text is not HL7 v2.
        """
        try:
            message = parse_message(text)
        except Hl7v2ParseError as exc:
            raise FactsError(f"{label} is not HL7 v2: {exc}") from None
        facts = Facts(label)
        pid = message.segment("PID")
        if pid is not None:
            for n in range(1, len(pid.repetitions(3)) + 1):
                value, oid = pid.value(3, n, 1), pid.value(3, n, 4, 2)
                system = (
                    self.system_of_oid(oid)
                    if oid
                    else self.by_v2_name.get((pid.value(3, n, 4, 1), pid.value(3, n, 5)))
                )
                if value and system:
                    facts.identifiers.add((system, value))
            for n in range(1, len(pid.repetitions(5)) + 1):
                facts.add_name(pid.value(5, n, 1), pid.value(5, n, 2))
            facts.birth_date = _iso_date(pid.value(7))
            facts.sex = _V2_SEX.get(pid.value(8))
        self._v2_results(message, facts)
        return facts

    def _v2_results(self, message: Message, facts: Facts) -> None:
        for obx in message.named("OBX"):
            code, name = obx.value(3, 1, 1), obx.value(3, 1, 3)
            system = self.v2_systems.get(name, name)
            if not code:
                continue
            facts.codes.add((system, code))
            number = _decimal(obx.value(5)) if obx.value(2) == "NM" else None
            if number is not None:
                unit = obx.value(6, 1, 1)
                facts.results.append((system, code, number, unit))

    # ------------------------------------------------------------------ FHIR

    def fhir(self, body: Any, label: str = "the FHIR reply") -> Facts:
        """Facts of a resource or a Bundle of them (a Binary holding CDA is read as CDA).

        Raises:
            FactsError: the body is not a FHIR resource, or a Binary's CDA is not XML.
        """
        if not isinstance(body, dict) or not isinstance(body.get("resourceType"), str):
            raise FactsError(f"{label} is not a FHIR resource")
        resources = _resources(body)
        binaries = [r for r in resources if r.get("resourceType") == "Binary"]
        if len(resources) == 1 and binaries:
            return self.cda(_binary_bytes(binaries[0], label), f"{label} (the Binary's CDA document)")
        facts = Facts(label)
        for resource in resources:
            rtype = resource.get("resourceType")
            if rtype == "Patient":
                self._patient(resource, facts)
            elif rtype == "DocumentReference":
                facts.document_types |= _codings(resource.get("type"))
            for element in _CLINICAL_CODES.get(str(rtype), ()):
                facts.codes |= _codings(resource.get(element))
            if rtype == "Observation":
                _fhir_result(resource, facts)
        return facts

    def _patient(self, patient: dict[str, Any], facts: Facts) -> None:
        for ident in patient.get("identifier") or []:
            if isinstance(ident, dict) and ident.get("system") and ident.get("value"):
                facts.identifiers.add((str(ident["system"]), str(ident["value"])))
        for name in patient.get("name") or []:
            if isinstance(name, dict):
                given = [g for g in name.get("given") or [] if isinstance(g, str)]
                said = [
                    e.get("valueCode")
                    for e in name.get("extension") or []
                    if isinstance(e, dict) and e.get("url") == self.script_url
                ]
                script = said[0] if said and isinstance(said[0], str) else None
                facts.add_name(str(name.get("family") or ""), given[0] if given else "", script)
        if isinstance(patient.get("birthDate"), str):
            facts.birth_date = patient["birthDate"][:10]
        if isinstance(patient.get("gender"), str):
            facts.sex = patient["gender"]

    # ------------------------------------------------------------------ CDA

    def cda(self, data: str | bytes, label: str = "the CDA document") -> Facts:
        """Facts of a CDA document: recordTarget, every coded element of the body, the document code.

        Raises:
            FactsError: the document is not safe, well-formed XML.
        """
        from testbed.cda import CdaParseError, parse_cda

        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        try:
            root = parse_cda(raw, label).getroot()
        except CdaParseError as exc:
            raise FactsError(f"{label} cannot be read: {exc}") from None
        facts = Facts(label, raw=raw)
        role = root.find(f"{_V3}recordTarget/{_V3}patientRole")
        if role is not None:
            for ident in role.findall(f"{_V3}id"):
                root_oid, ext = ident.get("root"), ident.get("extension")
                if root_oid and ext:
                    facts.identifiers.add((self.system_of_oid(root_oid), ext))
            patient = role.find(f"{_V3}patient")
            if patient is not None:
                for name in patient.findall(f"{_V3}name"):
                    facts.add_name(_text(name.find(f"{_V3}family")), _text(name.find(f"{_V3}given")))
                born = patient.find(f"{_V3}birthTime")
                facts.birth_date = _iso_date(born.get("value", "")) if born is not None else None
                sex = patient.find(f"{_V3}administrativeGenderCode")
                facts.sex = _CDA_SEX.get(sex.get("code", "")) if sex is not None else None
        code = root.find(f"{_V3}code")
        if code is not None and code.get("code"):
            facts.document_types.add((self._cda_system(code.get("codeSystem", "")), code.get("code", "")))
        body = root.find(f"{_V3}component/{_V3}structuredBody")
        if body is not None:
            for element in body.iter(f"{_V3}code", f"{_V3}value", f"{_V3}translation"):
                if element.get("code") and element.get("codeSystem"):
                    facts.codes.add(
                        (self._cda_system(element.get("codeSystem", "")), element.get("code", ""))
                    )
            for obs in body.iter(f"{_V3}observation"):
                self._cda_result(obs, facts)
        return facts

    def _cda_result(self, obs: Any, facts: Facts) -> None:
        code, value = obs.find(f"{_V3}code"), obs.find(f"{_V3}value")
        if code is None or value is None or not str(value.get(_XSI_TYPE, "")).endswith("PQ"):
            return
        number = _decimal(value.get("value", ""))
        if number is not None and code.get("code"):
            system = self._cda_system(code.get("codeSystem", ""))
            facts.results.append((system, code.get("code", ""), number, value.get("unit", "")))

    def _cda_system(self, oid: str) -> str:
        return self.cda_systems.get(oid) or f"urn:oid:{oid}"


def _resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("resourceType") != "Bundle":
        return [body]
    found = []
    for entry in body.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and (entry.get("search") or {}).get("mode", "match") != "outcome":
            found.append(resource)
    return found


def _codings(value: Any) -> set[Code]:
    found: set[Code] = set()
    if isinstance(value, dict):
        for coding in value.get("coding") or []:
            if isinstance(coding, dict) and coding.get("system") and coding.get("code"):
                found.add((str(coding["system"]), str(coding["code"])))
    return found


def _fhir_result(obs: dict[str, Any], facts: Facts) -> None:
    quantity = obs.get("valueQuantity")
    if not isinstance(quantity, dict):
        return
    number = _decimal(str(quantity.get("value", "")))
    if number is None:
        return
    unit = str(quantity.get("code") if quantity.get("system") == _UCUM else quantity.get("unit") or "")
    for system, code in _codings(obs.get("code")):
        facts.results.append((system, code, number, unit))


def _binary_bytes(binary: dict[str, Any], label: str) -> bytes:
    try:
        return base64.b64decode(str(binary.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise FactsError(f"{label}: the Binary's data is not base64") from None


def _text(element: Any) -> str:
    return "".join(element.itertext()) if element is not None else ""


def _iso_date(ts: str) -> str | None:
    digits = ts[:8]
    if len(digits) == 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"
    return None


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _v2_coding_systems() -> dict[str, str]:
    from testbed.hl7v2.profile import PROFILE_FILE, find_profile_folder

    path: Path = find_profile_folder() / PROFILE_FILE
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): str(v) for k, v in dict(data.get("codingSystems") or {}).items()}


def _cda_code_systems(national: NationalContent) -> dict[str, str]:
    from testbed.cda import CdaContent

    return {spec.oid: spec.uri for spec in CdaContent.load(national).code_systems.values()}
