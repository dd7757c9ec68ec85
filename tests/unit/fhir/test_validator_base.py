"""Rules checked against the base R4 definitions: each passes on a good input and fails on a bad one."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from testbed.core.issues import Severity, ValidationOutcome
from testbed.fhir.validator import FhirValidator

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Samira Alaoui</div>'},
    "identifier": [{"system": "http://example.org/mrn", "value": "123"}],
    "active": True,
    "name": [{"family": "Alaoui", "given": ["Samira", "Amina"]}],
    "gender": "female",
    "birthDate": "1990-04-12",
    "multipleBirthInteger": 2,
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">HR 72</div>'},
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
    "subject": {"reference": "Patient/p1"},
    "effectivePeriod": {"start": "2026-01-01T10:00:00Z", "end": "2026-01-01T11:00:00Z"},
    "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
}


def errors(outcome: ValidationOutcome) -> list[tuple[str, str, str | None]]:
    return [(i.location, i.message, i.rule) for i in outcome.issues if i.severity.is_error]


def check(validator: FhirValidator, resource: dict[str, Any], location: str | None, fragment: str) -> None:
    """The mutated resource has an error at `location` whose message holds `fragment`."""
    out = validator.validate(resource)
    found = [e for e in errors(out) if (location is None or e[0] == location) and fragment in e[1]]
    assert found, f"expected an error at {location} containing {fragment!r}, got {errors(out)}"


def mutate(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = v
    return out


def test_good_inputs_are_valid(validator: FhirValidator) -> None:
    assert errors(validator.validate(PATIENT)) == []
    assert errors(validator.validate(OBSERVATION)) == []


CASES = [
    ("unknown element", mutate(PATIENT, nickname="Sami"), "Patient.nickname", "Unknown element 'nickname'"),
    ("missing required", mutate(OBSERVATION, status=None), "Observation", "'status' is required"),
    ("max 1 given an array", mutate(PATIENT, gender=["female"]), "Patient.gender", "must not be an array"),
    ("array given an object", mutate(PATIENT, name={"family": "X"}), "Patient.name", "must be a JSON array"),
    (
        "decimal as string",
        mutate(
            OBSERVATION, valueQuantity={"value": "72", "system": "http://unitsofmeasure.org", "code": "/min"}
        ),
        "Observation.value.ofType(Quantity).value",
        "must be a JSON number",
    ),
    ("boolean as string", mutate(PATIENT, active="true"), "Patient.active", "must be a JSON boolean"),
    (
        "integer with fraction",
        mutate(PATIENT, multipleBirthInteger=1.5),
        "Patient.multipleBirth.ofType(integer)",
        "whole number",
    ),
    (
        "bad date",
        mutate(PATIENT, birthDate="1990-13-01"),
        "Patient.birthDate",
        "does not match the date format",
    ),
    (
        "impossible date",
        mutate(PATIENT, birthDate="2023-02-30"),
        "Patient.birthDate",
        "not a real calendar date",
    ),
    (
        "dateTime without zone",
        mutate(OBSERVATION, effectivePeriod={"start": "2026-01-01T10:00:00"}),
        "Observation.effective.ofType(Period).start",
        "does not match the dateTime format",
    ),
    ("empty string", mutate(PATIENT, name=[{"family": ""}]), "Patient.name[0].family", "empty string"),
    ("bad id", mutate(PATIENT, id="has space"), "Patient.id", "does not match"),
    ("two choice types", mutate(OBSERVATION, valueString="72"), "Observation", "Only one type of 'value[x]'"),
    (
        "bad choice type",
        mutate(OBSERVATION, valueQuantity=None, valueAddress={"city": "Rabat"}),
        "Observation.valueAddress",
        "not a valid type for 'value[x]'",
    ),
    (
        "empty object",
        mutate(PATIENT, maritalStatus={}),
        "Patient.maritalStatus",
        "ele-1",
    ),
    ("empty array", mutate(PATIENT, telecom=[]), "Patient.telecom", "Arrays must not be empty"),
    (
        "null in array",
        mutate(PATIENT, name=[{"family": "A", "given": ["X", None]}]),
        "Patient.name[0].given[1]",
        "null in an array",
    ),
    ("required binding", mutate(PATIENT, gender="F"), "Patient.gender", "administrative-gender"),
    (
        "required binding on status",
        mutate(OBSERVATION, status="bogus"),
        "Observation.status",
        "observation-status",
    ),
    (
        "type-level invariant per-1",
        mutate(OBSERVATION, effectivePeriod={"start": "2026-01-02", "end": "2026-01-01"}),
        "Observation.effective.ofType(Period)",
        "per-1",
    ),
    (
        "resource invariant obs-6",
        mutate(OBSERVATION, dataAbsentReason={"text": "lost"}),
        "Observation",
        "obs-6",
    ),
    (
        "bad relative reference",
        mutate(OBSERVATION, subject={"reference": "patient/123"}),
        "Observation.subject.reference",
        "not a valid reference",
    ),
    (
        "not a resource type",
        mutate(OBSERVATION, subject={"reference": "Foo/123"}),
        "Observation.subject.reference",
        "not a FHIR R4 resource type",
    ),
    (
        "target type not allowed",
        mutate(OBSERVATION, subject={"reference": "Medication/m1"}),
        "Observation.subject.reference",
        "not allowed here",
    ),
    (
        "bad urn:uuid",
        mutate(OBSERVATION, subject={"reference": "urn:uuid:NOT-A-UUID"}),
        "Observation.subject.reference",
        "not a valid urn:uuid",
    ),
    (
        "missing contained target",
        mutate(OBSERVATION, subject={"reference": "#nope"}),
        "Observation.subject.reference",
        "does not contain",
    ),
    (
        "underscore beside a complex element",
        mutate(PATIENT, _name=[{"id": "x"}]),
        "Patient._name",
        "only allowed beside a primitive",
    ),
    (
        "unknown core extension",
        mutate(
            PATIENT, extension=[{"url": "http://hl7.org/fhir/StructureDefinition/nope", "valueString": "x"}]
        ),
        "Patient.extension[0]",
        "Unknown extension",
    ),
    (
        "unknown modifier extension",
        mutate(PATIENT, modifierExtension=[{"url": "http://example.org/x", "valueBoolean": True}]),
        "Patient.modifierExtension[0]",
        "modifier extension is never allowed",
    ),
    (
        "extension value type",
        mutate(
            PATIENT,
            extension=[
                {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueString": "Fès"}
            ],
        ),
        "Patient.extension[0].valueString",
        "not a valid type",
    ),
    (
        "extension context",
        mutate(
            OBSERVATION,
            extension=[
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                    "valueAddress": {"city": "Fès"},
                }
            ],
        ),
        "Observation.extension[0]",
        "is not allowed on Observation",
    ),
    (
        "contained resource checked",
        mutate(
            OBSERVATION,
            contained=[{"resourceType": "Patient", "id": "c1", "foo": 1}],
            subject={"reference": "#c1"},
        ),
        "Observation.contained[0].foo",
        "Unknown element",
    ),
    (
        "unknown resource type",
        {"resourceType": "Patientt", "id": "x"},
        "Patientt",
        "not a FHIR R4 resource type",
    ),
]


@pytest.mark.parametrize(("name", "resource", "location", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_rule_fails_on_bad_input(
    validator: FhirValidator, name: str, resource: dict[str, Any], location: str, fragment: str
) -> None:
    check(validator, resource, location, fragment)


def test_primitive_extension_without_value_is_valid(validator: FhirValidator) -> None:
    p = mutate(
        PATIENT,
        birthDate=None,
        _birthDate={
            "extension": [
                {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
            ]
        },
    )
    assert errors(validator.validate(p)) == []


def test_aligned_primitive_array_extensions(validator: FhirValidator) -> None:
    name = {
        "family": "A",
        "given": ["X", None],
        "_given": [
            None,
            {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown",
                    }
                ]
            },
        ],
    }
    assert errors(validator.validate(mutate(PATIENT, name=[name]))) == []


def test_unknown_extension_outside_loaded_namespaces_is_a_warning(validator: FhirValidator) -> None:
    out = validator.validate(
        mutate(PATIENT, extension=[{"url": "http://vendor.example/ext", "valueString": "x"}])
    )
    assert out.valid
    assert any(i.severity is Severity.WARNING and "Unknown extension" in i.message for i in out.issues)


def test_extensible_binding_miss_is_a_warning(validator: FhirValidator) -> None:
    p = mutate(
        PATIENT,
        identifier=[
            {
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]
                },
                "value": "1",
            }
        ],
    )
    out = validator.validate(p)
    assert out.valid
    assert any(i.severity is Severity.WARNING and i.rule == "Identifier.type" for i in out.issues)


def test_uncheckable_code_is_a_warning_never_a_pass_or_error(validator: FhirValidator) -> None:
    p = mutate(
        PATIENT, communication=[{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr-MA"}]}}]
    )
    assert validator.validate(p).valid
    cond = {
        "resourceType": "Condition",
        "id": "c",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "verificationStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
            ]
        },
        "severity": {"coding": [{"system": "http://snomed.info/sct", "code": "24484000"}]},
    }
    out = validator.validate(cond)
    assert out.valid
    assert any(
        "offline" in i.message for i in out.issues if i.severity in (Severity.WARNING, Severity.INFORMATION)
    )


def test_bundle_rules(validator: FhirValidator) -> None:
    pid = "urn:uuid:7c1d6bb3-2b4c-4a4e-9a39-1c3d1b6e0a01"
    oid = "urn:uuid:7c1d6bb3-2b4c-4a4e-9a39-1c3d1b6e0a02"
    obs = mutate(OBSERVATION, id=None, subject={"reference": pid})
    pat = mutate(PATIENT, id=None)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": pid, "resource": pat, "request": {"method": "POST", "url": "Patient"}},
            {"fullUrl": oid, "resource": obs, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    assert errors(validator.validate(bundle)) == []
    dangling = copy.deepcopy(bundle)
    dangling["entry"][1]["resource"]["subject"]["reference"] = "urn:uuid:7c1d6bb3-2b4c-4a4e-9a39-1c3d1b6e0a09"
    check(validator, dangling, "Bundle.entry[1].resource", "does not resolve to any entry")
    wrong_type = copy.deepcopy(bundle)
    wrong_type["entry"][1]["resource"]["subject"]["reference"] = oid
    check(validator, wrong_type, "Bundle.entry[1].resource.subject.reference", "not allowed here")
    mismatch = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "http://example.org/fhir/Patient/other", "resource": PATIENT}],
    }
    check(validator, mismatch, "Bundle.entry[0].fullUrl", "does not match the resource")
    nested = copy.deepcopy(bundle)
    nested["entry"][0]["resource"]["gender"] = "F"
    check(validator, nested, "Bundle.entry[0].resource.gender", "administrative-gender")


def test_unreadable_json_is_fatal(validator: FhirValidator) -> None:
    for text, fragment in [
        ("{", "not valid JSON"),
        ('{"resourceType": "Patient", "id": "a", "id": "b"}', "twice"),
        ("[1, 2]", "not a FHIR resource"),
    ]:
        out = validator.validate_json_text(text)
        assert not out.valid
        assert out.issues[0].severity is Severity.FATAL and fragment in out.issues[0].message


def test_deep_nesting_is_refused(validator: FhirValidator) -> None:
    deep = "[" * 100000 + "]" * 100000
    out = validator.validate_json_text(json.dumps({"resourceType": "Basic"})[:-1] + ', "x": ' + deep + "}")
    assert not out.valid


def test_xml_input_gives_the_same_verdict(validator: FhirValidator) -> None:
    xml = validator.ctx.xml.to_xml(mutate(PATIENT, gender="F"))
    out = validator.validate_xml_text(xml)
    assert [e[0] for e in errors(out)] == ["Patient.gender"]
    broken = validator.validate_xml_text(
        b"<Patient xmlns='http://hl7.org/fhir'><nickname value='x'/></Patient>"
    )
    assert not broken.valid and "nickname" in broken.issues[0].message


def test_outcome_records_versions(validator: FhirValidator) -> None:
    out = validator.validate(PATIENT)
    assert out.versions["hl7.fhir.r4.core"] == "4.0.1"
    assert "http://hl7.org/fhir/ValueSet/administrative-gender" in out.versions
