from __future__ import annotations

import json
from pathlib import Path

import pytest

import testbed
from testbed.api import Validator
from testbed.core.issues import IssueCode, Severity


@pytest.fixture(scope="module")
def api_validator() -> Validator:
    return Validator(default_ig=False)


def test_public_names() -> None:
    assert sorted(testbed.__all__) == testbed.__all__
    for name in testbed.__all__:
        assert getattr(testbed, name) is not None


def test_validate_dict_bytes_and_file(api_validator: Validator, tmp_path: Path) -> None:
    bad = {"resourceType": "Patient", "gender": "F"}
    assert not api_validator.validate(bad).valid
    assert not api_validator.validate(json.dumps(bad).encode()).valid
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"resourceType": "Patient", "gender": "female"}))
    out = api_validator.validate(f)
    assert out.valid and out.source == str(f) and out.standard == "fhir"


def test_module_level_validate() -> None:
    out = testbed.validate({"resourceType": "Observation"}, default_ig=False)
    assert not out.valid
    assert {i.rule for i in out.errors()} >= {"Observation.status", "Observation.code"}


def test_fhir_resources_model_is_checked_by_structure_definitions(api_validator: Validator) -> None:
    from fhir.resources.R4B.patient import Patient

    model = Patient(id="a", gender="female", birthDate="1990-01-01")
    assert api_validator.validate(model).valid
    model_bad = Patient.model_construct(id="a", gender="F")
    assert not api_validator.validate(model_bad).valid


@pytest.mark.parametrize(
    ("content", "name", "fragment"),
    [
        (b"", "empty.json", "empty"),
        (b"hello", "x.txt", "neither FHIR JSON nor FHIR XML"),
        (b"<x/>", "x.xml", "neither FHIR JSON nor FHIR XML"),
    ],
)
def test_non_fhir_input_is_fatal_not_a_crash(
    api_validator: Validator, tmp_path: Path, content: bytes, name: str, fragment: str
) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    out = api_validator.validate_file(f)
    assert not out.valid
    assert out.issues[0].severity is Severity.FATAL and fragment in out.issues[0].message


def test_unreadable_file(api_validator: Validator, tmp_path: Path) -> None:
    out = api_validator.validate_file(tmp_path / "missing.json")
    assert not out.valid and "cannot be read" in out.issues[0].message


def test_ndjson_lines(api_validator: Validator, tmp_path: Path) -> None:
    f = tmp_path / "bulk.ndjson"
    f.write_text(
        '{"resourceType": "Patient", "gender": "female"}\n\n{"resourceType": "Patient", "gender": "F"}\n'
    )
    out = api_validator.validate_file(f)
    assert [i.location for i in out.errors()] == ["line 3: Patient.gender"]


def test_internal_error_is_reported_as_testbed_error(
    api_validator: Validator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("x")

    monkeypatch.setattr(api_validator.fhir, "validate", boom)
    out = api_validator.validate({"resourceType": "Patient"})
    assert out.issues[0].code is IssueCode.EXCEPTION and "testbed defect" in out.issues[0].message


@pytest.mark.parametrize(
    ("content", "name", "standard"),
    [
        (b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>", "cda.xml", "cda"),
        (b"MSH|^~\\&|A|B", "m.hl7", "hl7v2"),
        (
            b"<!DOCTYPE ClinicalDocument [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><ClinicalDocument/>",
            "x.xml",
            "cda",
        ),
    ],
)
def test_v2_and_cda_inputs_are_judged_by_their_validator(
    api_validator: Validator, tmp_path: Path, content: bytes, name: str, standard: str
) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    out = api_validator.validate_file(f)
    assert out.standard == standard
    assert not out.valid
    assert all(i.code.value != "exception" for i in out.issues), out.issues
