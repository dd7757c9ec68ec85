"""The care of a journey: conditions and episodes, their encounters, and what each encounter records."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

from testbed.synthetic._journey_directory import Seat
from testbed.synthetic._journey_fast import new_condition, new_encounter, new_prescription
from testbed.synthetic._journey_measures import draw_body, lab_batch, vital_signs
from testbed.synthetic._journey_state import Journey, Visit
from testbed.synthetic._journey_types import CareProfile, Route
from testbed.synthetic.record import EncounterRecord

HOUR = 3600
_RENEWAL = 0.85  # a follow-up renews the previous prescription of the condition rather than changing it


class _Course:
    """One condition or episode being cared for: its encounters share a condition record and prescriptions."""

    __slots__ = ("profile", "condition_id", "medications")

    def __init__(self, profile: CareProfile) -> None:
        self.profile = profile
        self.condition_id = ""
        self.medications: list[str] = []


class _Planned(NamedTuple):
    course: _Course
    klass: str
    seat: Seat
    start: datetime
    end: datetime
    first: bool


def draw_care(j: Journey) -> None:
    """Draw the conditions, episodes and encounters of ``j`` and write every encounter's entries."""
    engine = j.engine
    first_day = max(engine.window_start.toordinal(), j.birth.toordinal() + 1)
    last_day = engine.window_end.toordinal()
    courses = _draw_courses(j)
    draw_body(j, any(p.code == engine.clinical.growth.obesity_code for p in courses))
    if last_day < first_day:
        return
    for profile in courses:
        for key, vital_range in profile.vitals.items():
            j.vital_ranges.setdefault(key, vital_range)
        for code, lab_range in profile.labs:
            if lab_range is not None:
                j.lab_ranges.setdefault(code, lab_range)
    planned: list[_Planned] = []
    for profile in courses:
        planned.extend(_plan(j, _Course(profile), first_day, last_day))
    for episode, day in _draw_episodes(j, first_day, last_day):
        planned.extend(_plan(j, _Course(episode), first_day, last_day, day))
    planned.sort(key=lambda p: p.start)
    for plan in planned:
        _write(j, plan)


def _draw_courses(j: Journey) -> list[CareProfile]:
    engine, rng = j.engine, j.rng
    out: list[CareProfile] = []
    for code, chance in engine.prevalence_rows(j.sex, j.age):
        if rng.random() < chance:
            out.append(engine.clinical.conditions[code])
    return out


def _draw_episodes(j: Journey, first_day: int, last_day: int) -> list[tuple[CareProfile, int]]:
    engine, random = j.engine, j.rng.random
    out: list[tuple[CareProfile, int]] = []
    ref = engine.ref_ordinal
    years = engine.settings.encounter_years
    for episode, chance in engine.episode_rows(j.sex, j.age):
        previous = None
        for year in range(years):
            if random() < chance:
                low, high = max(first_day, ref - 365 * (year + 1)), min(last_day, ref - 365 * year - 1)
                if low <= high:
                    day = low + int(random() * (high - low + 1))
                    if previous is None or previous - day >= episode.min_interval_days:
                        out.append((episode, day))
                        previous = day
    return out


def _route(j: Journey, profile: CareProfile) -> tuple[Route, Seat] | None:
    """A route of ``profile`` fit for the patient (by weight, among those offered) and a practitioner."""
    offered = j.engine.offered(profile, j.age, j.sex, j.region.code, j.province)
    if offered is None:
        return None
    route, seats = offered.draw(j.rng)
    return route, seats.draw(j.rng)


def _plan(
    j: Journey, course: _Course, first_day: int, last_day: int, day: int | None = None
) -> list[_Planned]:
    """The encounters of one course: on ``day`` for an episode, else 1-3 days drawn in the window."""
    profile, rng, engine = course.profile, j.rng, j.engine
    if day is None:
        low, high = profile.encounters
        count = low + int(rng.random() * (high - low + 1))
        days = sorted(first_day + int(rng.random() * (last_day - first_day + 1)) for _ in range(count))
    else:
        days = [day]
    admission = profile.admission
    out: list[_Planned] = []
    previous: tuple[Route, Seat] | None = None
    if admission is not None and admission.route.fits(j.age, j.sex) and rng.random() < admission.share:
        seats = engine.directory.seats(admission.route, j.region.code, j.province)
        if seats is not None:
            los = admission.los[0] + int(rng.random() * (admission.los[1] - admission.los[0] + 1))
            start_day = min(days[0], last_day - los)
            los = min(los, last_day - first_day)
            start_day = max(start_day, first_day)
            start = engine.at(start_day, int(rng.random() * 24 * HOUR))
            end = (
                engine.at(start_day + los, 10 * HOUR + int(rng.random() * 6 * HOUR))
                if los
                else start + timedelta(seconds=4 * HOUR)
            )
            out.append(_Planned(course, "IMP", seats.draw(rng), start, end, True))
            days = [d for d in days[1:] if d > start_day + los]
    for day in days:
        if previous is None or rng.random() >= engine.settings.same_practitioner:
            previous = _route(j, profile)
            if previous is None:
                break
        route, seat = previous
        start, end = _times(j, route.klass, day)
        out.append(_Planned(course, route.klass, seat, start, end, not out))
    return out


