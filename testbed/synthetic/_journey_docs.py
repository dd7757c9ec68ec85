"""Documents, allergies, immunizations and the objection of a journey."""

from __future__ import annotations

import string
from datetime import date, datetime, timedelta

from testbed.synthetic._journey_fast import new_allergy, new_document, new_immunization
from testbed.synthetic._journey_state import Journey, Visit
from testbed.synthetic.model import Establishment, Practitioner
from testbed.synthetic.record import ConsentRecord

_CHILD_AGE = 15


def draw_allergens(j: Journey) -> None:
    """Decide the patient's allergies (recorded later at a visit) and the medicines they rule out."""
    rng = j.rng
    child = j.age < _CHILD_AGE
    for allergen in j.engine.clinical.allergens:
        chance = allergen.prevalence_child if child else allergen.prevalence_adult
        if chance > 0 and rng.random() < chance:
            j.allergens.append(allergen)
    j.avoid_atc = tuple(atc for allergen in j.allergens for atc in allergen.avoid_atc)


def record_allergies(j: Journey) -> None:
    """Record the allergies at visits of the patient (an allergy nobody recorded is not in the record)."""
    if not j.visits:
        return
    rng, engine = j.rng, j.engine
    for allergen in j.allergens:
        visit = j.visits[int(rng.random() * len(j.visits))].record
        criticality = "high" if rng.random() < allergen.criticality_high else "low"
        j.allergies.append(
            new_allergy(
                j.new_id("alg"),
                engine.allergen_codes[allergen.code],
                allergen.category,
                criticality,
                visit.start.date(),
                visit.practitioner,
            )
        )


def draw_immunizations(j: Journey) -> None:
    """The PNI doses the patient received, within the record horizon, after each vaccine's introduction."""
    engine, rng = j.engine, j.rng
    birth, reference = j.birth.toordinal(), engine.ref_ordinal
    if birth + engine.last_dose_age < engine.immunization_start_ordinal:
        return  # every dose was due before the record horizon
    horizon = engine.immunization_start_ordinal
    random = rng.random
    letters = string.ascii_uppercase
    seat = None
    records, prefix = j.immunizations, f"{j.pid}-imm-"
    for age_days, sex, earliest, coverage, vaccine, atc, number in engine.schedule:
        due = birth + age_days
        if due >= reference:
            break  # the schedule is sorted by age
        if due < horizon or due < earliest or (sex != "any" and sex != j.sex) or random() >= coverage:
            continue
        day = due + int(random() * 15)
        if day >= reference:
            continue
        if seat is None:
            seats = engine.directory.vaccinators(j.region.code, j.province)
            if seats is None:
                return
            seat = seats.draw(rng)
        lot = int(random() * 67_600_000)  # two letters and five digits from one draw
        lot_number = f"{letters[lot // 2_600_000]}{letters[lot // 100_000 % 26]}{lot % 100_000:05d}"
        identifier = f"{prefix}{len(records) + 1}"
        records.append(
            new_immunization(identifier, vaccine, atc, number, date.fromordinal(day), seat[0], lot_number)
        )


def _document(
    j: Journey,
    kind: str,
    created: datetime,
    encounter_id: str,
    author: Practitioner,
    custodian: Establishment,
    entries: list[str],
    confidential: bool,
) -> None:
    engine = j.engine
    title = engine.titles.get((kind, author.specialty))
    if title is None:
        settings = engine.settings
        title = settings.document_titles[kind]
        specialty = engine.model.specialties.get(author.specialty)
        if kind in (settings.documents["AMB"], settings.documents["IMP"]) and specialty is not None:
            title = f"{title} - {specialty.label}"
        engine.titles[(kind, author.specialty)] = title
    j.documents.append(
        new_document(
            j.new_id("doc"),
            kind,
            title,
            engine.clamp(created),
            encounter_id,
            author,
            custodian,
            "R" if confidential else "N",
            j.document_language,
            tuple(entries),
        )
    )


def visit_documents(j: Journey, visit: Visit) -> None:
    """The reports of one visit: consultation or discharge summary, lab report, prescription."""
    rng, settings = j.rng, j.engine.settings
    record = visit.record
    assert record.end is not None
    confidential = visit.profile is not None and visit.profile.confidentiality != "N"
    entries = [visit.condition_id] if visit.condition_id else []
    entries += visit.vitals
    if record.klass == "IMP":
        entries += visit.labs + visit.prescriptions
    created = record.end + j.engine.seconds[300 + int(rng.random() * 3300)]
    _document(
        j,
        settings.documents[record.klass],
        created,
        record.id,
        record.practitioner,
        record.establishment,
        entries,
        confidential,
    )
    if visit.labs and visit.lab_author is not None and visit.lab_time is not None:
        biologist, laboratory = visit.lab_author
        created = visit.lab_time + j.engine.seconds[2 * 3600 + int(rng.random() * 10 * 3600)]
        _document(
            j, settings.documents["lab"], created, record.id, biologist, laboratory, visit.labs, confidential
        )
    if visit.prescriptions:
        _document(
            j,
            settings.documents["prescription"],
            record.end,
            record.id,
            record.practitioner,
            record.establishment,
            visit.prescriptions,
            confidential,
        )


def summary_document(j: Journey) -> None:
    """The patient summary: problems (active, then past), allergies, current treatments and immunizations."""
    if not j.conditions or not j.visits:
        return
    settings, rng = j.engine.settings, j.rng
    author_visit = next(
        (v for v in reversed(j.visits) if v.record.practitioner.specialty in settings.summary_specialties),
        j.visits[-1],
    )
    latest: dict[str, list[str]] = {}
    for visit in j.visits:
        if visit.profile is not None and not visit.profile.episode and visit.prescriptions:
            latest[visit.profile.code] = visit.prescriptions
    entries = [c.id for c in j.conditions if c.clinical_status == "active"]
    entries += [c.id for c in j.conditions if c.clinical_status != "active"]  # past problems
    entries += [a.id for a in j.allergies]
    entries += [p for ids in latest.values() for p in ids]
    entries += [i.id for i in j.immunizations]
    last = max(v.record.end or v.record.start for v in j.visits)
    created = last + timedelta(seconds=3600 + int(rng.random() * 2 * 86400))
    record = author_visit.record
    _document(
        j,
        settings.documents["summary"],
        created,
        record.id,
        record.practitioner,
        record.establishment,
        entries,
        j.confidential,
    )


def draw_consent(j: Journey) -> ConsentRecord | None:
    """The patient's objection to SMR sharing, recorded where they were seen (else at their centre)."""
    engine, rng = j.engine, j.rng
    if j.visits:
        record = j.visits[int(rng.random() * len(j.visits))].record
        moment = (record.end or record.start) + timedelta(seconds=60 + int(rng.random() * 3600))
        return ConsentRecord(f"{j.pid}-consent-1", engine.clamp(moment), record.establishment)
    seats = engine.directory.vaccinators(j.region.code, j.province)
    if seats is None:
        return None
    establishment = seats.draw(rng)[1]
    first = max(engine.window_start.toordinal(), j.birth.toordinal() + 1)
    last = engine.window_end.toordinal()
    if last < first:
        first = last = engine.ref_ordinal - 1
    moment = engine.at(
        first + int(rng.random() * (last - first + 1)), 8 * 3600 + int(rng.random() * 10 * 3600)
    )
    return ConsentRecord(f"{j.pid}-consent-1", moment, establishment)
