"""What the FHIR renderer reads from the national content: systems, profile URLs, code displays.

Everything national (URLs, OIDs, the consent category code, the LOINC code of each document type) comes
from :class:`~testbed.national.NationalContent` and, for displays and code properties, from the national
CodeSystems of the loaded registry. Terminology URLs of the HL7 core (v2-0203, v3 ActCode, …) are
international and written here once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from testbed.core.errors import PackageError
from testbed.national import NationalContent
from testbed.packages import PackageRegistry

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
V3_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
BCP47 = "urn:ietf:bcp:47"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"

ENCOUNTER_CLASS = {"AMB": "ambulatory", "IMP": "inpatient encounter", "EMER": "emergency", "VR": "virtual"}
INTERPRETATION = {
    "N": "Normal",
    "H": "High",
    "L": "Low",
    "A": "Abnormal",
    "HH": "Critical high",
    "LL": "Critical low",
}
CONFIDENTIALITY = {"N": "normal", "R": "restricted", "V": "very restricted"}
CATEGORY = {"lab": ("laboratory", "Laboratory"), "vital": ("vital-signs", "Vital Signs")}
SCRIPTS = ("Latn", "Arab")  # ISO 15924 codes of the two written forms a record holds
CDA_MIME = "text/xml"


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Systems, profiles and displays of the national content, resolved once per renderer.

    Attributes:
        national: the national names.
        displays: ``(system, code) -> display`` for the national CodeSystems (empty without a registry).
        document_loinc: ``ma-document-type`` code -> its LOINC coding (from the CodeSystem property).
        consent_category: the code of the consent category CodeSystem (its one concept), if known.
        namespace: the uuid5 namespace of the fullUrls (derived from the canonical base).
        profiles: profile kind -> canonical URL.
    """

    national: NationalContent
    displays: dict[tuple[str, str], str] = field(default_factory=dict)
    document_loinc: dict[str, dict[str, str]] = field(default_factory=dict)
    consent_category: str | None = None
    namespace: uuid.UUID = uuid.NAMESPACE_URL
    profiles: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, national: NationalContent, registry: PackageRegistry | None) -> Vocabulary:
        """Read the national CodeSystems of ``registry`` (displays only come with a registry)."""
        namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"{national.canonical}/testbed/synthetic")
        displays: dict[tuple[str, str], str] = {}
        loinc: dict[str, dict[str, str]] = {}
        consent: str | None = None
        if registry is not None:
            for role in national.code_systems:
                url = national.code_system_url(role)
                resource = registry.resolve(url, "CodeSystem")
                if resource is None:
                    continue
                for concept in _concepts(resource.get("concept")):
                    code = concept.get("code")
                    if not isinstance(code, str):
                        continue
                    if isinstance(concept.get("display"), str):
                        displays[(url, code)] = concept["display"]
                    if role == "documentType":
                        found = _loinc_property(concept)
                        if found:
                            loinc[code] = found
                    if role == "consentScope" and consent is None:
                        consent = code
        profiles = {kind: national.profile_url(kind) for kind in national.profiles}
        return cls(national, displays, loinc, consent, namespace, profiles)

    def profile(self, kind: str) -> str:
        """The profile URL of a kind (a clear PackageError when the content declares none)."""
        found = self.profiles.get(kind)
        return found if found is not None else self.national.profile_url(kind)

    def coding(self, role: str, code: str) -> dict[str, str]:
        """A Coding of a national CodeSystem, with its display when known."""
        system = self.national.code_system_url(role)
        display = self.displays.get((system, code))
        if display is None:
            return {"system": system, "code": code}
        return {"system": system, "code": code, "display": display}

    def consent_code(self) -> str:
        """The consent category code; a clear error when the renderer was built without a registry."""
        if self.consent_category is None:
            raise PackageError(
                f"{self.national.package}: the consent category CodeSystem "
                f"({self.national.code_system_url('consentScope')}) is not loaded; build the renderer "
                "with FhirRenderer.from_registry(registry) to render objections to sharing."
            )
        return self.consent_category


def _concepts(raw: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for concept in raw if isinstance(raw, list) else []:
        if isinstance(concept, dict):
            out.append(concept)
            out.extend(_concepts(concept.get("concept")))
    return out


def _loinc_property(concept: dict[str, Any]) -> dict[str, str] | None:
    for prop in concept.get("property") or []:
        value = prop.get("valueCoding") if isinstance(prop, dict) else None
        if isinstance(value, dict) and value.get("system") == LOINC and isinstance(value.get("code"), str):
            coding = {"system": LOINC, "code": value["code"]}
            if isinstance(value.get("display"), str):
                coding["display"] = value["display"]
            return coding
    return None
