"""Hand-built PatientRecords for the renderer tests (invented people; no generator involved).

``rich_adult``: INS, CNIE, CNSS and a local record number, Latin and Arabic names, conditions, vital signs
(with a blood-pressure panel), lab results, prescriptions, an allergy, an immunization, documents and an
objection to sharing. ``minor``: no CNIE, CNOPS coverage of a parent. ``foreigner``: residence permit and
passport. ``duplicate``: a local identifier only, a duplicate of ``rich_adult``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

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
    ConsentRecord,
    CoverageRecord,
    DocumentRecord,
    EncounterRecord,
    Identity,
    ImmunizationRecord,
    ObservationRecord,
    PatientRecord,
    PrescriptionRecord,
)

TZ = timezone(timedelta(hours=1))
SEED = "records-v1"

CHU = Establishment(
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
ESSP = Establishment(
    "110000017",
    "ESSP",
    "Centre de santé Hay Mohammadi",
    "06",
    "Casablanca",
    "Casablanca",
    "20570",
    "Boulevard Hay Mohammadi",
    "+212522600100",
)
LABO = Establishment(
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
DR_ALAOUI = Practitioner(
    "284058028", Name("Alaoui", "العلوي"), Name("Youssef", "يوسف"), "male", "MG", CHU.inpe, "+212522480000"
)
DR_BENNIS = Practitioner(
    "200300400", Name("Bennis", "بنيس"), Name("Nadia", "نادية"), "female", "BIO", LABO.inpe, "+212522270102"
)
NURSE = Practitioner(
    "231000555",
    Name("Amrani", "العمراني"),
    Name("Fatima", "فاطمة"),
    "female",
    "INF",
    ESSP.inpe,
    "+212522600101",
)


def _dt(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


def rich_adult() -> PatientRecord:
    """An adult woman with every kind of entry and an objection to sharing."""
    enc1 = EncounterRecord(
        "enc-1",
        "AMB",
        _dt(2025, 3, 2, 9, 15),
        _dt(2025, 3, 2, 9, 40),
        CHU,
        DR_ALAOUI,
        Code(ICD10, "I10", "Hypertension essentielle (primitive)"),
        "V2025-0001",
    )
    enc2 = EncounterRecord(
        "enc-2", "IMP", _dt(2025, 6, 10, 14), _dt(2025, 6, 14, 11), CHU, DR_ALAOUI, None, "V2025-0144"
    )
    bp = ObservationRecord(
        "obs-bp",
        "vital",
        Code(LOINC, "85354-9", "Blood pressure panel with all children optional"),
        None,
        None,
        _dt(2025, 3, 2, 9, 20),
        "enc-1",
        DR_ALAOUI,
        components=(
            Component(Code(LOINC, "8480-6", "Systolic blood pressure"), 152, "mm[Hg]"),
            Component(Code(LOINC, "8462-4", "Diastolic blood pressure"), 94, "mm[Hg]"),
        ),
        interpretation="H",
    )
    hr = ObservationRecord(
        "obs-hr",
        "vital",
        Code(LOINC, "8867-4", "Heart rate"),
        78,
        "/min",
        _dt(2025, 3, 2, 9, 20),
        "enc-1",
        DR_ALAOUI,
    )
    weight = ObservationRecord(
        "obs-wt",
        "vital",
        Code(LOINC, "29463-7", "Body weight"),
        71.4,
        "kg",
        _dt(2025, 3, 2, 9, 21),
        "enc-1",
        DR_ALAOUI,
        decimals=1,
    )
    glucose = ObservationRecord(
        "obs-glu",
        "lab",
        Code(LOINC, "2345-7", "Glucose [Mass/volume] in Serum or Plasma"),
        1.264,
        "g/L",
        _dt(2025, 6, 11, 8, 10),
        "enc-2",
        DR_BENNIS,
        interpretation="H",
        reference_range=(0.7, 1.1),
        decimals=2,
    )
    hba1c = ObservationRecord(
        "obs-a1c",
        "lab",
        Code(LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),
        7.2,
        "%",
        _dt(2025, 6, 11, 8, 10),
        "enc-2",
        DR_BENNIS,
        reference_range=(None, 6.0),
        interpretation="H",
        decimals=1,
    )
    hta = ConditionRecord(
        "cond-hta",
        Code(ICD10, "I10", "Hypertension essentielle (primitive)"),
        date(2019, 3, 14),
        _dt(2025, 3, 2, 9, 35),
        "enc-1",
        DR_ALAOUI,
    )
    diab = ConditionRecord(
        "cond-dt2",
        Code(ICD10, "E11.9", "Diabète sucré non insulinodépendant, sans complication"),
        date(2025, 6, 11),
        _dt(2025, 6, 12, 10),
        "enc-2",
        DR_ALAOUI,
    )
    rx1 = PrescriptionRecord(
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
        DR_ALAOUI,
    )
    rx2 = PrescriptionRecord(
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
        DR_ALAOUI,
    )
    allergy = AllergyRecord(
        "alg-1",
        Code(SNOMED, "373270004", "Penicillin -class of antibiotic-"),
        "medication",
        "high",
        date(2010, 5, 1),
        DR_ALAOUI,
    )
    vaccine = ImmunizationRecord(
        "imm-1",
        Code(CVX, "03", "MMR"),
        Code(ATC, "J07BD52", "measles, combinations with mumps and rubella, live attenuated"),
        1,
        date(1986, 4, 20),
        NURSE,
        "LOT-4411",
    )
    crbio = DocumentRecord(
        "doc-crbio",
        "CRBIO",
        "Compte rendu de biologie",
        _dt(2025, 6, 11, 11, 30),
        "enc-2",
        DR_BENNIS,
        LABO,
        "N",
        "fr-MA",
        ("obs-glu", "obs-a1c"),
    )
    crh = DocumentRecord(
        "doc-crh",
        "CRH",
        "Compte rendu d'hospitalisation",
        _dt(2025, 6, 14, 11),
        "enc-2",
        DR_ALAOUI,
        CHU,
        "R",
        "fr-MA",
        ("cond-dt2", "rx-2"),
    )
    return PatientRecord(
        id="p-000001",
        index=1,
        seed=SEED,
        sex="female",
        birth_date=date(1985, 4, 12),
        family=Name("Bennani", "بناني"),
        given=(Name("Salma", "سلمى"), Name("Khadija", "خديجة")),
        identity=Identity(
            ins="185041234507", cnie="BK123456", cnss="123456789", local=((CHU.inpe, "CHU-2025-004512"),)
        ),
        nationality="MA",
        address=Address("12 rue Ibn Batouta, Maârif", "Casablanca", "20330", "06", "Casablanca", True),
        phone="+212612345678",
        language="ar",
        marital_status="M",
        coverage=CoverageRecord("cov-1", "AMO-CNSS", "123456789", date(2012, 1, 1)),
        encounters=(enc1, enc2),
        conditions=(hta, diab),
        observations=(bp, hr, weight, glucose, hba1c),
        prescriptions=(rx1, rx2),
        allergies=(allergy,),
        immunizations=(vaccine,),
        documents=(crbio, crh),
        consent=ConsentRecord("cons-1", _dt(2025, 6, 14, 10), CHU),
    )


def minor() -> PatientRecord:
    """A 6-year-old boy without CNIE (INS only), covered under a parent's CNOPS affiliation."""
    enc = EncounterRecord("enc-1", "AMB", _dt(2025, 2, 3, 10), None, ESSP, NURSE, None, "V-778")
    temp = ObservationRecord(
        "obs-t",
        "vital",
        Code(LOINC, "8310-5", "Body temperature"),
        38.4,
        "Cel",
        _dt(2025, 2, 3, 10, 5),
        "enc-1",
        NURSE,
        decimals=1,
    )
    asthma = ConditionRecord(
        "cond-1",
        Code(ICD10, "J45.9", "Asthme, sans précision"),
        date(2023, 11, 2),
        _dt(2025, 2, 3, 10, 20),
        "enc-1",
        NURSE,
    )
    bcg = ImmunizationRecord(
        "imm-1",
        Code(CVX, "19", "BCG"),
        Code(ATC, "J07AN01", "tuberculosis, live attenuated"),
        1,
        date(2019, 1, 5),
        NURSE,
        "BCG-19-22",
    )
    return PatientRecord(
        id="p-000002",
        index=2,
        seed=SEED,
        sex="male",
        birth_date=date(2019, 1, 5),
        family=Name("Tazi", "التازي"),
        given=(Name("Adam", "آدم"),),
        identity=Identity(ins="2190105001" + ins_key("2190105001")),
        nationality="MA",
        address=Address("Douar Ait Ali", "Berrechid", "26100", "06", "Berrechid", False),
        phone=None,
        language="ary",
        marital_status="U",
        coverage=CoverageRecord("cov-1", "AMO-CNOPS", "45123007", date(2019, 1, 5)),
        encounters=(enc,),
        conditions=(asthma,),
        observations=(temp,),
        immunizations=(bcg,),
    )


