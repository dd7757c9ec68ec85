"""The CDA rendering of synthetic patients: same person and codes as the record, deterministic, valid; and the
CDA mutations, each failing on the requirement it names (the CDA part of the self-consistency test)."""

from __future__ import annotations

import dataclasses
import random
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from testbed.cda import CdaValidator
from testbed.packages import PackageRegistry
from testbed.synthetic.cda import CdaRenderer
from testbed.synthetic.mutations import Mutated, NotApplicable, catalogue
from testbed.synthetic.record import PatientRecord
from tests.unit.cda._records import INS, full_record, without_arabic

ROOT = Path(__file__).resolve().parents[3]
CONTENT = ROOT / "profiles" / "ma.smr.cda"


@pytest.fixture(scope="module")
def cda_validator(tmp_path_factory: pytest.TempPathFactory) -> CdaValidator:
    registry = PackageRegistry(cache_dir=tmp_path_factory.getbasetemp() / "registry-cache")
    registry.load_core()
    registry.load(ROOT / "profiles" / "ma.smr.core")
    return CdaValidator.from_registry(
        registry, content=CONTENT, cache_dir=tmp_path_factory.mktemp("cda-render")
    )


@pytest.fixture(scope="module")
def renderer(cda_validator: CdaValidator) -> CdaRenderer:
    return CdaRenderer(cda_validator.national, content=CONTENT)


@pytest.fixture(scope="module")
def record(cda_validator: CdaValidator) -> PatientRecord:
    return full_record(cda_validator.content)


@pytest.fixture(scope="module")
def good_docs(renderer: CdaRenderer, record: PatientRecord) -> dict[str, bytes]:
    return {doc.type: xml for doc, xml in renderer.documents(record)}


