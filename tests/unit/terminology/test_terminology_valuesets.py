"""Value set semantics on small synthetic fixtures: filters, nesting, exclusion, versions, case, status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from testbed.core.errors import TerminologyError
from testbed.core.issues import IssueCode
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService
from tests.unit.terminology.terminology_fixtures import EX, NOCASE, UNSTATED, VERSIONED, ZOO, zoo_code_system

VS = f"{EX}/ValueSet/"


def _valid(
    ts: TerminologyService, vs: str, code: str, system: str | None = ZOO, abstract_ok: bool = False
) -> bool | None:
    return ts.validate_code(VS + vs, system=system, code=code, abstract_ok=abstract_ok).valid


@pytest.mark.parametrize(
    ("vs", "good", "bad"),
    [
        ("is-a", "mammal", "penguin"),
        ("is-a", "dog", "bird"),
        ("descendent-of", "cat", "mammal"),
        ("is-not-a", "tree", "dog"),
        ("generalizes", "mammal", "cat"),
        ("generalizes", "dog", "bird"),
        ("eq", "cat", "dog"),
        ("regex", "dog", "cat"),
        ("regex", "dodo", "tree"),
        ("in", "dog", "cat"),
        ("not-in", "cat", "dog"),
        ("exists", "dog", "tree"),
        ("not-exists", "tree", "dog"),
        ("legs-2", "penguin", "dog"),
        ("is-a-bird", "dodo", "cat"),  # dodo is below bird through its 'parent' property
        ("is-a-bird", "kiwi", "fern"),  # kiwi is below bird through its 'subsumedBy' property
        ("is-a-plant", "fern", "dodo"),  # fern is below plant through plant's 'child' property
        ("parent-eq", "penguin", "dog"),
        ("parent-eq", "dodo", "bird"),
    ],
)
def test_filter_operators(ts: TerminologyService, vs: str, good: str, bad: str) -> None:
    assert _valid(ts, vs, good) is True
    check = ts.validate_code(VS + vs, system=ZOO, code=bad)
    assert check.valid is False and check.code is IssueCode.CODE_INVALID
    assert "filter" in check.message


@pytest.mark.parametrize("vs", ["bad-property", "bad-op", "bad-regex"])
def test_unusable_filter_is_not_checkable_not_invalid(ts: TerminologyService, vs: str) -> None:
    check = ts.validate_code(VS + vs, system=ZOO, code="dog")
    assert check.valid is None and check.code is IssueCode.NOT_SUPPORTED
    assert "cannot be used" in check.message
    assert _valid(ts, "eq", "cat") is True  # a usable filter on the same system still works


def test_listed_concepts(ts: TerminologyService) -> None:
    assert _valid(ts, "listed", "tree") is True
    check = ts.validate_code(VS + "listed", system=ZOO, code="cat")
    assert check.valid is False and "not among the 2 code(s)" in check.message


def test_nested_value_sets_intersect_within_one_include(ts: TerminologyService) -> None:
    assert _valid(ts, "black-mammals", "cat") is True
    assert _valid(ts, "black-mammals", "dog") is False  # mammal, not black
    assert _valid(ts, "black-mammals", "penguin") is False  # black, not mammal


def test_system_and_value_set_intersect(ts: TerminologyService) -> None:
    assert _valid(ts, "listed-mammals", "dog") is True
    check = ts.validate_code(VS + "listed-mammals", system=ZOO, code="penguin")
    assert check.valid is False and "is-a" in check.message


def test_includes_are_a_union(ts: TerminologyService) -> None:
    assert _valid(ts, "mammals-or-black", "dog") is True
    assert _valid(ts, "mammals-or-black", "penguin") is True
    assert _valid(ts, "mammals-or-black", "tree") is False


def test_exclude_concepts_and_value_sets(ts: TerminologyService) -> None:
    assert _valid(ts, "animals-but-dog", "cat") is True
    excluded = ts.validate_code(VS + "animals-but-dog", system=ZOO, code="dog")
    assert excluded.valid is False and "excluded" in excluded.message
    assert _valid(ts, "animals-but-black", "dog") is True
    assert _valid(ts, "animals-but-black", "cat") is False


def test_value_set_cycle_is_reported_not_looped(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "cycle-a", system=ZOO, code="dog")
    assert check.valid is None and "cycle" in check.message
    assert _valid(ts, "is-a", "dog") is True


def test_missing_nested_value_set(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "missing-nested", system=ZOO, code="dog")
    assert check.valid is None and "does-not-exist" in check.message


def test_unknown_value_set(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "nope", system=ZOO, code="dog")
    assert check.valid is None and check.code is IssueCode.NOT_FOUND
    assert f"'{VS}nope' was not found" in check.message
    assert ts.validate_code(VS + "is-a", system=ZOO, code="dog").code is IssueCode.INFORMATIONAL


def test_value_set_without_content_is_not_checkable(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "empty", system=ZOO, code="dog")
    assert check.valid is None and "neither compose" in check.message


# ------------------------------------------------------------------------- versions


def test_code_system_version_pinned_by_value_set(ts: TerminologyService) -> None:
    assert _valid(ts, "pinned-v1", "b", VERSIONED) is True
    assert _valid(ts, "pinned-v1", "c", VERSIONED) is False
    pinned = ts.validate_code(VS + "pinned-v1", system=VERSIONED, code="a")
    assert f"{VERSIONED}|1" in pinned.versions


def test_pinned_version_not_loaded_is_not_checkable(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "pinned-v3", system=VERSIONED, code="a")
    assert check.valid is None and "version '3'" in check.message


def test_value_set_versions(ts: TerminologyService) -> None:
    # VS 'versioned' v1 and v2 both include VERSIONED unpinned, i.e. its latest version (2).
    assert ts.validate_code(VS + "versioned|1", system=VERSIONED, code="c").versions[0] == f"{VS}versioned|1"
    assert ts.validate_code(VS + "versioned", system=VERSIONED, code="c").versions[0] == f"{VS}versioned|2"
    assert _valid(ts, "versioned", "c", VERSIONED) is True
    assert _valid(ts, "versioned", "b", VERSIONED) is False


def test_coding_version(ts: TerminologyService) -> None:
    assert ts.check_in_system(VERSIONED, "b", version="1").valid is True
    assert ts.check_in_system(VERSIONED, "b").valid is False  # latest is version 2, which has no 'b'
    unknown = ts.check_in_system(VERSIONED, "b", version="7")
    assert unknown.valid is None and "version '7'" in unknown.message
    assert ts.validate_code(VS + "versioned", system=VERSIONED, code="c", version="7").valid is None


# ------------------------------------------------------------------------- case


def test_case_sensitive_system(ts: TerminologyService) -> None:
    assert _valid(ts, "is-a", "dog") is True
    check = ts.validate_code(VS + "is-a", system=ZOO, code="Dog")
    assert check.valid is False and "Unknown code 'Dog'" in check.message


def test_case_insensitive_system(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "nocase", system=NOCASE, code="ABC")
    assert check.valid is True and check.warnings == ()
    assert _valid(ts, "nocase", "abd", NOCASE) is False


def test_unstated_case_sensitivity_accepts_with_a_warning(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "unstated", system=UNSTATED, code="ABC")
    assert check.valid is True and "case" in check.warnings[0]
    exact = ts.validate_code(VS + "unstated", system=UNSTATED, code="abc")
    assert exact.valid is True and exact.warnings == ()


# ------------------------------------------------------------------------- status


def test_abstract_concept(ts: TerminologyService) -> None:
    check = ts.validate_code(VS + "animals", system=ZOO, code="animal")
    assert check.valid is False and "abstract" in check.message
    assert _valid(ts, "animals", "animal", abstract_ok=True) is True
    assert _valid(ts, "animals", "mammal") is True


def test_inactive_concepts(ts: TerminologyService) -> None:
    default = ts.validate_code(VS + "is-a-bird", system=ZOO, code="penguin")  # status = retired
    assert default.valid is True and "inactive" in default.warnings[0]
    refused = ts.validate_code(VS + "active-birds", system=ZOO, code="penguin")
    assert refused.valid is False and "compose.inactive" in refused.message
    assert _valid(ts, "active-birds", "dodo") is False  # inactive = true property
    assert _valid(ts, "active-birds", "bird") is True


def test_deprecated_concept_warns(ts: TerminologyService) -> None:
    check = ts.check_in_system(ZOO, "unicorn")
    assert check.valid is True and "deprecated" in check.warnings[0]
    assert ts.check_in_system(ZOO, "tree").warnings == ()


# ------------------------------------------------------------------------- implicit value sets


def test_code_system_value_set_is_all_codes(ts: TerminologyService) -> None:
    # The zoo CodeSystem names f"{EX}/ValueSet/zoo-all" as its all-codes value set; no VS resource exists.
    assert _valid(ts, "zoo-all", "fern") is True
    assert _valid(ts, "zoo-all", "zebra") is False


def test_fhir_vs_implicit_value_sets(ts: TerminologyService) -> None:
    assert ts.validate_code(f"{ZOO}?fhir_vs", system=ZOO, code="tree").valid is True
    assert ts.validate_code(f"{ZOO}?fhir_vs", system=ZOO, code="zebra").valid is False
    assert ts.validate_code(f"{ZOO}?fhir_vs=isa/mammal", system=ZOO, code="cat").valid is True
    assert ts.validate_code(f"{ZOO}?fhir_vs=isa/mammal", system=ZOO, code="penguin").valid is False
    snomed = ts.validate_code(
        "http://snomed.info/sct?fhir_vs=isa/404684003", system="http://snomed.info/sct", code="38341003"
    )
    assert snomed.valid is None and "SNOMED CT" in snomed.message


# ------------------------------------------------------------------------- display


def test_display_check_uses_display_designations_and_value_set_text(ts: TerminologyService) -> None:
    assert ts.validate_code(VS + "is-a", system=ZOO, code="dog", display="dog").display_issue is None
    assert ts.validate_code(VS + "is-a", system=ZOO, code="dog", display=" Chien ").display_issue is None
    assert ts.validate_code(VS + "listed", system=ZOO, code="dog", display="Doggy").display_issue is None
    wrong = ts.validate_code(VS + "is-a", system=ZOO, code="dog", display="Cat")
    assert wrong.valid is True and wrong.display_issue is not None
    assert "'Dog'" in wrong.display_issue and "Chien" in wrong.display_issue


def test_check_in_system_display(ts: TerminologyService) -> None:
    assert ts.check_in_system(ZOO, "cat", display="CAT").display_issue is None
    assert ts.check_in_system(ZOO, "cat", display="Kitten").display_issue is not None


# ------------------------------------------------------------------------- malformed content


@pytest.mark.parametrize(
    ("compose", "why"),
    [
        ({"include": {"system": ZOO}}, "'include' must be a list"),
        (
            {"include": [{"system": ZOO, "filter": [{"property": "concept", "op": "is-a"}]}]},
            "needs a property",
        ),
        ({"include": [{"concept": [{"code": "dog"}]}]}, "neither system nor valueSet"),
    ],
)
def test_malformed_value_set_is_reported(tmp_path: Path, compose: dict[str, Any], why: str) -> None:
    reg = PackageRegistry(cache_dir=tmp_path)
    reg.add_resource(zoo_code_system())
    reg.add_resource(
        {
            "resourceType": "ValueSet",
            "url": "http://example.org/vs/bad",
            "status": "active",
            "compose": compose,
        }
    )
    reg.add_resource(
        {
            "resourceType": "ValueSet",
            "url": "http://example.org/vs/good",
            "status": "active",
            "compose": {"include": [{"system": ZOO}]},
        }
    )
    service = TerminologyService(reg)
    check = service.validate_code("http://example.org/vs/bad", system=ZOO, code="dog")
    assert check.valid is None and check.code is IssueCode.NOT_SUPPORTED and why in check.message
    with pytest.raises(TerminologyError, match=why):
        service.expand("http://example.org/vs/bad")
    assert service.validate_code("http://example.org/vs/good", system=ZOO, code="dog").valid is True


def test_answer_cache_eviction_keeps_answers_right(term_registry: PackageRegistry) -> None:
    service = TerminologyService(term_registry, cache_size=2)
    for _ in range(3):
        for code, valid in (("dog", True), ("tree", False), ("zebra", False), ("cat", True)):
            assert service.validate_code(VS + "is-a", system=ZOO, code=code).valid is valid
            assert service.check_in_system(ZOO, code).valid is (code != "zebra")
