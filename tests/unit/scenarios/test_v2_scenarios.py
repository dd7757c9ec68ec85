"""The HL7 v2, CDA and cross-standard SMR scenarios: the reference SMR passes them, broken SMRs fail them.

Each broken SMR is the embedded reference SMR with one defect: the simulator fault ``skip-validation``
(it then skips the v2 profiles and the CDA validation too), or a defect patched into its v2 or storage
code for the run (an ACK that does not echo MSH-10, AE without ERR, a mapped birth date a day off, lab
values off by a factor of ten, a CDA document re-serialized on storage). Each must fail exactly the
scenarios that test what it breaks. Runs go to two worker processes.
"""

from __future__ import annotations

import base64
import multiprocessing
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager, ExitStack, nullcontext
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from testbed.scenarios.schema import content_dir

ROOT = Path(__file__).resolve().parents[3]
SEED = 20260101
PATTERNS = ("v2-*.scenario.yaml", "xstd-*.scenario.yaml", "t4-cda-*.scenario.yaml")

V2_REJECTIONS = {
    "smr-v2-reject-ins-key",
    "smr-v2-reject-pid3-missing",
    "smr-v2-reject-pid8-invalid",
    "smr-v2-reject-version",
}
ORU_REJECTIONS = {"smr-v2-oru-reject-unit-not-ucum", "smr-v2-oru-reject-unknown-patient"}
CDA_REJECTIONS = {
    "smr-t4-cda-reject-external-entity",
    "smr-t4-cda-reject-ins-root",
    "smr-t4-cda-reject-no-record-target",
}
SKIP_VALIDATION_FAILS = V2_REJECTIONS | CDA_REJECTIONS | {"smr-v2-oru-reject-unit-not-ucum"}
"""What the ``skip-validation`` fault must fail here (the whole-suite proof adds these to its own)."""
WITH_MLLP = (
    {
        "smr-v2-a04-registration",
        "smr-v2-a08-update",
        "smr-v2-a28-person-information",
        "smr-v2-a40-merge",
        "smr-v2-oru-lab-results",
        "smr-xstd-adt-fhir-cda",
    }
    | V2_REJECTIONS
    | ORU_REJECTIONS
)
IDENTITY_AGREEMENT = {
    "smr-v2-a04-registration",
    "smr-v2-a08-update",
    "smr-v2-a28-person-information",
    "smr-xstd-adt-fhir-cda",
}
BROKEN: dict[str, set[str]] = {
    "skip-validation": SKIP_VALIDATION_FAILS,
    "ack-no-echo": WITH_MLLP,
    "ack-without-err": V2_REJECTIONS | ORU_REJECTIONS,
    "v2-birthdate-shift": IDENTITY_AGREEMENT,
    "oru-value-off": {"smr-v2-oru-lab-results"},
    "binary-reserialized": {"smr-t4-cda-submit-retrieve", "smr-xstd-adt-fhir-cda"},
}
"""Broken SMR → the scenarios of this set that must fail against it (and no other)."""


# --- the defects (patched into the worker process for one run) ---------------------------------------


def _rewrite_ack(edit: Callable[[list[str]], list[str]]) -> AbstractContextManager[Any]:
    from testbed.simulator import _mllp

    real = _mllp.make_ack

    def broken(message: Any, code: str, issues: Any = (), **kw: Any) -> str:
        segments = [s for s in real(message, code, issues, **kw).split("\r") if s]
        return "\r".join(edit(segments)) + "\r"

    return mock.patch.object(_mllp, "make_ack", broken)


def _no_echo(segments: list[str]) -> list[str]:
    return [
        s if not s.startswith("MSA|") else "|".join(s.split("|")[:2] + ["NOT-THE-CONTROL-ID"])
        for s in segments
    ]


def _no_err(segments: list[str]) -> list[str]:
    return [s for s in segments if not s.startswith("ERR")]


