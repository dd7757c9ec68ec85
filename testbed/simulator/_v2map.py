"""HL7 v2.5 to FHIR: the PID of an ADT message as an MAPatient, the OBX of an ORU^R01 as MAObservationLab.

Written down:

- PID-3 (CX): the assigning authority's OID (CX-4.2) names the system: a national NamingSystem's OID
  gives its URI, any other OID ``urn:oid:<oid>`` (local record numbers, passports); without an OID the
  namespace and identifier type (CX-4.1, CX-5) are matched against the national v2 names. Local
  identifiers keep their type code (v2-0203).
- PID-5 (XPN): every repetition is an official name; its script (``ma-name-script``) is recognised from
  the characters (Arabic, Tifinagh, else Latin), as the framework says for v2.
- PID-7 → birthDate, PID-8 → gender, PID-11 (XAD) → address with the region (XAD-4) as the
  ``ma-address-region`` extension, PID-13 (XTN-1) → phone.
- OBX (NM) → valueQuantity with the OBX-6 unit (UCUM when OBX-6.3 says so); ST/TX → valueString;
  OBX-3 → code (LOINC when OBX-3.3 is ``LN``); OBX-11 → status; OBX-14, else OBR-7 → effective.
  A timestamp without a time zone keeps its date only (FHIR needs a zone with a time).
"""

from __future__ import annotations

from typing import Any

from testbed.hl7v2 import Message, Segment
from testbed.national import NationalContent

_LOINC = "http://loinc.org"
_UCUM = "http://unitsofmeasure.org"
_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
_GENDER = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}
_STATUS = {
    "F": "final",
    "P": "preliminary",
    "C": "corrected",
    "X": "cancelled",
    "W": "entered-in-error",
    "I": "registered",
}
_FHIR_TO_V2 = {
    "identifier": "PID-3",
    "name": "PID-5",
    "birthDate": "PID-7",
    "gender": "PID-8",
    "address": "PID-11",
    "telecom": "PID-13",
}
_OBS_TO_V2 = {"code": "3", "valueQuantity": "5", "value": "5", "status": "11", "effectiveDateTime": "14"}


