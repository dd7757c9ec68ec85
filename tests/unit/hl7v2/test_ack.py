"""ACK generation (MSH swapped, MSA echo, ERR per issue) and ACK checking."""

from __future__ import annotations

import pytest

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2 import Hl7v2ParseError, Hl7v2Validator, parse_message
from testbed.hl7v2.ack import check_ack, make_ack

from .conftest import Messages, set_field


def test_accept_ack(v2: Hl7v2Validator, msgs: Messages) -> None:
    sent = msgs.adt()
    ack = make_ack(sent, "AA", timestamp="20250105103001")
    msg = parse_message(ack)
    assert msg.type_code == "ACK^A04" and msg.structure == "ACK"
    assert (msg.get("MSH-3"), msg.get("MSH-4"), msg.get("MSH-5"), msg.get("MSH-6")) == (
        "SMR",
        "SMR",
        "HIS",
        msgs.FACILITY,
    )
    assert msg.get("MSA-1") == "AA" and msg.get("MSA-2") == "MSG0001"
    assert msg.control_id == "AMSG0001" and msg.get("MSH-7") == "20250105103001"
    assert v2.validate(ack).issues == []
    assert check_ack(ack, sent, expected="AA") == []


def test_error_ack_has_one_err_per_issue(v2: Hl7v2Validator, msgs: Messages) -> None:
    sent = set_field(set_field(msgs.adt(), "PID-8", "X"), "PID-3[1].4", "XX&1.2.3&ISO")
    issues = v2.validate(sent).errors()
    ack = make_ack(sent, "AE", issues, control_id="ACK1", text="Rejected")
    msg = parse_message(ack)
    errs = msg.named("ERR")
    assert len(errs) == len(issues) == 2
    by_code = {e.value(3, 1, 1): e for e in errs}
    assert set(by_code) == {"103", "204"}  # table value not found, unknown key identifier
    pid8 = by_code["103"]
    assert [pid8.value(2, 1, c) for c in range(1, 5)] == ["PID", "1", "8", "1"]
    assert pid8.value(3, 1, 3) == "HL70357" and pid8.value(4) == "E"
    assert "MA-V2-015" in pid8.value(7) and "is not a code of table HL70001" in pid8.value(8)
    assert [by_code["204"].value(2, 1, c) for c in range(1, 7)] == ["PID", "1", "3", "1", "4", "2"]
    assert msg.get("MSA-3") == "Rejected"
    assert v2.validate(ack).issues == []
    assert check_ack(ack, sent, expected="AE") == []
    assert v2.check_ack(ack, sent, expected="AA")[0].requirements == ("MA-V2-023",)


def test_err_fields_are_escaped_and_bounded(v2: Hl7v2Validator, msgs: Messages) -> None:
    issue = Issue(Severity.WARNING, IssueCode.PROCESSING, "", "a|b^c&d~e " + "x" * 400, "r", ("MA-V2-024",))
    ack = make_ack(msgs.adt(), "AE", [issue])
    err = parse_message(ack).segment("ERR")
    assert err is not None and err.value(4) == "W" and err.value(3) == "207"
    assert err.value(8).startswith("a|b^c&d~e ") and len(err.value(8)) == 250
    assert v2.validate(ack).valid


def test_ack_for_a_message_with_other_delimiters(msgs: Messages) -> None:
    sent = "MSH#*~!@#APP*X@Y#FAC#SMR#SMR#2025##ADT*A04*ADT_A01#Z9#P#2.5\rPID#1\r"
    msg = parse_message(make_ack(sent, "AR", [], timestamp="2025"))
    assert msg.encoding.field == "|" and msg.get("MSH-5.2.1") == "X" and msg.get("MSH-5.2.2") == "Y"
    assert msg.get("MSA-2") == "Z9" and msg.get("MSA-1") == "AR"


def test_make_ack_refuses_bad_input(msgs: Messages) -> None:
    with pytest.raises(ValueError, match="ACK code"):
        make_ack(msgs.adt(), "OK")
    with pytest.raises(Hl7v2ParseError):
        make_ack("not hl7", "AA")


def test_check_ack_finds_each_defect(msgs: Messages) -> None:
    sent = msgs.oru()
    good = make_ack(sent, "AA", timestamp="2025")
    wrong_echo = good.replace("MSA|AA|MSG0001", "MSA|AA|OTHER")
    assert [(i.location, i.requirements) for i in check_ack(wrong_echo, sent)] == [("MSA-2", ("MA-V2-023",))]
    no_err = make_ack(sent, "AE", [], timestamp="2025")
    assert [(i.rule, i.requirements) for i in check_ack(no_err, sent)] == [
        ("ack:err", ("MA-V2-024", "MA-V2-029"))
    ]
    adt_no_err = make_ack(msgs.adt(), "AR", [], timestamp="2025")
    assert check_ack(adt_no_err, msgs.adt())[0].requirements == ("MA-V2-024", "MA-V2-026")
    bad_code = good.replace("MSA|AA", "MSA|OK")
    assert [i.rule for i in check_ack(bad_code, sent)] == ["ack:code"]
    not_ack = good.replace("ACK^R01^ACK", "ADT^A01^ADT_A01")
    assert [i.rule for i in check_ack(not_ack, sent)] == ["ack:type"]
    no_msa = good.split("\r")[0] + "\r"
    assert [i.rule for i in check_ack(no_msa, sent)] == ["ack:msa"]
    assert [i.rule for i in check_ack("garbage", sent)] == ["ack:syntax"]


def test_check_ack_against_the_expected_verdict(msgs: Messages) -> None:
    sent = msgs.adt()
    accepted = make_ack(sent, "AA", timestamp="2025")
    issue = Issue(Severity.ERROR, IssueCode.REQUIRED, "PID-7", "missing", "PID-7:usage", ("MA-V2-014",))
    rejected = make_ack(sent, "AE", [issue], timestamp="2025")
    assert [(i.rule, i.requirements) for i in check_ack(accepted, sent, expected="AE")] == [
        ("ack:expected", ("MA-V2-024", "MA-V2-026"))
    ]
    assert [i.rule for i in check_ack(rejected, sent, expected="AA")] == ["ack:expected"]
    assert check_ack(rejected, sent, expected="AR") == []
