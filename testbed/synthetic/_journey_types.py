"""Rows of the clinical tables (clinical.yaml, medications.yaml, allergies.csv, identity.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from testbed.synthetic._sampling import WeightedChoice
from testbed.synthetic.model import Name

Bounds = tuple[float | None, float | None]
"""A reference range: low and high bound, either may be absent."""

CHILD_AGE = 15
"""Below this age (years) the ``child`` reference range of a lab test applies when it has one."""


def _group(table: dict[str, tuple[float, float]] | dict[str, Bounds], sex: str, age: int) -> str:
    if age < CHILD_AGE and "child" in table:
        return "child"
    return sex if sex in table else "any"


@dataclass(frozen=True, slots=True)
class LabTest:
    """A laboratory test of ``ma-lab-loinc``: UCUM unit, decimals, reference and normal ranges by group.

    Groups are ``any``, ``male``, ``female`` and ``child`` (under :data:`CHILD_AGE`).
    """

    code: str
    display: str
    unit: str
    decimals: int
    ref: dict[str, Bounds]
    normal: dict[str, tuple[float, float]]

    def reference(self, sex: str, age: int) -> Bounds:
        """The reference range for a person of ``sex`` and ``age``."""
        return self.ref[_group(self.ref, sex, age)]

    def normal_range(self, sex: str, age: int) -> tuple[float, float]:
        """The range a normal result of such a person is drawn from."""
        return self.normal[_group(self.normal, sex, age)]


@dataclass(frozen=True, slots=True)
class VitalSign:
    """A vital sign of ``ma-vital-signs``; ``normal`` rows are (age_max, low, high), first match wins."""

    key: str
    code: str
    display: str
    unit: str | None
    decimals: int
    normal: tuple[tuple[int, float, float], ...] = ()

    def normal_range(self, age: int) -> tuple[float, float]:
        """The normal range at ``age`` (years)."""
        for age_max, low, high in self.normal:
            if age <= age_max:
                return low, high
        return self.normal[-1][1], self.normal[-1][2]


@dataclass(frozen=True, slots=True)
class Medication:
    """A product of ``ma-medication`` with its ATC class and the usual regimens to draw a dosage from."""

    gtin: str
    display: str
    atc: str
    atc_display: str
    doses: tuple[float, ...]
    unit: str
    label: tuple[str, str]
    per_day: tuple[int, ...]
    days: tuple[int, ...]
    age_min: int
    age_max: int
    text: str


@dataclass(frozen=True, slots=True)
class Route:
    """Where encounters for a condition happen: class, establishment types, practitioner specialty."""

    klass: str
    types: tuple[str, ...]
    specialty: str
    weight: float
    age_min: int = 0
    age_max: int = 120
    sex: str | None = None
    national: bool = False

    def fits(self, age: int, sex: str) -> bool:
        """Whether a person of ``age`` and ``sex`` is cared for on this route."""
        return self.age_min <= age <= self.age_max and (self.sex is None or self.sex == sex)


@dataclass(frozen=True, slots=True)
class Admission:
    """A hospital stay that opens the journey of a condition with probability ``share``."""

    share: float
    los: tuple[int, int]
    route: Route


@dataclass(frozen=True, slots=True)
class CareProfile:
    """How one ICD-10 condition (long-standing) or acute episode shows in a record."""

    code: str
    display: str
    episode: bool
    routes: tuple[Route, ...]
    admission: Admission | None
    encounters: tuple[int, int]
    labs: tuple[tuple[str, tuple[float, float] | None], ...]
    lab_share: float
    vitals: dict[str, tuple[float, float]]
    measure: tuple[str, ...]
    medications: WeightedChoice[str] | None
    max_medications: int
    confidentiality: str
    sex: str | None = None
    incidence: tuple[tuple[int, int, float], ...] = ()
    incidence_female: tuple[tuple[int, int, float], ...] = ()
    min_interval_days: int = 0

    def cared_for(self, age: int, sex: str) -> bool:
        """Whether a route (or a certain admission) exists for a person of ``age`` and ``sex``."""
        if any(route.fits(age, sex) for route in self.routes):
            return True
        admission = self.admission
        return admission is not None and admission.share >= 1 and admission.route.fits(age, sex)

    def yearly_incidence(self, age: int, sex: str) -> float:
        """The chance per year of an encounter for this episode at ``age`` (0 for another sex)."""
        if self.sex is not None and self.sex != sex:
            return 0.0
        bands = self.incidence_female if sex == "female" and self.incidence_female else self.incidence
        for low, high, chance in bands:
            if low <= age <= high:
                return chance
        return 0.0


@dataclass(frozen=True, slots=True)
class Growth:
    """Growth references: medians by age (years) and the spreads used to draw a person's measures."""

    height: dict[str, tuple[tuple[float, float], ...]]
    height_spread: float
    head: dict[str, tuple[tuple[float, float], ...]]
    child_bmi: tuple[tuple[float, float], ...]
    child_bmi_spread: float
    adult_bmi: tuple[float, float]
    obesity_bmi: tuple[float, float]
    child_obesity_factor: tuple[float, float]
    obesity_code: str


@dataclass(frozen=True, slots=True)
class Allergen:
    """An allergy code of the core value set ``allergyintolerance-code`` with its prevalence."""

    code: str
    display: str
    parent: str
    category: str
    criticality_high: float
    prevalence_child: float
    prevalence_adult: float
    avoid_atc: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Nationality:
    """A foreign nationality: ISO 3166-1 codes, passport layout, languages and names."""

    code: str
    numeric: str
    weight: float
    passport: str
    languages: WeightedChoice[str]
    given: dict[str, WeightedChoice[Name]]
    family: WeightedChoice[Name]


@dataclass(frozen=True, slots=True)
class IdentityRules:
    """Identifiers held, languages, marital status, coverage numbers and foreigners (``identity.yaml``)."""

    nationality: str
    cnie: tuple[tuple[int, int, float], ...]
    ins_share: float
    phone_share: float
    fixed_phone_share: float
    dependants: frozenset[str]
    member_number: dict[str, str]
    scheme_start: dict[str, date]
    languages: dict[str, WeightedChoice[str]]
    marital: tuple[tuple[int, int, dict[str, WeightedChoice[str]]], ...]
    residence_permit_min_age: int
    passport_share: float
    foreign_excluded_schemes: frozenset[str]
    nationalities: WeightedChoice[Nationality]

    def cnie_share(self, age: int) -> float:
        """The share of people of ``age`` who hold a CNIE."""
        for low, high, share in self.cnie:
            if low <= age <= high:
                return share
        return 0.0

    def marital_choice(self, age: int, sex: str) -> WeightedChoice[str]:
        """The marital-status distribution at ``age`` for ``sex``."""
        for low, high, by_sex in self.marital:
            if low <= age <= high:
                return by_sex[sex]
        return self.marital[-1][2][sex]


@dataclass(frozen=True, slots=True)
class Settings:
    """General settings of ``clinical.yaml``."""

    encounter_years: int
    immunization_record_years: int
    utc_offset_hours: int
    same_practitioner: float
    same_province: float
    lab_types: tuple[str, ...]
    lab_in_house: tuple[str, ...]
    vaccination_types: tuple[str, ...]
    vaccination_specialties: tuple[str, ...]
    summary_specialties: tuple[str, ...]
    degraded_mode: Route
    admission_labs: tuple[str, ...]
    ambulatory_minutes: tuple[int, int]
    emergency_hours: tuple[int, int]
    documents: dict[str, str]
    document_titles: dict[str, str]
    document_languages: WeightedChoice[str] = field(compare=False)
