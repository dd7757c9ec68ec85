"""Fixtures of the HL7 v2 tests: the national package, the v2 validator, and conforming MA messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.hl7v2 import Hl7v2Validator, parse_message
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.synthetic._content import load_content

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "hl7v2"


@pytest.fixture(scope="session")
def v2_registry() -> PackageRegistry:
    """The national packages of ``profiles/`` (loaded once per process, shared with the synthetic tests)."""
    return load_content()[0]


@pytest.fixture(scope="session")
def v2_national(v2_registry: PackageRegistry) -> NationalContent:
    return NationalContent.from_registry(v2_registry)


@pytest.fixture(scope="session")
def v2(v2_registry: PackageRegistry) -> Hl7v2Validator:
    return Hl7v2Validator.from_registry(v2_registry)


def ins(body: str = "1234567890") -> str:
    """An INS with its mod 97 key."""
    return f"{body}{97 - int(body) % 97:02d}"


class Messages:
    """Conforming MA messages built from the national names, and a way to change one field."""

    FACILITY = "123456789"
    PRACTITIONER = "234567891"

    def __init__(self, national: NationalContent) -> None:
        n = national
        self.n = n
        self.ins_hd = n.identifier("ins").v2_hd
        self.cnie_hd = n.identifier("cnie").v2_hd
        self.sejour_hd = n.identifier("carte_sejour").v2_hd
        self.inpe_hd = n.identifier("inpe").v2_hd
        self.local_oid = n.local_system_prefix.removeprefix("urn:oid:") + self.FACILITY
        self.passport_oid = n.passport_system_prefix.removeprefix("urn:oid:")
        self.ins = ins()
        t = n.v2_types
        self.pid3 = (
            f"{self.ins}^^^{self.ins_hd}^{t['ins']}~BK123456^^^{self.cnie_hd}^{t['cnie']}"
            f"~MRN42^^^{self.FACILITY}&{self.local_oid}&ISO^{t['local']}"
        )
        self.xcn = f"{self.PRACTITIONER}^BENNANI^Karim^^^^^^{self.inpe_hd}^L^^^{t['inpe']}"

    def msh(self, event: str, structure: str) -> str:
        return (
            f"MSH|^~\\&|HIS|{self.FACILITY}|SMR|SMR|20250105103000+0100||{event}^{structure}|MSG0001|P|2.5"
            "|||AL|NE|MAR|UNICODE UTF-8"
        )

    def pid(self, pid3: str | None = None) -> str:
        return (
            f"PID|1||{pid3 or self.pid3}||EL AMRANI^Fatima Zahra^^^^^L~العمراني^فاطمة الزهراء^^^^^L"
            "||19800312|F|||12 Rue Ibn Sina^^Casablanca^06^20250^MAR^H||+212612345678^PRN^PH"
        )

    def pv1(self, klass: str = "O") -> str:
        fields = [""] * 46
        fields[0:4] = ["PV1", "1", klass, f"^^^{self.FACILITY}"]
        fields[7] = self.xcn
        fields[19] = f"V0001^^^{self.FACILITY}&{self.local_oid}&ISO^VN"
        fields[44] = "20250105103000+0100"
        return "|".join(fields).rstrip("|")

    def adt(self, trigger: str = "A04") -> str:
        structure = {"A28": "ADT_A05", "A31": "ADT_A05", "A03": "ADT_A03"}.get(trigger, "ADT_A01")
        pv1 = "PV1|1|N" if trigger in ("A28", "A31") else self.pv1()
        lines = [self.msh(f"ADT^{trigger}", structure), f"EVN|{trigger}|20250105103000", self.pid(), pv1]
        if trigger in ("A01", "A04", "A08"):
            lines.append("IN1|1|AMO-CNSS|CNSS||||||||||20240101")
        return "\r".join(lines) + "\r"

    def oru(self) -> str:
        obr = "OBR|1|V0001|F0001|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN|||20250105090000||||||||"
        obr += f"|{self.xcn}||||||20250105100000|||F"
        obx1 = (
            "OBX|1|NM|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN||1.05|g/L^g/L^UCUM|0.70-1.10|N|||F"
            f"|||20250105090000||{self.xcn}"
        )
        obx2 = "OBX|2|NM|718-7^Hemoglobin [Mass/volume] in Blood^LN||13.2|g/dL^g/dL^UCUM|12.0-16.0|N|||F"
        lines = [self.msh("ORU^R01", "ORU_R01"), self.pid(), self.pv1(), obr, obx1, obx2]
        return "\r".join(lines) + "\r"

    def a40(self, survivor_pid3: str | None = None, merged: str | None = None) -> str:
        mrg = merged or f"DUP77^^^{self.FACILITY}&{self.local_oid}&ISO^PI"
        lines = [
            self.msh("ADT^A40", "ADT_A39"),
            "EVN|A40|20250105103000",
            self.pid(survivor_pid3),
            f"MRG|{mrg}",
        ]
        return "\r".join(lines) + "\r"


def set_field(text: str, location: str, value: str) -> str:
    """The message with the field, repetition or component at ``location`` replaced by ``value`` (raw ER7)."""
    from testbed.hl7v2 import parse_location

    msg = parse_message(text)
    loc = parse_location(location)
    assert loc.field is not None
    seg = msg.segment(loc.segment, loc.occurrence)
    assert seg is not None, location
    while len(seg.fields) <= loc.field:
        seg.fields.append("")
    e = msg.encoding
    if loc.repetition is None and loc.component is None:
        seg.fields[loc.field] = value
    else:
        reps = seg.fields[loc.field].split(e.repetition)
        r = (loc.repetition or 1) - 1
        while len(reps) <= r:
            reps.append("")
        if loc.component is None:
            reps[r] = value
        else:
            comps = reps[r].split(e.component)
            while len(comps) < loc.component:
                comps.append("")
            comps[loc.component - 1] = value
            reps[r] = e.component.join(comps)
        seg.fields[loc.field] = e.repetition.join(reps)
    return msg.to_er7()


def drop_segment(text: str, name: str) -> str:
    return "".join(line + "\r" for line in text.split("\r") if line and not line.startswith(name + "|"))


@pytest.fixture(scope="session")
def msgs(v2_national: NationalContent) -> Messages:
    return Messages(v2_national)
