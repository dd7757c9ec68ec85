"""HL7 v2.5 rendering of a synthetic patient: the ADT and ORU^R01 messages the facilities would send.

For one :class:`PatientRecord` (:meth:`Hl7v2Renderer.messages`): ADT^A28 (add person information) from
the facility of the first visit, ADT^A04 (registration) for that visit, ADT^A08 (update) at the last
visit when there are several, and one ORU^R01 per visit with laboratory results, sent by the laboratory.
A duplicate identity is merged into its survivor by ADT^A40 (:meth:`Hl7v2Renderer.merge_message`).

Choices written down:

- A record without any visit gives no message: v2 messages come from facilities.
- MSH-4 is the sending facility's INPE; MSH-7 and EVN-2 are record times (no clock); MSH-10 is a
  deterministic 20-character id derived from the record and the message's place in the sequence.
- PID-3 order: INS, CNIE, residence permit, passport, CNSS, CNOPS, local record numbers; authorities
  and type codes from the national content. PID-5: the Latin name, then the Arabic name, both type L.
- One OBR per laboratory result, OBR-4 and OBX-3 with its LOINC code; lab results without a value are
  not rendered (the record has no v2 form for them).
- The version, country and character set (MSH-12, MSH-17, MSH-18) and the receiver (MSH-5/6) come from
  the v2 content (``profiles/<folder>/v2-profile.yaml`` ``settings``).

This module may not import :mod:`testbed.hl7v2` (layering): it writes ER7 itself, with its own escape
function (a test proves it agrees with :func:`testbed.hl7v2.escape`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

import yaml

from testbed.core.errors import PackageError
from testbed.core.settings import load_settings
from testbed.national import NationalContent
from testbed.synthetic.model import Practitioner
from testbed.synthetic.record import EncounterRecord, ObservationRecord, PatientRecord

PROFILE_FILE = "v2-profile.yaml"
_SEX = {"male": "M", "female": "F", "other": "O", "unknown": "U"}
_CLASS = {"AMB": "O", "IMP": "I", "EMER": "E", "VR": "O", "HH": "O", "OBSENC": "O"}
_STATUS = {
    "final": "F",
    "preliminary": "P",
    "corrected": "C",
    "amended": "C",
    "cancelled": "X",
    "entered-in-error": "W",
    "registered": "I",
}
_FLAGS = frozenset({"N", "H", "L", "HH", "LL", "A", "AA"})
_MARITAL = frozenset({"A", "D", "M", "S", "W", "P", "U"})


def escape(value: str) -> str:
    r"""Escape a value for the default delimiters ``|^~\\&`` (HL7 v2.5 §2.7)."""
    if not any(ch in value for ch in "|^~\\&\r\n"):
        return value
    out = value.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    out = out.replace("&", "\\T\\").replace("~", "\\R\\")
    return out.replace("\r\n", "\\.br\\").replace("\n", "\\.br\\").replace("\r", "\\X0D\\")


def v2_settings(content: Path | None = None) -> dict[str, str]:
    """The ``settings`` of the v2 content (version, country, character set, receiver).

    Raises:
        PackageError: no folder of ``profiles/`` holds ``v2-profile.yaml``, or it is malformed.
    """
    folder = content
    if folder is None:
        root = load_settings().profiles_dir
        found = (
            [c for c in sorted(root.iterdir()) if (c / PROFILE_FILE).is_file()]
            if root and root.is_dir()
            else []
        )
        if not found:
            raise PackageError(
                f"No HL7 v2 content found: no folder of {root or 'the profiles directory'} holds "
                f"{PROFILE_FILE}."
            )
        folder = found[0]
    try:
        data = yaml.safe_load((folder / PROFILE_FILE).read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in dict(data["settings"]).items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise PackageError(f"{folder / PROFILE_FILE}: cannot read its settings ({exc}).") from None


def ts(moment: datetime | date) -> str:
    """An HL7 TS value: ``YYYYMMDDHHMMSS[+ZZZZ]`` for a datetime, ``YYYYMMDD`` for a date."""
    if isinstance(moment, datetime):
        return moment.strftime("%Y%m%d%H%M%S") + (moment.strftime("%z") if moment.tzinfo else "")
    return moment.strftime("%Y%m%d")


def _number(value: float, decimals: int) -> str:
    return f"{value:.{max(decimals, 0)}f}"


class Hl7v2Renderer:
    """Renders a :class:`PatientRecord` as HL7 v2.5 ER7 messages (CR segment terminators).

    Args:
        national: The national names (identifier authorities, type codes, local arcs).
        application: MSH-3, the sending application.
        settings: The v2 content settings (default: read with :func:`v2_settings`).
        content: The v2 content folder (used when ``settings`` is not given).
    """

    def __init__(
        self,
        national: NationalContent,
        *,
        application: str = "TESTBED-SYNTH",
        settings: Mapping[str, str] | None = None,
        content: Path | None = None,
    ) -> None:
        self.national = national
        self.application = application
        s = dict(settings) if settings is not None else v2_settings(content)
        self.version = s.get("version", "2.5")
        self.country = s.get("countryCode", "")
        self.charset = s.get("characterSet", "UNICODE UTF-8")
        self.processing = s.get("processingId", "P")
        self.receiver = (s.get("receivingApplication", ""), s.get("receivingFacility", ""))
        self._local = national.local_system_prefix.removeprefix("urn:oid:")
        self._passport = national.passport_system_prefix.removeprefix("urn:oid:")
        inpe = national.identifiers.get("inpe")
        self._inpe_hd = inpe.v2_hd if inpe is not None else ""
        self._inpe_type = national.v2_types.get("inpe", "")

    # ------------------------------------------------------------------ messages

    def messages(self, record: PatientRecord) -> list[tuple[str, str]]:
        """The messages of a record, in time order, as (event, ER7 text): ``("ADT^A04", "MSH|...")``."""
        if not record.encounters:
            return []
        visits = sorted(record.encounters, key=lambda e: e.start)
        first, last = visits[0], visits[-1]
        out: list[tuple[datetime, str, str]] = []
        seq = 0

        def add(moment: datetime, event: str, facility: str, body: Sequence[str]) -> None:
            nonlocal seq
            seq += 1
            out.append(
                (moment, event, self._message(record.id, record.seed, seq, event, facility, moment, body))
            )

        pid = self._pid(record)
        add(first.start, "ADT^A28", first.establishment.inpe, [self._evn("A28", first.start), pid, "PV1|1|N"])
        add(
            first.start,
            "ADT^A04",
            first.establishment.inpe,
            [self._evn("A04", first.start), pid, self._pv1(first), *self._in1(record)],
        )
        if last is not first:
            add(
                last.start,
                "ADT^A08",
                last.establishment.inpe,
                [self._evn("A08", last.start), pid, self._pv1(last), *self._in1(record)],
            )
        for visit in visits:
            labs = [
                o
                for o in record.observations
                if o.kind == "lab" and o.encounter_id == visit.id and o.value is not None
            ]
            if not labs:
                continue
            labs.sort(key=lambda o: (o.effective, o.id))
            sent = max(o.effective for o in labs)
            lab_facility = labs[0].performer.establishment
            add(sent, "ORU^R01", lab_facility, [pid, self._pv1(visit), *self._orders(visit, labs)])
        out.sort(key=lambda item: item[0])
        return [(event, text) for _, event, text in out]

    def merge_message(self, duplicate: PatientRecord, survivor: PatientRecord) -> tuple[str, str]:
        """ADT^A40: the duplicate identity's identifiers (MRG-1) merged into the survivor (PID).

        Raises:
            ValueError: ``duplicate`` is not a duplicate of ``survivor``.
        """
        if duplicate.duplicate_of != survivor.id:
            raise ValueError(
                f"{duplicate.id} is not a duplicate of {survivor.id} "
                f"(its duplicate_of is {duplicate.duplicate_of!r})."
            )
        visits = sorted(duplicate.encounters, key=lambda e: e.start)
        facility = visits[0].establishment.inpe if visits else (duplicate.identity.local or (("",),))[0][0]
        merged = duplicate.extra.get("merged")
        moment: datetime | date
        if merged:
            moment = datetime.fromisoformat(merged)
        else:
            moment = max(
                (e.start for e in (*duplicate.encounters, *survivor.encounters)), default=survivor.birth_date
            )
        mrg = "MRG|" + "~".join(self._identifiers(duplicate)) + "||||||" + self._name(duplicate, latin=True)
        text = self._message(
            duplicate.id,
            duplicate.seed,
            0,
            "ADT^A40",
            facility,
            moment,
            [self._evn("A40", moment), self._pid(survivor), mrg],
        )
        return "ADT^A40", text

    # ------------------------------------------------------------------ segments

    def _message(
        self,
        rid: str,
        seed: str,
        seq: int,
        event: str,
        facility: str,
        moment: datetime | date,
        body: Sequence[str],
    ) -> str:
        structure = {"ADT^A28": "ADT_A05", "ADT^A31": "ADT_A05", "ADT^A40": "ADT_A39", "ORU^R01": "ORU_R01"}
        control = hashlib.sha256(f"{seed}\x1f{rid}\x1f{seq}\x1f{event}".encode()).hexdigest()[:20].upper()
        msh = [
            "MSH",
            "^~\\&",
            escape(self.application),
            escape(facility),
            escape(self.receiver[0]),
            escape(self.receiver[1]),
            ts(moment),
            "",
            f"{event}^{structure.get(event, 'ADT_A01')}",
            control,
            self.processing,
            self.version,
            "",
            "",
            "AL",
            "NE",
            self.country,
            self.charset,
        ]
        return "\r".join(["|".join(msh), *body]) + "\r"

    def _evn(self, trigger: str, moment: datetime | date) -> str:
        return f"EVN|{trigger}|{ts(moment)}"

    def _identifiers(self, record: PatientRecord) -> list[str]:
        ident, nat = record.identity, self.national
        out = []
        for key, value in (("ins", ident.ins), ("cnie", ident.cnie), ("carte_sejour", ident.carte_sejour)):
            if value:
                system = nat.identifier(key)
                out.append(f"{escape(value)}^^^{system.v2_hd}^{nat.v2_types.get(key, '')}")
        if ident.passport:
            country, number = ident.passport
            out.append(
                f"{escape(number)}^^^&{self._passport}{country}&ISO^{nat.v2_types.get('passport', '')}"
            )
        for key, value in (("cnss", ident.cnss), ("cnops", ident.cnops)):
            if value:
                system = nat.identifier(key)
                out.append(f"{escape(value)}^^^{system.v2_hd}^{nat.v2_types.get(key, '')}")
        for inpe, number in ident.local:
            out.append(f"{escape(number)}^^^{inpe}&{self._local}{inpe}&ISO^{nat.v2_types.get('local', '')}")
        return out

    def _name(self, record: PatientRecord, *, latin: bool) -> str:
        def part(name: object) -> str:
            return getattr(name, "latin" if latin else "arabic") or ""

        given = [part(g) for g in record.given]
        comps = [
            escape(part(record.family)),
            escape(given[0] if given else ""),
            escape(" ".join(given[1:])),
            "",
            "",
            "",
            "L",
        ]
        return "^".join(comps)

    def _pid(self, record: PatientRecord) -> str:
        names = [self._name(record, latin=True)]
        if record.family.arabic and all(g.arabic for g in record.given):
            names.append(self._name(record, latin=False))
        a = record.address
        address = "^".join(
            [
                escape(a.line),
                "",
                escape(a.city),
                a.region_code,
                a.postal_code,
                self.country,
                "H",
                escape(a.province),
            ]
        )
        fields = [""] * 31
        fields[0] = "PID"
        fields[1] = "1"
        fields[3] = "~".join(self._identifiers(record))
        fields[5] = "~".join(names)
        fields[7] = ts(record.birth_date)
        fields[8] = _SEX.get(record.sex, "U")
        fields[11] = address
        if record.phone:
            fields[13] = f"{escape(record.phone)}^PRN^PH"
        if record.marital_status in _MARITAL:
            fields[16] = f"{record.marital_status}^^HL70002"
        if record.deceased:
            fields[29] = ts(record.deceased)
            fields[30] = "Y"
        return "|".join(fields).rstrip("|")

    def _xcn(self, p: Practitioner) -> str:
        comps = [
            p.inpe,
            escape(p.family.latin),
            escape(p.given.latin),
            "",
            "",
            "",
            "",
            "",
            self._inpe_hd,
            "L",
            "",
            "",
            self._inpe_type,
        ]
        return "^".join(comps)

    def _pv1(self, enc: EncounterRecord) -> str:
        inpe = enc.establishment.inpe
        fields = [""] * 46
        fields[0] = "PV1"
        fields[1] = "1"
        fields[2] = _CLASS.get(enc.klass, "O")
        fields[3] = f"^^^{inpe}^^^^^{escape(enc.establishment.name)}"
        fields[7] = self._xcn(enc.practitioner)
        fields[19] = f"{escape(enc.visit_number)}^^^{inpe}&{self._local}{inpe}&ISO^VN"
        fields[44] = ts(enc.start)
        if enc.end is not None:
            fields[45] = ts(enc.end)
        return "|".join(fields).rstrip("|")

    def _in1(self, record: PatientRecord) -> list[str]:
        cov = record.coverage
        if cov is None:
            return []
        fields = [""] * 37
        fields[0] = "IN1"
        fields[1] = "1"
        fields[2] = escape(cov.scheme)
        fields[3] = escape(cov.scheme)
        fields[12] = ts(cov.start)
        if cov.member_id:
            fields[36] = escape(cov.member_id)
        return ["|".join(fields).rstrip("|")]

    def _orders(self, visit: EncounterRecord, labs: list[ObservationRecord]) -> list[str]:
        out = []
        for n, obs in enumerate(labs, start=1):
            code = f"{escape(obs.code.code)}^{escape(obs.code.display)}^LN"
            filler = hashlib.sha256(obs.id.encode()).hexdigest()[:16].upper()
            obr = [""] * 26
            obr[0], obr[1], obr[2], obr[3], obr[4] = "OBR", str(n), escape(visit.visit_number), filler, code
            obr[7] = ts(obs.effective)
            obr[16] = self._xcn(visit.practitioner)
            obr[22] = ts(obs.effective)
            obr[25] = _STATUS.get(obs.status, "F")
            out.append("|".join(obr))
            out.append(self._obx(1, obs, code))
        return out

    def _obx(self, n: int, obs: ObservationRecord, code: str) -> str:
        assert obs.value is not None
        fields = [""] * 17
        fields[0], fields[1], fields[2], fields[3] = "OBX", str(n), "NM", code
        fields[5] = _number(obs.value, obs.decimals)
        if obs.unit:
            fields[6] = f"{escape(obs.unit)}^{escape(obs.unit)}^UCUM"
        if obs.reference_range is not None:
            low, high = obs.reference_range
            if low is not None and high is not None:
                fields[7] = f"{_number(low, obs.decimals)}-{_number(high, obs.decimals)}"
            elif low is not None:
                fields[7] = f">{_number(low, obs.decimals)}"
            elif high is not None:
                fields[7] = f"<{_number(high, obs.decimals)}"
        if obs.interpretation in _FLAGS:
            fields[8] = obs.interpretation or ""
        fields[11] = _STATUS.get(obs.status, "F")
        fields[14] = ts(obs.effective)
        fields[16] = self._xcn(obs.performer)
        return "|".join(fields)