def _times(j: Journey, klass: str, day: int) -> tuple[datetime, datetime]:
    engine, rng = j.engine, j.rng
    settings = engine.settings
    if klass == "EMER":
        start = engine.at(day, int(rng.random() * 24 * HOUR))
        low, high = settings.emergency_hours
        return start, start + engine.seconds[low * HOUR + int(rng.random() * ((high - low) * HOUR + 1))]
    start = engine.at(day, 8 * HOUR + int(rng.random() * 10 * HOUR))
    low, high = settings.ambulatory_minutes
    return start, start + engine.seconds[
        60 * (low + int(rng.random() * (high - low + 1))) + int(rng.random() * 60)
    ]


def _write(j: Journey, plan: _Planned) -> None:
    rng, course = j.rng, plan.course
    practitioner, establishment = plan.seat
    encounter_id = j.new_id("enc")
    reason = j.engine.icd[course.profile.code]
    record: EncounterRecord = new_encounter(
        encounter_id,
        plan.klass,
        plan.start,
        plan.end,
        establishment,
        practitioner,
        reason,
        f"V{plan.start.year % 100:02d}{int(rng.random() * 10**7):07d}",
    )
    visit = Visit(record, course.profile)
    if not course.condition_id:
        course.condition_id = _condition(j, course.profile, record)
    visit.condition_id = course.condition_id
    age = j.age_at(plan.start.date())
    vital_signs(j, visit, age)
    lab_batch(j, visit, age)
    _prescribe(j, visit, course, age, first=plan.first)
    j.visits.append(visit)


def _condition(j: Journey, profile: CareProfile, record: EncounterRecord) -> str:
    rng = j.rng
    day = record.start.toordinal()
    lived = day - j.birth.toordinal()
    if profile.episode:
        onset = date.fromordinal(day - min(int(rng.random() * 5), lived))
    else:
        onset = date.fromordinal(day - int(rng.random() * (min(3650, lived) + 1)))
    assert record.end is not None
    duration = int((record.end - record.start).total_seconds())
    offset = 60 + int(rng.random() * max(1, min(duration // 2, 4 * HOUR)))
    recorded = record.start + j.engine.seconds[min(duration - 1, offset)]
    condition_id = j.new_id("cond")
    j.conditions.append(
        new_condition(
            condition_id,
            j.engine.icd[profile.code],
            onset,
            recorded,
            record.id,
            record.practitioner,
            "resolved" if profile.episode else "active",
        )
    )
    if profile.confidentiality != "N":
        j.confidential = True
    return condition_id


def _dose_text(value: float) -> str:
    return (f"{value:g}").replace(".", ",")


def _prescribe(j: Journey, visit: Visit, course: _Course, age: int, *, first: bool) -> None:
    profile, rng, engine = course.profile, j.rng, j.engine
    if profile.medications is None:
        return
    if first or not course.medications or rng.random() >= _RENEWAL:
        wanted = 1 + int(rng.random() * profile.max_medications)
        chosen: list[str] = []
        for _ in range(3 * wanted):
            gtin = profile.medications.draw(rng)
            medication = engine.clinical.medications[gtin]
            if (
                gtin not in chosen
                and medication.age_min <= age <= medication.age_max
                and not medication.atc.startswith(j.avoid_atc)
            ):
                chosen.append(gtin)
                if len(chosen) == wanted:
                    break
        course.medications = chosen
    record = visit.record
    assert record.end is not None
    authored = record.end - engine.seconds[60 + int(rng.random() * 240)]
    random = rng.random
    prescriptions, ids = j.prescriptions, visit.prescriptions
    prefix, number = f"{j.pid}-med-", j.counters.get("med", 0)
    for gtin in course.medications:
        medication = engine.clinical.medications[gtin]
        dose = medication.doses[int(random() * len(medication.doses))]
        per_day = medication.per_day[int(random() * len(medication.per_day))]
        days = medication.days[int(random() * len(medication.days))]
        key = (gtin, dose, per_day, days)
        text = engine.dosages.get(key)
        if text is None:
            label = medication.label[1] if dose >= 2 else medication.label[0]
            text = medication.text.format(dose=_dose_text(dose), label=label, per_day=per_day, days=days)
            engine.dosages[key] = text
        number += 1
        prescription_id = f"{prefix}{number}"
        prescriptions.append(
            new_prescription(
                prescription_id,
                engine.gtin[gtin],
                engine.atc[gtin],
                text,
                dose,
                medication.unit,
                per_day,
                days,
                authored,
                record.id,
                record.practitioner,
            )
        )
        ids.append(prescription_id)
    j.counters["med"] = number
