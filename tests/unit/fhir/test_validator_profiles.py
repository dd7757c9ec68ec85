"""Profiles from a differential-only test IG loaded from a package.tgz: slicing, extensions, bindings,
invariants, fixed/pattern values, profiles on profiles and target profiles."""

from __future__ import annotations

import copy
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from testbed.core.issues import Severity, ValidationOutcome
from testbed.fhir.context import FhirContext
from testbed.fhir.validator import FhirValidator

IG = Path(__file__).resolve().parents[2] / "fixtures" / "test-ig"
B = "http://example.org/fhir/testig/StructureDefinition/"
VALID = json.loads((IG / "examples" / "valid-patient.json").read_text())


@pytest.fixture(scope="module")
def ig_validator(tmp_path_factory: pytest.TempPathFactory) -> FhirValidator:
    tgz = tmp_path_factory.mktemp("ig") / "example.testbed.ig-0.1.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(IG / "package", arcname="package")
    ctx = FhirContext.create([tgz], cache_dir=tmp_path_factory.mktemp("cache"))
    assert ctx.registry.has_package("example.testbed.ig", "0.1.0")
    return FhirValidator(ctx)


def errs(out: ValidationOutcome) -> list[tuple[str, str | None, str]]:
    return [(i.location, i.rule, i.message) for i in out.issues if i.severity.is_error]


def test_valid_example_is_valid(ig_validator: FhirValidator) -> None:
    out = ig_validator.validate(VALID)
    assert errs(out) == []
    assert out.versions[B + "tb-patient"] == "0.1.0"


@pytest.mark.parametrize("path", sorted((IG / "examples").glob("invalid-*.json")), ids=lambda p: p.stem)
def test_invalid_examples_fail_on_their_rule(ig_validator: FhirValidator, path: Path) -> None:
    case = json.loads(path.read_text())
    out = ig_validator.validate(case["resource"])
    rules = [r for _, r, _ in errs(out)]
    assert case["expect"]["rule"] in rules, errs(out)


