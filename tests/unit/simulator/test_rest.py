"""FHIR REST interactions of the simulated SMR: each good and bad path, errors as OperationOutcomes."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx

from tests.unit.simulator.conftest import Fhir, example, new_patient, observation_for

if TYPE_CHECKING:
    from testbed.national import NationalContent
    from testbed.simulator import RunningSMR


def assert_outcome(reply: httpx.Response, status: int, code: str | None = None) -> dict:
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome"
    for issue in body["issue"]:
        assert issue["severity"] and issue["code"] and issue["expression"], issue
    if code is not None:
        assert any(i["code"] == code for i in body["issue"]), body
    return body


def test_base_path_is_not_the_root(smr: RunningSMR, a: Fhir) -> None:
    assert smr.base_url.endswith("/fhir")
    root = a.http.get(smr.base_url.removesuffix("/fhir") + "/Patient", headers=a.headers())
    assert_outcome(root, 404, "not-found")


def test_metadata_names_this_server_and_its_token_url(smr: RunningSMR, a: Fhir, ma_validator) -> None:
    reply = a.http.get(f"{smr.base_url}/metadata")  # no token needed
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/fhir+json")
    cs = reply.json()
    assert cs["kind"] == "instance" and cs["implementation"]["url"] == smr.base_url
    uris = cs["rest"][0]["security"]["extension"][0]["extension"]
    assert {"url": "token", "valueUri": smr.token_url} in uris
    patient = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"identifier", "family", "given", "birthdate", "_id"} <= {
        p["name"] for p in patient["searchParam"]
    }
    assert ma_validator.validate(cs).valid


def test_smart_configuration_is_discoverable(smr: RunningSMR, a: Fhir) -> None:
    conf = a.http.get(f"{smr.base_url}/.well-known/smart-configuration").json()
    assert conf["token_endpoint"] == smr.token_url
    assert "private_key_jwt" in conf["token_endpoint_auth_methods_supported"]


def test_create_read_vread_update_history(a: Fhir, national: NationalContent) -> None:
    created = a.post("Patient", new_patient(national))
    assert created.status_code == 201
    body = created.json()
    pid = body["id"]
    assert created.headers["location"] == f"{a.smr.base_url}/Patient/{pid}/_history/1"
    assert created.headers["etag"] == 'W/"1"' and created.headers["last-modified"]
    assert body["meta"]["versionId"] == "1"
    read = a.get(f"Patient/{pid}")
    assert read.status_code == 200 and read.json() == body and read.headers["etag"] == 'W/"1"'
    body["gender"] = "male"
    updated = a.put(f"Patient/{pid}", body)
    assert updated.status_code == 200 and updated.json()["meta"]["versionId"] == "2"
    assert a.get(f"Patient/{pid}/_history/1").json()["gender"] == "female"
    assert a.get(f"Patient/{pid}/_history/2").json()["gender"] == "male"
    assert_outcome(a.get(f"Patient/{pid}/_history/9"), 404, "not-found")
    history = a.get(f"Patient/{pid}/_history").json()
    assert history["type"] == "history" and history["total"] == 2
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]


def test_if_match_guards_updates(a: Fhir, national: NationalContent) -> None:
    body = a.create(new_patient(national))
    stale = a.put(f"Patient/{body['id']}", body, headers={"If-Match": 'W/"7"'})
    assert_outcome(stale, 412, "conflict")
    fresh = a.put(f"Patient/{body['id']}", body, headers={"If-Match": 'W/"1"'})
    assert fresh.status_code == 200 and fresh.headers["etag"] == 'W/"2"'


def test_update_rules(a: Fhir, national: NationalContent) -> None:
    body = a.create(new_patient(national))
    wrong_id = a.put(f"Patient/{body['id']}", {**body, "id": "other"})
    assert_outcome(wrong_id, 400, "invalid")
    as_create = a.put("Patient/client-chosen-id", {**new_patient(national), "id": "client-chosen-id"})
    assert as_create.status_code == 201
    assert as_create.headers["location"].endswith("/Patient/client-chosen-id/_history/1")


def test_delete_then_gone(a: Fhir) -> None:
    obs = a.create(observation_for("nobody"))
    assert a.delete(f"Observation/{obs['id']}").status_code == 204
    assert_outcome(a.get(f"Observation/{obs['id']}"), 410, "deleted")
    assert a.delete(f"Observation/{obs['id']}").status_code == 204
    assert_outcome(a.delete("Observation/never-was"), 404)
    assert_outcome(a.get("Observation/never-was"), 404, "not-found")


def test_prefer_return(a: Fhir, national: NationalContent) -> None:
    minimal = a.post("Patient", new_patient(national), headers={"Prefer": "return=minimal"})
    assert minimal.status_code == 201 and minimal.content == b"" and minimal.headers["location"]
    outcome = a.post("Patient", new_patient(national), headers={"Prefer": "return=OperationOutcome"})
    assert outcome.status_code == 201 and outcome.json()["resourceType"] == "OperationOutcome"


def test_invalid_resource_is_422_with_located_issues(a: Fhir) -> None:
    reply = a.post("Patient", example("Patient-ma-patient-invalid-no-gender"))
    body = assert_outcome(reply, 422)
    errors = [i for i in body["issue"] if i["severity"] == "error"]
    assert errors and errors[0]["expression"][0].startswith("Patient")
    codes = {c["code"] for i in errors for c in i.get("details", {}).get("coding", [])}
    assert "MA-PAT-010" in codes


def test_clinical_data_is_validated_against_the_ma_profile_of_its_type(a: Fhir) -> None:
    obs = example("Observation-ma-observation-lab-invalid-no-loinc")
    obs.pop("meta", None)  # no meta.profile: MAObservationLab is chosen for a lab category
    assert_outcome(a.post("Observation", obs), 422)
    vital = example("Observation-ma-vital-signs-invalid-code")
    vital.pop("meta", None)
    assert_outcome(a.post("Observation", vital), 422)
    assert a.post("Observation", example("Observation-ma-vital-signs-valid")).status_code == 201
    assert a.post("Condition", example("Condition-ma-condition-valid")).status_code == 201
    assert_outcome(a.post("Condition", example("Condition-ma-condition-invalid-no-icd10")), 422)


def test_request_errors(a: Fhir) -> None:
    assert_outcome(a.post("Patient", b"{not json"), 400, "invalid")
    assert_outcome(a.post("Patient", b'{"resourceType":"Patient","gender":"male","gender":"female"}'), 400)
    assert_outcome(a.post("Patient", b'{"resourceType":"Observation"}'), 400)
    assert_outcome(a.post("Patient", b"[1, 2]"), 400)
    assert_outcome(
        a.post("Patient", b'{"resourceType":"Patient","x":' + b"[" * 5000 + b"]" * 5000 + b"}"), 400
    )
    assert_outcome(a.post("Patient", b'{"a":' * 100 + b"1" + b"}" * 100), 400)
    assert_outcome(a.post("Patient", b"\xff\xfe{}"), 400)
    assert_outcome(a.get("Medication/x"), 404, "not-supported")
    assert_outcome(a.get("Patient/bad$id"), 404)
    put_type = a.http.put(a.url("Patient"), headers=a.headers())
    assert_outcome(put_type, 405)
    assert "GET" in put_type.headers["allow"]
    assert_outcome(a.get("", None), 405)
    assert_outcome(a.post("Bundle", {"resourceType": "Bundle", "type": "collection"}), 405)


def test_content_negotiation(a: Fhir, national: NationalContent) -> None:
    assert_outcome(a.get("Patient", headers={"Accept": "application/fhir+xml"}), 406)
    assert_outcome(a.get("Patient", params={"_format": "xml"}), 406)
    assert a.get("Patient", params={"_format": "json"}).status_code == 200
    assert a.get("Patient", headers={"Accept": "application/json"}).status_code == 200
    xml = a.post(
        "Patient", b"<Patient xmlns='http://hl7.org/fhir'/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert_outcome(xml, 415)
    latin = a.post(
        "Patient", new_patient(national), headers={"Content-Type": "application/fhir+json; charset=latin-1"}
    )
    assert_outcome(latin, 415)


def test_body_too_large_is_refused_without_being_kept(a: Fhir) -> None:
    big = b'{"resourceType":"Patient","text":"' + b"x" * (11 * 1024 * 1024) + b'"}'
    assert_outcome(a.post("Patient", big), 413, "too-long")
    assert a.get("Patient", params={"_count": "1"}).status_code == 200


def test_search_patient_parameters(a: Fhir, national: NationalContent) -> None:
    patient = new_patient(national)
    patient["name"][0]["family"] = "Ëlâmrani-Search"
    patient["birthDate"] = "1971-06-15"
    created = a.create(patient)
    ins = patient["identifier"][0]

    def ids(params: dict) -> list[str]:
        reply = a.get("Patient", params=params)
        assert reply.status_code == 200, reply.text
        bundle = reply.json()
        assert bundle["type"] == "searchset"
        return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]

    me = [created["id"]]
    assert ids({"identifier": f"{ins['system']}|{ins['value']}"}) == me
    assert ids({"identifier": ins["value"]}) == me
    assert ids({"identifier": f"{ins['system']}|nope"}) == []
    assert ids({"family": "elamrani-s", "given": "salma", "birthdate": "1971-06-15"}) == me
    assert ids({"family:exact": "Ëlâmrani-Search"}) == me
    assert ids({"family:exact": "elamrani-search"}) == []
    assert (
        ids({"name": "elamr", "name:contains": "amrani-sea"}) == ids({"family:contains": "amrani-sea"}) == me
    )
    assert ids({"name": "lamrani"}) == []
    assert me[0] in ids({"birthdate": "ge1971-06-15", "family": "elamrani"})
    assert ids({"birthdate": "gt1971-06-15", "family": "elamrani"}) == []
    assert ids({"birthdate": "lt1971-06-16", "family": "elamrani"}) == me
    assert ids({"birthdate": "le1971", "family": "elamrani"}) == me
    assert ids({"birthdate": "1971-06", "family": "elamrani"}) == me
    assert ids({"gender": "female", "_id": created["id"]}) == me
    assert ids({"gender": "male", "_id": created["id"]}) == []
    assert_outcome(a.get("Patient", params={"birthdate": "15/06/1971"}), 400)
    assert_outcome(a.get("Patient", params={"_count": "-1"}), 400)
    assert_outcome(a.get("Patient", params={"family:sounds": "x"}), 400)


def test_unknown_parameters_lenient_and_strict(a: Fhir) -> None:
    lenient = a.get("Patient", params={"shoe-size": "42", "_count": "1"}).json()
    outcome = [e for e in lenient.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert outcome and "shoe-size" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    strict = a.get("Patient", params={"shoe-size": "42"}, headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400)


def test_paging_is_stable_and_links_are_opaque(a: Fhir, national: NationalContent) -> None:
    patient = a.create(new_patient(national))
    for _ in range(7):
        a.create(observation_for(patient["id"]))
    first = a.get("Observation", params={"patient": patient["id"], "_count": "3"}).json()
    assert first["total"] == 7 and len(first["entry"]) == 3
    next_url = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert "_page_token=" in next_url and "patient=" not in next_url
    a.create(observation_for(patient["id"]))  # a new match must not shift the pages already linked
    page2 = a.http.get(next_url, headers=a.headers()).json()
    again = a.http.get(next_url, headers=a.headers()).json()
    assert [e["resource"]["id"] for e in page2["entry"]] == [e["resource"]["id"] for e in again["entry"]]
    assert page2["total"] == 7
    seen = {e["resource"]["id"] for e in first["entry"]} | {e["resource"]["id"] for e in page2["entry"]}
    assert len(seen) == 6
    tampered = next_url.replace("_page_token=", "_page_token=x")
    assert_outcome(a.http.get(tampered, headers=a.headers()), 400)
    summary = a.get("Observation", params={"patient": patient["id"], "_summary": "count"}).json()
    assert summary["total"] == 8 and "entry" not in summary
    no_total = a.get("Observation", params={"patient": patient["id"], "_total": "none"}).json()
    assert "total" not in no_total and len(no_total["entry"]) == 8


def test_post_search_and_include(a: Fhir, national: NationalContent) -> None:
    patient = a.create(new_patient(national))
    obs = a.create(observation_for(patient["id"]))
    form = a.http.post(
        a.url("Observation/_search"),
        data={"patient": patient["id"], "_include": "Observation:patient"},
        headers=a.headers(),
    )
    assert form.status_code == 200, form.text
    modes = {(e["resource"]["id"], e["search"]["mode"]) for e in form.json()["entry"]}
    assert modes == {(obs["id"], "match"), (patient["id"], "include")}
    rev = a.get("Patient", params={"_id": patient["id"], "_revinclude": "Observation:patient"}).json()
    assert {e["search"]["mode"] for e in rev["entry"]} == {"match", "include"} and rev["total"] == 1
    json_body = a.http.post(a.url("Observation/_search"), content=json.dumps({}), headers=a.headers())
    assert_outcome(json_body, 415)
