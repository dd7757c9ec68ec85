"""HL7 v2 over MLLP: ADT feed, A40 merge and ORU^R01 stored as MA FHIR resources, answered AA/AE/AR.

Messages come from the synthetic population (seed 7) rendered by ``testbed.synthetic.hl7v2``.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from testbed.hl7v2.mllp import MLLPClient, frame
from testbed.simulator import RunningSMR, start_smr
from testbed.synthetic.hl7v2 import Hl7v2Renderer
from testbed.synthetic.journey import generate_patient, generate_records
from tests.unit.simulator.conftest import ALL, Fhir

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.national import NationalContent
    from testbed.security.keys import PrivateJwk
    from testbed.security.server import ClientRegistration


@pytest.fixture(scope="module")
def smr_v2(ma_validator: Validator, registrations: list[ClientRegistration]) -> Iterator[RunningSMR]:
    with start_smr(clients=registrations, validator=ma_validator, mllp_port=0) as running:
        yield running


@pytest.fixture(scope="module")
def fhir(smr_v2: RunningSMR, key_a: PrivateJwk) -> Iterator[Fhir]:
    client = Fhir(smr_v2, "his-a", key_a, ALL)
    yield client
    client.close()


@pytest.fixture(scope="module")
def renderer(national: NationalContent) -> Hl7v2Renderer:
    return Hl7v2Renderer(national)


def msa(ack: str) -> str:
    line = next(x for x in ack.split("\r") if x.startswith("MSA"))
    return line.split("|")[1]


def send(smr: RunningSMR, message: str) -> str:
    assert smr.mllp_address is not None
    with MLLPClient(*smr.mllp_address) as client:
        return client.send(message)


def test_adt_and_oru_are_stored_as_fhir(smr_v2: RunningSMR, fhir: Fhir, renderer: Hl7v2Renderer) -> None:
    record = generate_patient(7, 0)
    messages = renderer.messages(record)
    assert {m[0] for m in messages} >= {"ADT^A28", "ORU^R01"}
    acks = [msa(send(smr_v2, message)) for _name, message in messages]
    assert acks[0] == "AA" and set(acks) == {"AA"}
    ins = record.identity.ins
    assert ins
    found = fhir.get("Patient", params={"identifier": ins}).json()
    assert found["total"] == 1
    patient = found["entry"][0]["resource"]
    assert patient["name"][0]["family"] == record.family.latin
    labs = fhir.get("Observation", params={"patient": patient["id"]}).json()
    assert labs["total"] >= 1
    lab = labs["entry"][0]["resource"]
    assert lab["meta"]["profile"][0].endswith("ma-observation-lab") and lab["valueQuantity"]["system"]
    assert any(e["response"]["status"] == "AA" and e["message_type"] == "ORU^R01" for e in fhir.smr.evidence)


def test_a40_merges_into_the_survivor(smr_v2: RunningSMR, fhir: Fhir, renderer: Hl7v2Renderer) -> None:
    survivor, duplicate = next(r for r in (generate_records(7, i) for i in range(60)) if len(r) > 1)
    for record in (survivor, duplicate):
        assert msa(send(smr_v2, renderer.messages(record)[0][1])) == "AA"
    _, merge = renderer.merge_message(duplicate, survivor)
    assert msa(send(smr_v2, merge)) == "AA"
    inactive = fhir.get("Patient", params={"active": "false"}).json()
    links = [e["resource"]["link"][0]["type"] for e in inactive["entry"]]
    assert "replaced-by" in links


def test_errors_are_answered_ae_or_ar(smr_v2: RunningSMR, renderer: Hl7v2Renderer) -> None:
    oru = next(m for name, m in renderer.messages(generate_patient(7, 5)) if name == "ORU^R01")
    ack = send(smr_v2, oru)  # its patient was never fed: nobody to attach the results to
    assert msa(ack) == "AE" and "ERR|" in ack and "PID^1^3" in ack
    unsupported = (
        "MSH|^~\\&|APP|123456789|SMR|SMR|20250101||SIU^S12^SIU_S12|C1|P|2.5|||AL|NE|MAR|"
        "UNICODE UTF-8\rSCH|1\r"
    )
    assert msa(send(smr_v2, unsupported)) == "AR"
    adt = next(m for name, m in renderer.messages(generate_patient(7, 6)) if name.startswith("ADT"))
    broken = adt.replace("|F|||", "|Z|||").replace("|M|||", "|Z|||")
    assert msa(send(smr_v2, broken)) in ("AE", "AR")


def test_mllp_garbage_leaves_the_server_up(smr_v2: RunningSMR, renderer: Hl7v2Renderer) -> None:
    assert smr_v2.mllp_address is not None
    with socket.create_connection(smr_v2.mllp_address, timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n" + frame(b"not hl7 at all") + b"\x0bMSH|trunc")
    adt = next(m for name, m in renderer.messages(generate_patient(7, 8)) if name.startswith("ADT"))
    assert msa(send(smr_v2, adt)) == "AA"