def _birthdate_shift() -> AbstractContextManager[Any]:
    from testbed.simulator._v2map import V2Mapper

    real = V2Mapper.patient

    def broken(self: Any, pid: Any) -> dict[str, Any]:
        patient = real(self, pid)
        if len(patient.get("birthDate", "")) == 10:
            day = date.fromisoformat(patient["birthDate"]) + timedelta(days=1)
            patient["birthDate"] = day.isoformat()
        return patient

    return mock.patch.object(V2Mapper, "patient", broken)


def _value_off() -> AbstractContextManager[Any]:
    from testbed.simulator._v2map import V2Mapper

    real = V2Mapper._observation

    def broken(self: Any, obx: Any, patient_id: str, order_time: str) -> dict[str, Any]:
        obs = real(self, obx, patient_id, order_time)
        if "valueQuantity" in obs:
            obs["valueQuantity"]["value"] = obs["valueQuantity"]["value"] * 10 + 1
        return obs

    return mock.patch.object(V2Mapper, "_observation", broken)


def _reserialized() -> AbstractContextManager[Any]:
    from lxml import etree

    from testbed.simulator._writes import Writes

    real = Writes.with_identity

    def broken(self: Any, resource: dict[str, Any], *, previous: Any) -> Any:
        if resource.get("resourceType") == "Binary" and resource.get("data"):
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            try:
                tree = etree.fromstring(base64.b64decode(resource["data"]), parser)
            except etree.XMLSyntaxError:
                tree = None
            if tree is not None:
                again = etree.tostring(tree, encoding="UTF-8", xml_declaration=True)  # the comment is lost
                resource = {**resource, "data": base64.b64encode(again).decode("ascii")}
        return real(self, resource, previous=previous)

    return mock.patch.object(Writes, "with_identity", broken)


DEFECTS: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "ack-no-echo": lambda: _rewrite_ack(_no_echo),
    "ack-without-err": lambda: _rewrite_ack(_no_err),
    "v2-birthdate-shift": _birthdate_shift,
    "oru-value-off": _value_off,
    "binary-reserialized": _reserialized,
}


def scenario_files() -> list[Path]:
    folder = content_dir() / "smr"
    return sorted(f for pattern in PATTERNS for f in folder.glob(pattern))


def run_variant(broken: str | None, out: str) -> dict[str, list[str]]:
    """Run this file's scenarios against the embedded SMR, broken as ``broken`` says."""
    sys.path.insert(0, str(ROOT))
    from testbed.scenarios.catalogue import load_catalogue
    from testbed.scenarios.model import load_suite
    from testbed.scenarios.session import RunOptions, RunSession

    suite = load_suite(scenario_files(), catalogue=load_catalogue())
    fault = frozenset([broken]) if broken == "skip-validation" else frozenset()
    found: dict[str, list[str]] = {}
    with ExitStack() as stack:
        stack.enter_context(DEFECTS[broken]() if broken in DEFECTS else nullcontext())
        options = RunOptions(seed=SEED, out=Path(out), faults=fault, audit_wait=1.0)
        with RunSession(options) as session:
            for scenario, result in session.run(suite):
                found.setdefault(result.result.value, []).append(scenario.id)
                if result.result.value in ("fail", "error"):
                    found.setdefault("why", []).append(f"{scenario.id}: {result.failure_text()[:500]}")
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[dict[str, list[str]]]]]:
    out = tmp_path_factory.mktemp("v2-proof")
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    jobs = {"reference": pool.submit(run_variant, None, str(out / "reference"))}
    for name in BROKEN:
        jobs[name] = pool.submit(run_variant, name, str(out / name))
    yield jobs
    pool.shutdown(wait=True)


def test_the_scenario_set_is_the_expected_one() -> None:
    ids = {f.name.removesuffix(".scenario.yaml") for f in scenario_files()}
    every = WITH_MLLP | CDA_REJECTIONS | {"smr-t4-cda-submit-retrieve"}
    assert {f"smr-{i}" for i in ids} == every
    assert set(DEFECTS) | {"skip-validation"} == set(BROKEN)


