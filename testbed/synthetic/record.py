"""The synthetic patient record: one object that every renderer (FHIR, HL7 v2, CDA) reads.

A record holds plain values only (codes with their system and display, dates, identifiers): renderers
never draw random numbers, so the same record gives the same person in every standard. Identifier
systems, OIDs and canonical URLs are not stored here; renderers take them from the content packages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from testbed.synthetic.model import Establishment, Name, Practitioner
from testbed.synthetic.provider import Address

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
ATC = "http://www.whocc.no/atc"
GTIN = "https://www.gs1.org/gtin"
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True, slots=True)
class Code:
    """A coded value: system URI, code and display."""

    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class Identity:
    """The identifiers of a patient (values only; systems come from the content's NamingSystems).

    ``passport`` is (ISO 3166-1 numeric country code, number); ``local`` lists
    (facility INPE, medical record number) pairs.
    """

    ins: str | None = None
    cnie: str | None = None
    carte_sejour: str | None = None
    passport: tuple[str, str] | None = None
    cnss: str | None = None
    cnops: str | None = None
    local: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class CoverageRecord:
    """Health coverage: scheme code of ``ma-coverage-scheme`` and the member number (CNSS/CNOPS) if any."""

    id: str
    scheme: str
    member_id: str | None
    start: date


@dataclass(frozen=True, slots=True)
class EncounterRecord:
    """A contact with care. ``klass`` is a v3 ActCode (AMB, IMP, EMER, VR); ``end`` may be None for AMB."""

    id: str
    klass: str
    start: datetime
    end: datetime | None
    establishment: Establishment
    practitioner: Practitioner
    reason: Code | None
    visit_number: str


@dataclass(frozen=True, slots=True)
class ConditionRecord:
    """A diagnosis (ICD-10 of ``ma-icd10``)."""

    id: str
    code: Code
    onset: date
    recorded: datetime
    encounter_id: str
    recorder: Practitioner
    clinical_status: str = "active"


@dataclass(frozen=True, slots=True)
class Component:
    """One component of a panel observation (blood pressure)."""

    code: Code
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """A vital sign or a laboratory result (LOINC, UCUM unit). ``kind`` is ``vital`` or ``lab``.

    A panel (blood pressure) has no ``value`` and carries ``components``. ``interpretation`` is a
    v3 ObservationInterpretation code (N, H, L) or None; ``reference_range`` is (low, high) in ``unit``.
    """

    id: str
    kind: str
    code: Code
    value: float | None
    unit: str | None
    effective: datetime
    encounter_id: str
    performer: Practitioner
    components: tuple[Component, ...] = ()
    interpretation: str | None = None
    reference_range: tuple[float | None, float | None] | None = None
    status: str = "final"
    decimals: int = 0


@dataclass(frozen=True, slots=True)
class PrescriptionRecord:
    """A medication prescription: GTIN of ``ma-medication`` with its ATC class and a dosage."""

    id: str
    medication: Code
    atc: Code
    dosage_text: str
    dose_quantity: float
    dose_unit: str
    frequency_per_day: int
    duration_days: int
    authored: datetime
    encounter_id: str
    requester: Practitioner


@dataclass(frozen=True, slots=True)
class AllergyRecord:
    """An allergy or intolerance (code from the core FHIR allergy value sets)."""

    id: str
    code: Code
    category: str
    criticality: str
    recorded: date
    recorder: Practitioner


@dataclass(frozen=True, slots=True)
class ImmunizationRecord:
    """A vaccine dose of the national schedule (CVX code, ATC class)."""

    id: str
    vaccine: Code
    atc: Code
    dose_number: int
    occurrence: date
    performer: Practitioner
    lot_number: str


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A clinical document to render as CDA and to submit with a DocumentReference.

    ``type`` is the ``ma-document-type`` code (CRH, CRBIO, SYNTH, ORD, CRCONS); the document body is
    made of the record's entries whose ids are listed in ``entry_ids``.
    """

    id: str
    type: str
    title: str
    created: datetime
    encounter_id: str
    author: Practitioner
    custodian: Establishment
    confidentiality: str
    language: str
    entry_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """An objection to SMR sharing (right to object), recorded at an establishment."""

    id: str
    date_time: datetime
    organization: Establishment


Entry = ConditionRecord | ObservationRecord | PrescriptionRecord | AllergyRecord | ImmunizationRecord
"""Any clinical entry a document can list."""


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A synthetic patient and everything that happened to them.

    ``id`` is stable for a (seed, index) pair and safe as a FHIR id and a file name.
    ``duplicate_of`` names the id of the surviving record when this record is a duplicate identity
    created by a facility (degraded mode); it is then merged into the survivor (SMR-T2 / ADT^A40).
    """

    id: str
    index: int
    seed: str
    sex: str
    birth_date: date
    family: Name
    given: tuple[Name, ...]
    identity: Identity
    nationality: str
    address: Address
    phone: str | None
    language: str
    marital_status: str
    coverage: CoverageRecord | None
    encounters: tuple[EncounterRecord, ...] = ()
    conditions: tuple[ConditionRecord, ...] = ()
    observations: tuple[ObservationRecord, ...] = ()
    prescriptions: tuple[PrescriptionRecord, ...] = ()
    allergies: tuple[AllergyRecord, ...] = ()
    immunizations: tuple[ImmunizationRecord, ...] = ()
    documents: tuple[DocumentRecord, ...] = ()
    consent: ConsentRecord | None = None
    duplicate_of: str | None = None
    deceased: date | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def encounter(self, encounter_id: str) -> EncounterRecord:
        """The encounter with that id (KeyError when absent)."""
        for enc in self.encounters:
            if enc.id == encounter_id:
                return enc
        raise KeyError(encounter_id)

    def entries(self, ids: tuple[str, ...]) -> list[Entry]:
        """The clinical entries (conditions, observations, prescriptions, …) with these ids, in order."""
        by_id: dict[str, Entry] = {}
        groups: tuple[tuple[Entry, ...], ...] = (
            self.conditions, self.observations, self.prescriptions, self.allergies, self.immunizations
        )
        for group in groups:
            for item in group:
                by_id[item.id] = item
        return [by_id[i] for i in ids if i in by_id]

    @property
    def age_years(self) -> int:
        """Age at the model's reference date is not stored; this is the age at the last encounter or birth."""
        last = max((e.start.date() for e in self.encounters), default=self.birth_date)
        years = last.year - self.birth_date.year
        if (last.month, last.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years
