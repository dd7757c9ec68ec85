"""What is measured at an encounter: vital signs (with growth for children) and laboratory results."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from testbed.synthetic._journey_fast import new_component, new_observation
from testbed.synthetic._journey_state import Engine, Journey, Visit
from testbed.synthetic._journey_types import CHILD_AGE, CareProfile, Growth
from testbed.synthetic.record import Component

_ORDER = (
    "bp",
    "heart_rate",
    "respiratory_rate",
    "spo2",
    "temperature",
    "weight",
    "height",
    "head_circumference",
)
_ADULT = 18
_DAYS_PER_YEAR = 365.25
_NO_RANGES: dict[str, tuple[float, float]] = {}
# Measured values are positive, so int(v * 10**d + 0.5) / 10**d rounds them to d decimals (the same double as
# round(v, d) except on exact ties) at a fraction of round()'s cost, which goes through decimal strings.
_SCALE = (1, 10, 100, 1000, 10000)


def _interpolate(points: tuple[tuple[float, float], ...], age: float) -> float:
    if age <= points[0][0]:
        return points[0][1]
    for (a0, v0), (a1, v1) in zip(points, points[1:], strict=False):
        if age <= a1:
            return v0 + (v1 - v0) * (age - a0) / (a1 - a0)
    return points[-1][1]


def draw_body(j: Journey, obese: bool) -> None:
    """Draw the person's build: a height factor and a BMI (adults) or a BMI ratio to the median (children)."""
    growth: Growth = j.engine.clinical.growth
    j.height_factor = 1 + growth.height_spread * 2 * (j.rng.random() + j.rng.random() - 1)
    if j.age >= _ADULT:
        j.bmi = j.uniform(*(growth.obesity_bmi if obese else growth.adult_bmi))
    elif obese:
        j.bmi = -j.uniform(*growth.child_obesity_factor)
    else:
        j.bmi = -(1 + growth.child_bmi_spread * (j.rng.random() + j.rng.random() - 1))


def _body(j: Journey, years: float) -> tuple[float, float]:
    """Height (cm) and BMI at ``years``; a negative ``j.bmi`` is a ratio to the median BMI of the age."""
    growth = j.engine.clinical.growth
    height = _interpolate(growth.height[j.sex], years) * j.height_factor
    bmi = j.bmi if j.bmi > 0 else -j.bmi * _interpolate(growth.child_bmi, years)
    return height, bmi


_VALUE, _BP, _WEIGHT, _HEIGHT, _HEAD = range(5)
_KINDS = {"bp": _BP, "weight": _WEIGHT, "height": _HEIGHT, "head_circumference": _HEAD}


def _age_group(age: int) -> int:
    return 0 if age < 2 else 1 if age < 3 else 2 if age < _ADULT else 3


def vital_plan(engine: Engine, klass: str, group: int) -> tuple[tuple[str, float, int], ...]:
    """(vital, chance of being taken, kind) in order for an encounter class and age group, cached.

    The head circumference is always taken under 2 years, weight and height always under 18, the blood
    pressure never under 3.
    """
    key = (klass, group)
    plan = engine.vital_plans.get(key)
    if plan is None:
        shares = engine.clinical.measured[klass]
        rows = []
        for name in _ORDER:
            kind = _KINDS.get(name, _VALUE)
            if (kind == _BP and group < 2) or (kind == _HEAD and group > 0):
                continue
            always = kind == _HEAD or (group < 3 and kind in (_WEIGHT, _HEIGHT))
            rows.append((name, 1.0 if always else shares.get(name, 0.0), kind))
        plan = engine.vital_plans[key] = tuple(rows)
    return plan


def vital_signs(j: Journey, visit: Visit, age: int) -> None:
    """Vital signs taken at ``visit`` (none for a remote consultation)."""
    record = visit.record
    klass = record.klass
    if klass == "VR":
        return
    engine = j.engine
    random = j.rng.random
    profile = visit.profile
    forced = profile.measure if profile is not None else ()
    overrides = profile.vitals if profile is not None else _NO_RANGES
    when = record.start + engine.seconds[120 + int(random() * 480)]
    observations, ids = j.observations, visit.vitals
    encounter_id, practitioner = record.id, record.practitioner
    height = weight = 0.0
    taken_height = taken_weight = False
    prefix = f"{j.pid}-obs-"
    number = j.counters.get("obs", 0)
    info, ranges, normals, capped_age = engine.vital_info, j.vital_ranges, engine.vital_normal, min(age, 120)
    for name, share, kind in vital_plan(engine, klass, _age_group(age)):
        if share < 1.0 and random() >= share and name not in forced:
            continue
        code, unit, decimals, _ = info[name]
        components: tuple[Component, ...] = ()
        if kind == _VALUE:
            low, high = overrides.get(name) or ranges.get(name) or normals[name][capped_age]
            scale = _SCALE[decimals]
            value: float | None = (
                int((low + (high - low) * (random() + random()) * 0.5) * scale + 0.5) / scale
            )
        elif kind == _BP:
            systolic = _value(j, "systolic", overrides, capped_age)
            diastolic = min(_value(j, "diastolic", overrides, capped_age), systolic - 20)
            components = (
                new_component(info["systolic"][0], systolic, info["systolic"][1]),
                new_component(info["diastolic"][0], diastolic, info["diastolic"][1]),
            )
            value = None
        elif kind == _HEAD:
            years = (record.start.toordinal() - j.birth.toordinal()) / _DAYS_PER_YEAR
            value = round(_interpolate(engine.clinical.growth.head[j.sex], years) * j.height_factor, 1)
        else:
            if not height:
                years = (record.start.toordinal() - j.birth.toordinal()) / _DAYS_PER_YEAR
                height, bmi = _body(j, years)
                weight = bmi * (height / 100) ** 2
                if age >= _ADULT:
                    weight *= 1 + 0.02 * (random() + random() - 1)
                height, weight = int(height * 10 + 0.5) / 10, int(weight * 10 + 0.5) / 10
            if kind == _WEIGHT:
                value, taken_weight = weight, True
            else:
                value, taken_height = height, True
        number += 1
        observation_id = f"{prefix}{number}"
        observations.append(
            new_observation(
                observation_id,
                "vital",
                code,
                value,
                unit,
                when,
                encounter_id,
                practitioner,
                components,
                None,
                None,
                "final",
                decimals,
            )
        )
        ids.append(observation_id)
    if taken_weight and taken_height and age >= 2:
        code, unit, decimals, _ = info["bmi"]
        number += 1
        observation_id = f"{prefix}{number}"
        value = round(weight / (height / 100) ** 2, decimals)
        observations.append(
            new_observation(
                observation_id,
                "vital",
                code,
                value,
                unit,
                when,
                encounter_id,
                practitioner,
                (),
                None,
                None,
                "final",
                decimals,
            )
        )
        ids.append(observation_id)
    j.counters["obs"] = number


