"""The MA message profiles: every rule passes on a conforming message and fails, citing its requirements,
on a broken one."""

from __future__ import annotations

import pytest

from testbed.core.issues import Severity, ValidationOutcome
from testbed.hl7v2 import Hl7v2Validator

from .conftest import FIXTURES, Messages, drop_segment, ins, set_field


def errors(outcome: ValidationOutcome) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(i.location, i.rule, i.requirements) for i in outcome.errors()]


def fails(v2: Hl7v2Validator, text: str, requirement: str, *, location: str | None = None) -> None:
    outcome = v2.validate(text, "t")
    found = [i for i in outcome.errors() if requirement in i.requirements]
    assert found, f"no error citing {requirement}: {errors(outcome)}"
    if location is not None:
        assert location in {i.location for i in found}, errors(outcome)


@pytest.mark.parametrize("trigger", ["A01", "A03", "A04", "A08", "A28", "A31"])
def test_conforming_adt_messages_are_valid(v2: Hl7v2Validator, msgs: Messages, trigger: str) -> None:
    outcome = v2.validate(msgs.adt(trigger), "adt")
    assert outcome.issues == [], errors(outcome)
    assert outcome.standard == "hl7v2" and outcome.versions


def test_conforming_oru_a40_and_ack_are_valid(v2: Hl7v2Validator, msgs: Messages) -> None:
    for text in (msgs.oru(), msgs.a40()):
        outcome = v2.validate(text, "m")
        assert outcome.issues == [], errors(outcome)
    ack = (
        "MSH|^~\\&|SMR|SMR|HIS|123456789|20250105||ACK^A04^ACK|A1|P|2.5|||||MAR|UNICODE UTF-8\r"
        "MSA|AA|MSG0001\r"
    )
    assert v2.validate(ack).issues == []


def test_bytes_in_utf8_are_valid(v2: Hl7v2Validator, msgs: Messages) -> None:
    assert v2.validate(msgs.adt().encode("utf-8")).valid


# ---------------------------------------------------------------- message type, structure


def test_message_type_outside_the_profiles(v2: Hl7v2Validator, msgs: Messages) -> None:
    text = set_field(msgs.adt(), "MSH-9", "ADT^A05^ADT_A05")
    outcome = v2.validate(text)
    assert ("MSH-9", "msh-9:message-type", ("MA-V2-001",)) in errors(outcome)
    text = set_field(text, "PID-8", "X")  # segments are still checked against the MA constraints
    fails(v2, text, "MA-V2-015")


def test_message_structure_must_match(v2: Hl7v2Validator, msgs: Messages) -> None:
    fails(v2, set_field(msgs.adt(), "MSH-9.3", "ADT_A05"), "MA-V2-001", location="MSH-9.3")


