"""HL7 v2 and MLLP negative variants: deliberate errors in a message of :mod:`testbed.synthetic.hl7v2`.

``hl7v2.*`` mutations take ER7 text and break one field, giving its HL7 location (``PID-3[1].1``);
``mllp.*`` mutations take one MLLP frame (bytes) and break the framing, giving the byte offset. The
requirement IDs (and validator rule) named are those the v2 validator and the MLLP decoder cite for that
error: the self-consistency tests prove it on every mutation. National OIDs come from the content.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from testbed.synthetic._content import load_content
from testbed.synthetic.mutations import Mutated, Mutation, NotApplicable, register

_UNKNOWN_AUTHORITY = "XX&1.2.3.4.5.6.7&ISO"  # under no national arc
_VT, _END = b"\x0b", b"\x1c\r"


class _Er7:
    """A message split into segments and fields, with its delimiters, ready to change one field."""

    def __init__(self, text: object) -> None:
        if not isinstance(text, str) or not text.startswith("MSH") or len(text) < 8:
            raise NotApplicable("not an ER7 message")
        self.fs = text[3]
        self.cs, self.rs, _esc, self.ss = text[4], text[5], text[6], text[7]
        self.segments = [line.split(self.fs) for line in text.replace("\r\n", "\r").split("\r") if line]

    def find(self, name: str) -> list[int]:
        return [i for i, seg in enumerate(self.segments) if seg[0] == name]

    def get(self, index: int, field: int) -> str:
        seg = self.segments[index]
        pos = field - 1 if seg[0] == "MSH" else field
        return seg[pos] if pos < len(seg) else ""

    def set(self, index: int, field: int, value: str) -> None:
        seg = self.segments[index]
        pos = field - 1 if seg[0] == "MSH" else field
        while len(seg) <= pos:
            seg.append("")
        seg[pos] = value

    def label(self, index: int) -> str:
        name = self.segments[index][0]
        same = self.find(name)
        return name if len(same) == 1 else f"{name}[{same.index(index) + 1}]"

    def text(self) -> str:
        return "".join(self.fs.join(seg) + "\r" for seg in self.segments)


def _pid(msg: _Er7) -> int:
    found = msg.find("PID")
    if not found:
        raise NotApplicable("no PID segment")
    return found[0]


def _blank(field: int) -> Callable[[object, random.Random], Mutated]:
    def apply(text: object, rng: random.Random) -> Mutated:
        msg = _Er7(text)
        i = _pid(msg)
        if not msg.get(i, field):
            raise NotApplicable(f"PID-{field} is already empty")
        msg.set(i, field, "")
        return Mutated(msg.text(), f"PID-{field}", f"PID-{field} removed")

    return apply


def _ins_key(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    i = _pid(msg)
    oid = load_content()[1].identifier("ins").oid
    reps = msg.get(i, 3).split(msg.rs)
    for r, rep in enumerate(reps, start=1):
        comps = rep.split(msg.cs)
        hd = comps[3].split(msg.ss) if len(comps) > 3 else []
        if len(hd) > 1 and hd[1] == oid and len(comps[0]) > 2 and comps[0].isdigit():
            body, key = comps[0][:-2], int(comps[0][-2:])
            comps[0] = f"{body}{(key + 1 + rng.randrange(90)) % 100:02d}"
            reps[r - 1] = msg.cs.join(comps)
            msg.set(i, 3, msg.rs.join(reps))
            return Mutated(msg.text(), f"PID-3[{r}].1", "INS key changed")
    raise NotApplicable("no INS in PID-3")


def _unknown_authority(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    i = _pid(msg)
    reps = msg.get(i, 3).split(msg.rs)
    if not reps or not reps[0]:
        raise NotApplicable("PID-3 is empty")
    r = rng.randrange(len(reps))
    comps = reps[r].split(msg.cs)
    comps += [""] * (5 - len(comps))
    comps[3] = _UNKNOWN_AUTHORITY.replace("&", msg.ss)
    reps[r] = msg.cs.join(comps)
    msg.set(i, 3, msg.rs.join(reps))
    return Mutated(msg.text(), f"PID-3[{r + 1}].4", "assigning authority replaced by an unknown OID")


def _sex(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    i = _pid(msg)
    msg.set(i, 8, "X")
    return Mutated(msg.text(), "PID-8", "administrative sex X (not in HL7 table 0001)")


def _region(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    i = _pid(msg)
    reps = msg.get(i, 11).split(msg.rs)
    if not reps[0]:
        raise NotApplicable("no address in PID-11")
    comps = reps[0].split(msg.cs)
    comps += [""] * (4 - len(comps))
    comps[3] = "13"
    reps[0] = msg.cs.join(comps)
    msg.set(i, 11, msg.rs.join(reps))
    return Mutated(msg.text(), "PID-11[1].4", "region code 13 (outside ma-region)")


def _version(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    msg.set(0, 12, "2.3")
    return Mutated(msg.text(), "MSH-12", "version 2.3 instead of 2.5")


def _obx(msg: _Er7, rng: random.Random, field: int) -> int:
    found = [i for i in msg.find("OBX") if msg.get(i, field)]
    if not found:
        raise NotApplicable(f"no OBX with OBX-{field}")
    return found[rng.randrange(len(found))]


def _units(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    i = _obx(msg, rng, 6)
    comps = msg.get(i, 6).split(msg.cs)
    unit = comps[0]
    comps[0] = unit.replace("/", " per ") if "/" in unit else f"{unit} units"
    msg.set(i, 6, msg.cs.join(comps))
    return Mutated(msg.text(), f"{msg.label(i)}-6.1", f"unit {comps[0]!r} is not a UCUM expression")


def _local_code(text: object, rng: random.Random) -> Mutated:
    msg = _Er7(text)
    i = _obx(msg, rng, 3)
    comps = msg.get(i, 3).split(msg.cs)
    display = comps[1] if len(comps) > 1 else ""
    msg.set(i, 3, msg.cs.join([f"LAB{rng.randrange(1000):03d}", display, "L"]))
    return Mutated(msg.text(), f"{msg.label(i)}-3", "observation identified by a local code, not LOINC")


def _frame(data: object) -> bytes:
    if not isinstance(data, bytes | bytearray) or not data.startswith(_VT) or not data.endswith(_END):
        raise NotApplicable("not one MLLP frame")
    return bytes(data)


def _no_end(data: object, rng: random.Random) -> Mutated:
    frame = _frame(data)
    return Mutated(frame[:-2], f"byte {len(frame) - 2}", "end block 0x1C 0x0D removed")


def _no_cr(data: object, rng: random.Random) -> Mutated:
    frame = _frame(data)
    return Mutated(frame[:-1], f"byte {len(frame) - 1}", "final 0x0D after 0x1C removed")


def _garbage(data: object, rng: random.Random) -> Mutated:
    frame = _frame(data)
    junk = bytes(rng.randrange(0x21, 0x7F) for _ in range(8 + rng.randrange(24)))
    return Mutated(junk + frame, "byte 0", f"{len(junk)} bytes of garbage before the start block")


def _no_start(data: object, rng: random.Random) -> Mutated:
    frame = _frame(data)
    return Mutated(frame[1:], "byte 0", "start block 0x0B removed")


_CATALOGUE: tuple[
    tuple[str, str, tuple[str, ...], str, Callable[[object, random.Random], Mutated], str], ...
] = (
    (
        "hl7v2.pid3-missing",
        "hl7v2",
        ("MA-V2-007",),
        "PID-3 (patient identifiers) removed",
        _blank(3),
        "PID-3:usage",
    ),
    (
        "hl7v2.ins-key",
        "hl7v2",
        ("MA-ID-003",),
        "INS in PID-3 with a wrong mod 97 key",
        _ins_key,
        "ins:check-digit",
    ),
    (
        "hl7v2.unknown-authority",
        "hl7v2",
        ("MA-V2-007", "MA-ID-023"),
        "PID-3 identifier with an unknown assigning authority",
        _unknown_authority,
        "cx:authority",
    ),
    (
        "hl7v2.pid7-missing",
        "hl7v2",
        ("MA-V2-014",),
        "PID-7 (date of birth) removed",
        _blank(7),
        "PID-7:usage",
    ),
    ("hl7v2.pid8-invalid", "hl7v2", ("MA-V2-015",), "PID-8 sex code outside table 0001", _sex, "PID-8:table"),
    ("hl7v2.region-invalid", "hl7v2", ("MA-V2-016",), "PID-11 XAD-4 region 13", _region, "PID-11.4:table"),
    ("hl7v2.msh12-version", "hl7v2", ("MA-V2-004",), "MSH-12 version 2.3", _version, "MSH-12.1:fixed"),
    ("hl7v2.obx6-not-ucum", "hl7v2", ("MA-V2-020",), "OBX-6 unit that is not UCUM", _units, "obx-6:ucum"),
    (
        "hl7v2.obx3-not-loinc",
        "hl7v2",
        ("MA-V2-019",),
        "OBX-3 local code instead of LOINC",
        _local_code,
        "obx-3:loinc",
    ),
    (
        "mllp.missing-end",
        "mllp",
        ("MA-V2-022",),
        "MLLP frame without its end block",
        _no_end,
        "mllp:missing-end",
    ),
    (
        "mllp.missing-cr",
        "mllp",
        ("MA-V2-022",),
        "MLLP end block 0x1C without 0x0D",
        _no_cr,
        "mllp:missing-cr",
    ),
    (
        "mllp.garbage-before-start",
        "mllp",
        ("MA-V2-022",),
        "bytes before the MLLP start block",
        _garbage,
        "mllp:garbage-before-start",
    ),
    (
        "mllp.no-start",
        "mllp",
        ("MA-V2-022",),
        "MLLP frame without its start block",
        _no_start,
        "mllp:no-start",
    ),
)

for _id, _standard, _requirements, _description, _apply, _rule in _CATALOGUE:
    register(Mutation(_id, _standard, _requirements, _description, _apply, _rule))
