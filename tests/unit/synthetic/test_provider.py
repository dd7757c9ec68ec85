"""The Faker provider: formats of ma.smr.core, determinism, and distributions of the model.

Distribution tolerances: for a share p estimated from n = 10,000 independent draws the standard error is
sqrt(p(1-p)/n) (at most 0.005). Each check allows 4 standard errors, so a correct generator fails one
check with probability about 6e-5 and the ~45 checks of this file together about 0.3 % of seeds; the
seed is fixed, so the tests are deterministic, and a real bias of a few points still fails.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date
from typing import Any

import pytest

from testbed.core.errors import UsageError
from testbed.identifiers import IdentifierRules
from testbed.packages import PackageRegistry
from testbed.synthetic import Name, PopulationModel, make_faker, national_phone
from testbed.synthetic.ids import ins_key

from ._draws import draws
from .conftest import CANONICAL, ROOT, codes

N = 10_000
ARABIC = re.compile(r"[\u0600-\u06FF \-]+")
LATIN = re.compile(r"[A-Za-zÀ-ÿ' \-]+")


def _within(observed: int, n: int, p: float) -> bool:
    return abs(observed / n - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12


def _system(name: str) -> str:
    return f"{CANONICAL}/NamingSystem/{name}"


# --- identifiers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generator", "naming_system"),
    [
        ("ins", "ins"),
        ("cnie", "cnie"),
        ("carte_sejour", "carte-sejour"),
        ("cnss", "cnss"),
        ("cnops", "cnops"),
        ("inpe", "inpe"),
    ],
)
def test_identifiers_pass_the_rules_of_the_package(
    rules: IdentifierRules, generator: str, naming_system: str
) -> None:
    fake = make_faker(7)
    rule = rules.rule_for(_system(naming_system))
    assert rule is not None and rule.pattern is not None
    values = [getattr(fake, generator)() for _ in range(1000)]
    failures = [v for v in values if rules.check(_system(naming_system), v, "x")]
    assert failures == []
    assert len(set(values)) > 900  # not a constant


def test_a_corrupted_ins_fails_its_key(rules: IdentifierRules) -> None:
    fake = make_faker(8)
    for _ in range(200):
        good = fake.ins()
        assert good[-2:] == ins_key(good[:-2])
        bad = good[:-2] + f"{(int(good[-2:]) % 97) + 1:02d}"
        issues = rules.check(_system("ins"), bad, "Patient.identifier[0]")
        assert issues and "check digits are wrong" in issues[0].message
        swapped = good[1] + good[0] + good[2:]
        if swapped != good:
            assert rules.check(_system("ins"), swapped, "x"), swapped


def test_cnie_prefix_follows_the_region(model: PopulationModel) -> None:
    fake = make_faker(9)
    for region in model.regions:
        for _ in range(20):
            value = fake.cnie(region.code)
            assert re.fullmatch(r"[A-Z]{1,2}", value.rstrip("0123456789"))
            assert value.rstrip("0123456789") in region.cnie_prefixes


def test_inpe_kinds() -> None:
    fake = make_faker(10)
    assert all(fake.inpe("establishment").startswith("1") for _ in range(50))
    assert all(fake.inpe().startswith("2") for _ in range(50))
    with pytest.raises(UsageError, match="Unknown INPE kind"):
        fake.inpe("hospital")


# --- names, places, phones -----------------------------------------------------------------------------


def test_names_are_pairs_with_an_arabic_form(model: PopulationModel) -> None:
    fake = make_faker(11)
    for sex in ("male", "female", "M", "F"):
        for _ in range(300):
            name = fake.ma_first_name(sex)
            assert isinstance(name, Name) and ARABIC.fullmatch(name.arabic) and LATIN.fullmatch(name.latin)
    females = {n.latin for n in model.first_names["female"]}
    assert all(fake.ma_first_name("female").latin in females for _ in range(300))
    family = [fake.ma_family_name() for _ in range(1000)]
    assert all(ARABIC.fullmatch(n.arabic) for n in family)
    assert len({n.latin for n in family}) > 100
    with pytest.raises(UsageError, match="Unknown sex"):
        fake.ma_first_name("x")


def test_addresses_are_consistent_and_follow_the_package(
    model: PopulationModel, ma_registry: PackageRegistry, ig_settings: dict[str, Any]
) -> None:
    fake = make_faker(12)
    postal = re.compile(ig_settings["postal_code_pattern"])
    regions = set(codes(ma_registry, "CodeSystem", "ma-region"))
    for i in range(2000):
        address = fake.ma_address() if i % 2 else fake.ma_address(region=f"{i % 12 + 1:02d}")
        assert address.region_code in regions
        assert postal.fullmatch(address.postal_code) and len(address.postal_code) == 5
        region = model.region(address.region_code)
        province = next(p for p in region.provinces if p.name == address.province)
        city = next(c for c in province.cities if c.name == address.city)
        assert address.postal_code in city.postal_codes
        assert address.line.startswith("Douar ") != address.urban
    with pytest.raises(UsageError, match="Unknown region code '13'"):
        fake.ma_address("13")


def test_phones_match_the_profile_pattern(model: PopulationModel, ig_settings: dict[str, Any]) -> None:
    fake = make_faker(13)
    pattern = re.compile(ig_settings["phone_pattern"])
    mobiles = [fake.ma_phone() for _ in range(1000)]
    assert all(pattern.fullmatch(p) and p[4] in "67" for p in mobiles)
    for region in model.regions:
        for _ in range(30):
            fixed = fake.ma_phone("fixed", region.code)
            assert pattern.fullmatch(fixed) and fixed[4:7] in region.fixed_prefixes
    assert national_phone("+212612345678") == "06 12 34 56 78"
    with pytest.raises(UsageError):
        fake.ma_phone("fax")
    with pytest.raises(UsageError):
        national_phone("+33612345678")


# --- ages and coverage ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reference", [date(2026, 1, 1), date(2024, 2, 29), date(2025, 12, 31)])
def test_birth_dates_respect_the_age_bounds(reference: date) -> None:
    fake = make_faker(14)
    for _ in range(500):
        born = fake.ma_birth_date("female", min_age=16, max_age=18, reference_date=reference)
        age = reference.year - born.year - ((reference.month, reference.day) < (born.month, born.day))
        assert 16 <= age <= 18, (born, reference)
    newborn = [fake.ma_birth_date(max_age=0, reference_date=reference) for _ in range(200)]
    assert all(0 <= (reference - b).days <= 366 for b in newborn)
    with pytest.raises(UsageError):
        fake.ma_birth_date(min_age=30, max_age=20)


def test_coverage_follows_activity_and_age(ma_registry: PackageRegistry) -> None:
    fake = make_faker(15)
    schemes = set(codes(ma_registry, "CodeSystem", "ma-coverage-scheme"))
    public = Counter(fake.ma_coverage(40, "employee-public") for _ in range(500))
    assert set(public) <= {"AMO-CNOPS", "PRIVATE"} and public["AMO-CNOPS"] > 450
    children = Counter(fake.ma_coverage(5) for _ in range(500))
    assert set(children) <= schemes and {"AMO-TADAMON", "AMO-CNSS", "NONE"} <= set(children)
    assert all(fake.ma_activity(8, "male") == "child" for _ in range(50))
    with pytest.raises(UsageError, match="is for ages 45-99"):
        fake.ma_coverage(30, "retired")
    with pytest.raises(UsageError, match="Unknown activity"):
        fake.ma_coverage(30, "astronaut")


# --- determinism ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_output() -> None:
    assert draws(2026, 1000) == draws(2026, 1000)
    assert draws("ma-smr", 200) == draws("ma-smr", 200)


def test_different_seeds_differ() -> None:
    a, b = draws(1, 100), draws(2, 100)
    assert a != b
    assert a[:300] != b[:300]


def test_same_seed_is_identical_in_another_process() -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.unit.synthetic._draws", "2026", "1000"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode("utf-8") == draws(2026, 1000)


def test_draws_do_not_touch_global_random_state() -> None:
    import random

    import faker.generator

    random.seed(0)
    before, shared = random.getstate(), faker.generator.random.getstate()
    draws(3, 50)
    assert random.getstate() == before
    assert faker.generator.random.getstate() == shared  # Faker's shared (unseeded) state is not used either


def test_provider_also_plugs_into_a_plain_faker() -> None:
    from faker import Faker

    from testbed.synthetic import MoroccoProvider

    fake = Faker()
    fake.add_provider(MoroccoProvider)
    fake.seed_instance(5)
    assert fake.ins() == make_faker(5).ins()


# --- distributions on 10,000 draws ---------------------------------------------------------------------


def test_tolerance_rejects_a_real_bias() -> None:
    assert _within(4980, N, 0.498) and _within(5050, N, 0.498)
    assert not _within(5200, N, 0.498) and not _within(4700, N, 0.498)


def test_sex_ratio(model: PopulationModel) -> None:
    fake = make_faker(101)
    males = sum(fake.ma_sex() == "male" for _ in range(N))
    assert _within(males, N, model.male_share())
    assert _within(males, N, 0.498)


def test_age_pyramid_bands(model: PopulationModel) -> None:
    fake = make_faker(102)
    ages = [fake.ma_age() for _ in range(N)]
    for band in model.age_bands:
        observed = sum(band.age_min <= a <= band.age_max for a in ages)
        assert _within(observed, N, band.pct(None) / 100), band
    assert _within(sum(a < 15 for a in ages), N, 0.265)
    assert _within(sum(15 <= a <= 59 for a in ages), N, 0.597)
    assert _within(sum(a >= 60 for a in ages), N, 0.138)
    women_60 = sum(fake.ma_age("female") >= 60 for _ in range(N))
    expected = sum(b.female_pct for b in model.age_bands if b.age_min >= 60) / 50.2
    assert _within(women_60, N, expected)


def test_region_and_urban_shares(model: PopulationModel) -> None:
    fake = make_faker(103)
    addresses = [fake.ma_address() for _ in range(N)]
    counts = Counter(a.region_code for a in addresses)
    total = sum(r.population for r in model.regions)
    for region in model.regions:
        assert _within(counts[region.code], N, region.population / total), region.code
    assert _within(sum(a.urban for a in addresses), N, 23_110_108 / 36_828_330)


def test_coverage_shares(model: PopulationModel) -> None:
    fake = make_faker(104)
    drawn = Counter()
    for _ in range(N):
        sex = fake.ma_sex()
        drawn[fake.ma_coverage(fake.ma_age(sex), sex=sex)] += 1
    expected: dict[str, float] = {}
    for age in range(0, 100):
        for sex in ("male", "female"):
            share = sum(
                b.pct(sex) / 100 / (b.age_max - b.age_min + 1)
                for b in model.age_bands
                if b.age_min <= age <= b.age_max
            )
            activities = model.activity_choice(age, sex)
            for act in activities.items:
                for scheme in model.schemes[act].items:
                    p = share * activities.probability(act) * model.schemes[act].probability(scheme)
                    expected[scheme] = expected.get(scheme, 0.0) + p
    for scheme, p in expected.items():
        assert _within(drawn[scheme], N, p), scheme