class V2Mapper:
    """Maps v2 segments to MA FHIR resources with the national names of the content."""

    def __init__(self, national: NationalContent) -> None:
        self.national = national
        self.by_oid = {i.oid: i.uri for i in national.identifiers.values() if i.oid}
        self.by_name = {
            (i.v2_authority, i.v2_type): i.uri for i in national.identifiers.values() if i.v2_authority
        }
        self.local_types = {national.v2_types.get("local", "PI"), "MR", "PI"}

    # ------------------------------------------------------------------ identifiers

    def identifiers(self, segment: Segment, field: int) -> list[dict[str, Any]]:
        """The CX repetitions of a field as FHIR Identifiers (unknown authorities are left out)."""
        out = []
        for n in range(1, len(segment.repetitions(field)) + 1):
            value = segment.value(field, n, 1)
            namespace, oid = segment.value(field, n, 4, 1), segment.value(field, n, 4, 2)
            kind = segment.value(field, n, 5)
            system = self.by_oid.get(oid) or (
                f"urn:oid:{oid}" if oid else self.by_name.get((namespace, kind))
            )
            if not value or not system:
                continue
            ident: dict[str, Any] = {"system": system, "value": value}
            if system.startswith(self.national.local_system_prefix) or (
                kind in self.local_types and oid not in self.by_oid
            ):
                ident = {"type": {"coding": [{"system": _V2_0203, "code": kind or "PI"}]}, **ident}
            out.append(ident)
        return out

    # ------------------------------------------------------------------ Patient

    def patient(self, pid: Segment) -> dict[str, Any]:
        """An MAPatient from a PID segment."""
        patient: dict[str, Any] = {
            "resourceType": "Patient",
            "meta": {"profile": [self.national.profile_url("Patient")]},
            "identifier": self.identifiers(pid, 3),
        }
        names = [self._name(pid, n) for n in range(1, len(pid.repetitions(5)) + 1)]
        if any(names):
            patient["name"] = [n for n in names if n]
        gender = _GENDER.get(pid.value(8))
        if gender:
            patient["gender"] = gender
        born = _date(pid.value(7))
        if born:
            patient["birthDate"] = born
        addresses = [self._address(pid, n) for n in range(1, len(pid.repetitions(11)) + 1)]
        if any(addresses):
            patient["address"] = [a for a in addresses if a]
        phones = [pid.value(13, n, 1) or pid.value(13, n, 12) for n in range(1, len(pid.repetitions(13)) + 1)]
        if any(phones):
            patient["telecom"] = [{"system": "phone", "value": p} for p in phones if p]
        return patient

    def _name(self, pid: Segment, n: int) -> dict[str, Any] | None:
        family, given, middle = pid.value(5, n, 1), pid.value(5, n, 2), pid.value(5, n, 3)
        if not family and not given:
            return None
        name: dict[str, Any] = {
            "extension": [
                {"url": self.national.extension_url("nameScript"), "valueCode": _script(family + given)}
            ],
            "use": "official",
        }
        if family:
            name["family"] = family
        if given or middle:
            name["given"] = [g for g in (given, middle) if g]
        return name

    def _address(self, pid: Segment, n: int) -> dict[str, Any] | None:
        street, city, region = pid.value(11, n, 1), pid.value(11, n, 3), pid.value(11, n, 4)
        postal, country = pid.value(11, n, 5), pid.value(11, n, 6)
        if not any((street, city, region, postal)):
            return None
        address: dict[str, Any] = {}
        if region:
            coding = {"system": self.national.code_system_url("region"), "code": region}
            address["extension"] = [
                {"url": self.national.extension_url("addressRegion"), "valueCoding": coding}
            ]
        if pid.value(11, n, 7) == "H":
            address["use"] = "home"
        if street:
            address["line"] = [street]
        if city:
            address["city"] = city
        if postal:
            address["postalCode"] = postal
        code = self.national.country_code
        if country and code and country in (code, "MAR"):
            address["country"] = code
        return address

    # ------------------------------------------------------------------ Observations

    def observations(self, message: Message, patient_id: str) -> list[tuple[int, dict[str, Any]]]:
        """Every OBX of an ORU^R01 as an MAObservationLab, with the OBX occurrence number."""
        out: list[tuple[int, dict[str, Any]]] = []
        order_time = ""
        occurrence = 0
        for segment in message:
            if segment.name == "OBR":
                order_time = segment.value(7)
            elif segment.name == "OBX":
                occurrence += 1
                out.append((occurrence, self._observation(segment, patient_id, order_time)))
        return out

    def _observation(self, obx: Segment, patient_id: str, order_time: str) -> dict[str, Any]:
        coding: dict[str, Any] = {"code": obx.value(3, 1, 1)}
        if obx.value(3, 1, 3) == "LN":
            coding = {"system": _LOINC, **coding}
        if obx.value(3, 1, 2):
            coding["display"] = obx.value(3, 1, 2)
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "meta": {"profile": [self.national.profile_url("ObservationLab")]},
            "status": _STATUS.get(obx.value(11), "unknown"),
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": "laboratory",
                        }
                    ]
                }
            ],
            "code": {"coding": [coding]},
            "subject": {"reference": f"Patient/{patient_id}"},
        }
        effective = _datetime(obx.value(14) or order_time)
        if effective:
            obs["effectiveDateTime"] = effective
        kind, raw = obx.value(2), obx.value(5)
        number = _number(raw) if kind == "NM" else None
        if number is not None:
            quantity: dict[str, Any] = {"value": number}
            unit = obx.value(6, 1, 1)
            if unit:
                quantity["unit"] = obx.value(6, 1, 2) or unit
                if obx.value(6, 1, 3) == "UCUM":
                    quantity.update({"system": _UCUM, "code": unit})
            obs["valueQuantity"] = quantity
        elif raw:
            obs["valueString"] = raw
        if obx.value(7):
            obs["referenceRange"] = [{"text": obx.value(7)}]
        return obs


def v2_location(expression: str, occurrence: int | None = None) -> str:
    """The v2 position a FHIR expression of a mapped resource came from (best effort)."""
    head = expression.split(".")
    element = head[1].split("[")[0] if len(head) > 1 else ""
    if occurrence is not None:
        field = _OBS_TO_V2.get(element)
        return f"OBX[{occurrence}]-{field}" if field else f"OBX[{occurrence}]"
    return _FHIR_TO_V2.get(element, "PID")


def _script(text: str) -> str:
    if any("\u0600" <= ch <= "\u06ff" for ch in text):
        return "Arab"
    if any("\u2d30" <= ch <= "\u2d7f" for ch in text):
        return "Tfng"
    return "Latn"


def _date(ts: str) -> str | None:
    digits = ts[:8]
    if len(digits) >= 8 and digits.isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    if len(digits) in (4, 6) and digits.isdigit():
        return digits[:4] + (f"-{digits[4:6]}" if len(digits) == 6 else "")
    return None


def _datetime(ts: str) -> str | None:
    body, zone = ts, ""
    for sign in ("+", "-"):
        if sign in ts[8:]:
            at = ts.index(sign, 8)
            body, zone = ts[:at], ts[at:]
    day = _date(body)
    if day is None or len(body) < 12 or not zone or len(zone) != 5:
        return day
    seconds = body[12:14] if len(body) >= 14 else "00"
    return f"{day}T{body[8:10]}:{body[10:12]}:{seconds}{zone[:3]}:{zone[3:]}"


def _number(raw: str) -> int | float | None:
    try:
        value = float(raw)
    except ValueError:
        return None  # kept as valueString: the lab profile then refuses it, and the ACK says why
    return int(value) if value.is_integer() and "." not in raw else value
