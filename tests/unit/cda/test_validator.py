"""CdaValidator: schema errors located, order of the steps, non-MA documents, content consistency."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from testbed.cda import CdaContent, CdaValidator, cda_schema, validate_schema_only
from testbed.core.errors import PackageError
from testbed.core.issues import Severity
from testbed.identifiers import IdentifierRules
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService
from tests.unit.cda.conftest import CONTENT

NS = {"cda": "urn:hl7-org:v3"}
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "cda-schemas"


def _edit(xml: bytes, path: str, **attrs: str) -> bytes:
    tree = etree.fromstring(xml).getroottree()
    for node in tree.xpath(path, namespaces=NS):
        for key, value in attrs.items():
            node.set(key, value)
    return etree.tostring(tree)


def test_clean_documents_have_no_issue(cda_validator: CdaValidator, good_docs: dict[str, bytes]) -> None:
    assert sorted(good_docs) == sorted(cda_validator.content.documents)
    for doc_type, xml in good_docs.items():
        outcome = cda_validator.validate(xml, doc_type)
        assert outcome.issues == [], (doc_type, [i.to_dict() for i in outcome.issues])
        assert outcome.standard == "cda" and outcome.valid
        assert f"schematron:{cda_validator.header_template}" in outcome.versions


def test_schema_errors_are_located_by_xpath_and_line(
    cda_validator: CdaValidator, good_docs: dict[str, bytes]
) -> None:
    text = (
        good_docs["CRBIO"]
        .decode()
        .replace("<recordTarget>", "<recordTargetX>", 1)
        .replace("</recordTarget>", "</recordTargetX>", 1)
    )
    outcome = cda_validator.validate(text.encode(), "renamed.xml")
    [issue] = [i for i in outcome.issues if i.rule == "cda-xsd"]
    assert issue.location == "/ClinicalDocument/recordTargetX[1]"
    assert "line " in issue.message and "recordTargetX" in issue.message and "{urn" not in issue.message
    assert issue.requirements == ("MA-CDA-031",) and issue.severity is Severity.ERROR


def test_schema_attribute_errors_point_at_the_element(
    cda_validator: CdaValidator, good_docs: dict[str, bytes]
) -> None:
    bad = _edit(good_docs["CRCONS"], "/cda:ClinicalDocument/cda:effectiveTime", value="yesterday")
    [issue] = [i for i in cda_validator.validate(bad).issues if i.rule == "cda-xsd"]
    assert issue.location == "/ClinicalDocument/effectiveTime[1]"


def test_the_sdtc_schema_accepts_sdtc_elements_the_normative_one_does_not(
    good_docs: dict[str, bytes],
) -> None:
    text = (
        good_docs["SYNTH"]
        .decode()
        .replace("<birthTime", '<birthTime value="19850412"/><sdtc:deceasedInd value="false"/><x', 1)
        .replace('<x value="19850412"/>', "", 1)
    )
    tree = etree.fromstring(text.encode()).getroottree()
    assert cda_schema("sdtc").validate(tree)
    assert not cda_schema("normative").validate(tree)
    with pytest.raises(PackageError, match="variant"):
        cda_schema("r3")


def test_steps_run_in_order_and_all_report(cda_validator: CdaValidator, good_docs: dict[str, bytes]) -> None:
    text = good_docs["CRBIO"].decode().replace("<realmCode", "<realmCodeX", 1)
    bad = _edit(text.encode(), "//cda:observation/cda:value[@unit]", unit="µg/dL")
    rules = [i.rule or "" for i in cda_validator.validate(bad).issues]
    xsd = rules.index("cda-xsd")
    sch = rules.index("ma-header-realm")
    ucum = rules.index("cda-ucum")
    assert xsd < sch < ucum


def test_a_non_ma_document_is_schema_checked_and_reported_once(cda_validator: CdaValidator) -> None:
    samples = [FIXTURES / "non-ma-progress-note.xml", *sorted(SHARED_SAMPLES.rglob("*.xml"))]
    for path in samples:
        outcome = cda_validator.validate(path.read_bytes(), str(path))
        ma = [i for i in outcome.issues if i.rule == "ma-cda-document"]
        assert len(ma) == 1, path
        assert "not an MA document" in ma[0].message and "MA-CDA-001" in ma[0].requirements
        assert not outcome.valid
    only = cda_validator.validate(samples[0].read_bytes())
    assert [i.rule for i in only.issues] == ["ma-cda-document"]  # schema-valid, so the one issue


def test_a_schema_invalid_non_ma_document_gets_schema_errors_too(cda_validator: CdaValidator) -> None:
    text = (FIXTURES / "non-ma-progress-note.xml").read_text().replace("<title>Good", "<titel>Good", 1)
    text = text.replace("Note</title>", "Note</titel>", 1)
    rules = {i.rule for i in cda_validator.validate(text.encode()).issues}
    assert rules == {"cda-xsd", "ma-cda-document"}


def test_another_root_element_is_not_a_cda_document(cda_validator: CdaValidator) -> None:
    [issue] = cda_validator.validate(b'<Patient xmlns="http://hl7.org/fhir"/>').issues
    assert issue.severity is Severity.FATAL and "Not a CDA document" in issue.message


def test_content_agrees_with_the_document_type_code_system(
    cda_content: CdaContent, cda_registry: PackageRegistry, cda_national: NationalContent
) -> None:
    assert cda_content.document_type_drift(cda_registry, cda_national) == []
    changed = dataclasses.replace(
        cda_content,
        documents={
            **cda_content.documents,
            "ORD": dataclasses.replace(cda_content.documents["ORD"], code="1-1"),
        },
    )
    drift = changed.document_type_drift(cda_registry, cda_national)
    assert len(drift) == 1 and "ORD" in drift[0]
    with pytest.raises(PackageError, match="disagrees"):
        CdaValidator(
            cda_national,
            TerminologyService(cda_registry),
            IdentifierRules.from_registry(cda_registry),
            content=changed,
            registry=cda_registry,
        )


def test_missing_content_is_a_clear_error(tmp_path: Path, cda_national: NationalContent) -> None:
    with pytest.raises(PackageError, match="cda.yaml"):
        CdaContent.load(cda_national, tmp_path)
    (tmp_path / "cda.yaml").write_text("header: [")
    with pytest.raises(PackageError, match="cannot be read"):
        CdaContent.load(cda_national, tmp_path)
    (tmp_path / "cda.yaml").write_text("header: {}\n")
    with pytest.raises(PackageError, match="malformed"):
        CdaContent.load(cda_national, tmp_path)


def test_the_content_is_found_under_profiles(cda_national: NationalContent) -> None:
    from testbed.cdacontent import find_content_folder

    assert find_content_folder(CONTENT.parent) == CONTENT
    with pytest.raises(PackageError, match="No CDA content"):
        find_content_folder(CONTENT / "schematron")


def test_schema_only_validation_without_national_content(good_docs: dict[str, bytes]) -> None:
    clean = validate_schema_only(good_docs["ORD"], "ord.xml")
    assert clean.valid and [i.rule for i in clean.issues] == ["cda-schema-only"]
    broken = validate_schema_only(
        good_docs["ORD"].replace(b"<title>", b"<titel>", 1).replace(b"</title>", b"</titel>", 1)
    )
    assert "cda-xsd" in {i.rule for i in broken.issues} and not broken.valid
    refused = validate_schema_only(b"<!DOCTYPE a [<!ENTITY b 'c'>]><ClinicalDocument/>")
    assert refused.issues[0].severity is Severity.FATAL
    assert not validate_schema_only(b"<Patient/>").valid