def test_the_reference_smr_passes_them(runs: dict[str, Future[dict[str, list[str]]]]) -> None:
    found = runs["reference"].result()
    assert found.get("fail", []) + found.get("error", []) == [], "\n".join(found.get("why", []))
    assert len(found["pass"]) == len(scenario_files())


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_smr_fails_exactly_the_matching_scenarios(
    broken: str, runs: dict[str, Future[dict[str, list[str]]]]
) -> None:
    found = runs[broken].result()
    assert found.get("error", []) == [], "\n".join(found.get("why", []))
    assert set(found.get("fail", [])) == BROKEN[broken], "\n".join(found.get("why", []))


# --- the assertions themselves, on good and bad inputs ---------------------------------------------


class _Runtime:
    step_started = 0.0
    audit_wait = 0.1

    def __init__(self, national: Any) -> None:
        self.services = type("S", (), {"national": national})()


def _reply(body: Any) -> Any:
    import json

    from testbed.scenarios.exchange import Exchange, body_json

    data = json.dumps(body).encode()
    return Exchange(
        "http",
        "outbound",
        {"method": "GET", "path": "x", "headers": {}, "body": {"format": "empty"}},
        {"status": 200, "headers": {}, "body": body_json(data, "application/fhir+json")},
    )


def _ack_exchange(sent: str, ack: str) -> Any:
    from testbed.scenarios.exchange import Exchange

    return Exchange("mllp", "outbound", {"message": sent}, {"message": ack})


@pytest.fixture(scope="module")
def record(shared: Any, national_content: Any) -> Any:
    from testbed.scenarios.fixtures import FixtureFactory
    from testbed.scenarios.model import FixtureSpec

    factory = FixtureFactory(shared.context.registry, national_content)
    return factory.build(FixtureSpec("patient", 0, {}, (), ("ins", "lab", "document", "Condition")), 4242)


def _judge(kind: str, subject: Any, args: Any, national: Any) -> Any:
    from testbed.scenarios.checks import CHECKS, CheckContext

    runtime: Any = _Runtime(national)
    return CHECKS[kind](CheckContext(subject, "response", runtime, "fhir"), args)


def test_acknowledgement_passes_a_correct_ack_and_fails_broken_ones(
    record: Any, national_content: Any
) -> None:
    from testbed.core.issues import Issue, IssueCode, Severity
    from testbed.hl7v2.ack import make_ack
    from testbed.scenarios.results import StepFailure

    sent = record.v2.a04
    ok = make_ack(sent, "AA")
    _judge("acknowledgement", _ack_exchange(sent, ok), "AA", national_content)
    issue = Issue(Severity.ERROR, IssueCode.REQUIRED, "PID-3", "PID-3 is required.")
    ae = make_ack(sent, "AE", [issue])
    _judge(
        "acknowledgement",
        _ack_exchange(sent, ae),
        {"code": ["AE", "AR"], "error_at": "PID-3[1].1"},
        national_content,
    )
    bad = {
        "MSA-2 not echoed": (
            "\r".join(_no_echo(ok.split("\r"))),
            "AA",
        ),
        "AE without ERR": (make_ack(sent, "AE"), {"code": ["AE"]}),
        "AE for a good message": (ae, "AA"),
        "AA for a bad message": (ok, {"code": ["AE", "AR"]}),
        "AR when only AE is allowed": (make_ack(sent, "AR", [issue]), {"code": ["AE"]}),
        "ERR at another field": (ae, {"code": ["AE"], "error_at": "PID-8"}),
        "not an ACK": ("garbage", "AA"),
    }
    for why, (ack, args) in bad.items():
        with pytest.raises(StepFailure):
            _judge("acknowledgement", _ack_exchange(sent, ack), args, national_content)
            pytest.fail(why)


