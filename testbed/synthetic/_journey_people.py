"""The person of a journey: demographics, names, address, coverage and identifiers."""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from datetime import date, timedelta

from testbed.synthetic import ids
from testbed.synthetic._journey_state import DAY, Journey
from testbed.synthetic.model import Name
from testbed.synthetic.provider import Address, MoroccoProvider
from testbed.synthetic.record import CoverageRecord, Identity

ADULT_AGE = 18


class _Generator:
    """Stands for the Faker generator of :class:`MoroccoProvider`, which only reads its ``random``."""

    __slots__ = ("random",)

    def __init__(self, rng: random.Random) -> None:
        self.random = rng


@dataclass(frozen=True, slots=True)
class Person:
    """Who the patient is, before their care is drawn."""

    family: Name
    given: tuple[Name, ...]
    address: Address
    phone: str | None
    language: str
    marital_status: str
    activity: str
    scheme: str
    nationality: str
    objects: bool
    duplicated: bool


def draw_person(j: Journey) -> Person:
    """Draw the demographics of ``j`` (sets its sex, birth date, age, region and province)."""
    engine, rng = j.engine, j.rng
    rules = engine.clinical.identity
    # Drawn first so that changing a rate never shifts the rest of a patient's stream.
    u_foreign, u_objection, u_duplicate = rng.random(), rng.random(), rng.random()
    model = engine.model  # sampled directly; the provider is used for addresses and phones
    provider = MoroccoProvider(_Generator(rng), model)
    region = model.region_choice.draw(rng)
    if engine.region is not None:
        region = engine.region
    sex = model.sex_choice.draw(rng)
    low, high = engine.ages[sex].draw(rng)
    earliest, span = engine.birth_days[low + int(rng.random() * (high - low + 1))]
    birth = date.fromordinal(earliest + int(rng.random() * span))
    j.sex, j.birth, j.region = sex, birth, region
    j.age = j.age_at(engine.reference_date)
    nationality = rules.nationalities.draw(rng) if u_foreign < engine.foreigner_rate else None
    j.foreign = nationality
    if nationality is None:
        given, family = model.first_name_choice[sex].draw(rng), model.family_name_choice.draw(rng)
    else:
        given, family = nationality.given[sex].draw(rng), nationality.family.draw(rng)
    address = provider.ma_address(region.code)
    j.province = address.province
    phone = None
    if rng.random() < rules.phone_share:
        kind = "fixed" if rng.random() < rules.fixed_phone_share else "mobile"
        phone = provider.ma_phone(kind, region.code)
    languages = nationality.languages if nationality is not None else rules.languages[region.code]
    language = languages.draw(rng)
    marital = rules.marital_choice(j.age, sex).draw(rng)
    activity = model.activity_choice(j.age, sex).draw(rng)
    scheme = model.schemes[activity].draw(rng)
    if nationality is not None and scheme in rules.foreign_excluded_schemes:
        scheme = "NONE"
    return Person(
        family,
        (given,),
        address,
        phone,
        language,
        marital,
        activity,
        scheme,
        nationality.code if nationality is not None else rules.nationality,
        u_objection < engine.objection_rate,
        u_duplicate < engine.duplicate_rate,
    )


def _passport_number(rng: random.Random, layout: str) -> str:
    return "".join(
        str(int(rng.random() * 10)) if c == "9" else string.ascii_uppercase[int(rng.random() * 26)]
        for c in layout
    )


def draw_identity(
    j: Journey, person: Person, local: tuple[tuple[str, str], ...]
) -> tuple[Identity, CoverageRecord | None]:
    """The identifiers and coverage of ``j``; ``local``: record numbers of the establishments visited."""
    engine, rng = j.engine, j.rng
    rules = engine.clinical.identity
    cnie = carte = None
    passport: tuple[str, str] | None = None
    if j.foreign is None:
        if j.age >= 16 and rng.random() < rules.cnie_share(j.age):
            cnie = ids.make_cnie(rng, j.region.cnie_prefixes)
    else:
        if j.age >= rules.residence_permit_min_age:
            carte = ids.make_carte_sejour(rng)
        if carte is None or rng.random() < rules.passport_share:
            passport = (j.foreign.numeric, _passport_number(rng, j.foreign.passport))
    coverage = None
    cnss = cnops = None
    if person.scheme != "NONE":
        kind = rules.member_number[person.scheme]
        member = ids.make_cnss(rng) if kind == "cnss" else ids.make_cnops(rng) if kind == "cnops" else None
        if person.activity not in rules.dependants:
            cnss = member if kind == "cnss" else None
            cnops = member if kind == "cnops" else None
        coverage = CoverageRecord(f"{j.pid}-cov-1", person.scheme, member, _coverage_start(j, person))
    ins = None
    if rng.random() < rules.ins_share or not (cnie or carte or passport or local):
        ins = ids.make_ins(rng)
    return Identity(ins, cnie, carte, passport, cnss, cnops, local), coverage


def _coverage_start(j: Journey, person: Person) -> date:
    engine = j.engine
    scheme_start = engine.clinical.identity.scheme_start[person.scheme]
    earliest = max(scheme_start, j.birth)
    if person.activity not in engine.clinical.identity.dependants and j.age >= ADULT_AGE:
        try:
            adult = j.birth.replace(year=j.birth.year + ADULT_AGE)
        except ValueError:
            adult = j.birth.replace(year=j.birth.year + ADULT_AGE, day=28)
        earliest = max(earliest, adult)
    latest = engine.reference_date - DAY
    if earliest >= latest:
        return min(earliest, latest)
    return earliest + timedelta(days=int(j.rng.random() * ((latest - earliest).days + 1)))


def record_number(j: Journey, first_visit: date) -> str:
    """A local medical record number: year of the first visit and six digits (invented layout)."""
    return f"{first_visit.year % 100:02d}{int(j.rng.random() * 10**6):06d}"
