"""FHIR negative variants: deliberate errors applied to a transaction Bundle of :mod:`testbed.synthetic.fhir`.

Each mutation breaks one thing in a copy of the Bundle and gives the FHIRPath of the broken place in the
Bundle (``Bundle.entry[0].resource.birthDate``). The requirement IDs (and validator rule) named are the
ones the validator cites for that error: the self-consistency tests prove it on every mutation.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from testbed.synthetic import _fhir_breakers as b
from testbed.synthetic.mutations import Mutated, Mutation, register

_Apply = Callable[[dict[str, Any], random.Random], Mutated]
_CATALOGUE: tuple[tuple[str, tuple[str, ...], str, _Apply, str], ...] = (
    ("ins-key", ("MA-ID-003",), "INS with a wrong mod 97 key", b.ins_key, "ins:check-digit"),
    ("ins-pattern", ("MA-ID-002",), "INS of 11 digits", b.ins_pattern, "ins:pattern"),
    ("two-ins", ("MA-ID-025",), "Patient with two INS", b.two_ins, "Patient.identifier:ins"),
    ("cnie-pattern", ("MA-ID-007",), "CNIE not matching its pattern", b.cnie_pattern, "cnie:pattern"),
    (
        "unknown-identifier-system",
        ("MA-ID-023",),
        "Patient identifier with an unknown system",
        b.unknown_system,
        "ma-pat-3",
    ),
    ("local-untyped", ("MA-ID-020",), "local identifier without type MR/PI", b.local_untyped, "ma-pat-4"),
    (
        "no-national-id",
        ("MA-PAT-004",),
        "Patient without INS, CNIE, residence permit or local id",
        b.no_national_id,
        "ma-pat-1",
    ),
    (
        "patient-no-birthdate",
        ("MA-PAT-011",),
        "Patient without birthDate",
        b.remove("Patient", "birthDate"),
        "Patient.birthDate",
    ),
    (
        "patient-no-gender",
        ("MA-PAT-010",),
        "Patient without gender",
        b.remove("Patient", "gender"),
        "Patient.gender",
    ),
    ("patient-no-family", ("MA-PAT-006",), "Patient name without family", b.no_family, "Patient.name.family"),
    (
        "region-13",
        ("MA-TERM-001",),
        "address region code 13 (outside ma-region)",
        b.region_13,
        "Patient.address.extension:region.value[x]",
    ),
    ("postal-code-4-digits", ("MA-PAT-013",), "postal code of 4 digits", b.postal_code, "ma-pat-5"),
    (
        "country-not-ma",
        ("MA-PAT-014",),
        "address country other than MA",
        b.country,
        "Patient.address.country",
    ),
    ("phone-pattern", ("MA-PAT-015",), "phone number not in +212 international form", b.phone, "ma-pat-6"),
    (
        "script-code",
        ("MA-TERM-004",),
        "name script code outside ma-script",
        b.script_code,
        "Patient.name.extension:script.value[x]",
    ),
    (
        "coverage-scheme",
        ("MA-TERM-002",),
        "coverage scheme outside ma-coverage-scheme",
        b.coverage_scheme,
        "Coverage.type",
    ),
    (
        "organization-no-inpe",
        ("MA-PAT-017",),
        "Organization without INPE",
        b.org_no_inpe,
        "Organization.identifier:inpe",
    ),
    (
        "organization-no-region",
        ("MA-PAT-019",),
        "Organization address without region",
        b.org_no_region,
        "Organization.address.extension:region",
    ),
    (
        "practitioner-inpe-pattern",
        ("MA-ID-013",),
        "Practitioner INPE of 10 digits",
        b.practitioner_inpe,
        "inpe:pattern",
    ),
    (
        "encounter-no-start",
        ("MA-PAT-024",),
        "Encounter without period.start",
        b.no_start,
        "Encounter.period.start",
    ),
    (
        "encounter-no-service-provider",
        ("MA-PAT-023",),
        "Encounter without serviceProvider",
        b.remove("Encounter", "serviceProvider"),
        "Encounter.serviceProvider",
    ),
    (
        "condition-no-icd10",
        ("MA-PAT-026",),
        "Condition without an ICD-10 coding",
        b.no_icd10,
        "Condition.code.coding:icd10",
    ),
    (
        "vital-code",
        ("MA-TERM-007",),
        "vital sign code outside ma-vital-signs",
        b.vital_code,
        "Observation.code",
    ),
    (
        "lab-unit-not-ucum",
        ("MA-PAT-029",),
        "lab result unit outside UCUM",
        b.lab_unit,
        "Observation.value[x]:valueQuantity.system",
    ),
    (
        "medication-no-gtin",
        ("MA-PAT-031",),
        "MedicationRequest without a GTIN coding",
        b.no_gtin,
        "MedicationRequest.medication[x].coding:gtin",
    ),
    (
        "medication-no-requester",
        ("MA-PAT-032",),
        "MedicationRequest without requester",
        b.remove("MedicationRequest", "requester"),
        "MedicationRequest.requester",
    ),
    (
        "medication-no-dosage",
        ("MA-PAT-033",),
        "MedicationRequest without dosageInstruction",
        b.remove("MedicationRequest", "dosageInstruction"),
        "MedicationRequest.dosageInstruction",
    ),
    (
        "consent-no-patient",
        ("MA-CONS-004",),
        "Consent without patient",
        b.remove("Consent", "patient"),
        "Consent.patient",
    ),
    (
        "consent-no-organization",
        ("MA-CONS-006",),
        "Consent without organization",
        b.remove("Consent", "organization"),
        "Consent.organization",
    ),
    (
        "document-type",
        ("MA-TERM-005",),
        "DocumentReference type outside ma-document-type",
        b.document_type,
        "DocumentReference.type",
    ),
    (
        "document-no-security-label",
        ("MA-DOC-004",),
        "DocumentReference without securityLabel",
        b.remove("DocumentReference", "securityLabel"),
        "DocumentReference.securityLabel",
    ),
    (
        "document-content-type",
        ("MA-DOC-003",),
        "DocumentReference content type neither text/xml nor PDF",
        b.content_type,
        "ma-docref-1",
    ),
)

for _id, _requirements, _description, _apply, _rule in _CATALOGUE:
    register(Mutation(f"fhir.{_id}", "fhir", _requirements, _description, _apply, _rule))
