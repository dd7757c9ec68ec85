"""Validation against the genuine FHIR R4 core terminology content."""

from __future__ import annotations

import pytest

from testbed.core.issues import IssueCode
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService

V3 = "http://terminology.hl7.org/CodeSystem/"
GENDER_VS = "http://hl7.org/fhir/ValueSet/administrative-gender"
GENDER = "http://hl7.org/fhir/administrative-gender"
MARITAL_VS = "http://hl7.org/fhir/ValueSet/marital-status"
ENCOUNTER_VS = "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode"
ACT_CODE = V3 + "v3-ActCode"
OBS_VS = "http://hl7.org/fhir/ValueSet/observation-status"
OBS = "http://hl7.org/fhir/observation-status"


@pytest.mark.parametrize(
    ("vs", "system", "code", "valid"),
    [
        (GENDER_VS, GENDER, "female", True),
        (GENDER_VS, GENDER, "femme", False),
        (OBS_VS, OBS, "final", True),
        (OBS_VS, OBS, "done", False),
        ("http://hl7.org/fhir/ValueSet/condition-clinical", V3 + "condition-clinical", "remission", True),
        ("http://hl7.org/fhir/ValueSet/condition-clinical", V3 + "condition-clinical", "cured", False),
        (MARITAL_VS, V3 + "v3-MaritalStatus", "M", True),
        (MARITAL_VS, V3 + "v3-MaritalStatus", "Q", False),
        (MARITAL_VS, V3 + "v3-NullFlavor", "UNK", True),
        (MARITAL_VS, V3 + "v3-NullFlavor", "NI", False),  # a real NullFlavor code, not listed by the VS
        (ENCOUNTER_VS, ACT_CODE, "AMB", True),
        (ENCOUNTER_VS, ACT_CODE, "IMP", True),
        (ENCOUNTER_VS, ACT_CODE, "_ActEncounterCode", False),  # excluded explicitly
        (ENCOUNTER_VS, ACT_CODE, "ACADR", False),  # an ActCode, but not below _ActEncounterCode
        ("http://hl7.org/fhir/ValueSet/patient-contactrelationship", V3 + "v2-0131", "C", True),
        ("http://hl7.org/fhir/ValueSet/patient-contactrelationship", V3 + "v2-0131", "O", False),  # is-not-a
        ("http://hl7.org/fhir/ValueSet/inactive", V3 + "v3-ActMood", "GOL", True),  # descendent-of
        ("http://hl7.org/fhir/ValueSet/inactive", V3 + "v3-ActMood", "_ActMoodPredicate", False),
        ("http://hl7.org/fhir/ValueSet/yesnodontknow", V3 + "v2-0136", "Y", True),  # nested value set
        ("http://hl7.org/fhir/ValueSet/yesnodontknow", V3 + "data-absent-reason", "asked-unknown", True),
        ("http://hl7.org/fhir/ValueSet/yesnodontknow", V3 + "data-absent-reason", "unknown", False),
        ("http://hl7.org/fhir/ValueSet/languages", "urn:ietf:bcp:47", "fr", True),
        ("http://hl7.org/fhir/ValueSet/languages", "urn:ietf:bcp:47", "ar-MA", False),  # not listed
        ("http://hl7.org/fhir/ValueSet/all-languages", "urn:ietf:bcp:47", "ar-MA", True),
        ("http://hl7.org/fhir/ValueSet/all-languages", "urn:ietf:bcp:47", "xx-MA", False),
        ("http://hl7.org/fhir/ValueSet/ucum-units", "http://unitsofmeasure.org", "mg/dL", True),
        ("http://hl7.org/fhir/ValueSet/ucum-units", "http://unitsofmeasure.org", "mg//dL", False),
        ("http://hl7.org/fhir/ValueSet/ucum-bodytemp", "http://unitsofmeasure.org", "Cel", True),
        ("http://hl7.org/fhir/ValueSet/ucum-bodytemp", "http://unitsofmeasure.org", "K", False),
        ("http://hl7.org/fhir/ValueSet/mimetypes", "urn:ietf:bcp:13", "application/pdf", True),
        ("http://hl7.org/fhir/ValueSet/mimetypes", "urn:ietf:bcp:13", "pdf", False),
        ("http://hl7.org/fhir/ValueSet/iso3166-1-3", "urn:iso:std:iso:3166", "MA", False),  # regex [A-Z]{3}
    ],
)
def test_core_value_sets(ts: TerminologyService, vs: str, system: str, code: str, valid: bool) -> None:
    check = ts.validate_code(vs, system=system, code=code)
    assert check.valid is valid, check.message
    assert check.code is (IssueCode.INFORMATIONAL if valid else IssueCode.CODE_INVALID)
    assert code in check.message


