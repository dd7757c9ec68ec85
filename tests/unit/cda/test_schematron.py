"""Every assert of the MA schematrons passes on the clean documents and fails on a document broken for it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from testbed.cda import CdaContent, CdaValidator, SchematronError, _schematron
from testbed.cda._schematron import SCH, compile_schematron, requirement_diagnostics
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from tests.unit.cda.conftest import CONTENT

V3 = "urn:hl7-org:v3"
NS = {"cda": V3, "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
Edit = Callable[[etree._ElementTree, CdaContent], None]


def _assert_ids() -> list[str]:
    """Every assert id of the rendered schematrons (rendered here without a validator: collection time)."""
    with tempfile.TemporaryDirectory() as tmp:
        reg = PackageRegistry(cache_dir=Path(tmp))
        reg.load(CONTENT.parent / "ma.smr.core")
        content = CdaContent.load(NationalContent.from_registry(reg), CONTENT)
        ids = []
        for _, text in content.schematron_sources().values():
            ids += [a.get("id") for a in etree.fromstring(text.encode()).iter(f"{{{SCH}}}assert")]
    return ids


ASSERT_IDS = _assert_ids()


def _all(tree: etree._ElementTree, path: str) -> list[etree._Element]:
    found = tree.xpath(path, namespaces=NS)
    assert isinstance(found, list) and found, f"nothing at {path}"
    return [n for n in found if isinstance(n, etree._Element)]


def _remove(path: str) -> Edit:
    def edit(tree: etree._ElementTree, content: CdaContent) -> None:
        for node in _all(tree, path):
            parent = node.getparent()
            assert parent is not None
            parent.remove(node)

    return edit


def _set(path: str, **attrs: str) -> Edit:
    def edit(tree: etree._ElementTree, content: CdaContent) -> None:
        for node in _all(tree, path):
            for key, value in attrs.items():
                node.set(key, value)

    return edit


def _null(path: str) -> Edit:
    def edit(tree: etree._ElementTree, content: CdaContent) -> None:
        for node in _all(tree, path):
            node.attrib.clear()
            node.set("nullFlavor", "NI")

    return edit


def _drop(path: str, *attrs: str) -> Edit:
    def edit(tree: etree._ElementTree, content: CdaContent) -> None:
        for node in _all(tree, path):
            for attr in attrs:
                node.attrib.pop(attr, None)

    return edit


def _add_document_template(tree: etree._ElementTree, content: CdaContent) -> None:
    last = _all(tree, "/cda:ClinicalDocument/cda:templateId")[-1]
    extra = etree.Element(f"{{{V3}}}templateId", root=content.documents["CRH"].template)
    last.addnext(extra)


def _duplicate_ins(tree: etree._ElementTree, content: CdaContent) -> None:
    first = _all(tree, "//cda:patientRole/cda:id")[0]
    first.addnext(etree.Element(f"{{{V3}}}id", root=first.get("root") or "", extension="185041234507"))


def _authenticator_only(tree: etree._ElementTree, content: CdaContent) -> None:
    legal = _all(tree, "/cda:ClinicalDocument/cda:legalAuthenticator")[0]
    legal.tag = f"{{{V3}}}authenticator"


def _foreign_section_template(tree: etree._ElementTree, content: CdaContent) -> None:
    _all(tree, "//cda:section/cda:templateId")[0].set("root", content.documents["CRH"].sections[0].template)


HEADER: dict[str, tuple[str, Edit]] = {
    "ma-header-realm": ("CRCONS", _remove("/cda:ClinicalDocument/cda:realmCode")),
    "ma-header-typeid": ("CRCONS", _set("/cda:ClinicalDocument/cda:typeId", extension="POCD_HD000041")),
    "ma-header-template": ("CRCONS", _remove("/cda:ClinicalDocument/cda:templateId[1]")),
    "ma-header-document-template": ("CRCONS", _add_document_template),
    "ma-header-id": ("CRCONS", _null("/cda:ClinicalDocument/cda:id")),
    "ma-header-code-loinc": (
        "CRCONS",
        _set("/cda:ClinicalDocument/cda:code", codeSystem="2.16.840.1.113883.6.96"),
    ),
    "ma-header-code-matches-type": ("CRCONS", _set("/cda:ClinicalDocument/cda:code", code="18842-5")),
    "ma-header-effective-time": ("CRCONS", _set("/cda:ClinicalDocument/cda:effectiveTime", value="2025")),
    "ma-header-confidentiality": ("CRCONS", _set("/cda:ClinicalDocument/cda:confidentialityCode", code="X")),
    "ma-header-language": ("CRCONS", _set("/cda:ClinicalDocument/cda:languageCode", code="en-US")),
    "ma-header-record-target": ("CRCONS", _remove("//cda:patientRole/cda:patient")),
    "ma-header-author": ("CRCONS", _remove("/cda:ClinicalDocument/cda:author")),
    "ma-header-custodian": ("CRCONS", _remove("//cda:representedCustodianOrganization")),
    "ma-header-legal-authenticator": ("CRCONS", _authenticator_only),
    "ma-header-structured-body": ("CRCONS", _remove("/cda:ClinicalDocument/cda:component")),
    "ma-header-patient-ins": ("CRCONS", _set("//cda:patientRole/cda:id[1]", root="1.2.3")),
    "ma-header-patient-one-ins": ("CRCONS", _duplicate_ins),
    "ma-header-patient-name": ("CRCONS", _remove("//cda:patient/cda:name")),
    "ma-header-patient-gender": ("CRCONS", _remove("//cda:patient/cda:administrativeGenderCode")),
    "ma-header-patient-birth-time": ("CRCONS", _remove("//cda:patient/cda:birthTime")),
    "ma-header-author-inpe": ("CRCONS", _null("/cda:ClinicalDocument/cda:author/cda:assignedAuthor/cda:id")),
    "ma-header-custodian-inpe": (
        "CRCONS",
        _set("//cda:representedCustodianOrganization/cda:id", root="1.2.3"),
    ),
    "ma-header-legal-authenticator-signature": (
        "CRCONS",
        _set("//cda:legalAuthenticator/cda:signatureCode", code="X"),
    ),
    "ma-header-legal-authenticator-inpe": ("CRCONS", _set("//cda:legalAuthenticator//cda:id", root="1.2.3")),
    "ma-header-participant-inpe": ("CRBIO", _set("//cda:performer/cda:assignedEntity/cda:id", root="1.2.3")),
    "ma-header-section-arc": ("CRCONS", _foreign_section_template),
    "ma-ord-prescriber-inpe": ("ORD", _null("/cda:ClinicalDocument/cda:author/cda:assignedAuthor/cda:id")),
    "ma-crcons-coded-diagnosis": (
        "CRCONS",
        _set("//cda:observation/cda:value[@codeSystem]", codeSystem="1.2.3"),
    ),
}

ENTRY_CHECKS: dict[str, Callable[[str], Edit]] = {
    "icd10": lambda s: _set(f"{s}/cda:entry/cda:observation/cda:value", codeSystem="2.16.840.1.113883.6.96"),
    "loinc": lambda s: _set(f"{s}/cda:entry/cda:observation/cda:code", codeSystem="2.16.840.1.113883.6.96"),
    "unit": lambda s: _drop(f"{s}/cda:entry//cda:observation/cda:value[@unit]", "unit"),
    "gtin": lambda s: _set(
        f"{s}/cda:entry//cda:manufacturedMaterial/cda:code", codeSystem="2.16.840.1.113883.6.73"
    ),
    "atc": lambda s: _remove(f"{s}/cda:entry//cda:manufacturedMaterial/cda:code/cda:translation"),
    "dosage": lambda s: _remove(f"{s}/cda:entry/cda:substanceAdministration/cda:doseQuantity"),
    "coded": lambda s: _drop(
        f"{s}/cda:entry/cda:observation/cda:value | {s}/cda:entry//cda:manufacturedMaterial/cda:code", "code"
    ),
}


def _plan(rule: str, content: CdaContent) -> tuple[str, Edit]:
    if rule in HEADER:
        return HEADER[rule]
    for key, doc in content.documents.items():
        for section in doc.sections:
            prefix = f"ma-{key.lower()}-{section.key}-"
            if not rule.startswith(prefix):
                continue
            where = f"//cda:section[cda:templateId/@root = '{section.template}']"
            check = rule.removeprefix(prefix)
            if check == "present":
                return key, _remove(
                    f"//cda:component[cda:section/cda:templateId/@root = '{section.template}']"
                )
            if check == "code":
                return key, _set(f"{where}/cda:code", code="11111-1")
            if check == "narrative":
                return key, _remove(f"{where}/cda:title")
            return key, ENTRY_CHECKS[check.split("-")[-1]](where)
    raise AssertionError(f"no way to break {rule}: add one to this test")


@pytest.mark.parametrize("rule", ASSERT_IDS)
def test_assert_fails_on_a_document_broken_for_it(
    rule: str, cda_validator: CdaValidator, cda_content: CdaContent, good_docs: dict[str, bytes]
) -> None:
    doc_type, edit = _plan(rule, cda_content)
    good = good_docs[doc_type]
    assert rule not in {i.rule for i in cda_validator.validate(good, doc_type).issues}
    tree = etree.fromstring(good).getroottree()
    edit(tree, cda_content)
    outcome = cda_validator.validate(etree.tostring(tree), f"{doc_type}-{rule}")
    fired = [i for i in outcome.issues if i.rule == rule]
    assert fired, f"{rule} did not fire: {[(i.rule, i.message) for i in outcome.issues]}"
    assert all(i.requirements and "MA-CDA-032" in i.requirements for i in fired)
    assert all(i.location.startswith("/ClinicalDocument") for i in fired)


def test_every_assert_carries_an_id_a_role_and_known_requirements(
    cda_content: CdaContent, cda_registry: object
) -> None:
    texts = cda_content.requirement_texts(cda_registry)  # type: ignore[arg-type]
    assert len(ASSERT_IDS) == len(set(ASSERT_IDS)), "assert ids must be unique"
    for source, text in cda_content.schematron_sources().values():
        for node in etree.fromstring(text.encode()).iter(f"{{{SCH}}}assert"):
            assert node.get("role") in ("error", "warning", "information"), (source, node.get("id"))
            cited = (node.get("diagnostics") or "").split()
            assert cited, (source, node.get("id"))
            assert set(cited) <= set(texts), (source, node.get("id"), set(cited) - set(texts))


def test_no_national_oid_is_written_in_the_content() -> None:
    for path in [CONTENT / "cda.yaml", *sorted((CONTENT / "schematron").glob("*.sch"))]:
        text = path.read_text(encoding="utf-8")
        assert "2.16.504" not in text and "fhir.smr.ma" not in text, path


def test_compiled_schematrons_are_cached_by_content_hash(
    cda_validator: CdaValidator, cda_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {p.stem for p in (cda_cache / "cda-schematron").glob("*.xsl")}
    assert {s.digest for s in cda_validator.schematrons.values()} <= files
    source, text = cda_validator.content.schematron_sources()[cda_validator.header_template]
    hook = requirement_diagnostics({})
    first = compile_schematron("t", source, text, cache_dir=tmp_path, add_diagnostics=hook)
    assert (tmp_path / "cda-schematron" / f"{first.digest}.xsl").is_file()
    monkeypatch.setattr(_schematron, "_MEMORY", {})
    monkeypatch.setattr(
        _schematron, "_compile", lambda *a: pytest.fail("compiled again instead of reading the cache")
    )
    again = compile_schematron("t", source, text, cache_dir=tmp_path, add_diagnostics=hook)
    assert again.digest == first.digest
    assert again.run(etree.ElementTree(etree.fromstring(b"<x/>"))).getroot() is not None


SCHEMA_HEAD = '<sch:schema xmlns:sch="http://purl.oclc.org/dsdl/schematron" queryBinding="{qb}">'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SCHEMA_HEAD.format(qb="xslt2") + '<sch:pattern><sch:rule context="a"><sch:assert test="true()">x'
            "</sch:assert></sch:rule></sch:pattern></sch:schema>",
            "xslt2",
        ),
        (
            SCHEMA_HEAD.format(qb="xslt")
            + '<sch:pattern><sch:rule context="a/@b"><sch:assert test="true()">x'
            "</sch:assert></sch:rule></sch:pattern></sch:schema>",
            "selects attributes",
        ),
        ("<schema/>", "not an ISO Schematron"),
        ("<sch:schema", "not well-formed"),
        (
            SCHEMA_HEAD.format(qb="xslt")
            + '<sch:pattern><sch:rule context="a"><sch:assert>no test</sch:assert>'
            "</sch:rule></sch:pattern></sch:schema>",
            "not a valid ISO Schematron",
        ),
    ],
)
def test_unusable_schematrons_are_clear_errors(text: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(SchematronError, match=message):
        compile_schematron("t", "test.sch", text, cache_dir=tmp_path)