def foreigner() -> PatientRecord:
    """A French resident with a residence permit and a passport, no INS yet, no coverage."""
    enc = EncounterRecord(
        "enc-1", "EMER", _dt(2025, 8, 1, 22, 5), _dt(2025, 8, 2, 1, 30), CHU, DR_ALAOUI, None, "U-1"
    )
    return PatientRecord(
        id="p-000003",
        index=3,
        seed=SEED,
        sex="female",
        birth_date=date(1979, 11, 30),
        family=Name("Martin", "مارتان"),
        given=(Name("Claire", "كلير"), Name("Anne", "آن")),
        identity=Identity(carte_sejour="E1234567", passport=("250", "19FR45821")),
        nationality="FR",
        address=Address("7 avenue Hassan II, Gauthier", "Casablanca", "20070", "06", "Casablanca", True),
        phone="+212522123456",
        language="fr",
        marital_status="S",
        coverage=None,
        encounters=(enc,),
    )


def duplicate() -> PatientRecord:
    """The same woman as :func:`rich_adult`, registered in degraded mode (local number only) at the ESSP."""
    return PatientRecord(
        id="p-000004",
        index=4,
        seed=SEED,
        sex="female",
        birth_date=date(1985, 4, 12),
        family=Name("Bennani", "بناني"),
        given=(Name("Salma", "سلمى"),),
        identity=Identity(local=((ESSP.inpe, "URG-88231"),)),
        nationality="MA",
        address=Address("12 rue Ibn Batouta, Maârif", "Casablanca", "20330", "06", "Casablanca", True),
        phone="+212612345678",
        language="ar",
        marital_status="M",
        coverage=None,
        duplicate_of="p-000001",
    )


def all_records() -> list[PatientRecord]:
    """The four hand-built records."""
    return [rich_adult(), minor(), foreigner(), duplicate()]
