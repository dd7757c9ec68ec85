"""The ER7 parser: delimiters, terminators, escapes, batches, locations, character sets, clear errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from testbed.core.errors import InputError
from testbed.hl7v2 import (
    Encoding,
    Hl7v2ParseError,
    Location,
    escape,
    parse_batch,
    parse_location,
    parse_message,
    unescape,
)

ADT = (
    "MSH|^~\\&|HIS|FAC|SMR|SMR|20250105103000||ADT^A04^ADT_A01|C1|P|2.5|||AL|NE|MAR|UNICODE UTF-8\r"
    "EVN|A04|20250105103000\r"
    "PID|1||111^^^A&1.2&ISO^NH~222^^^B&3.4&ISO^NI||DOE^JOHN^Q^^^^L||19800101|M\r"
    "OBX|1|NM|2345-7^Glucose^LN||5.1|mmol/L\r"
    "OBX|2|ST|X^Note^L||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\r"
    "ZPI|1|local stuff\r"
)


def test_access_by_location() -> None:
    msg = parse_message(ADT)
    assert [s.name for s in msg] == ["MSH", "EVN", "PID", "OBX", "OBX", "ZPI"]
    assert msg.get("PID-3[2].1") == "222"
    assert msg.get("PID-3[1].4.2") == "1.2"
    assert msg.get("PID-3.1") == "111"  # repetition 1 by default
    assert msg.get("PID-5.2") == "JOHN"
    assert msg.get("PID-3") == "111^^^A&1.2&ISO^NH~222^^^B&3.4&ISO^NI"  # a composite comes back as ER7
    assert msg.get("OBX[2]-5") == "a|b^c&d~e\\f"  # a leaf comes back decoded
    assert msg.get("OBX-3.1") == "2345-7"
    assert msg.get("PID-3[3].1") == "" and msg.get("NK1-2") == "" and msg.get("PID-99", "x") == "x"
    assert msg.get("MSH-1") == "|" and msg.get("MSH-2") == "^~\\&" and msg.get("MSH-9.2") == "A04"
    assert msg.type_code == "ADT^A04" and msg.structure == "ADT_A01" and msg.control_id == "C1"
    assert msg.version == "2.5" and msg.charset == "UNICODE UTF-8"
    assert msg.get("ZPI-2") == "local stuff"
    with pytest.raises(ValueError, match="not an HL7 v2 location"):
        msg.get("PID.3")


def test_terminators_cr_lf_crlf_and_framing_give_the_same_message() -> None:
    base = parse_message(ADT)
    for text in (
        ADT.replace("\r", "\n"),
        ADT.replace("\r", "\r\n"),
        "\x0b" + ADT + "\x1c\r",
        ADT.rstrip("\r"),
    ):
        other = parse_message(text)
        assert [s.fields for s in other] == [s.fields for s in base]
    assert base.to_er7() == ADT


def test_non_default_delimiters() -> None:
    text = "MSH#*$!@#APP#FAC#####ADT*A04*ADT_A01#C9#P#2.5\rPID#1##111***A@1.2@ISO*NH$222##DOE*JANE!S!X\r"
    msg = parse_message(text)
    assert msg.encoding == Encoding("#", "*", "$", "!", "@")
    assert msg.get("PID-3[2].1") == "222"
    assert msg.get("PID-3[1].4.2") == "1.2"
    assert msg.get("PID-5.2") == "JANE*X"
    assert msg.get("MSH-2") == "*$!@"
    assert msg.to_er7().startswith("MSH#*$!@#APP")


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("a\\F\\b", "a|b"),
        ("\\S\\\\T\\\\R\\\\E\\", "^&~\\"),
        ("caf\\XC3A9\\", "café"),
        ("line1\\.br\\line2", "line1\nline2"),
        ("\\H\\bold\\N\\", "bold"),
        ("\\Zlocal\\", "\\Zlocal\\"),  # local escapes are kept as written
        ("\\XZZ\\", "\\XZZ\\"),  # not hexadecimal: kept
        ("open\\F", "open\\F"),  # unterminated: kept
        ("plain", "plain"),
    ],
)
def test_unescape(raw: str, decoded: str) -> None:
    assert unescape(raw) == decoded


@given(st.text())
def test_escape_round_trip(value: str) -> None:
    encoded = escape(value)
    assert not any(ch in encoded for ch in "|^~&\r\n")
    assert unescape(encoded) == value.replace("\r\n", "\n").replace("\r", "\r")


def test_escape_with_other_delimiters() -> None:
    enc = Encoding("#", "*", "$", "!", "@")
    assert escape("a#b*c!d", enc) == "a!F!b!S!c!E!d"
    assert unescape("a!F!b!S!c!E!d", enc) == "a#b*c!d"


def test_batch_with_headers_and_trailers() -> None:
    text = (
        "FHS|^~\\&|APP|FAC|||20250101\rBHS|^~\\&|APP|FAC|||20250101\r"
        + ADT
        + ADT.replace("|C1|", "|C2|")
        + "BTS|2\rFTS|1\r"
    )
    batch = parse_batch(text)
    assert [m.control_id for m in batch.messages] == ["C1", "C2"]
    assert [s.name for s in batch.headers] == ["FHS", "BHS"]
    assert [s.name for s in batch.trailers] == ["BTS", "FTS"]
    with pytest.raises(Hl7v2ParseError, match="parse_batch"):
        parse_message(text)
    assert parse_message("BHS|^~\\&|APP\r" + ADT + "BTS|1\r").control_id == "C1"
    assert len(parse_batch(ADT + ADT).messages) == 2  # a plain run of messages


def test_bytes_are_decoded_with_the_declared_character_set() -> None:
    text = ADT.replace("DOE^JOHN", "العمراني^فاطمة")
    assert parse_message(text.encode("utf-8")).get("PID-5.1") == "العمراني"
    assert parse_message(b"\xef\xbb\xbf" + text.encode("utf-8")).get("PID-5.1") == "العمراني"
    latin = ADT.replace("UNICODE UTF-8", "8859/1").replace("DOE", "DUPRÉ")
    assert parse_message(latin.encode("latin-1")).get("PID-5.1") == "DUPRÉ"


def test_invalid_utf8_is_a_clear_error() -> None:
    data = ADT.replace("DOE", "D\x00E").encode("utf-8").replace(b"\x00", b"\xff")
    with pytest.raises(Hl7v2ParseError, match="byte .* is not valid UTF-8") as info:
        parse_message(data)
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "empty", 0),
        ("hello world", "starts with 'hello world'", 1),
        ('{"resourceType": "Patient"}', "starts with", 1),
        (ADT.replace("EVN|", "evn|"), "is not an HL7 segment", 2),
        (ADT + "GARBAGE LINE\r", "is not an HL7 segment", 7),
        ("MSH|^~|APP\r", "encoding characters", 1),
        ("MSHA^~\\&AAPP\r", "field separator", 1),
        ("MSH|^^\\&|APP\r", "repeats a delimiter", 1),
        ("MSH|^~\\&|A\x00B\r", "binary data", 1),
        ("PID|1\r", "starts with 'PID|1'", 1),
    ],
)
def test_garbage_gives_a_parse_error_with_its_position(text: str, message: str, line: int) -> None:
    with pytest.raises(Hl7v2ParseError, match=message) as info:
        parse_message(text)
    assert isinstance(info.value, InputError)
    assert info.value.line == line


def test_segment_outside_a_message_in_a_batch() -> None:
    with pytest.raises(Hl7v2ParseError, match="outside any message"):
        parse_batch("BHS|^~\\&|APP\rPID|1\r")


def test_empty_fields_and_unknown_segments_never_crash() -> None:
    msg = parse_message("MSH|^~\\&|||||||||||||||||||\rZZ1\rZZ2||||\rPID|||||\r")
    assert msg.get("PID-5.1") == "" and msg.get("ZZ2-3") == "" and len(msg) == 4


def test_locations() -> None:
    loc = parse_location("OBX[2]-5[3].1.2")
    assert loc == Location("OBX", 2, 5, 3, 1, 2)
    assert str(loc) == "OBX[2]-5[3].1.2"
    assert loc.erl() == ("OBX", "2", "5", "3", "1", "2")
    assert parse_location("PID-3").erl() == ("PID", "1", "3", "1")
    assert str(parse_location("PID")) == "PID"
    with pytest.raises(ValueError):
        parse_location("PID-0")
