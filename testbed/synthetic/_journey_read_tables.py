"""Readers of ``identity.yaml``, ``medications.yaml`` and ``allergies.csv``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from testbed.synthetic._journey_read import Obj, check_number, choice
from testbed.synthetic._journey_types import Allergen, IdentityRules, Medication, Nationality
from testbed.synthetic._sampling import WeightedChoice
from testbed.synthetic._tables import SyntheticDataError, read_csv
from testbed.synthetic.model import _ARABIC, _LATIN, COVERAGE_SCHEMES, REGION_CODES, SEXES, Name

MEMBER_NUMBERS = ("cnss", "cnops", "none")
ALLERGY_CATEGORIES = ("food", "medication", "environment", "biologic")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_PASSPORT = re.compile(r"[9L]{5,12}")


def _names(value: Any, where: str) -> WeightedChoice[Name]:
    if not isinstance(value, list) or not value:
        raise SyntheticDataError(f"{where}: expected a list of [latin, arabic] names.")
    names: list[Name] = []
    for i, pair in enumerate(value):
        if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(p, str) for p in pair):
            raise SyntheticDataError(f"{where}[{i}]: expected [latin, arabic].")
        if not _LATIN.fullmatch(pair[0]) or not _ARABIC.fullmatch(pair[1]):
            raise SyntheticDataError(
                f"{where}[{i}]: {pair!r} is not a Latin-script and an Arabic-script name."
            )
        names.append(Name(pair[0], pair[1]))
    return WeightedChoice(names, [1.0] * len(names))


def _languages(value: Any, where: str) -> WeightedChoice[str]:
    languages = choice(value, where)
    bad = [code for code in languages.items if not _LANGUAGE.fullmatch(code)]
    if bad:
        raise SyntheticDataError(f"{where}: {', '.join(bad)} are not language codes (2-3 lowercase letters).")
    return languages


def _nationality(value: Any, where: str) -> Nationality:
    item = Obj(value, where)
    code, numeric = item.text("code"), item.text("numeric")
    if not re.fullmatch(r"[A-Z]{2}", code):
        raise SyntheticDataError(f"{where}: code must be a foreign ISO 3166-1 alpha-2 code, got {code!r}.")
    if not re.fullmatch(r"[0-9]{3}", numeric):
        raise SyntheticDataError(f"{where}: numeric must be the 3-digit ISO 3166-1 code, got {numeric!r}.")
    passport = item.text("passport")
    if not _PASSPORT.fullmatch(passport):
        raise SyntheticDataError(f"{where}: passport layout {passport!r} must use 9 (digit) and L (letter).")
    return Nationality(
        code,
        numeric,
        item.number("weight"),
        passport,
        _languages(item.raw("languages"), f"{where}.languages"),
        {sex: _names(item.raw(sex), f"{where}.{sex}") for sex in SEXES},
        _names(item.raw("family"), f"{where}.family"),
    )


def _bands(value: Any, where: str, read: Any) -> list[tuple[int, int, Any]]:
    if not isinstance(value, list) or not value:
        raise SyntheticDataError(f"{where}: expected a non-empty list of age bands.")
    out: list[tuple[int, int, Any]] = []
    for i, raw in enumerate(value):
        item = Obj(raw, f"{where}[{i}]")
        low, high = item.integer("age_min"), item.integer("age_max")
        if low > high or (out and low != out[-1][1] + 1):
            raise SyntheticDataError(f"{item.where}: bands must follow each other without gap or overlap.")
        out.append((low, high, read(item)))
    return out


def read_identity(data: Obj, activities: set[str]) -> IdentityRules:
    """The rules of ``identity.yaml``; ``activities`` are the activity codes of ``coverage.yaml``."""
    cnie = _bands(data.raw("cnie"), f"{data.where}.cnie", lambda item: item.number("share", high=1))
    if cnie[0][0] < 16:
        raise SyntheticDataError(f"{data.where}.cnie: the CNIE is issued from age 16 (law 04-20).")
    dependants = frozenset(data.texts("dependants"))
    unknown = sorted(dependants - activities)
    if unknown:
        raise SyntheticDataError(f"{data.where}.dependants: unknown activities {', '.join(unknown)}.")
    member = {k: str(v) for k, v in data.obj("member_number").data.items()}
    schemes = COVERAGE_SCHEMES - {"NONE"}
    if set(member) != schemes or not set(member.values()) <= set(MEMBER_NUMBERS):
        raise SyntheticDataError(
            f"{data.where}.member_number: give cnss, cnops or none for each of {', '.join(sorted(schemes))}."
        )
    starts = data.obj("scheme_start")
    if set(starts.data) != schemes:
        raise SyntheticDataError(
            f"{starts.where}: give a start date for each of {', '.join(sorted(schemes))}."
        )
    raw_languages = data.obj("languages")
    if set(raw_languages.data) != set(REGION_CODES):
        raise SyntheticDataError(f"{raw_languages.where}: give the languages of each region 01-12.")
    marital = _bands(
        data.raw("marital_status"),
        f"{data.where}.marital_status",
        lambda item: {sex: choice(item.raw(sex), f"{item.where}.{sex}") for sex in SEXES},
    )
    foreigners = data.obj("foreigners")
    raw_nationalities = foreigners.raw("nationalities")
    if not isinstance(raw_nationalities, list) or not raw_nationalities:
        raise SyntheticDataError(f"{foreigners.where}.nationalities: expected a non-empty list.")
    nationalities = [
        _nationality(n, f"{foreigners.where}.nationalities[{i}]") for i, n in enumerate(raw_nationalities)
    ]
    if any(n.code == data.raw("nationality") for n in nationalities):
        raise SyntheticDataError(f"{foreigners.where}: a foreign nationality equals the citizens' one.")
    excluded = frozenset(foreigners.texts("excluded_schemes", []))
    if not excluded <= COVERAGE_SCHEMES:
        raise SyntheticDataError(f"{foreigners.where}.excluded_schemes: unknown scheme(s).")
    nationality = data.text("nationality")
    if not re.fullmatch(r"[A-Z]{2}", nationality):
        raise SyntheticDataError(f"{data.where}.nationality: expected an ISO 3166-1 alpha-2 code.")
    return IdentityRules(
        nationality,
        tuple(cnie),
        data.number("ins_share", high=1),
        data.number("phone_share", high=1),
        data.number("fixed_phone_share", high=1),
        dependants,
        member,
        {scheme: starts.day(scheme) for scheme in sorted(schemes)},
        {code: _languages(raw_languages.raw(code), f"{raw_languages.where}.{code}") for code in REGION_CODES},
        tuple(marital),
        foreigners.integer("residence_permit_min_age"),
        foreigners.number("passport_share", high=1),
        excluded,
        WeightedChoice(nationalities, [n.weight for n in nationalities]),
    )


def read_medications(raw: Obj) -> dict[str, Medication]:
    out: dict[str, Medication] = {}
    for gtin in raw.data:
        item = raw.obj(str(gtin))
        if not re.fullmatch(r"[0-9]{14}", str(gtin)):
            raise SyntheticDataError(f"{item.where}: a GTIN is 14 digits (quote it in YAML).")
        label = item.texts("label")
        if len(label) != 2:
            raise SyntheticDataError(f"{item.where}.label: expected [singular, plural].")
        doses = tuple(check_number(d, f"{item.where}.dose") for d in item.raw("dose"))
        per_day = tuple(int(check_number(d, f"{item.where}.per_day", 1)) for d in item.raw("per_day"))
        days = tuple(int(check_number(d, f"{item.where}.days", 1)) for d in item.raw("days"))
        if not doses or not per_day or not days:
            raise SyntheticDataError(f"{item.where}: dose, per_day and days need at least one value.")
        age = item.int_pair("age")
        text = item.text("text", "{dose} {label} {per_day} fois par jour pendant {days} jours")
        out[str(gtin)] = Medication(
            str(gtin),
            item.text("display"),
            item.text("atc"),
            item.text("atc_display"),
            doses,
            item.text("unit"),
            (label[0], label[1]),
            per_day,
            days,
            age[0],
            age[1],
            text,
        )
    return out


def read_allergens(path: Path) -> tuple[Allergen, ...]:
    fields = (
        "code",
        "display",
        "parent",
        "category",
        "criticality_high",
        "prevalence_child",
        "prevalence_adult",
    )
    out: list[Allergen] = []
    for row in read_csv(path, fields):
        code = row.text("code")
        if not code.isdigit():
            raise SyntheticDataError(f"{row.where}: a SNOMED CT code is digits only, got {code!r}.")
        category = row.text("category")
        if category not in ALLERGY_CATEGORIES:
            raise SyntheticDataError(f"{row.where}: category must be one of {', '.join(ALLERGY_CATEGORIES)}.")
        high, child, adult = (row.number(f) for f in fields[4:])
        if not all(0 <= s <= 1 for s in (high, child, adult)):
            raise SyntheticDataError(f"{row.where}: shares and prevalences must be between 0 and 1.")
        avoid = tuple(a.strip() for a in row.get("avoid_atc", "").split("|") if a.strip())
        bad = [a for a in avoid if not re.fullmatch(r"[A-Z][0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?", a)]
        if bad:
            raise SyntheticDataError(f"{row.where}: {', '.join(bad)} are not ATC codes or prefixes.")
        out.append(
            Allergen(code, row.text("display"), row.text("parent"), category, high, child, adult, avoid)
        )
    return tuple(out)
