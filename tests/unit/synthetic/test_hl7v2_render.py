"""HL7 v2 rendering of synthetic patients: the messages validate clean, carry the same person as the record,
and every v2/MLLP mutation fails on the requirement it names."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.hl7v2 import Hl7v2Validator, parse_message
from testbed.hl7v2 import escape as v2_escape
from testbed.hl7v2 import unescape as v2_unescape
from testbed.hl7v2.mllp import frame, framing_issues
from testbed.national import NationalContent
from testbed.synthetic._content import load_content
from testbed.synthetic.hl7v2 import Hl7v2Renderer, escape, ts
from testbed.synthetic.journey import generate_records, iter_population
from testbed.synthetic.mutations import NotApplicable, catalogue
from testbed.synthetic.record import PatientRecord

SEED = 20251


@pytest.fixture(scope="module")
def national() -> NationalContent:
    return load_content()[1]


@pytest.fixture(scope="module")
def v2() -> Hl7v2Validator:
    return Hl7v2Validator.from_registry(load_content()[0])


@pytest.fixture(scope="module")
def renderer(national: NationalContent) -> Hl7v2Renderer:
    return Hl7v2Renderer(national)


@pytest.fixture(scope="module")
def population() -> list[PatientRecord]:
    return list(iter_population(SEED, 120))


@pytest.fixture(scope="module")
def rendered(renderer: Hl7v2Renderer, population: list[PatientRecord]) -> list[tuple[str, str]]:
    by_id = {r.id: r for r in population}
    out = []
    for record in population:
        out += renderer.messages(record)
        if record.duplicate_of in by_id:
            out.append(renderer.merge_message(record, by_id[record.duplicate_of]))
    return out


@given(st.text())
def test_escape_agrees_with_the_hl7v2_layer(value: str) -> None:
    assert escape(value) == v2_escape(value)
    assert v2_unescape(escape(value)) == value.replace("\r\n", "\n")


def test_rendered_messages_validate_clean(v2: Hl7v2Validator, rendered: list[tuple[str, str]]) -> None:
    events = {event for event, _ in rendered}
    assert {"ADT^A28", "ADT^A04", "ADT^A08", "ORU^R01"} <= events
    for event, text in rendered:
        outcome = v2.validate(text, event)
        assert outcome.issues == [], (event, [(i.location, i.message) for i in outcome.issues])
        assert parse_message(text).type_code == event


def test_rendering_is_deterministic(renderer: Hl7v2Renderer, population: list[PatientRecord]) -> None:
    record = next(r for r in population if len(r.encounters) > 1)
    first, again = renderer.messages(record), renderer.messages(generate_records(SEED, record.index)[0])
    assert first == again
    ids = [parse_message(text).control_id for _, text in first]
    assert len(set(ids)) == len(ids) and all(len(i) == 20 for i in ids)
    assert all(text.endswith("\r") and "\n" not in text for _, text in first)


def test_the_messages_carry_the_record(
    renderer: Hl7v2Renderer, national: NationalContent, population: list[PatientRecord]
) -> None:
    record = next(r for r in population if r.identity.ins and any(o.kind == "lab" for o in r.observations))
    messages = dict(renderer.messages(record))
    adt = parse_message(messages["ADT^A04"])
    ids = {}
    for r in range(1, 10):
        oid = adt.get(f"PID-3[{r}].4.2")
        if oid:
            ids.setdefault(oid, []).append(adt.get(f"PID-3[{r}].1"))
    assert ids[national.identifier("ins").oid] == [record.identity.ins]
    for inpe, number in record.identity.local:
        assert number in ids[national.local_system(inpe).removeprefix("urn:oid:")]
    assert (adt.get("PID-5[1].1"), adt.get("PID-5[1].2")) == (record.family.latin, record.given[0].latin)
    assert (adt.get("PID-5[2].1"), adt.get("PID-5[2].2")) == (record.family.arabic, record.given[0].arabic)
    assert adt.get("PID-7") == record.birth_date.strftime("%Y%m%d")
    assert adt.get("PID-8") == {"male": "M", "female": "F"}[record.sex]
    a = record.address
    assert [adt.get(f"PID-11.{c}") for c in (1, 3, 4, 5)] == [a.line, a.city, a.region_code, a.postal_code]
    first = min(record.encounters, key=lambda e: e.start)
    assert adt.get("PV1-19.1") == first.visit_number and adt.get("MSH-4") == first.establishment.inpe
    assert adt.get("MSH-7") == ts(first.start)
    labs = [o for o in record.observations if o.kind == "lab" and o.value is not None]
    codes = set()
    for event, text in renderer.messages(record):
        if event == "ORU^R01":
            msg = parse_message(text)
            for obx in msg.named("OBX"):
                codes.add((obx.value(3), obx.value(6)))
    assert codes == {(o.code.code, o.unit) for o in labs}


def test_escaping_of_names_and_addresses(
    renderer: Hl7v2Renderer, v2: Hl7v2Validator, population: list[PatientRecord]
) -> None:
    record = next(r for r in population if r.encounters)
    odd = dataclasses.replace(
        record,
        family=record.family._replace(latin="O'Neil|Smith^Jr"),
        address=record.address._replace(line="12 rue A & B ~ angle\\coin"),
    )
    text = dict(renderer.messages(odd))["ADT^A28"]
    msg = parse_message(text)
    assert msg.get("PID-5[1].1") == "O'Neil|Smith^Jr"
    assert msg.get("PID-11.1") == "12 rue A & B ~ angle\\coin"
    assert v2.validate(text).valid


def test_records_without_visits_give_no_message(
    renderer: Hl7v2Renderer, population: list[PatientRecord]
) -> None:
    record = next(r for r in population if r.encounters)
    assert renderer.messages(dataclasses.replace(record, encounters=())) == []


def test_merge_of_a_duplicate_identity(
    renderer: Hl7v2Renderer, v2: Hl7v2Validator, national: NationalContent
) -> None:
    pair = next(recs for i in range(2000) if len(recs := generate_records(SEED, i)) == 2)
    survivor, duplicate = pair
    event, text = renderer.merge_message(duplicate, survivor)
    assert event == "ADT^A40"
    assert v2.validate(text).issues == []
    msg = parse_message(text)
    ((inpe, number),) = duplicate.identity.local
    assert msg.get("MRG-1.1") == number and msg.get("MRG-1.4.1") == inpe
    if survivor.identity.ins:
        assert msg.get("PID-3[1].1") == survivor.identity.ins
    with pytest.raises(ValueError, match="not a duplicate"):
        renderer.merge_message(survivor, duplicate)


def test_settings_come_from_the_content(national: NationalContent, population: list[PatientRecord]) -> None:
    record = next(r for r in population if r.encounters)
    other = Hl7v2Renderer(
        national, settings={"version": "2.5", "countryCode": "XXX", "characterSet": "UNICODE UTF-8"}
    )
    assert parse_message(other.messages(record)[0][1]).get("MSH-17") == "XXX"


def test_every_v2_mutation_fails_on_its_requirement(
    v2: Hl7v2Validator, rendered: list[tuple[str, str]]
) -> None:
    rng = random.Random(5)
    sample = rendered[:80]
    for mutation in catalogue("hl7v2") + catalogue("mllp"):
        applied = 0
        for _, text in sample:
            artefact: str | bytes = frame(text) if mutation.standard == "mllp" else text
            try:
                broken = mutation.apply(artefact, rng)
            except NotApplicable:
                continue
            applied += 1
            if mutation.standard == "mllp":
                issues = framing_issues(broken.artefact)
            else:
                issues = v2.validate(broken.artefact).errors()
            cited = {r for i in issues for r in i.requirements}
            assert set(mutation.requirements) <= cited, (mutation.id, broken.location, issues)
            assert mutation.rule in {i.rule for i in issues}, (mutation.id, [i.rule for i in issues])
        assert applied, f"{mutation.id} applied to no message"
    assert {m.id for m in catalogue("hl7v2")} >= {
        "hl7v2.pid3-missing",
        "hl7v2.ins-key",
        "hl7v2.unknown-authority",
        "hl7v2.pid7-missing",
        "hl7v2.pid8-invalid",
        "hl7v2.region-invalid",
        "hl7v2.msh12-version",
        "hl7v2.obx6-not-ucum",
        "hl7v2.obx3-not-loinc",
    }
    assert len(catalogue("mllp")) == 4


def test_mutations_refuse_what_they_cannot_break() -> None:
    for mutation in catalogue("hl7v2") + catalogue("mllp"):
        with pytest.raises(NotApplicable):
            mutation.apply({"resourceType": "Patient"}, random.Random(0))
