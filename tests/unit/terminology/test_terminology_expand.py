"""$expand, $lookup and CodeableConcept checks."""

from __future__ import annotations

import pytest

from testbed.core.errors import TerminologyError
from testbed.core.issues import IssueCode
from testbed.terminology import TerminologyService
from tests.unit.terminology.terminology_fixtures import EX, HIDDEN, ZOO

VS = f"{EX}/ValueSet/"
MARITAL_VS = "http://hl7.org/fhir/ValueSet/marital-status"
MARITAL = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"


def _codes(expansion: dict) -> list[str]:
    return [c["code"] for c in expansion["expansion"]["contains"]]


def test_expand_core_value_set_mixing_systems(ts: TerminologyService) -> None:
    out = ts.expand(MARITAL_VS)
    assert out["resourceType"] == "ValueSet" and out["url"] == MARITAL_VS
    exp = out["expansion"]
    assert exp["total"] == 11 and exp["offset"] == 0
    assert _codes(out)[-1] == "UNK"
    assert {"system": MARITAL, "version": "2018-08-12", "code": "M", "display": "Married"} in exp["contains"]
    used = [p["valueUri"] for p in exp["parameter"] if p["name"] == "used-codesystem"]
    assert f"{MARITAL}|2018-08-12" in used


def test_expand_paging(ts: TerminologyService) -> None:
    everything = _codes(ts.expand(MARITAL_VS))
    page = ts.expand(MARITAL_VS, count=3, offset=2)
    assert page["expansion"]["total"] == 11 and page["expansion"]["offset"] == 2
    assert _codes(page) == everything[2:5]
    assert _codes(ts.expand(MARITAL_VS, count=5, offset=10)) == everything[10:]
    assert _codes(ts.expand(MARITAL_VS, count=0)) == []
    with pytest.raises(TerminologyError, match="negative"):
        ts.expand(MARITAL_VS, offset=-1)


def test_expand_filter_on_display(ts: TerminologyService) -> None:
    out = ts.expand(MARITAL_VS, filter="marr")
    assert _codes(out) == ["M", "S", "U"]  # Married, Never Married, unmarried
    assert out["expansion"]["total"] == 3
    assert _codes(ts.expand(MARITAL_VS, filter="never married")) == ["S"]
    assert ts.expand(MARITAL_VS, filter="zzz")["expansion"]["total"] == 0


def test_expand_hierarchy_filters_and_flags(ts: TerminologyService) -> None:
    out = ts.expand(VS + "animals")
    contains = {c["code"]: c for c in out["expansion"]["contains"]}
    assert set(contains) == {"animal", "mammal", "dog", "cat", "bird", "penguin", "dodo", "kiwi"}
    assert contains["animal"].get("abstract") is True
    assert contains["penguin"].get("inactive") is True and "inactive" not in contains["cat"]
    assert set(_codes(ts.expand(VS + "active-birds"))) == {"bird", "kiwi"}


def test_expand_nested_and_excluded(ts: TerminologyService) -> None:
    assert _codes(ts.expand(VS + "black-mammals")) == ["cat"]
    assert _codes(ts.expand(VS + "listed-mammals")) == ["dog"]
    assert set(_codes(ts.expand(VS + "mammals-or-black"))) == {"mammal", "dog", "cat", "penguin"}
    assert "dog" not in _codes(ts.expand(VS + "animals-but-dog"))
    assert set(_codes(ts.expand(VS + "animals-but-black"))) == {
        "animal",
        "mammal",
        "dog",
        "bird",
        "dodo",
        "kiwi",
    }


def test_expand_listed_codes_of_unavailable_system(ts: TerminologyService) -> None:
    assert _codes(ts.expand(VS + "hidden-listed")) == ["h1"]
    assert len(_codes(ts.expand("http://hl7.org/fhir/ValueSet/languages"))) == 56