def test_agree_passes_on_the_same_patient_in_v2_fhir_and_cda(record: Any, national_content: Any) -> None:
    identity = ["identifiers", "names", "birth_date", "sex"]
    doc = record.cda.index_with("Condition")
    _judge(
        "agree",
        _reply(record.resource),
        {"v2": record.v2.a04, "cda": record.cda.text(doc), "compare": identity},
        national_content,
    )
    conditions = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": record.take("Condition", record.cda.entry_index(doc, "Condition"))}],
    }
    _judge("agree", _reply(conditions), {"cda": record.cda.text(doc), "compare": ["codes"]}, national_content)
    labs = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in record.all("Observation")],
    }
    _judge("agree", _reply(labs), {"v2": record.v2.r01, "compare": ["results"]}, national_content)
    bundle = record.document_bundle(doc)
    docref = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"
    )
    binary = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
    _judge(
        "agree", _reply(docref), {"cda": record.cda.text(doc), "compare": ["document_type"]}, national_content
    )
    _judge(
        "agree",
        _reply(binary),
        {"cda": record.cda.text(doc), "compare": ["bytes", *identity]},
        national_content,
    )


def _broken_patient(patient: dict[str, Any], how: str, national: Any) -> dict[str, Any]:
    import copy

    p = copy.deepcopy(patient)
    if how == "identifiers":
        p["identifier"] = p["identifier"][:1]
    elif how == "identifiers-ins":
        ins = national.identifier("ins").uri
        for ident in p["identifier"]:
            if ident["system"] == ins:
                ident["value"] = ident["value"][:-2] + f"{(int(ident['value'][-2:]) + 1) % 100:02d}"
    elif how == "names":
        p["name"][0]["family"] += "x"
    elif how == "birth_date":
        p["birthDate"] = "1900-01-01"
    elif how == "sex":
        p["gender"] = "female" if p["gender"] != "female" else "male"
    return p


@pytest.mark.parametrize("how", ["identifiers", "identifiers-ins", "names", "birth_date", "sex"])
def test_agree_fails_when_the_identity_differs(how: str, record: Any, national_content: Any) -> None:
    from testbed.scenarios.results import StepFailure

    aspect = how.split("-")[0]
    patient = _broken_patient(record.resource, how, national_content)
    for source in ({"v2": record.v2.a04}, {"cda": record.cda.text(0)}, {"fhir": record.resource}):
        with pytest.raises(StepFailure, match=aspect.replace("_", " ")):
            _judge("agree", _reply(patient), {**source, "compare": [aspect]}, national_content)


def test_agree_fails_when_codes_results_type_or_bytes_differ(record: Any, national_content: Any) -> None:
    import copy

    from testbed.scenarios.results import StepError, StepFailure

    doc = record.cda.index_with("Condition")
    cda = record.cda.text(doc)
    condition = record.take("Condition", record.cda.entry_index(doc, "Condition"))
    condition["code"]["coding"][0]["code"] = "Z99.9"
    with pytest.raises(StepFailure, match="codes"):
        _judge("agree", _reply(condition), {"cda": cda, "compare": ["codes"]}, national_content)
    labs = [copy.deepcopy(r) for r in record.all("Observation")]
    for obs in labs:
        if "valueQuantity" in obs:
            obs["valueQuantity"]["value"] = obs["valueQuantity"]["value"] + 1
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in labs]}
    with pytest.raises(StepFailure, match="results"):
        _judge("agree", _reply(bundle), {"v2": record.v2.r01, "compare": ["results"]}, national_content)
    submission = record.document_bundle(doc)
    docref = next(
        e["resource"] for e in submission["entry"] if e["resource"]["resourceType"] == "DocumentReference"
    )
    for coding in docref["type"]["coding"]:
        coding["code"] = "11502-2" if coding["code"] != "11502-2" else "18842-5"
    with pytest.raises(StepFailure, match="document type"):
        _judge("agree", _reply(docref), {"cda": cda, "compare": ["document_type"]}, national_content)
    altered = cda.replace("<title>", "<title> ", 1).encode()
    binary = {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(altered).decode()}
    with pytest.raises(StepFailure, match="bytes"):
        _judge("agree", _reply(binary), {"cda": cda, "compare": ["bytes"]}, national_content)
    with pytest.raises(StepFailure, match="not a FHIR resource"):
        _judge("agree", _reply([1, 2]), {"cda": cda, "compare": ["codes"]}, national_content)
    with pytest.raises(StepError, match="source"):
        _judge("agree", _reply(docref), {"compare": ["codes"]}, national_content)
    with pytest.raises(StepError, match="cannot be read"):
        _judge("agree", _reply(docref), {"cda": "<not xml", "compare": ["codes"]}, national_content)