def test_unknown_code_in_complete_system_says_so(ts: TerminologyService) -> None:
    check = ts.validate_code(GENDER_VS, system=GENDER, code="femme")
    assert "Unknown code 'femme'" in check.message and GENDER in check.message


def test_code_from_a_system_the_value_set_does_not_use(ts: TerminologyService) -> None:
    check = ts.validate_code(GENDER_VS, system="http://snomed.info/sct", code="248152002")
    assert check.valid is False
    assert "no code from 'http://snomed.info/sct'" in check.message
    assert ts.validate_code(GENDER_VS, system=GENDER, code="male").valid is True


def test_code_without_system_is_found_through_the_value_set(ts: TerminologyService) -> None:
    ok = ts.validate_code(GENDER_VS, system=None, code="other")
    assert ok.valid is True and ok.system == GENDER and ok.display == "Other"
    bad = ts.validate_code(GENDER_VS, system=None, code="Other")
    assert bad.valid is False


def test_versions_pin_every_resource_used(ts: TerminologyService) -> None:
    check = ts.validate_code(ENCOUNTER_VS, system=ACT_CODE, code="AMB")
    assert check.versions == (f"{ENCOUNTER_VS}|2014-03-26", f"{ACT_CODE}|2018-08-12")
    nested = ts.validate_code("http://hl7.org/fhir/ValueSet/yesnodontknow", system=V3 + "v2-0136", code="N")
    assert "http://terminology.hl7.org/ValueSet/v2-0136|2.9" in nested.versions
    assert f"{V3}v2-0136|2.9" in nested.versions
    assert ts.versions_used(MARITAL_VS)[0] == f"{MARITAL_VS}|4.0.1"


def test_value_set_version_is_honoured(ts: TerminologyService) -> None:
    assert ts.validate_code(f"{GENDER_VS}|4.0.1", system=GENDER, code="male").valid is True
    missing = ts.validate_code(f"{GENDER_VS}|9.9.9", system=GENDER, code="male")
    assert missing.valid is None and missing.code is IssueCode.NOT_FOUND


def test_display_checks_on_core_content(ts: TerminologyService) -> None:
    assert ts.validate_code(GENDER_VS, system=GENDER, code="male", display="male").display_issue is None
    wrong = ts.validate_code(GENDER_VS, system=GENDER, code="male", display="Homme")
    assert wrong.valid is True and wrong.display_issue is not None
    assert "'Homme'" in wrong.display_issue and "'Male'" in wrong.display_issue
    # Designations listed by the value set itself count (languages: Dutch "Frans").
    lang = "http://hl7.org/fhir/ValueSet/languages"
    assert ts.validate_code(lang, system="urn:ietf:bcp:47", code="fr", display="Frans").display_issue is None
    assert ts.validate_code(lang, system="urn:ietf:bcp:47", code="fr", display="German").display_issue


def test_abstract_v3_code_is_refused(ts: TerminologyService) -> None:
    vs = "http://terminology.hl7.org/ValueSet/v3-ActCode"
    abstract = ts.validate_code(vs, system=ACT_CODE, code="_ActAccountCode")
    assert abstract.valid is False and "abstract" in abstract.message
    assert ts.validate_code(vs, system=ACT_CODE, code="_ActAccountCode", abstract_ok=True).valid is True
    assert ts.validate_code(vs, system=ACT_CODE, code="CASH").valid is True


def test_v3_child_property_builds_multiple_parents(ts: TerminologyService) -> None:
    # FFPS sits under FFSS by nesting and is named as a child of FF by the 'child' property.
    info = ts.lookup(ACT_CODE, "FF")
    assert info is not None
    assert {"code": "child", "value": "FFPS"} in info["property"]


def test_every_ucum_common_unit_is_valid(ts: TerminologyService, term_registry: PackageRegistry) -> None:
    vs = term_registry.resolve("http://hl7.org/fhir/ValueSet/ucum-common")
    assert vs is not None
    codes = [c["code"] for inc in vs["compose"]["include"] for c in inc.get("concept", [])]
    assert len(codes) > 1000
    bad = [c for c in codes if not ts.check_in_system("http://unitsofmeasure.org", c).valid]
    assert bad == []


def test_whole_core_can_be_compiled_and_expanded_or_refused_cleanly(
    term_registry: PackageRegistry, fresh: TerminologyService
) -> None:
    from testbed.core.errors import TerminologyError

    expanded = refused = 0
    for vs in term_registry.iter_resources("ValueSet"):
        if "hl7.org" not in str(vs.get("url")):
            continue
        try:
            fresh.expand(vs["url"], count=1)
            expanded += 1
        except TerminologyError as exc:
            assert str(exc)
            refused += 1
    assert expanded > 1000 and refused > 50