def variant(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(VALID)
    out.update(changes)
    return out


def test_profile_on_profile(ig_validator: FhirValidator) -> None:
    strict = variant(meta={"profile": [B + "tb-patient-strict"]})
    assert errs(ig_validator.validate(strict)) == []
    no_mrn = copy.deepcopy(strict)
    no_mrn["identifier"] = no_mrn["identifier"][:1]
    assert "Patient.identifier:mrn" in [r for _, r, _ in errs(ig_validator.validate(no_mrn))]
    telecom = variant(
        meta={"profile": [B + "tb-patient-strict"]}, telecom=[{"system": "phone", "value": "1"}]
    )
    assert any("at most 0" in m for _, _, m in errs(ig_validator.validate(telecom)))
    # inherited rules still apply
    no_birth = copy.deepcopy(strict)
    del no_birth["birthDate"]
    assert "Patient.birthDate" in [r for _, r, _ in errs(ig_validator.validate(no_birth))]


def ordered(identifiers: list[dict[str, str]], telecom: list[dict[str, str]] | None = None) -> dict[str, Any]:
    p = {
        "resourceType": "Patient",
        "meta": {"profile": [B + "tb-ordered-patient"]},
        "identifier": identifiers,
    }
    if telecom:
        p["telecom"] = telecom
    return p


NID = {"system": "http://example.org/fhir/nid", "value": "1"}
MRN = {"system": "http://example.org/fhir/mrn", "value": "2"}
OTHER = {"system": "http://example.org/fhir/other", "value": "3"}


def test_closed_slicing(ig_validator: FhirValidator) -> None:
    assert errs(ig_validator.validate(ordered([NID, MRN]))) == []
    out = errs(ig_validator.validate(ordered([NID, OTHER])))
    assert any(loc == "Patient.identifier[1]" and "slicing is closed" in m for loc, _, m in out)


def test_ordered_slicing(ig_validator: FhirValidator) -> None:
    out = errs(ig_validator.validate(ordered([MRN, NID])))
    assert any(loc == "Patient.identifier[1]" and "out of order" in m for loc, _, m in out)


def test_slice_max(ig_validator: FhirValidator) -> None:
    out = errs(ig_validator.validate(ordered([NID, NID])))
    assert any("Slice 'nid' allows at most 1" in m for _, _, m in out)


def test_open_at_end(ig_validator: FhirValidator) -> None:
    phone = {"system": "phone", "value": "+212600000000"}
    email = {"system": "email", "value": "a@b.ma"}
    assert errs(ig_validator.validate(ordered([NID], [phone, email]))) == []
    out = errs(ig_validator.validate(ordered([NID], [email, phone])))
    assert any("openAtEnd" in m for _, _, m in out)
    missing_value = errs(ig_validator.validate(ordered([NID], [{"system": "phone"}])))
    assert any(r == "Patient.telecom:phone.value" for _, r, _ in missing_value)


HR: dict[str, Any] = {
    "resourceType": "Observation",
    "meta": {"profile": [B + "tb-heart-rate"]},
    "status": "final",
    "category": [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
    "subject": {"reference": "Patient/tb-ok"},
    "effectiveDateTime": "2026-03-01T10:15:00+01:00",
    "valueQuantity": {
        "value": 72,
        "unit": "beats/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    },
}


def hr(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(HR)
    out.update(changes)
    return out


def test_fixed_pattern_and_pattern_slicing(ig_validator: FhirValidator) -> None:
    assert errs(ig_validator.validate(HR)) == []
    assert "Observation.status" in [r for _, r, _ in errs(ig_validator.validate(hr(status="preliminary")))]
    wrong_code = hr(code={"coding": [{"system": "http://loinc.org", "code": "8310-5"}]})
    assert "Observation.code" in [r for _, r, _ in errs(ig_validator.validate(wrong_code))]
    no_vs = hr(
        category=[
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ]
    )
    assert "Observation.category:vs" in [r for _, r, _ in errs(ig_validator.validate(no_vs))]
    ucum = hr(valueQuantity={"value": 72, "system": "http://example.org/units", "code": "/min"})
    assert any(r and r.endswith("value[x].system") for _, r, _ in errs(ig_validator.validate(ucum)))
    string_value = hr(valueQuantity=None, valueString="72")
    del string_value["valueQuantity"]
    assert errs(ig_validator.validate(string_value))


def test_target_profile_checked_when_resolvable(ig_validator: FhirValidator) -> None:
    pid = "urn:uuid:0b8a2a58-6a3b-4f3c-9d55-2b0f1a3c4d01"
    good_patient = copy.deepcopy(VALID)
    bad_patient = copy.deepcopy(VALID)
    del bad_patient["birthDate"]
    obs = hr(subject={"reference": pid})

    def bundle(patient: dict[str, Any]) -> dict[str, Any]:
        p = copy.deepcopy(patient)
        p.pop("meta")
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": pid, "resource": p},
                {"fullUrl": "urn:uuid:0b8a2a58-6a3b-4f3c-9d55-2b0f1a3c4d02", "resource": obs},
            ],
        }

    assert errs(ig_validator.validate(bundle(good_patient))) == []
    out = errs(ig_validator.validate(bundle(bad_patient)))
    assert any("does not conform to" in m and B + "tb-patient" in m for _, _, m in out)


def test_unknown_and_mismatched_profiles(ig_validator: FhirValidator) -> None:
    unknown = variant(meta={"profile": ["http://example.org/none"]})
    out = ig_validator.validate(unknown)
    assert out.valid and any(
        i.severity is Severity.WARNING and "not defined" in i.message for i in out.issues
    )
    wrong = ig_validator.validate(copy.deepcopy(VALID), profiles=[B + "tb-heart-rate"])
    assert any("constrains Observation" in m for _, _, m in errs(wrong))


def test_extension_slice_and_binding(ig_validator: FhirValidator) -> None:
    two = variant(extension=VALID["extension"] * 2)
    assert any("Slice 'region' allows at most 1" in m for _, _, m in errs(ig_validator.validate(two)))
    on_address = variant(address=[{"city": "Rabat", "extension": VALID["extension"]}])
    assert errs(ig_validator.validate(on_address)) == []
    on_name = variant(name=[{"family": "A", "given": ["B"], "extension": VALID["extension"]}])
    assert any("not allowed on Patient.name" in m for _, _, m in errs(ig_validator.validate(on_name)))


def test_requirement_ids_travel_with_issues(ig_validator: FhirValidator) -> None:
    bad_nid = json.loads((IG / "examples" / "invalid-bad-nid-value.json").read_text())["resource"]
    issue = next(i for i in ig_validator.validate(bad_nid).errors() if i.rule == "tb-nid-1")
    assert issue.requirements == ("TB-ID-001",)
    no_birth = json.loads((IG / "examples" / "invalid-missing-birthdate.json").read_text())["resource"]
    issue = next(i for i in ig_validator.validate(no_birth).errors() if i.rule == "Patient.birthDate")
    assert issue.requirements == ("TB-PAT-002",)


def test_json_array_shape_follows_the_base_not_the_profile(ig_validator: FhirValidator) -> None:
    # tb-ordered-patient narrows identifier:nid to max 1, but identifier stays an array in JSON
    p = ordered([NID])
    assert errs(ig_validator.validate(p)) == []
    p["identifier"] = NID
    assert any("must be a JSON array" in m for _, _, m in errs(ig_validator.validate(p)))


def test_required_slice_reported_when_the_sliced_element_is_absent(ig_validator: FhirValidator) -> None:
    p = copy.deepcopy(VALID)
    del p["identifier"]
    rules = [r for _, r, _ in errs(ig_validator.validate(p))]
    assert "Patient.identifier:nid" in rules


def test_unknown_element_names_its_rule(ig_validator: FhirValidator) -> None:
    out = errs(ig_validator.validate(hr(valueFoo=1)))
    assert ("Observation.valueFoo", "Observation.value[x]") in [(loc, r) for loc, r, _ in out]
