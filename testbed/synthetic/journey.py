"""Clinical journeys: complete synthetic patients (:class:`PatientRecord`) for a seed, one index at a time.

Patient ``index`` of population ``seed`` depends on nothing else: its random stream is seeded with the SHA-256
of the seed and the index, so any patient can be generated alone, in any order, on any machine, with the same
result. Typical use::

    from testbed.synthetic.journey import JourneyOptions, generate_patient, iter_population

    record = generate_patient(42, 7)
    for record in iter_population(42, 1000, options=JourneyOptions(region="06")):
        ...

The tables read are those of :class:`PopulationModel` plus ``clinical.yaml``, ``medications.yaml``,
``allergies.csv`` and ``identity.yaml`` (see ``synthetic/README.md``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from testbed.core.errors import UsageError
from testbed.synthetic._journey_care import HOUR, draw_care
from testbed.synthetic._journey_docs import (
    draw_allergens,
    draw_consent,
    draw_immunizations,
    record_allergies,
    summary_document,
    visit_documents,
)
from testbed.synthetic._journey_fast import new_patient
from testbed.synthetic._journey_measures import vital_signs
from testbed.synthetic._journey_people import Person, draw_identity, draw_person, record_number
from testbed.synthetic._journey_state import Engine, Journey, Stream, Visit
from testbed.synthetic.clinical import ClinicalModel
from testbed.synthetic.model import DATA_DIR_ENV, DEFAULT_REFERENCE_DATE, PopulationModel
from testbed.synthetic.record import EncounterRecord, Identity, PatientRecord

__all__ = ["JourneyOptions", "generate_patient", "generate_records", "iter_population", "patient_id"]


@dataclass(frozen=True, slots=True)
class JourneyOptions:
    """How a population is drawn.

    Attributes:
        objection_rate: share of patients who object to SMR sharing (a :class:`ConsentRecord`).
        duplicate_rate: share of patients who also get a duplicate identity, created by a facility in degraded
            mode with a local record number only, later merged into theirs.
        foreigner_rate: share of foreign residents (residence permit and/or passport, no CNIE).
        region: restrict residence to one ``ma-region`` code.
        reference_date: the date at which ages are counted; everything happens before it.
    """

    objection_rate: float = 0.05
    duplicate_rate: float = 0.02
    foreigner_rate: float = 0.01
    region: str | None = None
    reference_date: date = field(default=DEFAULT_REFERENCE_DATE)

    def __post_init__(self) -> None:
        for name in ("objection_rate", "duplicate_rate", "foreigner_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise UsageError(f"JourneyOptions.{name} must be a number between 0 and 1, got {value!r}.")
        if not isinstance(self.reference_date, date):
            raise UsageError(f"JourneyOptions.reference_date must be a date, got {self.reference_date!r}.")


_ENGINES: dict[tuple[int, JourneyOptions], tuple[PopulationModel, Engine]] = {}
_DEFAULT_MODELS: dict[str, PopulationModel] = {}
_LOCK = threading.Lock()


def _population(model: PopulationModel | None) -> PopulationModel:
    if model is not None:
        return model
    env = os.environ.get(DATA_DIR_ENV, "")
    population = _DEFAULT_MODELS.get(env)
    if population is None:
        population = PopulationModel.load()
        _DEFAULT_MODELS[env] = population
    return population


def _engine(model: PopulationModel | None, options: JourneyOptions | None) -> Engine:
    population = _population(model)
    options = options if options is not None else JourneyOptions()
    key = (id(population), options)
    cached = _ENGINES.get(key)
    if cached is not None and cached[0] is population:
        return cached[1]
    engine = Engine(
        population,
        ClinicalModel.for_population(population),
        options.reference_date,
        options.region,
        (options.objection_rate, options.duplicate_rate, options.foreigner_rate),
    )
    with _LOCK:
        if len(_ENGINES) > 32:
            _ENGINES.clear()
        _ENGINES[key] = (population, engine)
    return engine


def _seed_text(seed: int | str) -> str:
    if isinstance(seed, bool) or not isinstance(seed, int | str):
        raise UsageError(f"A population seed is an integer or a text, got {seed!r}.")
    return str(seed)


def patient_id(seed: int | str, index: int) -> str:
    """The record id of patient ``index`` of population ``seed``: ``p<8 hex of sha256(seed)>-<index:06d>``.

    Safe as a FHIR id and a file name; ``42`` and ``"42"`` name the same population.
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise UsageError(f"A patient index is a non-negative integer, got {index!r}.")
    digest = hashlib.sha256(_seed_text(seed).encode("utf-8")).hexdigest()
    return f"p{digest[:8]}-{index:06d}"


def _stream(seed_text: str, index: int) -> Stream:
    digest = hashlib.sha256(f"{seed_text}\x1f{index}".encode()).digest()
    return Stream(int.from_bytes(digest[:16], "big"))


def generate_records(
    seed: int | str,
    index: int,
    *,
    options: JourneyOptions | None = None,
    model: PopulationModel | None = None,
) -> tuple[PatientRecord, ...]:
    """Patient ``index`` of population ``seed``, followed by its duplicate identity record when it has one."""
    pid = patient_id(seed, index)
    return _records(_engine(model, options), pid, _seed_text(seed), index)


