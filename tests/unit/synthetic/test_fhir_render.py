"""The FHIR renderer: every rendering validates against the MA profiles; byte-stable; ndjson alike."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from testbed.core.errors import PackageError, UsageError
from testbed.synthetic.fhir import FhirRenderer
from tests.unit.synthetic import _records as R

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.core.issues import ValidationOutcome
    from testbed.national import NationalContent

DOCS = {
    "doc-crbio": b"<ClinicalDocument xmlns='urn:hl7-org:v3'><title>Biologie</title></ClinicalDocument>",
    "doc-crh": "<ClinicalDocument xmlns='urn:hl7-org:v3'><title>Séjour</title></ClinicalDocument>".encode(),
}


@pytest.fixture(scope="module")
def renderer(ma_validator: Validator) -> FhirRenderer:
    return FhirRenderer.from_registry(ma_validator.context.registry)


def errors(outcome: ValidationOutcome) -> list[str]:
    return [
        f"{i.location}: {i.message} [{i.rule}]"
        for i in outcome.issues
        if i.severity.value in ("error", "fatal")
    ]


def by_type(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


@pytest.mark.parametrize("make", [R.rich_adult, R.minor, R.foreigner, R.duplicate], ids=lambda f: f.__name__)
def test_every_bundle_validates_without_error(
    make: Any, renderer: FhirRenderer, ma_validator: Validator
) -> None:
    record = make()
    bundle = renderer.bundle(record, DOCS if record.documents else None)
    assert errors(ma_validator.validate(bundle)) == []


def test_bundle_shape_and_conditional_creates(renderer: FhirRenderer, national: NationalContent) -> None:
    record = R.rich_adult()
    bundle = renderer.bundle(record, DOCS)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "transaction"
    first = bundle["entry"][0]
    ins = national.identifier("ins").uri
    assert first["resource"]["resourceType"] == "Patient"
    assert first["request"] == {
        "method": "POST",
        "url": "Patient",
        "ifNoneExist": f"identifier={ins}|185041234507",
    }
    inpe = national.identifier("inpe").uri
    orgs = {e["resource"]["identifier"][0]["value"]: e for e in by_type(bundle, "Organization")}
    assert set(orgs) == {R.CHU.inpe, R.LABO.inpe}
    assert orgs[R.CHU.inpe]["request"]["ifNoneExist"] == f"identifier={inpe}|{R.CHU.inpe}"
    people = {e["resource"]["identifier"][0]["value"] for e in by_type(bundle, "Practitioner")}
    assert people == {R.DR_ALAOUI.inpe, R.DR_BENNIS.inpe, R.NURSE.inpe}
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls) and all(u.startswith("urn:uuid:") for u in full_urls)
    refs = [m for e in bundle["entry"] for m in _references(e["resource"])]
    assert refs and all(ref in full_urls for ref in refs)
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] != "Binary":
            assert res["meta"]["profile"][0].startswith(national.canonical + "/StructureDefinition/")
            assert "id" not in res
    kinds = {
        e["resource"]["code"]["coding"][0]["code"]: e["resource"]["meta"]["profile"][0]
        for e in by_type(bundle, "Observation")
    }
    assert kinds["2345-7"] == national.profile_url("ObservationLab")
    assert kinds["85354-9"] == national.profile_url("VitalSigns")


def test_patient_identity_names_and_address(renderer: FhirRenderer, national: NationalContent) -> None:
    patient = renderer.bundle(R.rich_adult())["entry"][0]["resource"]
    systems = [(i["system"], i["value"]) for i in patient["identifier"]]
    assert systems == [
        (national.identifier("ins").uri, "185041234507"),
        (national.identifier("cnie").uri, "BK123456"),
        (national.identifier("cnss").uri, "123456789"),
        (national.local_system(R.CHU.inpe), "CHU-2025-004512"),
    ]
    assert patient["identifier"][-1]["type"]["coding"][0]["code"] == "MR"
    script = national.extension_url("nameScript")
    assert [
        (n["extension"][0]["url"], n["extension"][0]["valueCode"], n["family"]) for n in patient["name"]
    ] == [
        (script, "Latn", "Bennani"),
        (script, "Arab", "بناني"),
    ]
    assert patient["name"][1]["given"] == ["سلمى", "خديجة"]
    address = patient["address"][0]
    region = address["extension"][0]
    assert region["url"] == national.extension_url("addressRegion")
    assert region["valueCoding"] == {
        "system": national.code_system_url("region"),
        "code": "06",
        "display": "Casablanca-Settat",
    }
    assert address["country"] == "MA" and address["postalCode"] == "20330"
    assert patient["telecom"] == [{"system": "phone", "value": "+212612345678"}]
    assert patient["birthDate"] == "1985-04-12" and patient["gender"] == "female"


def test_minor_foreigner_and_duplicate(renderer: FhirRenderer, national: NationalContent) -> None:
    minor = renderer.bundle(R.minor())
    systems = {i["system"] for i in minor["entry"][0]["resource"]["identifier"]}
    assert national.identifier("cnie").uri not in systems
    coverage = by_type(minor, "Coverage")[0]["resource"]
    assert coverage["relationship"]["coding"][0]["code"] == "child" and coverage["subscriberId"] == "45123007"
    foreigner = renderer.bundle(R.foreigner())["entry"][0]
    ids = foreigner["resource"]["identifier"]
    assert [i["system"] for i in ids] == [
        national.identifier("carte_sejour").uri,
        national.passport_system("250"),
    ]
    assert ids[1]["type"]["coding"][0]["code"] == "PPN"
    assert (
        foreigner["request"]["ifNoneExist"]
        == f"identifier={national.identifier('carte_sejour').uri}|E1234567"
    )
    dup = renderer.bundle(R.duplicate())
    assert [e["resource"]["resourceType"] for e in dup["entry"]] == ["Patient"]
    assert dup["entry"][0]["resource"]["active"] is True


def test_documents_become_document_reference_and_binary(renderer: FhirRenderer) -> None:
    without = renderer.bundle(R.rich_adult())
    assert not by_type(without, "DocumentReference") and not by_type(without, "Binary")
    bundle = renderer.bundle(R.rich_adult(), DOCS)
    binaries = {e["fullUrl"]: e["resource"] for e in by_type(bundle, "Binary")}
    refs = by_type(bundle, "DocumentReference")
    assert len(refs) == 2 == len(binaries)
    crh = next(e["resource"] for e in refs if e["resource"]["type"]["coding"][0]["code"] == "CRH")
    attachment = crh["content"][0]["attachment"]
    assert base64.b64decode(binaries[attachment["url"]]["data"]) == DOCS["doc-crh"]
    assert attachment["size"] == len(DOCS["doc-crh"]) and attachment["contentType"] == "text/xml"
    assert crh["type"]["coding"][1] == {
        "system": "http://loinc.org",
        "code": "18842-5",
        "display": "Discharge summary",
    }
    assert crh["securityLabel"][0]["coding"][0]["code"] == "R"
    with pytest.raises(UsageError, match="no document doc-x"):
        renderer.bundle(R.rich_adult(), {"doc-x": b"<x/>"})


def test_consent_only_for_objecting_patients(renderer: FhirRenderer, national: NationalContent) -> None:
    consent = by_type(renderer.bundle(R.rich_adult()), "Consent")[0]["resource"]
    assert consent["provision"] == {"type": "deny"}
    assert consent["category"][0]["coding"][0]["system"] == national.code_system_url("consentScope")
    assert not by_type(renderer.bundle(R.minor()), "Consent")
    bare = FhirRenderer(national)
    assert (
        "display"
        not in bare.bundle(R.minor())["entry"][0]["resource"]["address"][0]["extension"][0]["valueCoding"]
    )
    with pytest.raises(PackageError, match="from_registry"):
        bare.bundle(R.rich_adult())


def test_merge_bundle(renderer: FhirRenderer, ma_validator: Validator, national: NationalContent) -> None:
    survivor, dup = R.rich_adult(), R.duplicate()
    merge = renderer.merge_bundle(dup, survivor)
    assert errors(ma_validator.validate(merge)) == []
    kept, replaced = merge["entry"]
    assert kept["fullUrl"] == renderer.bundle(survivor)["entry"][0]["fullUrl"]
    assert kept["request"]["ifNoneExist"].endswith("|185041234507")
    assert replaced["request"] == {
        "method": "PUT",
        "url": f"Patient?identifier={national.local_system(R.ESSP.inpe)}|URG-88231",
    }
    assert replaced["resource"]["active"] is False
    assert replaced["resource"]["link"] == [{"other": {"reference": kept["fullUrl"]}, "type": "replaced-by"}]
    assert replaced["fullUrl"] == renderer.bundle(dup)["entry"][0]["fullUrl"]
    with pytest.raises(UsageError, match="not a duplicate"):
        renderer.merge_bundle(survivor, dup)


def test_ndjson_resources_match_the_bundle(renderer: FhirRenderer, ma_validator: Validator) -> None:
    record = R.rich_adult()
    bundle = renderer.bundle(record, DOCS)
    resources = list(renderer.resources(record, DOCS))
    assert [r["resourceType"] for r in resources] == [e["resource"]["resourceType"] for e in bundle["entry"]]
    ids = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert len(ids) == len(resources) and "Patient/p-000001" in ids and f"Organization/{R.CHU.inpe}" in ids
    for resource in resources:
        assert all(ref in ids for ref in _references(resource)), resource["resourceType"]
        assert errors(ma_validator.validate(resource)) == [], resource["resourceType"]
    doc = next(r for r in resources if r["resourceType"] == "DocumentReference")
    assert doc["content"][0]["attachment"]["url"] in ids
    stripped = [{k: v for k, v in r.items() if k != "id"} for r in resources]
    assert json.dumps(stripped).count("urn:uuid") == 0
    assert len(stripped) == len(bundle["entry"])


def test_byte_stable_and_deterministic(ma_validator: Validator, renderer: FhirRenderer) -> None:
    again = FhirRenderer.from_registry(ma_validator.context.registry)
    for record in R.all_records():
        one = json.dumps(renderer.bundle(record), ensure_ascii=False)
        assert one == json.dumps(again.bundle(record), ensure_ascii=False)
        assert one == json.dumps(renderer.bundle(record), ensure_ascii=False)
    other = dataclasses.replace(R.rich_adult(), seed="another-seed")
    assert (
        renderer.bundle(other)["entry"][0]["fullUrl"]
        != renderer.bundle(R.rich_adult())["entry"][0]["fullUrl"]
    )


def test_dates_carry_an_offset(renderer: FhirRenderer) -> None:
    record = R.minor()
    naive = dataclasses.replace(record.encounters[0], start=datetime(2025, 2, 3, 10, 0))
    bundle = renderer.bundle(dataclasses.replace(record, encounters=(naive,)))
    enc = by_type(bundle, "Encounter")[0]["resource"]
    assert enc["period"] == {"start": "2025-02-03T10:00:00+01:00"}
    observation = by_type(bundle, "Observation")[0]["resource"]
    assert observation["effectiveDateTime"] == "2025-02-03T10:05:00+01:00"
    assert observation["valueQuantity"] == {
        "value": 38.4,
        "unit": "Cel",
        "system": "http://unitsofmeasure.org",
        "code": "Cel",
    }


def test_generated_records_validate(renderer: FhirRenderer, ma_validator: Validator) -> None:
    from testbed.synthetic.journey import iter_population

    failures = []
    for record in iter_population("render-test", 20):
        outcome = ma_validator.validate(renderer.bundle(record))
        failures += [f"{record.id} {e}" for e in errors(outcome)]
        for resource in renderer.resources(record):
            failures += [f"{record.id} ndjson {e}" for e in errors(ma_validator.validate(resource))]
    assert failures == []


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for k, v in value.items() if k != "reference" for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def test_fast_uuid5_and_json_match_the_standard_library() -> None:
    import uuid

    from testbed.synthetic._fhir_resources import uuid5
    from testbed.synthetic._json import dumps

    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org")
    for name in ("", "a", "seed/p-000001/Condition/cond-1", "سلمى"):
        assert uuid5(namespace.bytes, name) == str(uuid.uuid5(namespace, name))
    value = {"a": [1, 2.5, "é سلمى", None, True, {"b": 1e-7, "c": -0.0}], "d": {}}
    assert dumps(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    with pytest.raises(TypeError):
        dumps({"x": object()})
