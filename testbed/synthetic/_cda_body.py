"""The body of the synthetic CDA documents: French narrative tables and the coded entries behind them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from lxml import etree

from testbed.synthetic.model import Name, Practitioner
from testbed.synthetic.record import (
    LOINC,
    AllergyRecord,
    Code,
    ConditionRecord,
    DocumentRecord,
    Entry,
    ObservationRecord,
    PatientRecord,
    PrescriptionRecord,
)

if TYPE_CHECKING:
    from testbed.synthetic.cda import CdaRenderer

_DIAGNOSIS = ("29308-4", "Diagnosis")
_ASSERTION = ("ASSERTION", "2.16.840.1.113883.5.4")
_INTERPRETATION_OID = "2.16.840.1.113883.5.83"
_INTERPRETATION = {
    "N": "Normal",
    "H": "Haut",
    "L": "Bas",
    "HH": "Très haut",
    "LL": "Très bas",
    "A": "Anormal",
}
_OBS_STATUS = {
    "final": "completed",
    "amended": "completed",
    "corrected": "completed",
    "preliminary": "active",
    "registered": "active",
    "cancelled": "cancelled",
    "entered-in-error": "nullified",
}
_CLINICAL = {
    "active": "actif",
    "recurrence": "récidive",
    "relapse": "rechute",
    "inactive": "inactif",
    "remission": "rémission",
    "resolved": "résolu",
}
_CATEGORY = {
    "food": "alimentaire",
    "medication": "médicamenteuse",
    "environment": "environnementale",
    "biologic": "biologique",
}
_CRITICALITY = {"low": "faible", "high": "élevée", "unable-to-assess": "non évaluable"}
_HEADERS = {
    "condition": ("Diagnostic", "Code CIM-10", "Début", "Statut"),
    "lab": ("Examen", "Résultat", "Unité", "Valeurs de référence", "Interprétation", "Date"),
    "vital": ("Mesure", "Valeur", "Unité", "Date"),
    "medication": ("Médicament", "GTIN", "Classe ATC", "Posologie", "Durée"),
    "allergy": ("Allergène", "Catégorie", "Criticité", "Date"),
    "immunization": ("Vaccin", "Dose", "Date", "Lot"),
}
_EMPTY = {
    "condition": "Aucun diagnostic renseigné.",
    "lab": "Aucun résultat.",
    "vital": "Aucune mesure.",
    "medication": "Aucun traitement en cours.",
    "allergy": "Aucune allergie connue.",
    "immunization": "Aucune vaccination renseignée.",
}


V3 = "urn:hl7-org:v3"
SDTC = "urn:hl7-org:sdtc"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a CDA element (attributes in the order given; ``xsi_type`` writes ``xsi:type``)."""
    node = etree.SubElement(parent, f"{{{V3}}}{name}")
    for key, value in attrs.items():
        node.set(f"{{{XSI}}}type" if key == "xsi_type" else key, value)
    if text is not None:
        node.text = text
    return node


def names(parent: etree._Element, family: Name, given: tuple[Name, ...]) -> None:
    """The Latin name (``use="L"``), then the Arabic one when every part has an Arabic form."""
    latin = el(parent, "name", use="L")
    for part in given:
        el(latin, "given", text=part.latin)
    el(latin, "family", text=family.latin)
    if family.arabic and all(p.arabic for p in given):
        arabic = el(parent, "name")
        for part in given:
            el(arabic, "given", text=part.arabic)
        el(arabic, "family", text=family.arabic)


def person_name(parent: etree._Element, who: Practitioner) -> None:
    """A practitioner's Latin name."""
    name = el(parent, "name")
    el(name, "given", text=who.given.latin)
    el(name, "family", text=who.family.latin)


def ts(value: date | datetime) -> str:
    """An HL7 TS value: ``YYYYMMDD`` for a date, ``YYYYMMDDHHMMSS[+ZZZZ]`` for a date-time."""
    if isinstance(value, datetime):
        text = value.strftime("%Y%m%d%H%M%S")
        offset = value.utcoffset()
        if offset is not None:
            minutes = int(offset / timedelta(minutes=1))
            sign = "+" if minutes >= 0 else "-"
            text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
        return text
    return value.strftime("%Y%m%d")


def kind_of(entry: Entry) -> str:
    """The entry kind a section of the CDA content accepts (``condition``, ``lab``, ``vital``, …)."""
    if isinstance(entry, ConditionRecord):
        return "condition"
    if isinstance(entry, ObservationRecord):
        return "vital" if entry.kind == "vital" else "lab"
    if isinstance(entry, PrescriptionRecord):
        return "medication"
    if isinstance(entry, AllergyRecord):
        return "allergy"
    return "immunization"


def _number(value: float, decimals: int) -> str:
    return f"{value:.{max(decimals, 0)}f}"


def _date_fr(value: object) -> str:
    return value.strftime("%d/%m/%Y") if hasattr(value, "strftime") else str(value)