NS = {"cda": "urn:hl7-org:v3", "sdtc": "urn:hl7-org:sdtc", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
SEEDS = [(7, i) for i in range(12)]


def _tree(xml: bytes) -> etree._ElementTree:
    return etree.fromstring(xml).getroottree()


def _values(tree: etree._ElementTree, path: str) -> list[str]:
    found = tree.xpath(path, namespaces=NS)
    assert isinstance(found, list)
    return [str(v) for v in found]


def test_one_document_per_document_record(renderer: CdaRenderer, record: PatientRecord) -> None:
    docs = renderer.documents(record)
    assert [d.id for d, _ in docs] == [d.id for d in record.documents]
    assert all(xml.startswith(b"<?xml") for _, xml in docs)


def test_the_bytes_are_deterministic(renderer: CdaRenderer, record: PatientRecord) -> None:
    first = renderer.documents(record)
    assert first == renderer.documents(dataclasses.replace(record))
    other = dataclasses.replace(record, id="p-cda-000002")
    assert all(a != b for (_, a), (_, b) in zip(first, renderer.documents(other), strict=True))


def test_the_document_carries_the_same_person_as_the_record(
    renderer: CdaRenderer, record: PatientRecord, cda_validator: CdaValidator
) -> None:
    national = cda_validator.national
    for doc, xml in renderer.documents(record):
        tree = _tree(xml)
        role = "/cda:ClinicalDocument/cda:recordTarget/cda:patientRole"
        ids = dict(
            zip(
                _values(tree, f"{role}/cda:id/@root"), _values(tree, f"{role}/cda:id/@extension"), strict=True
            )
        )
        assert ids[national.identifier("ins").oid or ""] == INS == record.identity.ins
        assert ids[national.identifier("cnie").oid or ""] == record.identity.cnie
        assert _values(tree, f"{role}/cda:id[1]/@root") == [national.identifier("ins").oid]
        latin, arabic = tree.xpath(f"{role}/cda:patient/cda:name", namespaces=NS)
        assert [g.text for g in latin.findall("cda:given", NS)] == [g.latin for g in record.given]
        assert latin.findtext("cda:family", namespaces=NS) == record.family.latin
        assert arabic.findtext("cda:family", namespaces=NS) == record.family.arabic
        assert _values(tree, f"{role}/cda:patient/cda:birthTime/@value") == ["19850412"]
        assert _values(tree, f"{role}/cda:patient/cda:administrativeGenderCode/@code") == ["F"]
        assert _values(tree, "/cda:ClinicalDocument/cda:id/@extension") == [doc.id]
        assert _values(tree, "/cda:ClinicalDocument/cda:languageCode/@code") == [doc.language]


def test_the_coded_entries_are_the_record_codes(renderer: CdaRenderer, record: PatientRecord) -> None:
    docs = {doc.type: _tree(xml) for doc, xml in renderer.documents(record)}
    synth = docs["SYNTH"]
    assert set(_values(synth, "//cda:observation/cda:value[@xsi:type='CD']/@code")) >= {
        c.code.code for c in record.conditions
    }
    assert set(_values(synth, "//cda:manufacturedMaterial/cda:code/@code")) >= {
        p.medication.code for p in record.prescriptions
    }
    lab = docs["CRBIO"]
    results = {o.code.code: o for o in record.observations if o.kind == "lab"}
    checked = 0
    for node in lab.xpath("//cda:entry/cda:observation", namespaces=NS):
        code = node.find("cda:code", NS).get("code")
        if code not in results:
            continue
        value = node.find("cda:value", NS)
        assert value.get("unit") == results[code].unit
        assert float(value.get("value")) == pytest.approx(results[code].value, abs=0.01)
        checked += 1
    assert checked == len(results)
    bp = docs["CRCONS"].xpath("//cda:observation[cda:code/@code='85354-9']", namespaces=NS)[0]
    assert _values(bp, "cda:entryRelationship/cda:observation/cda:value/@value") == ["152", "94"]
    ord_doc = docs["ORD"]
    assert _values(ord_doc, "//cda:manufacturedMaterial/cda:code/cda:translation/@code") == [
        "N02BE01",
        "N02BE01",
    ]
    assert _values(ord_doc, "//cda:effectiveTime[@xsi:type='PIVL_TS']/cda:period/@value") == ["8", "12"]


def test_the_narrative_is_in_french(renderer: CdaRenderer, record: PatientRecord) -> None:
    docs = {doc.type: xml.decode() for doc, xml in renderer.documents(record)}
    assert "Diagnostics de sortie" in docs["CRH"] and "<th>Diagnostic</th>" in docs["CRH"]
    assert "Valeurs de référence" in docs["CRBIO"] and "Allergies et intolérances" in docs["SYNTH"]
    assert "1 comprimé 3 fois par jour pendant 5 jours" in docs["ORD"]
    assert "Aucune personne réelle" not in docs["ORD"] and "aucune personne réelle" in docs["ORD"]


def test_names_dates_and_sdtc_variants(renderer: CdaRenderer, record: PatientRecord) -> None:
    latin_only = without_arabic(record)
    tree = _tree(renderer.render(latin_only, latin_only.documents[0]))
    assert len(tree.xpath("//cda:patient/cda:name", namespaces=NS)) == 1
    deceased = dataclasses.replace(record, deceased=date(2025, 7, 1))
    tree = _tree(renderer.render(deceased, deceased.documents[0]))
    assert _values(tree, "//cda:patient/sdtc:deceasedTime/@value") == ["20250701"]


def test_a_record_the_content_cannot_render_is_a_clear_error(
    renderer: CdaRenderer, record: PatientRecord
) -> None:
    bad_type = dataclasses.replace(record.documents[0], type="XYZ")
    with pytest.raises(ValueError, match="XYZ"):
        renderer.render(record, bad_type)
    ord_with_vaccine = next(d for d in record.documents if d.type == "ORD")
    with pytest.raises(ValueError, match="immunization"):
        renderer.render(record, dataclasses.replace(ord_with_vaccine, entry_ids=("imm-1",)))


def test_rendered_documents_validate_clean(cda_validator: CdaValidator, good_docs: dict[str, bytes]) -> None:
    for doc_type, xml in good_docs.items():
        assert cda_validator.validate(xml, doc_type).issues == [], doc_type


def test_generated_patients_render_valid_documents(
    renderer: CdaRenderer, cda_validator: CdaValidator
) -> None:
    journey = pytest.importorskip("testbed.synthetic.journey")
    seen: set[str] = set()
    for seed, index in SEEDS:
        patient = journey.generate_patient(seed, index)
        for doc, xml in renderer.documents(patient):
            seen.add(doc.type)
            outcome = cda_validator.validate(xml, doc.id)
            if patient.identity.ins:
                assert outcome.issues == [], (doc.id, [i.to_dict() for i in outcome.issues])
            else:  # no INS assigned yet: the document cannot meet MA-CDA-012, and nothing else is wrong
                assert {i.rule for i in outcome.issues} == {"ma-header-patient-ins"}, doc.id
    assert len(seen) >= 3


@pytest.mark.parametrize("mutation", catalogue("cda"), ids=lambda m: m.id)
def test_each_cda_mutation_fails_on_its_requirement(
    mutation: object, cda_validator: CdaValidator, good_docs: dict[str, bytes]
) -> None:
    from testbed.synthetic.mutations import Mutation

    assert isinstance(mutation, Mutation) and mutation.standard == "cda" and mutation.requirements
    applied = 0
    for doc_type, xml in sorted(good_docs.items()):
        for artefact in (xml, xml.decode("utf-8")):
            try:
                result = mutation.apply(artefact, random.Random(5))
            except NotApplicable:
                continue
            assert isinstance(result, Mutated) and type(result.artefact) is type(artefact)
            assert result.location.startswith("/")
            data = result.artefact.encode("utf-8") if isinstance(result.artefact, str) else result.artefact
            outcome = cda_validator.validate(data, f"{doc_type}-{mutation.id}")
            cited = {r for i in outcome.issues if i.severity.is_error for r in i.requirements}
            assert set(mutation.requirements) <= cited, (
                doc_type,
                mutation.id,
                [i.to_dict() for i in outcome.issues],
            )
            if mutation.rule:
                assert mutation.rule in {i.rule for i in outcome.issues}
            applied += 1
    assert applied, f"{mutation.id} applied to no document"


def test_mutations_say_when_they_do_not_apply(good_docs: dict[str, bytes]) -> None:
    no_ins = good_docs["ORD"].replace(INS.encode(), b"NOT-AN-INS")
    by_id = {m.id: m for m in catalogue("cda")}
    with pytest.raises(NotApplicable):
        by_id["cda.ins-key"].apply(no_ins, random.Random(1))
    with pytest.raises(NotApplicable):
        by_id["cda.non-ucum-unit"].apply(good_docs["ORD"], random.Random(1))
    with pytest.raises(NotApplicable):
        by_id["cda.confidentiality"].apply(b"<not-xml", random.Random(1))