def _records(engine: Engine, pid: str, seed_text: str, index: int) -> tuple[PatientRecord, ...]:
    j = Journey(engine, pid, _stream(seed_text, index))
    person = draw_person(j)
    j.document_language = engine.settings.document_languages.draw(j.rng)
    draw_allergens(j)
    draw_care(j)
    record_allergies(j)
    draw_immunizations(j)
    for visit in j.visits:
        visit_documents(j, visit)
    summary_document(j)
    local = _record_numbers(j)
    identity, coverage = draw_identity(j, person, local)
    consent = draw_consent(j) if person.objects else None
    survivor: PatientRecord = new_patient(
        pid,
        index,
        seed_text,
        j.sex,
        j.birth,
        person.family,
        person.given,
        identity,
        person.nationality,
        person.address,
        person.phone,
        person.language,
        person.marital_status,
        coverage,
        tuple(v.record for v in j.visits),
        tuple(j.conditions),
        tuple(j.observations),
        tuple(j.prescriptions),
        tuple(j.allergies),
        tuple(j.immunizations),
        # A document names its patient by INS (framework §6): without one it cannot be shared yet.
        tuple(j.documents) if identity.ins else (),
        consent,
        None,
        None,
        {"activity": person.activity},
    )
    if not person.duplicated:
        return (survivor,)
    duplicate = _duplicate(j, person, survivor)
    return (survivor,) if duplicate is None else (survivor, duplicate)


def generate_patient(
    seed: int | str,
    index: int,
    *,
    options: JourneyOptions | None = None,
    model: PopulationModel | None = None,
) -> PatientRecord:
    """Patient ``index`` of population ``seed`` (the surviving record; see :func:`generate_records`).

    Args:
        seed: the population seed (an integer or a text; ``42`` and ``"42"`` are the same population).
        index: the patient's position in the population (0-based).
        options: rates, region and reference date (default :class:`JourneyOptions`).
        model: the population model (default :meth:`PopulationModel.load`).
    """
    return generate_records(seed, index, options=options, model=model)[0]


def iter_population(
    seed: int | str,
    count: int,
    *,
    start: int = 0,
    options: JourneyOptions | None = None,
    model: PopulationModel | None = None,
) -> Iterator[PatientRecord]:
    """Patients ``start`` to ``start + count - 1`` of ``seed``, each followed by its duplicate if it has one.

    ``count`` counts people, so slightly more records than ``count`` come out (about ``duplicate_rate`` more).
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UsageError(f"The number of patients must be a non-negative integer, got {count!r}.")
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise UsageError(f"The first index must be a non-negative integer, got {start!r}.")
    engine = _engine(model, options)
    seed_text = _seed_text(seed)
    prefix = patient_id(seed, 0)[:-6]
    for index in range(start, start + count):
        yield from _records(engine, f"{prefix}{index:06d}", seed_text, index)


def _record_numbers(j: Journey) -> tuple[tuple[str, str], ...]:
    seen: dict[str, str] = {}
    for visit in j.visits:
        inpe = visit.record.establishment.inpe
        if inpe not in seen:
            seen[inpe] = record_number(j, visit.record.start.date())
    return tuple(seen.items())


def _duplicate(j: Journey, person: Person, survivor: PatientRecord) -> PatientRecord | None:
    """The identity a facility created in degraded mode for this patient: local number only, one visit."""
    engine, rng = j.engine, j.rng
    first = max(engine.window_start.toordinal(), j.birth.toordinal() + 1)
    last = engine.window_end.toordinal()
    if last < first:
        return None
    route = engine.settings.degraded_mode
    known = [v.record for v in j.visits if v.record.establishment.type in route.types]
    if known:
        chosen = known[int(rng.random() * len(known))]
        practitioner, establishment = chosen.practitioner, chosen.establishment
    else:
        seats = engine.directory.seats(route, j.region.code, j.province)
        if seats is None:
            return None
        practitioner, establishment = seats.draw(rng)
    dup = Journey(engine, f"{j.pid}-dup", rng)
    for name in (
        "sex",
        "birth",
        "age",
        "region",
        "province",
        "foreign",
        "height_factor",
        "bmi",
        "document_language",
    ):
        setattr(dup, name, getattr(j, name))
    day = first + int(rng.random() * (last - first + 1))
    start = engine.at(day, int(rng.random() * 24 * HOUR))
    end = start + timedelta(seconds=2 * HOUR + int(rng.random() * 4 * HOUR))
    encounter = EncounterRecord(
        dup.new_id("enc"),
        route.klass,
        start,
        end,
        establishment,
        practitioner,
        None,
        f"V{start.year % 100:02d}{int(rng.random() * 10**7):07d}",
    )
    visit = Visit(encounter, None)
    vital_signs(dup, visit, dup.age_at(start.date()))
    dup.visits.append(visit)
    visit_documents(dup, visit)
    merged = engine.clamp(end + timedelta(days=1 + int(rng.random() * 30)))
    return PatientRecord(
        dup.pid,
        survivor.index,
        survivor.seed,
        j.sex,
        j.birth,
        person.family,
        person.given,
        Identity(local=((establishment.inpe, record_number(dup, start.date())),)),
        person.nationality,
        person.address,
        person.phone,
        person.language,
        person.marital_status,
        None,
        (encounter,),
        observations=tuple(dup.observations),
        duplicate_of=survivor.id,
        extra={"merged": merged.isoformat(timespec="seconds")},
    )
