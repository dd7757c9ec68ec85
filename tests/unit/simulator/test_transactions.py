"""Transactions (atomic, urn:uuid rewriting, conditional creates), document submission, batch."""

from __future__ import annotations

import base64
import copy
from typing import TYPE_CHECKING, Any

import pytest

from testbed.synthetic.cda import CdaRenderer
from testbed.synthetic.fhir import FhirRenderer
from testbed.synthetic.journey import generate_patient
from tests.unit.simulator.conftest import Fhir, example, new_patient, observation_for
from tests.unit.simulator.test_rest import assert_outcome

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.national import NationalContent


@pytest.fixture(scope="module")
def record_bundle(ma_validator: Validator, national: NationalContent) -> dict[str, Any]:
    """A synthetic patient's whole record as a transaction, with its CDA documents (seed 7, patient 2)."""
    registry = ma_validator.context.registry
    record = generate_patient(7, 2)
    documents = CdaRenderer(national).documents(record)
    return FhirRenderer.from_registry(registry).bundle(record, {d.id: data for d, data in documents})


def count(a: Fhir, rtype: str) -> int:
    return int(a.get(rtype, params={"_summary": "count"}).json()["total"])


def test_record_transaction_is_stored_and_resubmitting_it_reuses_identities(
    a: Fhir, record_bundle: dict[str, Any]
) -> None:
    reply = a.post("", record_bundle)
    assert reply.status_code == 200, reply.text[:2000]
    body = reply.json()
    assert body["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert set(statuses) == {"201 Created"}
    ids = {e["fullUrl"].rsplit("/", 2)[-2]: e["fullUrl"].rsplit("/", 1)[-1] for e in body["entry"]}
    patient_id = ids["Patient"]
    docs = a.get("DocumentReference", params={"patient": patient_id}).json()
    assert docs["total"] == sum(
        1 for e in record_bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
    )
    document = docs["entry"][0]["resource"]
    assert document["subject"]["reference"] == f"Patient/{patient_id}"  # urn:uuid rewritten
    url = document["content"][0]["attachment"]["url"]
    assert url.startswith(f"{a.smr.base_url}/Binary/")
    raw = a.http.get(url, headers=a.headers({"Accept": "text/xml"}))
    assert raw.status_code == 200 and raw.content.lstrip().startswith(b"<?xml")
    as_json = a.http.get(url, headers=a.headers()).json()
    assert as_json["resourceType"] == "Binary" and base64.b64decode(as_json["data"]) == raw.content
    again = a.post("", record_bundle).json()
    patient_entry = next(e for e in again["entry"] if "/Patient/" in e.get("fullUrl", ""))
    assert patient_entry["response"]["status"] == "200 OK"
    assert patient_entry["fullUrl"].endswith(f"/Patient/{patient_id}")


def test_document_search_by_type_and_date(a: Fhir, record_bundle: dict[str, Any]) -> None:
    body = a.post("", record_bundle).json()
    patient_id = next(e["fullUrl"] for e in body["entry"] if "/Patient/" in e["fullUrl"]).rsplit("/", 1)[-1]
    document = next(
        e["resource"] for e in record_bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
    )
    coding = document["type"]["coding"][0]
    day = document["date"][:10]
    found = a.get(
        "DocumentReference",
        params={"patient": patient_id, "type": f"{coding['system']}|{coding['code']}", "date": day},
    ).json()
    assert found["total"] >= 1
    assert all(e["resource"]["date"].startswith(day) for e in found["entry"])
    later = a.get("DocumentReference", params={"patient": patient_id, "date": "gt2100-01-01"}).json()
    assert later["total"] == 0


def test_transaction_is_all_or_nothing(
    a: Fhir, national: NationalContent, record_bundle: dict[str, Any]
) -> None:
    before = {t: count(a, t) for t in ("Patient", "Observation", "DocumentReference", "Binary")}
    broken = copy.deepcopy(record_bundle)
    broken["entry"][0]["resource"] = new_patient(national)  # a new patient, so nothing would be reused
    broken["entry"][0]["request"].pop("ifNoneExist", None)
    last_obs = max(n for n, e in enumerate(broken["entry"]) if e["resource"]["resourceType"] == "Observation")
    broken["entry"][last_obs]["resource"].pop("code")
    reply = a.post("", broken)
    body = assert_outcome(reply, 422)
    assert any(f"Bundle.entry[{last_obs}]" in x for i in body["issue"] for x in i["expression"])
    assert {t: count(a, t) for t in before} == before


def test_failure_while_writing_rolls_back_everything(a: Fhir, national: NationalContent) -> None:
    existing = a.create(new_patient(national))
    before = count(a, "Observation")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation_for(existing["id"]),
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": existing,
                "request": {"method": "PUT", "url": f"Patient/{existing['id']}", "ifMatch": 'W/"99"'},
            },
        ],
    }
    body = assert_outcome(a.post("", bundle), 412)
    assert body["issue"][0]["expression"][0].startswith("Bundle.entry[1]")
    assert count(a, "Observation") == before


def test_transaction_request_errors(a: Fhir, national: NationalContent) -> None:
    assert_outcome(a.post("", {"resourceType": "Bundle", "type": "collection"}), 400)
    wrong = {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": new_patient(national)}]}
    assert_outcome(a.post("", wrong), 400)
    get = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"request": {"method": "GET", "url": "Patient"}}],
    }
    assert_outcome(a.post("", get), 400, "not-supported")
    twice = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:1",
                "resource": new_patient(national),
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": "urn:uuid:1",
                "resource": new_patient(national),
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    }
    assert_outcome(a.post("", twice), 400)


def test_document_submission_with_a_bad_cda_is_refused(a: Fhir, record_bundle: dict[str, Any]) -> None:
    before = count(a, "DocumentReference")
    broken = copy.deepcopy(record_bundle)
    binary = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "Binary")
    dtd = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ClinicalDocument>&e;</ClinicalDocument>'
    binary["data"] = base64.b64encode(dtd).decode("ascii")
    body = assert_outcome(a.post("", broken), 422)
    assert any(".resource.data" in x for i in body["issue"] for x in i["expression"])
    assert "passwd" not in str(body).replace("file:///etc/passwd", "")
    assert count(a, "DocumentReference") == before


def test_content_example_submission(a: Fhir) -> None:
    """The package's MABundleDocumentSubmission example is refused: its CDA is a placeholder, not MA."""
    reply = a.post("", example("Bundle-ma-bundle-document-submission-valid"))
    body = assert_outcome(reply, 422)
    assert any("CDA" in i["diagnostics"] for i in body["issue"])


def test_batch_runs_entries_independently(a: Fhir, national: NationalContent) -> None:
    good = new_patient(national)
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": good, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": example("Patient-ma-patient-invalid-no-gender"),
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/unknown-id"}},
        ],
    }
    body = a.post("", batch).json()
    assert body["type"] == "batch-response"
    assert [e["response"]["status"][:3] for e in body["entry"]] == ["201", "422", "404"]
    assert body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