def test_required_segment_missing(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate(drop_segment(msgs.adt(), "EVN"))
    assert ("EVN", "segment:usage", ("MA-V2-001", "MA-V2-025")) in errors(outcome)
    fails(v2, drop_segment(msgs.a40(), "MRG"), "MA-V2-027", location="MRG")
    fails(v2, drop_segment(msgs.oru(), "PID"), "MA-V2-028", location="PID")


def test_segment_order_and_unexpected_segments(v2: Hl7v2Validator, msgs: Messages) -> None:
    lines = msgs.adt().split("\r")
    swapped = "\r".join([lines[0], lines[1], lines[3], lines[2], *lines[4:]])
    assert any(r == "segment:order" for _, r, _ in errors(v2.validate(swapped)))
    assert any(r == "segment:unexpected" for _, r, _ in errors(v2.validate(msgs.adt() + "ORC|NW\r")))
    twice = msgs.adt() + msgs.pid() + "\r"
    assert any(r == "segment:order" for _, r, _ in errors(v2.validate(twice)))


def test_z_segments_are_warned_not_errors(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate(msgs.adt() + "ZPI|1|local\r")
    assert outcome.valid
    assert [i.rule for i in outcome.issues] == ["segment:z"]


def test_batch_counts(v2: Hl7v2Validator, msgs: Messages) -> None:
    batch = "BHS|^~\\&|HIS\r" + msgs.adt() + msgs.oru() + "BTS|2\r"
    assert v2.validate(batch).valid
    outcome = v2.validate(batch.replace("BTS|2", "BTS|3"))
    assert ("BTS-1", "bts-1:count", ("MA-V2-001",)) in errors(outcome)
    bad = "BHS|^~\\&|HIS\r" + msgs.adt() + set_field(msgs.oru(), "PID-8", "X") + "BTS|2\r"
    assert [loc for loc, _, _ in errors(v2.validate(bad))] == ["message 2: PID-8"]


def test_unreadable_input_is_fatal(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate("this is not hl7", "x.hl7")
    assert outcome.issues[0].severity is Severity.FATAL and outcome.issues[0].requirements == ("MA-V2-001",)
    bad_utf8 = msgs.adt().encode("utf-8").replace(b"Casablanca", b"Casabl\xe0nca")
    fatal = v2.validate(bad_utf8).issues[0]
    assert (
        fatal.severity is Severity.FATAL
        and fatal.requirements == ("MA-V2-006",)
        and fatal.location == "line 3"
    )


# ---------------------------------------------------------------- MSH


@pytest.mark.parametrize(
    ("location", "value", "requirement"),
    [
        ("MSH-3", "", "MA-V2-002"),
        ("MSH-4", "", "MA-V2-003"),
        ("MSH-4", "HOSPITAL", "MA-V2-003"),
        ("MSH-12", "2.3", "MA-V2-004"),
        ("MSH-17", "FRA", "MA-V2-005"),
        ("MSH-17", "", "MA-V2-005"),
        ("MSH-18", "8859/1", "MA-V2-006"),
        ("MSH-10", "", "MA-V2-001"),
        ("MSH-10", "X" * 21, "MA-V2-001"),
        ("MSH-7", "2025-01-05", "MA-V2-001"),
        ("MSH-11", "Q", "MA-V2-001"),
    ],
)
def test_msh_rules(v2: Hl7v2Validator, msgs: Messages, location: str, value: str, requirement: str) -> None:
    assert v2.validate(msgs.adt()).valid
    fails(v2, set_field(msgs.adt(), location, value), requirement)


def test_msh_locations_and_rules(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate(set_field(msgs.adt(), "MSH-12", "2.3"))
    assert ("MSH-12.1", "MSH-12.1:fixed", ("MA-V2-004",)) in errors(outcome)
    outcome = v2.validate(set_field(msgs.adt(), "MSH-10", "X" * 21))
    assert ("MSH-10", "MSH-10:length", ("MA-V2-001",)) in errors(outcome)
    outcome = v2.validate(set_field(msgs.adt(), "MSH-7", "20251301"))
    assert ("MSH-7.1", "MSH-7:type", ("MA-V2-001",)) in errors(outcome)


# ---------------------------------------------------------------- PID-3 identifiers


def test_identifier_authority_rules(v2: Hl7v2Validator, msgs: Messages) -> None:
    unknown = msgs.pid3.replace(msgs.cnie_hd, "XX&1.2.3.4&ISO")
    outcome = v2.validate(msgs.adt().replace(msgs.pid3, unknown))
    assert ("PID-3[2].4.2", "cx:authority", ("MA-V2-007", "MA-ID-023")) in errors(outcome)
    only_ns = msgs.pid3.replace(msgs.cnie_hd, msgs.cnie_hd.split("&")[0])
    fails(v2, msgs.adt().replace(msgs.pid3, only_ns), "MA-V2-007", location="PID-3[2].4")
    no_authority = msgs.pid3.replace(msgs.cnie_hd, "")
    fails(v2, msgs.adt().replace(msgs.pid3, no_authority), "MA-V2-007", location="PID-3[2].4")
    wrong_ns = msgs.pid3.replace(msgs.ins_hd, "CNSS&" + msgs.ins_hd.split("&", 1)[1])
    fails(v2, msgs.adt().replace(msgs.pid3, wrong_ns), "MA-V2-007", location="PID-3[1].4.1")
    not_iso = msgs.pid3.replace(msgs.ins_hd, msgs.ins_hd.replace("&ISO", "&DNS"))
    fails(v2, msgs.adt().replace(msgs.pid3, not_iso), "MA-V2-007", location="PID-3[1].4.3")
    bad_arc = msgs.pid3.replace(msgs.local_oid, msgs.local_oid[:-9] + "12AB")
    fails(v2, msgs.adt().replace(msgs.pid3, bad_arc), "MA-ID-019", location="PID-3[3].4.2")
    short_inpe = msgs.pid3.replace(msgs.local_oid, msgs.local_oid[:-1])
    fails(v2, msgs.adt().replace(msgs.pid3, short_inpe), "MA-ID-019")


def test_identifier_type_codes(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate(
        msgs.adt().replace("BK123456^^^" + msgs.cnie_hd + "^NI", "BK123456^^^" + msgs.cnie_hd + "^NH")
    )
    assert ("PID-3[2].5", "cx:type", ("MA-V2-008",)) in errors(outcome)
    sejour = msgs.pid3 + f"~AB12345^^^{msgs.sejour_hd}^NI"
    outcome = v2.validate(msgs.adt().replace(msgs.pid3, sejour))
    assert ("PID-3[4].5", "cx:type", ("MA-V2-008", "MA-ID-010")) in errors(outcome)
    assert v2.validate(msgs.adt().replace(msgs.pid3, msgs.pid3 + f"~AB12345^^^{msgs.sejour_hd}^PRC")).valid
    local_mr = msgs.pid3.replace("ISO^PI", "ISO^MR")
    assert v2.validate(msgs.adt().replace(msgs.pid3, local_mr)).valid
    local_xx = msgs.pid3.replace("ISO^PI", "ISO^XX")
    fails(v2, msgs.adt().replace(msgs.pid3, local_xx), "MA-ID-020", location="PID-3[3].5")


def test_identifier_values(v2: Hl7v2Validator, msgs: Messages) -> None:
    wrong_key = msgs.ins[:-2] + f"{(int(msgs.ins[-2:]) + 1) % 100:02d}"
    outcome = v2.validate(msgs.adt().replace(msgs.ins, wrong_key))
    found = [i for i in outcome.errors() if i.rule == "ins:check-digit"]
    assert found and found[0].location == "PID-3[1].1"
    assert {"MA-ID-003", "MA-ID-024", "MA-XSTD-001"} <= set(found[0].requirements)
    fails(v2, msgs.adt().replace(msgs.ins, msgs.ins[:-1]), "MA-ID-002")
    fails(v2, msgs.adt().replace("BK123456", "123456"), "MA-ID-007", location="PID-3[2].1")
    cnss = msgs.n.identifier("cnss").v2_hd
    fails(v2, msgs.adt().replace(msgs.pid3, msgs.pid3 + f"~12345^^^{cnss}^SS"), "MA-ID-016")
    assert v2.validate(msgs.adt().replace(msgs.pid3, msgs.pid3 + f"~123456789^^^{cnss}^SS")).valid


def test_at_most_one_ins(v2: Hl7v2Validator, msgs: Messages) -> None:
    two = msgs.pid3 + f"~{ins('2222222222')}^^^{msgs.ins_hd}^NH"
    outcome = v2.validate(msgs.adt().replace(msgs.pid3, two))
    assert ("PID-3[4]", "cx:single-ins", ("MA-ID-025",)) in errors(outcome)


def test_passport_authority(v2: Hl7v2Validator, msgs: Messages) -> None:
    good = msgs.pid3 + f"~X1234567^^^&{msgs.passport_oid}250&ISO^PPN"
    assert v2.validate(msgs.adt().replace(msgs.pid3, good)).valid
    bad = msgs.pid3 + f"~X1234567^^^&{msgs.passport_oid}FR&ISO^PPN"
    fails(v2, msgs.adt().replace(msgs.pid3, bad), "MA-ID-011", location="PID-3[4].4.2")


def test_pid3_missing(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate(set_field(msgs.adt(), "PID-3", ""))
    assert ("PID-3", "PID-3:usage", ("MA-V2-007",)) in errors(outcome)
    fails(v2, set_field(msgs.adt(), "PID-3", "^^^" + msgs.ins_hd + "^NH"), "MA-V2-007", location="PID-3[1].1")


# ---------------------------------------------------------------- PID names, dates, sex, address


def test_names(v2: Hl7v2Validator, msgs: Messages) -> None:
    adt = msgs.adt()
    arabic_first = set_field(adt, "PID-5", "العمراني^فاطمة^^^^^L~EL AMRANI^Fatima^^^^^L")
    outcome = v2.validate(arabic_first)
    assert ("PID-5[1]", "xpn:latin", ("MA-V2-010", "MA-V2-013")) in errors(outcome)
    assert ("PID-5[2]", "xpn:arabic", ("MA-V2-011", "MA-V2-013")) in errors(outcome)
    fails(v2, set_field(adt, "PID-5", "EL AMRANI^Fatima^^^^^L~Amrani^Fati^^^^^L"), "MA-V2-011")
    fails(v2, set_field(adt, "PID-5", "EL عمراني^Fatima^^^^^L"), "MA-V2-010")
    fails(v2, set_field(adt, "PID-5", "EL AMRANI^Fatima"), "MA-V2-012", location="PID-5[1].7")
    fails(v2, set_field(adt, "PID-5", "EL AMRANI^^^^^^L"), "MA-V2-009", location="PID-5[1].2")
    fails(v2, set_field(adt, "PID-5", "^Fatima^^^^^L"), "MA-V2-009", location="PID-5[1].1")
    three = "A^B^^^^^L~عمر^علي^^^^^L~C^D^^^^^L"
    fails(v2, set_field(adt, "PID-5", three), "MA-V2-009", location="PID-5")
    assert v2.validate(set_field(adt, "PID-5", "D'AMOUR-ÉLIE^Zoé^^^^^L")).valid


@pytest.mark.parametrize(
    ("location", "value", "requirement"),
    [
        ("PID-7", "", "MA-V2-014"),
        ("PID-7", "19801332", "MA-V2-014"),
        ("PID-8", "", "MA-V2-015"),
        ("PID-8", "X", "MA-V2-015"),
        ("PID-11[1].4", "13", "MA-V2-016"),
        ("PID-11[1].4", "", "MA-V2-016"),
    ],
)
def test_demographics(
    v2: Hl7v2Validator, msgs: Messages, location: str, value: str, requirement: str
) -> None:
    fails(v2, set_field(msgs.adt(), location, value), requirement)


def test_region_cites_the_terminology_requirements(v2: Hl7v2Validator, msgs: Messages) -> None:
    outcome = v2.validate(set_field(msgs.adt(), "PID-11[1].4", "13"))
    (issue,) = outcome.errors()
    assert issue.location == "PID-11[1].4" and issue.rule == "PID-11.4:table"
    assert issue.requirements == ("MA-V2-016", "MA-TERM-001", "MA-TERM-015")
    assert v2.validate(set_field(msgs.adt(), "PID-11", "")).valid  # an address is RE


def test_coverage_scheme(v2: Hl7v2Validator, msgs: Messages) -> None:
    fails(v2, set_field(msgs.adt(), "IN1-2", "AMO-XYZ"), "MA-TERM-002", location="IN1-2.1")


# ---------------------------------------------------------------- PV1


def test_visit_rules(v2: Hl7v2Validator, msgs: Messages) -> None:
    adt = msgs.adt()
    fails(v2, set_field(adt, "PV1-3", ""), "MA-V2-017", location="PV1-3")
    fails(v2, set_field(adt, "PV1-3", "WARD"), "MA-V2-017", location="PV1-3.4")
    fails(v2, set_field(adt, "PV1-19", ""), "MA-V2-018", location="PV1-19")
    fails(v2, set_field(adt, "PV1-2", "Z"), "MA-V2-001", location="PV1-2")
    fails(v2, adt.replace("&ISO^VN", "&ISO^QQ"), "MA-V2-018", location="PV1-19.5")
    assert v2.validate(set_field(msgs.adt("A28"), "PV1-3", "")).valid  # no visit: no location needed


def test_practitioners_are_identified_by_inpe(v2: Hl7v2Validator, msgs: Messages) -> None:
    adt = msgs.adt()
    fails(
        v2,
        adt.replace(msgs.xcn, msgs.xcn.replace(msgs.inpe_hd, "X&1.2.3&ISO")),
        "MA-ID-014",
        location="PV1-7[1].9.2",
    )
    fails(
        v2,
        adt.replace(msgs.xcn, msgs.xcn.replace(msgs.PRACTITIONER, "12345")),
        "MA-ID-013",
        location="PV1-7[1].1",
    )
    fails(
        v2, adt.replace(msgs.xcn, msgs.xcn.replace(msgs.PRACTITIONER, "")), "MA-ID-014", location="PV1-7[1].1"
    )


# ---------------------------------------------------------------- ORU


def test_observation_identifier_is_loinc(v2: Hl7v2Validator, msgs: Messages) -> None:
    oru = msgs.oru()
    outcome = v2.validate(set_field(oru, "OBX[1]-3", "GLU^Glycemie^L"))
    assert ("OBX[1]-3.3", "obx-3:loinc", ("MA-V2-019", "MA-XSTD-004")) in errors(outcome)
    fails(v2, set_field(oru, "OBX[1]-3", "2345-8^Glucose^LN"), "MA-V2-019", location="OBX[1]-3.1")
    assert v2.validate(set_field(oru, "OBX[1]-3", "GLU^Glycemie^L^2345-7^Glucose^LN")).valid
    outside = v2.validate(set_field(oru, "OBX[1]-3", "94500-6^SARS-CoV-2 RNA^LN"))
    assert outside.valid  # extensible binding: a warning
    assert [(i.severity, i.requirements) for i in outside.issues] == [
        (Severity.WARNING, ("MA-V2-019", "MA-TERM-009", "MA-TERM-016"))
    ]


def test_units_are_ucum(v2: Hl7v2Validator, msgs: Messages) -> None:
    oru = msgs.oru()
    outcome = v2.validate(set_field(oru, "OBX[1]-6", "mg per dL^^UCUM"))
    assert ("OBX[1]-6.1", "obx-6:ucum", ("MA-V2-020",)) in errors(outcome)
    fails(v2, set_field(oru, "OBX[1]-6", "g/L^^L"), "MA-V2-020", location="OBX[1]-6.3")
    fails(v2, set_field(oru, "OBX[1]-6", ""), "MA-V2-020", location="OBX[1]-6")
    unknown_atom = v2.validate(set_field(oru, "OBX[1]-6", "grammes^^UCUM"))
    assert unknown_atom.valid and [i.severity for i in unknown_atom.issues] == [Severity.WARNING]


def test_observation_status_and_value(v2: Hl7v2Validator, msgs: Messages) -> None:
    oru = msgs.oru()
    fails(v2, set_field(oru, "OBX[1]-11", ""), "MA-V2-021", location="OBX[1]-11")
    fails(v2, set_field(oru, "OBX[1]-11", "Q"), "MA-V2-021", location="OBX[1]-11")
    fails(v2, set_field(oru, "OBX[1]-5", "high"), "MA-V2-001", location="OBX[1]-5")
    fails(v2, set_field(oru, "OBX[1]-5", ""), "MA-V2-001", location="OBX[1]-5")
    assert v2.validate(set_field(set_field(oru, "OBX[1]-5", ""), "OBX[1]-11", "X")).valid
    fails(v2, set_field(oru, "OBX[1]-2", ""), "MA-V2-001", location="OBX[1]-2")


# ---------------------------------------------------------------- A40 merge


def test_merge_keeps_the_surviving_ins(v2: Hl7v2Validator, msgs: Messages) -> None:
    merged_ins = f"{ins('5555555555')}^^^{msgs.ins_hd}^NH"
    local_only = f"MRN42^^^{msgs.FACILITY}&{msgs.local_oid}&ISO^PI"
    outcome = v2.validate(msgs.a40(survivor_pid3=local_only, merged=merged_ins))
    assert ("PID-3", "a40:keeps-ins", ("MA-ID-026", "MA-V2-027")) in errors(outcome)
    assert v2.validate(msgs.a40(merged=merged_ins)).valid
    fails(v2, msgs.a40(merged="DUP77^^^XX&1.2.3&ISO^PI"), "MA-V2-007", location="MRG-1[1].4.2")


# ---------------------------------------------------------------- robustness and citations


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.hl7")), ids=lambda p: p.name)
def test_messages_from_other_countries_never_crash(v2: Hl7v2Validator, path) -> None:  # type: ignore[no-untyped-def]
    outcome = v2.validate(path.read_bytes(), path.name)
    assert outcome.standard == "hl7v2"
    assert all(i.requirements for i in outcome.issues)
    assert not outcome.valid  # none of them is an MA message
    assert all(i.severity is not Severity.FATAL for i in outcome.issues)


def test_every_issue_cites_requirements(v2: Hl7v2Validator, msgs: Messages) -> None:
    broken = set_field(set_field(msgs.oru(), "PID-8", "Q"), "OBX[2]-6", "x y")
    broken = set_field(broken, "MSH-18", "ASCII")
    outcome = v2.validate(broken + "ZZZ|1\rNK1|1\r")
    assert outcome.issues and all(i.requirements for i in outcome.issues)


def test_random_damage_never_raises(v2: Hl7v2Validator, msgs: Messages) -> None:
    import random

    from testbed.hl7v2.ack import make_ack

    rng = random.Random(9)
    alphabet = '|^~\\&\r\n#*$ABZ09 \x0b\x1c"é\u0627'
    bases = [msgs.adt(), msgs.oru(), msgs.a40(), msgs.adt("A28")]
    for n in range(400):
        chars = list(rng.choice(bases))
        for _ in range(rng.randrange(1, 6)):
            i = rng.randrange(len(chars))
            op = rng.randrange(3)
            if op == 0:
                chars[i] = rng.choice(alphabet)
            elif op == 1:
                del chars[i]
            else:
                chars.insert(i, rng.choice(alphabet))
        text = "".join(chars)
        data = text.encode("utf-8") if n % 2 else text.encode("latin-1", "replace")
        outcome = v2.validate(data, "fuzz")
        assert all(i.requirements for i in outcome.issues)
        if outcome.issues and outcome.issues[0].severity is not Severity.FATAL:
            make_ack(data, "AE", outcome.errors())
