"""Distributions of 10,000 journeys against the population model.

Tolerance: +/-1.5 percentage points for the age bands, sex ratio, regions and the prevalence of I10 and E11.9
(the standard error of a share estimated from 10,000 people is at most 0.5 point, so a correct generator stays
within 3 standard errors and a real bias of 2 points fails). The seed is fixed, so the test is deterministic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

import pytest

from testbed.synthetic import PopulationModel
from testbed.synthetic.journey import JourneyOptions, iter_population
from testbed.synthetic.model import DEFAULT_REFERENCE_DATE

N = 10_000
TOLERANCE = 0.015
OPTIONS = JourneyOptions()


@dataclass(frozen=True, slots=True)
class Person:
    sex: str
    age: int
    region: str
    codes: frozenset[str]
    objects: bool
    foreign: bool
    cnie: bool
    ins: bool


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@pytest.fixture(scope="module")
def people() -> tuple[list[Person], int]:
    out: list[Person] = []
    duplicates = 0
    for record in iter_population("distributions", N, options=OPTIONS):
        if record.duplicate_of is not None:
            duplicates += 1
            continue
        out.append(
            Person(
                record.sex,
                _age(record.birth_date, DEFAULT_REFERENCE_DATE),
                record.address.region_code,
                frozenset(c.code.code for c in record.conditions),
                record.consent is not None,
                record.nationality != "MA",
                record.identity.cnie is not None,
                record.identity.ins is not None,
            )
        )
    return out, duplicates


def _share(count: int, total: int) -> float:
    return count / total


def test_age_pyramid_by_band(people: tuple[list[Person], int], model: PopulationModel) -> None:
    persons = people[0]
    total_pct = sum(band.pct(None) for band in model.age_bands)
    for band in model.age_bands:
        observed = _share(sum(band.age_min <= p.age <= band.age_max for p in persons), len(persons))
        assert abs(observed - band.pct(None) / total_pct) <= TOLERANCE, band.label


def test_sex_ratio(people: tuple[list[Person], int], model: PopulationModel) -> None:
    persons = people[0]
    observed = _share(sum(p.sex == "male" for p in persons), len(persons))
    assert abs(observed - model.male_share()) <= TOLERANCE


def test_region_shares(people: tuple[list[Person], int], model: PopulationModel) -> None:
    persons = people[0]
    counts = Counter(p.region for p in persons)
    total = sum(r.population for r in model.regions)
    for region in model.regions:
        assert abs(_share(counts[region.code], len(persons)) - region.population / total) <= TOLERANCE, (
            region.code
        )


def _expected_prevalence(model: PopulationModel, code: str) -> float:
    """Share of the population carrying ``code``: prevalence by age and sex weighted by the age pyramid."""
    total = expected = 0.0
    for band in model.age_bands:
        width = band.age_max - band.age_min + 1
        for sex in ("male", "female"):
            weight = band.pct(sex) / width
            for age in range(band.age_min, band.age_max + 1):
                total += weight
                expected += weight * model.prevalence(code, age, sex)
    return expected / total


@pytest.mark.parametrize("code", ["I10", "E11.9"])
def test_prevalence_of_hypertension_and_diabetes(
    people: tuple[list[Person], int], model: PopulationModel, code: str
) -> None:
    persons = people[0]
    observed = _share(sum(code in p.codes for p in persons), len(persons))
    expected = _expected_prevalence(model, code)
    assert expected > 0.03
    assert abs(observed - expected) <= TOLERANCE, (observed, expected)


def test_prevalence_follows_age(people: tuple[list[Person], int]) -> None:
    persons = people[0]
    young = [p for p in persons if p.age < 30]
    old = [p for p in persons if p.age >= 60]
    assert _share(sum("I10" in p.codes for p in old), len(old)) > 0.5
    assert _share(sum("I10" in p.codes for p in young), len(young)) < 0.03


def test_rates_of_the_options(people: tuple[list[Person], int]) -> None:
    persons, duplicates = people
    n = len(persons)
    assert abs(_share(sum(p.objects for p in persons), n) - OPTIONS.objection_rate) <= 0.01
    assert abs(_share(sum(p.foreign for p in persons), n) - OPTIONS.foreigner_rate) <= 0.005
    assert abs(_share(duplicates, n) - OPTIONS.duplicate_rate) <= 0.006
    adults = [p for p in persons if p.age >= 18 and not p.foreign]
    assert abs(_share(sum(p.cnie for p in adults), len(adults)) - 0.96) <= TOLERANCE
    assert not any(p.cnie for p in persons if p.age < 16)
    assert abs(_share(sum(p.ins for p in persons), n) - 0.98) <= 0.01