class BodyWriter:
    """Writes the sections of one document (narrative row ids are unique within the document)."""

    def __init__(self, renderer: CdaRenderer, uid: str) -> None:
        self.r = renderer
        self.uid = uid
        self.counter = 0

    def section(self, node: etree._Element, kinds: tuple[str, ...], entries: list[Entry]) -> None:
        """Narrative table(s) and one coded entry per record entry."""
        text = el(node, "text")
        if not entries:
            el(text, "paragraph", text=_EMPTY.get(kinds[0], "Aucun élément renseigné."))
            return
        rows: list[tuple[Entry, str]] = []
        for kind in kinds:
            group = [e for e in entries if kind_of(e) == kind]
            if not group:
                continue
            tbody = self._table(text, _HEADERS[kind])
            for entry in group:
                self.counter += 1
                ref = f"{kind}-{self.counter}"
                tr = el(tbody, "tr", ID=ref)
                for cell in self._cells(entry):
                    el(tr, "td", text=cell)
                rows.append((entry, ref))
        for entry, ref in rows:
            self._entry(el(node, "entry", typeCode="DRIV"), entry, ref)

    def narrative_only(
        self, node: etree._Element, key: str, record: PatientRecord, doc: DocumentRecord
    ) -> None:
        """A section without entries: reason for admission or visit, procedures, follow-up, plan."""
        text = el(node, "text")
        reason = None
        try:
            enc = record.encounter(doc.encounter_id)
            reason = enc.reason
        except KeyError:
            enc = None
        if key == "reason":
            line = f"{reason.display} ({reason.code})." if reason else "Motif non précisé."
        elif key == "procedures":
            line = "Aucun acte technique n'est rapporté pour ce séjour."
        elif enc is not None:
            line = (
                f"Suivi par {enc.practitioner.given.latin} {enc.practitioner.family.latin} "
                f"({enc.establishment.name}) ; poursuivre le traitement prescrit."
            )
        else:
            line = "Poursuivre le traitement prescrit ; revoir le patient si besoin."
        el(text, "paragraph", text=line)

    def _table(self, text: etree._Element, headers: tuple[str, ...]) -> etree._Element:
        table = el(text, "table", border="1")
        tr = el(el(table, "thead"), "tr")
        for header in headers:
            el(tr, "th", text=header)
        return el(table, "tbody")

    def _cells(self, entry: Entry) -> tuple[str, ...]:
        if isinstance(entry, ConditionRecord):
            return (
                entry.code.display,
                entry.code.code,
                _date_fr(entry.onset),
                _CLINICAL.get(entry.clinical_status, entry.clinical_status),
            )
        if isinstance(entry, ObservationRecord):
            value = self._observation_text(entry)
            if entry.kind == "vital":
                return (entry.code.display, value, entry.unit or "", _date_fr(entry.effective))
            low, high = entry.reference_range or (None, None)
            ref = " – ".join(_number(v, entry.decimals) for v in (low, high) if v is not None)
            return (
                entry.code.display,
                value,
                entry.unit or "",
                ref,
                _INTERPRETATION.get(entry.interpretation or "", ""),
                _date_fr(entry.effective),
            )
        if isinstance(entry, PrescriptionRecord):
            return (
                entry.medication.display,
                entry.medication.code,
                f"{entry.atc.code} ({entry.atc.display})",
                entry.dosage_text,
                f"{entry.duration_days} jours",
            )
        if isinstance(entry, AllergyRecord):
            return (
                entry.code.display,
                _CATEGORY.get(entry.category, entry.category),
                _CRITICALITY.get(entry.criticality, entry.criticality),
                _date_fr(entry.recorded),
            )
        return (entry.vaccine.display, str(entry.dose_number), _date_fr(entry.occurrence), entry.lot_number)

    @staticmethod
    def _observation_text(obs: ObservationRecord) -> str:
        if obs.value is not None:
            return _number(obs.value, obs.decimals)
        return " / ".join(_number(c.value, obs.decimals) for c in obs.components)

    # -------------------------------------------------------------------------------- coded entries

    def _coded(self, parent: etree._Element, name: str, code: Code, **extra: str) -> etree._Element:
        return el(
            parent,
            name,
            **extra,
            code=code.code,
            codeSystem=self.r.oid(code.system),
            displayName=code.display,
        )

    def _entry(self, holder: etree._Element, entry: Entry, ref: str) -> None:
        r = self.r
        if isinstance(entry, ConditionRecord | AllergyRecord):
            obs = el(holder, "observation", classCode="OBS", moodCode="EVN")
            el(obs, "id", root=self.uid, extension=entry.id)
            if isinstance(entry, ConditionRecord):
                el(obs, "code", code=_DIAGNOSIS[0], codeSystem=r.oid(LOINC), displayName=_DIAGNOSIS[1])
            else:
                el(obs, "code", code=_ASSERTION[0], codeSystem=_ASSERTION[1])
            el(el(obs, "text"), "reference", value=f"#{ref}")
            el(obs, "statusCode", code="completed")
            start = entry.onset if isinstance(entry, ConditionRecord) else entry.recorded
            el(el(obs, "effectiveTime"), "low", value=ts(start))
            self._coded(obs, "value", entry.code, xsi_type="CD")
            who = entry.recorder
            when = entry.recorded
            author = el(obs, "author")
            el(author, "time", value=ts(when))
            assigned = el(author, "assignedAuthor")
            r.inpe(assigned, who.inpe)
            person_name(el(assigned, "assignedPerson"), who)
        elif isinstance(entry, ObservationRecord):
            self._observation(holder, entry, ref)
        elif isinstance(entry, PrescriptionRecord):
            sbadm = el(holder, "substanceAdministration", classCode="SBADM", moodCode="INT")
            el(sbadm, "id", root=self.uid, extension=entry.id)
            el(el(sbadm, "text"), "reference", value=f"#{ref}")
            el(sbadm, "statusCode", code="active")
            period = el(sbadm, "effectiveTime", xsi_type="IVL_TS")
            el(period, "low", value=ts(entry.authored.date()))
            el(period, "high", value=ts(entry.authored.date() + timedelta(days=entry.duration_days)))
            frequency = el(
                sbadm, "effectiveTime", xsi_type="PIVL_TS", institutionSpecified="true", operator="A"
            )
            el(
                frequency,
                "period",
                value=_number(24 / max(entry.frequency_per_day, 1), 2).rstrip("0").rstrip("."),
                unit="h",
            )
            el(
                sbadm,
                "doseQuantity",
                value=_number(entry.dose_quantity, 2).rstrip("0").rstrip("."),
                unit=_ucum_dose_unit(entry.dose_unit),
            )
            material = el(el(el(sbadm, "consumable"), "manufacturedProduct"), "manufacturedMaterial")
            code = self._coded(material, "code", entry.medication)
            self._coded(code, "translation", entry.atc)
            author = el(sbadm, "author")
            el(author, "time", value=ts(entry.authored))
            assigned = el(author, "assignedAuthor")
            r.inpe(assigned, entry.requester.inpe)
            person_name(el(assigned, "assignedPerson"), entry.requester)
        else:
            sbadm = el(
                holder, "substanceAdministration", classCode="SBADM", moodCode="EVN", negationInd="false"
            )
            el(sbadm, "id", root=self.uid, extension=entry.id)
            el(el(sbadm, "text"), "reference", value=f"#{ref}")
            el(sbadm, "statusCode", code="completed")
            el(sbadm, "effectiveTime", value=ts(entry.occurrence))
            el(sbadm, "repeatNumber", value=str(entry.dose_number))
            material = el(el(el(sbadm, "consumable"), "manufacturedProduct"), "manufacturedMaterial")
            code = self._coded(material, "code", entry.vaccine)
            self._coded(code, "translation", entry.atc)
            el(material, "lotNumberText", text=entry.lot_number)
            entity = el(el(sbadm, "performer"), "assignedEntity")
            r.inpe(entity, entry.performer.inpe)
            person_name(el(entity, "assignedPerson"), entry.performer)

    def _observation(self, holder: etree._Element, obs: ObservationRecord, ref: str | None) -> None:
        node = el(holder, "observation", classCode="OBS", moodCode="EVN")
        if ref is not None:
            el(node, "id", root=self.uid, extension=obs.id)
        self._coded(node, "code", obs.code)
        if ref is not None:
            el(el(node, "text"), "reference", value=f"#{ref}")
        el(node, "statusCode", code=_OBS_STATUS.get(obs.status, "completed"))
        el(node, "effectiveTime", value=ts(obs.effective))
        if obs.value is not None and obs.unit:
            el(node, "value", xsi_type="PQ", value=_number(obs.value, obs.decimals), unit=obs.unit)
        if obs.interpretation:
            el(
                node,
                "interpretationCode",
                code=obs.interpretation,
                codeSystem=_INTERPRETATION_OID,
                displayName=_INTERPRETATION.get(obs.interpretation, obs.interpretation),
            )
        if ref is not None:
            entity = el(el(node, "performer"), "assignedEntity")
            self.r.inpe(entity, obs.performer.inpe)
            person_name(el(entity, "assignedPerson"), obs.performer)
        for component in obs.components:
            sub = ObservationRecord(
                obs.id,
                obs.kind,
                component.code,
                component.value,
                component.unit,
                obs.effective,
                obs.encounter_id,
                obs.performer,
                decimals=obs.decimals,
            )
            self._observation(el(node, "entryRelationship", typeCode="COMP"), sub, None)
        if obs.reference_range and obs.unit and any(v is not None for v in obs.reference_range):
            value = el(el(el(node, "referenceRange"), "observationRange"), "value", xsi_type="IVL_PQ")
            for name, bound in zip(("low", "high"), obs.reference_range, strict=True):
                if bound is not None:
                    el(value, name, value=_number(bound, obs.decimals), unit=obs.unit)


def _ucum_dose_unit(unit: str) -> str:
    """A dose unit as UCUM: kept when it is plain ASCII without spaces, else the unity ``1`` (tablets…)."""
    return unit if unit and unit.isascii() and " " not in unit else "1"
