"""What cannot be checked offline gives valid=None with a reason; what can be checked is decided."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.core.issues import IssueCode
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService
from tests.unit.terminology.terminology_fixtures import EX, HIDDEN, PART, ZOO

VS = f"{EX}/ValueSet/"
SCT = "http://snomed.info/sct"


@pytest.mark.parametrize(
    ("vs", "system", "code", "why"),
    [
        ("http://hl7.org/fhir/ValueSet/condition-code", SCT, "38341003", "SNOMED CT"),
        (VS + "snomed-isa", SCT, "38341003", "SNOMED CT"),
        ("http://hl7.org/fhir/ValueSet/observation-codes", "http://loinc.org", "8480-6", "LOINC"),
        (VS + "icd10", "http://hl7.org/fhir/sid/icd-10", "I10", "ICD-10"),
        (VS + "rxnorm", "http://www.nlm.nih.gov/research/umls/rxnorm", "1191", "RxNorm"),
        (VS + "cvx-or-zoo", "http://hl7.org/fhir/sid/cvx", "207", "CVX"),
        (VS + "iso3166", "urn:iso:std:iso:3166", "MAR", "alpha-3"),
        ("http://hl7.org/fhir/ValueSet/iso3166-1-3", "urn:iso:std:iso:3166", "MAR", "regex"),
        ("http://hl7.org/fhir/ValueSet/all-languages", "urn:ietf:bcp:47", "zgh-MA", "'zgh'"),
        ("http://hl7.org/fhir/ValueSet/mimetypes", "urn:ietf:bcp:13", "chemical/x-pdb", "'chemical'"),
        ("http://hl7.org/fhir/ValueSet/ucum-units", "http://unitsofmeasure.org", "mg/[foo]", "'[foo]'"),
        ("http://hl7.org/fhir/ValueSet/all-time-units", "http://unitsofmeasure.org", "min", "canonical"),
        (VS + "hidden", HIDDEN, "h1", "not-present"),
        (
            "http://hl7.org/fhir/ValueSet/example-filter",
            "http://hl7.org/fhir/CodeSystem/example",
            "chol",
            "acme",
        ),
        (
            "http://hl7.org/fhir/ValueSet/service-type",
            "http://terminology.hl7.org/CodeSystem/service-type",
            "99999",
            "example",
        ),
        (VS + "part", PART, "p3", "fragment"),
        (
            "http://hl7.org/fhir/ValueSet/task-code",
            "http://hl7.org/fhir/CodeSystem/task-code",
            "fulfill",
            "version '3.6.0'",
        ),
    ],
)
def test_not_checkable_offline(ts: TerminologyService, vs: str, system: str, code: str, why: str) -> None:
    check = ts.validate_code(vs, system=system, code=code)
    assert check.valid is None, check.message
    assert check.code is IssueCode.NOT_SUPPORTED
    assert code in check.message and why in check.message


@pytest.mark.parametrize(
    ("vs", "system", "code", "valid"),
    [
        # The checkable counterpart of each path above.
        (VS + "cvx-or-zoo", ZOO, "dog", True),
        (VS + "cvx-or-zoo", ZOO, "zebra", False),
        (VS + "iso3166", "urn:iso:std:iso:3166", "MA", True),
        ("http://hl7.org/fhir/ValueSet/all-languages", "urn:ietf:bcp:47", "zgh-MA-", False),
        ("http://hl7.org/fhir/ValueSet/mimetypes", "urn:ietf:bcp:13", "text/plain; charset=UTF-8", True),
        ("http://hl7.org/fhir/ValueSet/ucum-units", "http://unitsofmeasure.org", "mg/[foo", False),
        ("http://hl7.org/fhir/ValueSet/all-time-units", "http://unitsofmeasure.org", "min)", False),
        (VS + "hidden-listed", HIDDEN, "h1", True),  # listed by the value set: membership is known
        (VS + "hidden-listed", HIDDEN, "h2", False),
        (
            "http://hl7.org/fhir/ValueSet/service-type",
            "http://terminology.hl7.org/CodeSystem/service-type",
            "1",
            True,
        ),
        (VS + "part", PART, "p2", True),
        ("http://hl7.org/fhir/ValueSet/condition-code", "http://loinc.org", "8480-6", False),  # wrong system
        (VS + "snomed-isa", "http://hl7.org/fhir/sid/icd-10", "I10", False),
    ],
)
def test_checkable_counterparts(ts: TerminologyService, vs: str, system: str, code: str, valid: bool) -> None:
    assert ts.validate_code(vs, system=system, code=code).valid is valid


def test_example_code_system_code_found_but_noted(ts: TerminologyService) -> None:
    check = ts.check_in_system(PART, "p3")
    assert check.valid is None and "fragment" in check.message
    assert ts.check_in_system(PART, "p1").valid is True


@pytest.mark.parametrize(
    ("system", "code", "valid"),
    [
        (SCT, "38341003", None),
        ("http://loinc.org", "8480-6", None),
        ("http://example.org/unknown-system", "x", None),
        ("http://unitsofmeasure.org", "kg/m2", True),
        ("http://unitsofmeasure.org", "kg/m2/", False),
        ("urn:ietf:bcp:47", "fr-MA", True),
        ("urn:ietf:bcp:47", "fr_MA", False),
        ("urn:ietf:bcp:13", "application/fhir+json", True),
        ("urn:ietf:bcp:13", "application", False),
        ("http://hl7.org/fhir/administrative-gender", "unknown", True),
        ("http://hl7.org/fhir/administrative-gender", "unk", False),
    ],
)
def test_check_in_system(ts: TerminologyService, system: str, code: str, valid: bool | None) -> None:
    check = ts.check_in_system(system, code)
    assert check.valid is valid, check.message
    if valid is None:
        assert "offline" in check.message and check.code is IssueCode.NOT_SUPPORTED


def test_shipped_expansion_is_used_when_compose_cannot_be(ts: TerminologyService) -> None:
    assert ts.validate_code(VS + "snomed-with-expansion", system=SCT, code="38341003").valid is True
    check = ts.validate_code(VS + "snomed-with-expansion", system=SCT, code="73211009")
    assert check.valid is False and "expansion shipped" in check.message
    assert ts.validate_code(VS + "expansion-only", system=SCT, code="73211009").valid is True
    assert ts.validate_code(VS + "expansion-only", system=SCT, code="1").valid is False


def test_loaded_icd10_code_system_is_used(tmp_path: Path) -> None:
    reg = PackageRegistry(cache_dir=tmp_path)
    icd = "http://hl7.org/fhir/sid/icd-10"
    reg.add_resource(
        {
            "resourceType": "CodeSystem",
            "url": icd,
            "version": "2019",
            "status": "active",
            "content": "complete",
            "caseSensitive": False,
            "concept": [{"code": "I10", "display": "Essential (primary) hypertension"}],
        }
    )
    reg.add_resource(
        {
            "resourceType": "ValueSet",
            "url": "http://example.org/vs/icd",
            "status": "active",
            "compose": {"include": [{"system": icd}]},
        }
    )
    ts = TerminologyService(reg)
    assert ts.validate_code("http://example.org/vs/icd", system=icd, code="I10").valid is True
    assert ts.validate_code("http://example.org/vs/icd", system=icd, code="I99").valid is False
    assert ts.validate_code("http://example.org/vs/icd", system=icd, code="i10").valid is True