@pytest.mark.parametrize(
    ("vs", "why"),
    [
        ("http://hl7.org/fhir/ValueSet/condition-code", "SNOMED CT is not available offline"),
        ("http://hl7.org/fhir/ValueSet/ucum-units", "defined by a grammar"),
        (VS + "hidden", "not-present"),
        (VS + "part", "only in part"),
        (VS + "missing-nested", "does-not-exist"),
        (VS + "cycle-a", "cycle"),
        (VS + "nope", "not in the loaded packages"),
    ],
)
def test_expand_refuses_what_cannot_be_enumerated(ts: TerminologyService, vs: str, why: str) -> None:
    with pytest.raises(TerminologyError, match=why):
        ts.expand(vs)


def test_expand_uses_shipped_expansion(ts: TerminologyService) -> None:
    assert _codes(ts.expand(VS + "snomed-with-expansion")) == ["38341003"]
    assert _codes(ts.expand(VS + "expansion-only")) == ["38341003", "73211009"]


def test_lookup(ts: TerminologyService) -> None:
    dog = ts.lookup(ZOO, "dog")
    assert dog is not None
    assert dog["name"] == "Zoo" and dog["version"] == "1.0.0" and dog["display"] == "Dog"
    assert dog["designation"] == [{"language": "fr", "value": "Chien"}]
    assert {"code": "color", "value": "brown"} in dog["property"]
    assert {"code": "parent", "value": "mammal"} in dog["property"]
    assert ts.lookup(ZOO, "zebra") is None
    ucum = ts.lookup("http://unitsofmeasure.org", "mg")
    assert ucum is not None and ucum["name"] == "UCUM"
    assert ts.lookup("http://unitsofmeasure.org", "mg//") is None
    with pytest.raises(TerminologyError, match="SNOMED CT"):
        ts.lookup("http://snomed.info/sct", "38341003")
    with pytest.raises(TerminologyError, match="not-present"):
        ts.lookup(HIDDEN, "h1")


def test_codings_any_valid_coding_is_enough(ts: TerminologyService) -> None:
    check = ts.validate_codings(
        MARITAL_VS,
        [
            {"system": "http://snomed.info/sct", "code": "87915002"},
            {"system": MARITAL, "code": "M", "display": "Maried"},
        ],
    )
    assert check.valid is True and check.system == MARITAL
    assert check.display_issue is not None and "Maried" in check.display_issue


def test_codings_none_valid(ts: TerminologyService) -> None:
    check = ts.validate_codings(
        MARITAL_VS,
        [
            {"system": "http://hl7.org/fhir/administrative-gender", "code": "male"},
            {"system": MARITAL, "code": "Q"},
        ],
    )
    assert check.valid is False and check.code is IssueCode.CODE_INVALID
    assert "coding[0]" in check.message and "coding[1]" in check.message
    assert "Unknown code 'Q'" in check.message


def test_codings_unknown_when_only_uncheckable_remain(ts: TerminologyService) -> None:
    vs = "http://hl7.org/fhir/ValueSet/condition-code"
    check = ts.validate_codings(
        vs,
        [
            {"system": "http://snomed.info/sct", "code": "38341003"},
            {"system": "http://loinc.org", "code": "8480-6"},
        ],
    )
    assert check.valid is None and check.code is IssueCode.NOT_SUPPORTED
    assert ts.validate_codings(VS + "nope", [{"system": ZOO, "code": "dog"}]).code is IssueCode.NOT_FOUND


def test_codings_report_other_wrong_codings(ts: TerminologyService) -> None:
    check = ts.validate_codings(
        MARITAL_VS,
        [
            {"system": "http://hl7.org/fhir/administrative-gender", "code": "xx"},
            {"system": MARITAL, "code": "W"},
        ],
    )
    assert check.valid is True and any("coding[0]" in w and "'xx'" in w for w in check.warnings)
    clean = ts.validate_codings(MARITAL_VS, [{"system": MARITAL, "code": "W"}])
    assert clean.warnings == ()


def test_codings_empty(ts: TerminologyService) -> None:
    assert ts.validate_codings(MARITAL_VS, []).valid is False
    assert ts.validate_codings(MARITAL_VS, [{"system": MARITAL}]).valid is False
    assert ts.validate_codings(MARITAL_VS, [{"system": MARITAL, "code": "S"}]).valid is True