# --- the renderings fixtures offer --------------------------------------------------------------------


def test_v2_view_gives_messages_updates_and_edits(record: Any, shared: Any, national_content: Any) -> None:
    from testbed.hl7v2 import Hl7v2Validator, parse_message
    from testbed.scenarios.results import StepError

    a04, a08 = parse_message(record.v2.a04), parse_message(record.v2.a08)
    assert a08.type_code == "ADT^A08" and a08.control_id != a04.control_id
    assert record.v2("ADT^A04") == record.v2.a04 and "ADT^A04" in record.v2.events()
    moved = parse_message(record.v2.edit("A08", {"PID-11[1].3": "Imilchil", "PID-13.1": "x"}))
    assert moved.get("PID-11[1].3") == "Imilchil" and moved.get("PID-13.1") == "x"
    assert moved.get("PID-3") == a04.get("PID-3")
    validator = Hl7v2Validator.from_registry(shared.context.registry)
    assert validator.validate(record.v2.a08, "a08").errors() == []
    assert validator.validate(record.v2.edit("A08", {"PID-11[1].3": "Imilchil"}), "a08").errors() == []
    for bad in (
        lambda: record.v2("A99"),
        lambda: record.v2.a40,
        lambda: record.v2.edit("A04", {"PID3": "x"}),
    ):
        with pytest.raises(StepError):
            bad()
    with pytest.raises(StepError, match="no PV2"):
        record.v2.edit("A04", {"PV2-3": "x"})
    with pytest.raises(StepError, match="declares no hl7v2 mutation"):
        record.v2.mutation_location("A04")


def test_fixture_mutations_reach_v2_and_cda(shared: Any, national_content: Any) -> None:
    from lxml import etree

    from testbed.hl7v2 import parse_message
    from testbed.scenarios.fixtures import FixtureFactory
    from testbed.scenarios.model import FixtureSpec

    factory = FixtureFactory(shared.context.registry, national_content)
    spec = FixtureSpec("p", 0, {}, ("hl7v2.obx6-not-ucum", "cda.no-record-target"), ("ins", "document"))
    fixture = factory.build(spec, 99)
    assert "ORU^R01" in fixture.v2.events()  # the first patient that has something the mutations break
    assert fixture.v2.mutated("R01") != fixture.v2.r01
    where = fixture.v2.mutation_location("R01")
    assert where.startswith("OBX") and where.endswith("-6.1")
    assert parse_message(fixture.v2.mutated("R01")).get(where) != parse_message(fixture.v2.r01).get(where)
    bundle = fixture.document_bundle(0, mutated=True)
    binary = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary")
    sent = etree.fromstring(base64.b64decode(binary["data"]))
    assert sent.find("{urn:hl7-org:v3}recordTarget") is None
    clean = fixture.document_bundle(0)
    binary = next(e["resource"] for e in clean["entry"] if e["resource"]["resourceType"] == "Binary")
    assert base64.b64decode(binary["data"]) == fixture.cda.bytes(0) == fixture.cda.text(0).encode()
    assert getattr(fixture.cda, fixture.record.documents[0].type) == fixture.cda.text(0)
