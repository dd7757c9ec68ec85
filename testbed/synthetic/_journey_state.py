"""State of the journey generator: the engine (read-only, per model and options) and one patient's draft."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from testbed.synthetic._journey_directory import Directory, Seat
from testbed.synthetic._journey_types import Allergen, CareProfile, Nationality, Route
from testbed.synthetic._sampling import WeightedChoice
from testbed.synthetic.clinical import ClinicalModel
from testbed.synthetic.model import Establishment, PopulationModel, Practitioner, Region
from testbed.synthetic.record import (
    ATC,
    CVX,
    GTIN,
    ICD10,
    LOINC,
    SNOMED,
    AllergyRecord,
    Code,
    ConditionRecord,
    DocumentRecord,
    EncounterRecord,
    ImmunizationRecord,
    ObservationRecord,
    PrescriptionRecord,
)

DAY = timedelta(days=1)
SECONDS_A_DAY = 86_400


@lru_cache(maxsize=1)
def seconds_table() -> tuple[timedelta, ...]:
    """``timedelta(seconds=n)`` for n below a day, built once (indexing it is cheaper than building one)."""
    return tuple(timedelta(seconds=n) for n in range(SECONDS_A_DAY))


class Stream(random.Random):
    """The random stream of one patient: Mersenne Twister, with a faster ``randrange``.

    ``randrange(n)`` is ``int(random() * n)`` (one draw, plain IEEE-754 arithmetic, so the same on every
    machine); the standard one rejects draws to be exactly uniform, which matters nowhere here and costs a
    microsecond per call.
    """

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        """An integer in ``[0, start)`` or, with ``stop``, in ``[start, stop)`` (``step`` must be 1)."""
        if step != 1:
            raise ValueError("Stream.randrange supports step 1 only")
        if stop is None:
            if start <= 0:
                raise ValueError(f"empty range for randrange({start})")
            return int(self.random() * start)
        if stop <= start:
            raise ValueError(f"empty range for randrange({start}, {stop})")
        return start + int(self.random() * (stop - start))


class Engine:
    """Everything a journey reads, built once per (population model, options): models, codes, dates."""

    def __init__(
        self,
        model: PopulationModel,
        clinical: ClinicalModel,
        reference_date: date,
        region: str | None,
        rates: tuple[float, float, float],
    ) -> None:
        self.model = model
        self.clinical = clinical
        self.settings = clinical.settings
        self.region = model.region(region) if region is not None else None
        self.objection_rate, self.duplicate_rate, self.foreigner_rate = rates
        self.directory = Directory(model, clinical.settings)
        self.tz = timezone(timedelta(hours=clinical.settings.utc_offset_hours))
        self.reference_date = reference_date
        self.reference_dt = datetime(
            reference_date.year, reference_date.month, reference_date.day, tzinfo=self.tz
        )
        self.window_start = _years_before(reference_date, clinical.settings.encounter_years)
        self.window_end = reference_date - 2 * DAY
        self.immunization_start = _years_before(reference_date, clinical.settings.immunization_record_years)
        self.icd = {
            p.code: Code(ICD10, p.code, p.display)
            for p in (*clinical.conditions.values(), *clinical.episodes)
        }
        self.loinc = {t.code: Code(LOINC, t.code, t.display) for t in clinical.labs.values()}
        self.vital_codes = {v.key: Code(LOINC, v.code, v.display) for v in clinical.vitals.values()}
        self.vital_info = {
            v.key: (self.vital_codes[v.key], v.unit, v.decimals, v) for v in clinical.vitals.values()
        }
        self.gtin = {m.gtin: Code(GTIN, m.gtin, m.display) for m in clinical.medications.values()}
        self.atc = {m.gtin: Code(ATC, m.atc, m.atc_display) for m in clinical.medications.values()}
        self.cvx = {(v.vaccine, v.dose): Code(CVX, v.cvx, v.cvx_display) for v in model.vaccinations}
        self.vaccine_atc = {(v.vaccine, v.dose): Code(ATC, v.atc, v.vaccine) for v in model.vaccinations}
        self.allergen_codes = {a.code: Code(SNOMED, a.code, a.display) for a in clinical.allergens}
        introduced = clinical.vaccine_introduced
        self.schedule = tuple(
            (
                v.age_days,
                v.sex,
                introduced[v.vaccine].toordinal() if v.vaccine in introduced else 0,
                v.coverage,
                self.cvx[(v.vaccine, v.dose)],
                self.vaccine_atc[(v.vaccine, v.dose)],
                v.dose,
            )
            for v in sorted(model.vaccinations, key=lambda v: v.age_days)
        )
        self.last_dose_age = max((v.age_days for v in model.vaccinations), default=0)
        self.immunization_start_ordinal = self.immunization_start.toordinal()
        self.vital_normal = {
            v.key: tuple(v.normal_range(age) for age in range(121))
            for v in clinical.vitals.values()
            if v.normal
        }
        self.ref_ordinal = reference_date.toordinal()
        top = model.age_bands[-1].age_max
        self.ages = {sex: model.age_choice(sex, 0, top) for sex in ("male", "female")}
        # (first ordinal, number of days) of the birth dates giving each age at the reference date (not on it)
        self.birth_days = tuple(
            (
                _years_before(reference_date, age + 1).toordinal() + 1,
                min(_years_before(reference_date, age).toordinal(), self.ref_ordinal - 1)
                - _years_before(reference_date, age + 1).toordinal(),
            )
            for age in range(top + 1)
        )
        self.titles: dict[tuple[str, str], str] = {}
        self.latest_dt = self.reference_dt - timedelta(minutes=1)
        self.seconds = seconds_table()
        self._first_day = self.window_start.toordinal() - 1
        self._midnights = tuple(
            self.reference_dt - timedelta(days=self.ref_ordinal - day)
            for day in range(self._first_day, self.ref_ordinal + 1)
        )
        self._prevalence: dict[tuple[str, int], tuple[tuple[str, float], ...]] = {}
        self._episodes: dict[tuple[str, int], tuple[tuple[CareProfile, float], ...]] = {}
        self._offered: dict[
            tuple[str, tuple[bool, ...], str], WeightedChoice[tuple[Route, WeightedChoice[Seat]]] | None
        ] = {}
        self.dosages: dict[tuple[str, float, int, int], str] = {}
        self._masks: dict[tuple[str, int, str], tuple[bool, ...]] = {}
        self.vital_plans: dict[tuple[str, int], tuple[tuple[str, float, int], ...]] = {}
        self.lab_plans: dict[str, tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]] = {}
        self.lab_tests: dict[tuple[str, str, bool], tuple[Any, ...]] = {}

    def at(self, day: int, seconds: int) -> datetime:
        """The local date-time ``seconds`` (under a day) after midnight of the proleptic ordinal ``day``."""
        index = day - self._first_day
        if 0 <= index < len(self._midnights):
            return self._midnights[index] + self.seconds[seconds]
        return self.reference_dt + timedelta(days=day - self.ref_ordinal, seconds=seconds)

    def clamp(self, moment: datetime) -> datetime:
        """``moment``, or one minute before the reference date when it would fall on or after it."""
        return moment if moment < self.latest_dt else self.latest_dt

    def episode_rows(self, sex: str, age: int) -> tuple[tuple[CareProfile, float], ...]:
        """(episode, chance per year) of the acute episodes possible at ``age`` for ``sex``."""
        key = (sex, age)
        rows = self._episodes.get(key)
        if rows is None:
            rows = tuple((e, p) for e in self.clinical.episodes if (p := e.yearly_incidence(age, sex)) > 0)
            self._episodes[key] = rows
        return rows

    def offered(
        self, profile: CareProfile, age: int, sex: str, region: str, province: str
    ) -> WeightedChoice[tuple[Route, WeightedChoice[Seat]]] | None:
        """The routes of ``profile`` fit for the person that someone offers, by weight; None when none is."""
        person = (profile.code, age, sex)
        mask = self._masks.get(person)
        if mask is None:
            mask = self._masks[person] = tuple(r.fits(age, sex) for r in profile.routes)
        key = (profile.code, mask, province)
        try:
            return self._offered[key]
        except KeyError:
            pass
        items: list[tuple[Route, WeightedChoice[Seat]]] = []
        for route, fit in zip(profile.routes, mask, strict=True):
            seats = self.directory.seats(route, region, province) if fit else None
            if seats is not None:
                items.append((route, seats))
        choice = WeightedChoice(items, [r.weight for r, _ in items]) if items else None
        self._offered[key] = choice
        return choice

    def prevalence_rows(self, sex: str, age: int) -> tuple[tuple[str, float], ...]:
        """(ICD-10 code, prevalence) of the conditions possible at ``age`` for ``sex``, in table order."""
        key = (sex, age)
        rows = self._prevalence.get(key)
        if rows is None:
            rows = tuple(
                (c.code, p) for c in self.model.conditions if c.sex in ("any", sex) and (p := c.at(age)) > 0
            )
            self._prevalence[key] = rows
        return rows


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class Visit:
    """An encounter being written, with what it addressed and the ids of what it produced."""

    __slots__ = (
        "record",
        "profile",
        "condition_id",
        "vitals",
        "labs",
        "lab_author",
        "lab_time",
        "prescriptions",
    )

    def __init__(self, record: EncounterRecord, profile: CareProfile | None) -> None:
        self.record = record
        self.profile = profile
        self.condition_id: str | None = None
        self.vitals: list[str] = []
        self.labs: list[str] = []
        self.lab_author: tuple[Practitioner, Establishment] | None = None
        self.lab_time: datetime | None = None
        self.prescriptions: list[str] = []


class Journey:
    """One patient's draft: the random stream, the person, and the entries written so far (in order)."""

    __slots__ = (
        "engine",
        "pid",
        "rng",
        "sex",
        "birth",
        "age",
        "region",
        "province",
        "foreign",
        "counters",
        "visits",
        "conditions",
        "observations",
        "prescriptions",
        "allergies",
        "immunizations",
        "documents",
        "vital_ranges",
        "lab_ranges",
        "height_factor",
        "bmi",
        "confidential",
        "allergens",
        "avoid_atc",
        "document_language",
    )

    def __init__(self, engine: Engine, pid: str, rng: Stream) -> None:
        self.engine = engine
        self.pid = pid
        self.rng = rng
        self.sex = "male"
        self.birth = engine.reference_date
        self.age = 0
        self.region: Region = engine.model.regions[0]
        self.province = ""
        self.foreign: Nationality | None = None
        self.counters: dict[str, int] = {}
        self.visits: list[Visit] = []
        self.conditions: list[ConditionRecord] = []
        self.observations: list[ObservationRecord] = []
        self.prescriptions: list[PrescriptionRecord] = []
        self.allergies: list[AllergyRecord] = []
        self.immunizations: list[ImmunizationRecord] = []
        self.documents: list[DocumentRecord] = []
        self.vital_ranges: dict[str, tuple[float, float]] = {}
        self.lab_ranges: dict[str, tuple[float, float]] = {}
        self.height_factor = 1.0
        self.bmi = 0.0
        self.confidential = False
        self.allergens: list[Allergen] = []
        self.avoid_atc: tuple[str, ...] = ()
        self.document_language = ""

    def new_id(self, kind: str) -> str:
        """The next entry id of ``kind`` for this patient: ``<pid>-<kind>-<n>``."""
        n = self.counters.get(kind, 0) + 1
        self.counters[kind] = n
        return f"{self.pid}-{kind}-{n}"

    def uniform(self, low: float, high: float) -> float:
        """A value in ``low..high``, more often near the middle (mean of two uniform draws)."""
        rng = self.rng
        return low + (high - low) * (rng.random() + rng.random()) * 0.5

    def age_at(self, day: date) -> int:
        """Age in whole years on ``day``."""
        years = day.year - self.birth.year
        if (day.month, day.day) < (self.birth.month, self.birth.day):
            years -= 1
        return years
