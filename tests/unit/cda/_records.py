"""A hand-built synthetic patient whose documents fill every section of every MA CDA document type.

Invented people and places (no generator involved). ``full_record(layout)`` gives a woman with an INS, a
CNIE, a CNSS number and a local record number, Latin and Arabic names, and one document of each type of
the CDA content, each listing every entry its sections accept (so every optional section is rendered).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from testbed.cda import CdaContent
from testbed.synthetic.ids import ins_key
from testbed.synthetic.model import Establishment, Name, Practitioner
from testbed.synthetic.provider import Address
from testbed.synthetic.record import (
    ATC,
    CVX,
    GTIN,
    ICD10,
    LOINC,
    SNOMED,
    AllergyRecord,
    Code,
    Component,
    ConditionRecord,
    DocumentRecord,
    EncounterRecord,
    Entry,
    Identity,
    ImmunizationRecord,
    ObservationRecord,
    PatientRecord,
    PrescriptionRecord,
)

TZ = timezone(timedelta(hours=1))
SEED = "cda-tests-v1"
HOSPITAL = Establishment(
    "152423053",
    "CHU",
    "CHU Ibn Rochd de Casablanca",
    "06",
    "Casablanca",
    "Casablanca",
    "20360",
    "1 rue des Hôpitaux",
    "+212522482000",
)
LAB = Establishment(
    "130000021",
    "LABO",
    "Laboratoire Anfa",
    "06",
    "Casablanca",
    "Casablanca",
    "20050",
    "45 boulevard d'Anfa",
    "+212522270101",
)
DOCTOR = Practitioner(
    "284058028",
    Name("Alaoui", "العلوي"),
    Name("Youssef", "يوسف"),
    "male",
    "MG",
    HOSPITAL.inpe,
    "+212522480000",
)
BIOLOGIST = Practitioner(
    "200300400", Name("Bennis", "بنيس"), Name("Nadia", "نادية"), "female", "BIO", LAB.inpe, "+212522270102"
)
INS = "1850412345" + ins_key("1850412345")


def _dt(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def entries() -> tuple[
    list[ConditionRecord],
    list[ObservationRecord],
    list[PrescriptionRecord],
    list[AllergyRecord],
    list[ImmunizationRecord],
]:
    """Two diagnoses, a BP panel and a heart rate, two lab results, 2 prescriptions, an allergy, a vaccine."""
    conditions = [
        ConditionRecord(
            "cond-1",
            Code(ICD10, "I10", "Hypertension essentielle (primitive)"),
            date(2019, 3, 14),
            _dt(2025, 3, 2, 9, 35),
            "enc-1",
            DOCTOR,
        ),
        ConditionRecord(
            "cond-2",
            Code(ICD10, "E11.9", "Diabète sucré non insulinodépendant, sans complication"),
            date(2025, 6, 11),
            _dt(2025, 6, 12, 10),
            "enc-2",
            DOCTOR,
        ),
    ]
    observations = [
        ObservationRecord(
            "obs-bp",
            "vital",
            Code(LOINC, "85354-9", "Blood pressure panel with all children optional"),
            None,
            None,
            _dt(2025, 3, 2, 9, 20),
            "enc-1",
            DOCTOR,
            components=(
                Component(Code(LOINC, "8480-6", "Systolic blood pressure"), 152, "mm[Hg]"),
                Component(Code(LOINC, "8462-4", "Diastolic blood pressure"), 94, "mm[Hg]"),
            ),
            interpretation="H",
        ),
        ObservationRecord(
            "obs-hr",
            "vital",
            Code(LOINC, "8867-4", "Heart rate"),
            78,
            "/min",
            _dt(2025, 3, 2, 9, 20),
            "enc-1",
            DOCTOR,
        ),
        ObservationRecord(
            "obs-glu",
            "lab",
            Code(LOINC, "2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
            1.264,
            "g/L",
            _dt(2025, 6, 11, 8, 10),
            "enc-2",
            BIOLOGIST,
            interpretation="H",
            reference_range=(0.7, 1.1),
            decimals=2,
        ),
        ObservationRecord(
            "obs-a1c",
            "lab",
            Code(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
            7.2,
            "%",
            _dt(2025, 6, 11, 8, 10),
            "enc-2",
            BIOLOGIST,
            interpretation="H",
            reference_range=(None, 6.0),
            decimals=1,
        ),
    ]
    prescriptions = [
        PrescriptionRecord(
            "rx-1",
            Code(GTIN, "09521001000017", "Paracétamol 500 mg, comprimé"),
            Code(ATC, "N02BE01", "paracetamol"),
            "1 comprimé 3 fois par jour pendant 5 jours",
            1,
            "comprimé",
            3,
            5,
            _dt(2025, 3, 2, 9, 38),
            "enc-1",
            DOCTOR,
        ),
        PrescriptionRecord(
            "rx-2",
            Code(GTIN, "09521001000024", "Paracétamol 1 g, comprimé"),
            Code(ATC, "N02BE01", "paracetamol"),
            "1 comprimé 2 fois par jour pendant 3 jours",
            1,
            "comprimé",
            2,
            3,
            _dt(2025, 6, 14, 10, 30),
            "enc-2",
            DOCTOR,
        ),
    ]
    allergies = [
        AllergyRecord(
            "alg-1", Code(SNOMED, "764146007", "Penicillin"), "medication", "high", date(2010, 5, 1), DOCTOR
        )
    ]
    immunizations = [
        ImmunizationRecord(
            "imm-1",
            Code(CVX, "03", "MMR"),
            Code(ATC, "J07BD52", "measles, combinations with mumps and rubella"),
            1,
            date(1986, 4, 20),
            DOCTOR,
            "LOT-4411",
        )
    ]
    return conditions, observations, prescriptions, allergies, immunizations


def _kind(entry: Entry) -> str:
    if isinstance(entry, ConditionRecord):
        return "condition"
    if isinstance(entry, ObservationRecord):
        return "vital" if entry.kind == "vital" else "lab"
    if isinstance(entry, PrescriptionRecord):
        return "medication"
    return "allergy" if isinstance(entry, AllergyRecord) else "immunization"


def full_record(content: CdaContent) -> PatientRecord:
    """The patient, with one document per document type of ``content`` holding every entry it accepts."""
    conditions, observations, prescriptions, allergies, immunizations = entries()
    everything: list[Entry] = [*conditions, *observations, *prescriptions, *allergies, *immunizations]
    documents = []
    for n, (key, spec) in enumerate(sorted(content.documents.items())):
        kinds = {k for s in spec.sections for k in s.entries}
        custodian, author = (LAB, BIOLOGIST) if key == "CRBIO" else (HOSPITAL, DOCTOR)
        documents.append(
            DocumentRecord(
                f"doc-{key.lower()}",
                key,
                spec.title,
                _dt(2025, 6, 14, 11, n),
                "enc-2",
                author,
                custodian,
                "N",
                "fr-MA",
                tuple(e.id for e in everything if _kind(e) in kinds),
            )
        )
    encounters = (
        EncounterRecord(
            "enc-1",
            "AMB",
            _dt(2025, 3, 2, 9, 15),
            _dt(2025, 3, 2, 9, 40),
            HOSPITAL,
            DOCTOR,
            Code(ICD10, "I10", "Hypertension essentielle (primitive)"),
            "V2025-0001",
        ),
        EncounterRecord(
            "enc-2",
            "IMP",
            _dt(2025, 6, 10, 14),
            _dt(2025, 6, 14, 11),
            HOSPITAL,
            DOCTOR,
            Code(ICD10, "E11.9", "Diabète sucré non insulinodépendant, sans complication"),
            "V2025-0144",
        ),
    )
    return PatientRecord(
        id="p-cda-000001",
        index=1,
        seed=SEED,
        sex="female",
        birth_date=date(1985, 4, 12),
        family=Name("Bennani", "بناني"),
        given=(Name("Salma", "سلمى"), Name("Khadija", "خديجة")),
        identity=Identity(
            ins=INS, cnie="BK123456", cnss="123456789", local=((HOSPITAL.inpe, "CHU-2025-004512"),)
        ),
        nationality="MA",
        address=Address("12 rue Ibn Batouta, Maârif", "Casablanca", "20330", "06", "Casablanca", True),
        phone="+212612345678",
        language="ar",
        marital_status="M",
        coverage=None,
        encounters=encounters,
        conditions=tuple(conditions),
        observations=tuple(observations),
        prescriptions=tuple(prescriptions),
        allergies=tuple(allergies),
        immunizations=tuple(immunizations),
        documents=tuple(documents),
    )


def without_arabic(record: PatientRecord) -> PatientRecord:
    """The same patient with Latin names only."""
    return replace(
        record, family=Name(record.family.latin, ""), given=tuple(Name(g.latin, "") for g in record.given)
    )
