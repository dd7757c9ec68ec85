"""The right to object (SMR-T8) on every path, break the glass, and the audit trail (SMR-T9)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.unit.simulator.conftest import (
    ORG_A,
    USER_A,
    Fhir,
    consent_for,
    example,
    new_patient,
    observation_for,
)
from tests.unit.simulator.test_rest import assert_outcome

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.national import NationalContent

BTG = {"X-Purpose-Of-Use": "BTG"}


@dataclass
class Objecting:
    patient: dict[str, Any]
    observation: dict[str, Any]
    binary: dict[str, Any]
    consent: dict[str, Any]


@pytest.fixture(scope="module")
def objecting(a: Fhir, national: NationalContent) -> Objecting:
    """A patient whose data organization A wrote, then who objected."""
    patient = a.create(new_patient(national))
    obs = a.create(observation_for(patient["id"]))
    binary = a.create(
        {
            "resourceType": "Binary",
            "contentType": "application/pdf",
            "securityContext": {"reference": f"Patient/{patient['id']}"},
            "data": base64.b64encode(b"%PDF-1.4 synthetic").decode("ascii"),
        }
    )
    consent = a.create(consent_for(patient["id"]))
    return Objecting(patient, obs, binary, consent)


def test_other_organization_cannot_read_or_find(b: Fhir, objecting: Objecting) -> None:
    pid = objecting.patient["id"]
    body = assert_outcome(b.get(f"Observation/{objecting.observation['id']}"), 403, "suppressed")
    assert "BTG" in body["issue"][0]["diagnostics"]
    assert_outcome(b.get(f"Binary/{objecting.binary['id']}"), 403)
    assert_outcome(b.get(f"Observation/{objecting.observation['id']}/_history/1"), 403)
    found = b.get("Observation", params={"patient": pid}).json()
    assert found["total"] == 0 and "entry" not in found
    assert b.get("Observation", params={"_id": objecting.observation["id"]}).json()["total"] == 0
    rev = b.get("Patient", params={"_id": pid, "_revinclude": "Observation:patient"}).json()
    assert [e["search"]["mode"] for e in rev["entry"]] == ["match"]  # the Patient itself stays readable
    assert b.get(f"Patient/{pid}").status_code == 200


def test_objection_holds_on_include_paths(a: Fhir, b: Fhir, objecting: Objecting) -> None:
    provenance = example("Provenance-ma-provenance-valid")
    provenance["target"] = [{"reference": f"Observation/{objecting.observation['id']}"}]
    created = a.create(provenance)
    query = {"_id": created["id"], "_include": "Provenance:target"}
    other = b.get("Provenance", params=query).json()
    assert [e["resource"]["resourceType"] for e in other["entry"]] == ["Provenance"]
    author = a.get("Provenance", params=query).json()
    assert [e["resource"]["resourceType"] for e in author["entry"]] == ["Provenance", "Observation"]
    glass = b.get("Provenance", params=query, headers=BTG).json()
    assert len(glass["entry"]) == 2


def test_author_organization_still_sees_its_data(a: Fhir, objecting: Objecting) -> None:
    assert a.get(f"Observation/{objecting.observation['id']}").status_code == 200
    assert a.get("Observation", params={"patient": objecting.patient["id"]}).json()["total"] == 1


def test_break_the_glass_is_allowed_and_audited(a: Fhir, b: Fhir, objecting: Objecting) -> None:
    assert b.get(f"Observation/{objecting.observation['id']}", headers=BTG).status_code == 200
    assert b.get("Observation", params={"patient": objecting.patient["id"]}, headers=BTG).json()["total"] == 1
    events = a.get("AuditEvent", params={"patient": objecting.patient["id"], "_count": "100"}).json()["entry"]
    purposes = {
        (e["resource"]["subtype"][0]["code"], e["resource"]["purposeOfEvent"][0]["coding"][0]["code"])
        for e in events
    }
    assert ("read", "BTG") in purposes and ("search-type", "BTG") in purposes
    refused = [e["resource"] for e in events if e["resource"]["outcome"] == "4"]
    assert refused, "refused reads are audited too"


def test_withdrawing_the_objection_restores_sharing(a: Fhir, b: Fhir, national: NationalContent) -> None:
    patient = a.create(new_patient(national))
    obs = a.create(observation_for(patient["id"]))
    consent = a.create(consent_for(patient["id"]))
    assert b.get(f"Observation/{obs['id']}").status_code == 403
    consent["status"] = "inactive"
    assert a.put(f"Consent/{consent['id']}", consent).status_code == 200
    assert b.get(f"Observation/{obs['id']}").status_code == 200


def test_objection_covers_data_written_after_it_and_merged_records(
    a: Fhir, b: Fhir, national: NationalContent
) -> None:
    survivor = a.create(new_patient(national))
    duplicate = a.create(new_patient(national, ins=False))
    a.create(consent_for(duplicate["id"]))
    later = a.create(observation_for(survivor["id"]))
    merged = {
        **duplicate,
        "active": False,
        "link": [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}],
    }
    assert a.put(f"Patient/{duplicate['id']}", merged).status_code == 200
    assert_outcome(b.get(f"Observation/{later['id']}"), 403)


def test_every_access_writes_a_valid_audit_event(
    a: Fhir, national: NationalContent, ma_validator: Validator
) -> None:
    patient = a.create(new_patient(national))
    pid = patient["id"]
    a.get(f"Patient/{pid}")
    a.get("Patient", params={"_id": pid})
    events = a.get("AuditEvent", params={"patient": pid}).json()
    kinds = sorted(e["resource"]["subtype"][0]["code"] for e in events["entry"])
    assert kinds == ["create", "read", "search-type"]
    inpe = national.identifier("inpe").uri
    for entry in events["entry"]:
        event = entry["resource"]
        outcome = ma_validator.validate(event)
        assert outcome.valid, [i.message for i in outcome.errors()]
        assert event["meta"]["profile"] if "profile" in event.get("meta", {}) else True
        who = {(ag["who"]["identifier"]["system"], ag["who"]["identifier"]["value"]) for ag in event["agent"]}
        assert (inpe, USER_A) in who and (inpe, ORG_A) in who
        assert event["source"]["observer"]
        assert any(en["what"].get("reference") == f"Patient/{pid}" for en in event["entity"])


def test_search_audit_records_the_query(a: Fhir, national: NationalContent) -> None:
    patient = a.create(new_patient(national))
    a.get("Patient", params={"_id": patient["id"], "gender": "female"})
    events = a.get("AuditEvent", params={"patient": patient["id"], "subtype": "search-type"}).json()
    query = next(en["query"] for en in events["entry"][0]["resource"]["entity"] if "query" in en)
    assert "gender=female" in base64.b64decode(query).decode()


def test_audit_events_are_immutable(a: Fhir) -> None:
    event = a.get("AuditEvent", params={"_count": "1"}).json()["entry"][0]["resource"]
    assert_outcome(a.put(f"AuditEvent/{event['id']}", event), 405)
    assert_outcome(a.delete(f"AuditEvent/{event['id']}"), 405)
    assert_outcome(a.post("AuditEvent", event), 405)
    assert a.get(f"AuditEvent/{event['id']}").json() == event