def _value(j: Journey, key: str, overrides: dict[str, tuple[float, float]], age: int) -> float:
    engine = j.engine
    low, high = overrides.get(key) or j.vital_ranges.get(key) or engine.vital_normal[key][age]
    random = j.rng.random
    scale = _SCALE[engine.vital_info[key][2]]
    return int((low + (high - low) * (random() + random()) * 0.5) * scale + 0.5) / scale


def _lab_plan(
    engine: Engine, profile: CareProfile
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, Any]]:
    """The tests of a profile at an ambulatory encounter and at an admission, and its own ranges (cached)."""
    plan = engine.lab_plans.get(profile.code)
    if plan is None:
        codes = tuple(code for code, _ in profile.labs)
        admission = codes + tuple(c for c in engine.settings.admission_labs if c not in codes)
        plan = engine.lab_plans[profile.code] = (codes, admission, {c: r for c, r in profile.labs if r})
    return plan


def _lab_test(engine: Engine, code: str, sex: str, age: int) -> tuple[Any, ...]:
    """(LOINC code, unit, decimals, normal range, reference range) of a test for a person (cached)."""
    key = (code, sex, age < CHILD_AGE)
    row = engine.lab_tests.get(key)
    if row is None:
        test = engine.clinical.labs[code]
        row = (
            engine.loinc[code],
            test.unit,
            test.decimals,
            test.normal_range(sex, age),
            test.reference(sex, age),
        )
        engine.lab_tests[key] = row
    return row


def lab_batch(j: Journey, visit: Visit, age: int) -> None:
    """Laboratory results reported for ``visit``: always for an admission, else by the profile's lab share."""
    profile, record = visit.profile, visit.record
    if profile is None:
        return
    engine, rng = j.engine, j.rng
    random = rng.random
    ambulatory, admission, specific = _lab_plan(engine, profile)
    if record.klass == "IMP":
        codes = admission
    elif not ambulatory or not random() < profile.lab_share:
        return
    else:
        codes = ambulatory
    in_house = engine.directory.in_house_biologists(record.establishment)
    if in_house:
        seat = (in_house[int(random() * len(in_house))], record.establishment)
    else:
        labs = engine.directory.lab(j.region.code, j.province)
        if labs is None:
            return
        seat = labs.draw(rng)
    if record.klass in ("IMP", "EMER"):
        when = record.start + engine.seconds[1800 + int(random() * 3 * 3600)]
    else:
        when = record.start - timedelta(days=1 + int(random() * 5), seconds=int(random() * 3600))
        if when.date() < engine.window_start or when.date() <= j.birth:
            when = record.start - engine.seconds[3600 + int(random() * 3600)]
            if when.date() <= j.birth:
                when = record.start + engine.seconds[60]
    biologist, sex, ranges = seat[0], j.sex, j.lab_ranges
    observations, ids, encounter_id = j.observations, visit.labs, record.id
    prefix, number = f"{j.pid}-obs-", j.counters.get("obs", 0)
    for code in codes:
        loinc, unit, decimals, normal, reference = _lab_test(engine, code, sex, age)
        low, high = specific.get(code) or ranges.get(code) or normal
        scale = _SCALE[decimals]
        value = int((low + (high - low) * (random() + random()) * 0.5) * scale + 0.5) / scale
        ref_low, ref_high = reference
        if ref_high is not None and value > ref_high:
            flag = "H"
        else:
            flag = "L" if ref_low is not None and value < ref_low else "N"
        number += 1
        observation_id = f"{prefix}{number}"
        observations.append(
            new_observation(
                observation_id,
                "lab",
                loinc,
                value,
                unit,
                when,
                encounter_id,
                biologist,
                (),
                flag,
                reference,
                "final",
                decimals,
            )
        )
        ids.append(observation_id)
    j.counters["obs"] = number
    visit.lab_author = seat
    visit.lab_time = when
