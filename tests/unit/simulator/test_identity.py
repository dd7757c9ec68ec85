"""Patient identity (SMR-T1, SMR-T2): INS assignment, duplicates, conditional create, merge."""

from __future__ import annotations

from typing import TYPE_CHECKING

from testbed.identifiers import CHECK_DIGITS
from tests.unit.simulator.conftest import Fhir, new_patient, observation_for
from tests.unit.simulator.test_rest import assert_outcome

if TYPE_CHECKING:
    from testbed.national import NationalContent


def _ins(national: NationalContent, patient: dict) -> list[str]:
    system = national.identifier("ins").uri
    return [i["value"] for i in patient.get("identifier", []) if i.get("system") == system]


def test_ins_assigned_when_identity_is_sufficient(a: Fhir, national: NationalContent) -> None:
    patient = new_patient(national, ins=False)
    created = a.create(patient)
    (ins,) = _ins(national, created)
    assert len(ins) == 12 and CHECK_DIGITS["mod97-2"](ins)
    found = a.get("Patient", params={"identifier": f"{national.identifier('ins').uri}|{ins}"}).json()
    assert found["total"] == 1
    # an update without the INS keeps the one the SMR assigned
    created["identifier"] = [i for i in created["identifier"] if i["value"] != ins]
    updated = a.put(f"Patient/{created['id']}", created).json()
    assert _ins(national, updated) == [ins]


def test_passport_only_patient_gets_an_ins(a: Fhir, national: NationalContent) -> None:
    patient = new_patient(national, ins=False, cnie=False)
    patient["identifier"] = [{"system": national.passport_system("250"), "value": "19FR12345"}]
    created = a.create(patient)
    assert len(_ins(national, created)) == 1


def test_no_ins_without_a_sufficient_identity(a: Fhir, national: NationalContent) -> None:
    patient = new_patient(national, ins=False)
    for name in patient["name"]:
        name.pop("given", None)
    reply = a.post("Patient", patient)
    assert reply.status_code == 422  # given is required by MAPatient anyway, and no INS was invented
    local_only = new_patient(national, ins=False, cnie=False)
    local_only["identifier"] = [
        {
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": national.local_system("100200300"),
            "value": "LOCAL-1",
        }
    ]
    created = a.create(local_only)
    assert _ins(national, created) == []


def test_duplicate_identifier_is_a_conflict(a: Fhir, national: NationalContent) -> None:
    patient = new_patient(national)
    first = a.create(patient)
    twin = new_patient(national, cnie=False)
    twin["identifier"] = [patient["identifier"][1]]  # the same CNIE, no INS
    body = assert_outcome(a.post("Patient", twin), 409, "duplicate")
    assert first["id"] in body["issue"][0]["diagnostics"]
    assert body["issue"][0]["expression"] == ["Patient.identifier[1]"] or body["issue"][0]["expression"][
        0
    ].startswith("Patient.identifier[")


def test_conditional_create(a: Fhir, national: NationalContent) -> None:
    patient = new_patient(national)
    ins = patient["identifier"][0]
    condition = {"If-None-Exist": f"identifier={ins['system']}|{ins['value']}"}
    first = a.post("Patient", patient, headers=condition)
    assert first.status_code == 201
    again = a.post("Patient", patient, headers=condition)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert a.get("Patient", params={"identifier": ins["value"]}).json()["total"] == 1
    broad = a.post("Patient", new_patient(national), headers={"If-None-Exist": "gender=female"})
    assert_outcome(broad, 412)
    unsupported = a.post("Patient", new_patient(national), headers={"If-None-Exist": "shoe=42"})
    assert_outcome(unsupported, 400)


def test_merge_keeps_survivor_and_follows_clinical_data(a: Fhir, national: NationalContent) -> None:
    survivor = a.create(new_patient(national))
    duplicate = a.create(new_patient(national, ins=False))
    old_obs = a.create(observation_for(duplicate["id"]))
    new_obs = a.create(observation_for(survivor["id"]))
    merged = dict(duplicate)
    merged["active"] = False
    merged["link"] = [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    reply = a.put(f"Patient/{duplicate['id']}", merged)
    assert reply.status_code == 200, reply.text
    assert a.get(f"Patient/{survivor['id']}").json() == survivor  # the survivor is untouched, INS kept
    for pid in (survivor["id"], duplicate["id"]):
        found = a.get("Observation", params={"patient": pid}).json()
        assert {e["resource"]["id"] for e in found["entry"]} == {old_obs["id"], new_obs["id"]}
    audit = a.get("AuditEvent", params={"patient": duplicate["id"], "subtype": "merge"}).json()
    assert audit["total"] == 1


def test_merge_needs_a_real_survivor(a: Fhir, national: NationalContent) -> None:
    duplicate = a.create(new_patient(national))
    duplicate["active"] = False
    duplicate["link"] = [{"other": {"reference": "Patient/does-not-exist"}, "type": "replaced-by"}]
    assert_outcome(a.put(f"Patient/{duplicate['id']}", duplicate), 422, "business-rule")
    duplicate["link"] = [{"other": {"reference": f"Patient/{duplicate['id']}"}, "type": "replaced-by"}]
    assert_outcome(a.put(f"Patient/{duplicate['id']}", duplicate), 422, "business-rule")
