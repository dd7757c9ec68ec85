"""Readers of the clinical tables: every value checked, every error naming its file and place."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from testbed.synthetic._journey_types import (
    Admission,
    Bounds,
    CareProfile,
    Growth,
    LabTest,
    Medication,
    Route,
    Settings,
    VitalSign,
)
from testbed.synthetic._sampling import WeightedChoice
from testbed.synthetic._tables import SyntheticDataError, mapping, weights
from testbed.synthetic.model import ESTABLISHMENT_TYPES, SEXES

ENCOUNTER_CLASSES = ("AMB", "EMER", "IMP", "VR")
"""Encounter classes (v3 ActCode) the journeys use."""

CONFIDENTIALITY = ("N", "R", "V")
MAX_DECIMALS = 4
"""Most decimals a measured value may have (the generator rounds with a table of powers of ten)."""
_BAND = re.compile(r"(\d+)-(\d+)")
_MISSING = object()


class Obj:
    """A YAML mapping read with typed accessors that fail with the place of the bad value."""

    def __init__(self, value: Any, where: str) -> None:
        self.data = mapping(value, where)
        self.where = where

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        if key not in self.data:
            if default is _MISSING:
                raise SyntheticDataError(f"{self.where}: the key '{key}' is missing.")
            return default
        return self.data[key]

    def obj(self, key: str) -> Obj:
        return Obj(self.raw(key), f"{self.where}.{key}")

    def text(self, key: str, default: Any = _MISSING) -> str:
        value = self.raw(key, default)
        if not isinstance(value, str) or not value.strip():
            raise SyntheticDataError(f"{self.where}.{key}: expected a non-empty text, got {value!r}.")
        return value.strip()

    def texts(self, key: str, default: Any = _MISSING) -> tuple[str, ...]:
        value = self.raw(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise SyntheticDataError(f"{self.where}.{key}: expected a list of texts, got {value!r}.")
        return tuple(v.strip() for v in value)

    def number(
        self, key: str, default: Any = _MISSING, *, low: float = 0.0, high: float | None = None
    ) -> float:
        return check_number(self.raw(key, default), f"{self.where}.{key}", low, high)

    def integer(self, key: str, default: Any = _MISSING, *, low: int = 0, high: int | None = None) -> int:
        value = self.raw(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < low
            or (high is not None and value > high)
        ):
            raise SyntheticDataError(
                f"{self.where}.{key}: expected an integer {low}..{high or ''}, got {value!r}."
            )
        return value

    def pair(self, key: str, default: Any = _MISSING) -> tuple[float, float]:
        return check_pair(self.raw(key, default), f"{self.where}.{key}")

    def int_pair(self, key: str, default: Any = _MISSING) -> tuple[int, int]:
        low, high = self.pair(key, default)
        if low != int(low) or high != int(high):
            raise SyntheticDataError(f"{self.where}.{key}: expected two integers, got {[low, high]!r}.")
        return int(low), int(high)

    def day(self, key: str) -> date:
        value = self.raw(key)
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise SyntheticDataError(f"{self.where}.{key}: {value!r} is not a date (YYYY-MM-DD).") from None


def check_number(value: Any, where: str, low: float = 0.0, high: float | None = None) -> float:
    """A number within ``low..high``, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SyntheticDataError(f"{where}: expected a number, got {value!r}.")
    if value < low or (high is not None and value > high):
        raise SyntheticDataError(f"{where}: {value} is outside {low}..{'' if high is None else high}.")
    return float(value)


def check_pair(value: Any, where: str) -> tuple[float, float]:
    """A ``[low, high]`` pair of non-negative numbers with low <= high."""
    if not isinstance(value, list) or len(value) != 2:
        raise SyntheticDataError(f"{where}: expected [low, high], got {value!r}.")
    low, high = (check_number(v, where) for v in value)
    if low > high:
        raise SyntheticDataError(f"{where}: low {low} is above high {high}.")
    return low, high


def choice(value: Any, where: str) -> WeightedChoice[str]:
    """A weighted choice over the keys of a mapping of weights (in file order)."""
    table = weights(value, where)
    return WeightedChoice(list(table), list(table.values()))


def age_bands(value: Any, where: str) -> tuple[tuple[int, int, float], ...]:
    """A mapping ``"lo-hi" -> chance`` as (lo, hi, chance) rows."""
    out = []
    for key, chance in mapping(value, where).items():
        match = _BAND.fullmatch(key)
        if not match or int(match.group(1)) > int(match.group(2)):
            raise SyntheticDataError(f"{where}: '{key}' is not an age band like 15-44.")
        out.append((int(match.group(1)), int(match.group(2)), check_number(chance, f"{where}.{key}", 0, 1)))
    return tuple(out)


def read_settings(data: Obj, specialties: set[str]) -> Settings:
    s = data.obj("settings")
    vaccination, summary = s.obj("vaccination"), s.obj("summary_author")
    documents = {k: v for k, v in data.obj("documents").data.items() if isinstance(v, str)}
    needed = (*ENCOUNTER_CLASSES, "lab", "prescription", "summary")
    missing = [k for k in needed if k not in documents]
    if missing:
        raise SyntheticDataError(f"{data.where}.documents: no document type for {', '.join(missing)}.")
    titles = {k: str(v) for k, v in data.obj("document_titles").data.items()}
    untitled = sorted(set(documents.values()) - set(titles))
    if untitled:
        raise SyntheticDataError(f"{data.where}.document_titles: no title for {', '.join(untitled)}.")
    types = (*s.texts("lab_types"), *s.texts("lab_in_house"), *vaccination.texts("types"))
    check_types(types, f"{s.where}")
    return Settings(
        s.integer("encounter_years", low=1),
        s.integer("immunization_record_years", low=0),
        s.integer("utc_offset_hours", low=-12),
        s.number("same_practitioner", high=1),
        s.number("same_province", low=1),
        s.texts("lab_types"),
        s.texts("lab_in_house"),
        vaccination.texts("types"),
        vaccination.texts("specialties"),
        summary.texts("specialties"),
        read_route({"weight": 1, **s.obj("degraded_mode").data}, f"{s.where}.degraded_mode", specialties),
        s.texts("admission_labs"),
        s.int_pair("ambulatory_minutes"),
        s.int_pair("emergency_hours"),
        documents,
        titles,
        choice(data.raw("document_languages"), f"{data.where}.document_languages"),
    )


def check_types(types: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(types) - ESTABLISHMENT_TYPES)
    if unknown:
        raise SyntheticDataError(f"{where}: unknown establishment type(s) {', '.join(unknown)}.")


def read_vitals(data: Obj) -> tuple[dict[str, VitalSign], dict[str, dict[str, float]]]:
    vitals: dict[str, VitalSign] = {}
    raw = data.obj("vitals")
    for key in raw.data:
        item = raw.obj(key)
        rows: list[tuple[int, float, float]] = []
        for i, row in enumerate(item.raw("normal", [])):
            if not isinstance(row, list) or len(row) != 3:
                raise SyntheticDataError(f"{item.where}.normal[{i}]: expected [age_max, low, high].")
            low, high = check_pair(row[1:], f"{item.where}.normal[{i}]")
            rows.append((int(check_number(row[0], f"{item.where}.normal[{i}]")), low, high))
        unit = item.text("unit") if "unit" in item.data else None
        decimals = item.integer("decimals", 0, high=MAX_DECIMALS)
        vitals[key] = VitalSign(key, item.text("code"), item.text("display"), unit, decimals, tuple(rows))
    required = (
        "bp",
        "systolic",
        "diastolic",
        "heart_rate",
        "respiratory_rate",
        "spo2",
        "temperature",
        "height",
        "weight",
        "bmi",
        "head_circumference",
    )
    missing = [k for k in required if k not in vitals]
    if missing:
        raise SyntheticDataError(f"{raw.where}: missing vital sign(s) {', '.join(missing)}.")
    for key in ("systolic", "diastolic", "heart_rate", "respiratory_rate", "spo2", "temperature"):
        if not vitals[key].normal:
            raise SyntheticDataError(f"{raw.where}.{key}: needs 'normal' ranges.")
    measured: dict[str, dict[str, float]] = {}
    raw_measured = data.obj("measured")
    for klass in ENCOUNTER_CLASSES:
        shares = raw_measured.obj(klass)
        unknown = sorted(set(shares.data) - set(vitals))
        if unknown:
            raise SyntheticDataError(f"{shares.where}: unknown vital sign(s) {', '.join(unknown)}.")
        measured[klass] = {k: shares.number(k, high=1) for k in shares.data}
    return vitals, measured


def read_growth(data: Obj) -> Growth:
    g = data.obj("growth")

    def curve(value: Any, where: str) -> tuple[tuple[float, float], ...]:
        if not isinstance(value, list) or not value:
            raise SyntheticDataError(f"{where}: expected a list of [age, value] points.")
        points = tuple(_point(p, where) for p in value)
        if [p[0] for p in points] != sorted(p[0] for p in points):
            raise SyntheticDataError(f"{where}: the ages must increase.")
        return points

    def by_sex(key: str) -> dict[str, tuple[tuple[float, float], ...]]:
        item = g.obj(key)
        return {sex: curve(item.raw(sex), f"{item.where}.{sex}") for sex in SEXES}

    return Growth(
        by_sex("height_cm"),
        g.number("height_spread", high=0.2),
        by_sex("head_cm"),
        curve(g.raw("child_bmi"), f"{g.where}.child_bmi"),
        g.number("child_bmi_spread", high=0.5),
        g.pair("adult_bmi"),
        g.pair("obesity_bmi"),
        g.pair("child_obesity_factor"),
        g.text("obesity_code"),
    )


def _point(value: Any, where: str) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) != 2:
        raise SyntheticDataError(f"{where}: expected [age, value], got {value!r}.")
    return check_number(value[0], where), check_number(value[1], where)


def _bounds(value: Any, where: str) -> Bounds:
    if not isinstance(value, list) or len(value) != 2:
        raise SyntheticDataError(f"{where}: expected [low, high] (null for no bound), got {value!r}.")
    low, high = (None if v is None else check_number(v, where, low=-1e9) for v in value)
    if low is None and high is None or (low is not None and high is not None and low > high):
        raise SyntheticDataError(f"{where}: {value!r} is not a reference range.")
    return low, high


def read_labs(data: Obj) -> dict[str, LabTest]:
    labs: dict[str, LabTest] = {}
    raw = data.obj("labs")
    for code in raw.data:
        item = raw.obj(str(code))
        ref_raw = item.raw("ref")
        if isinstance(ref_raw, dict):
            groups = Obj(ref_raw, f"{item.where}.ref")
            unknown = sorted(set(groups.data) - {"male", "female", "child"})
            if unknown or not {"male", "female"} <= set(groups.data):
                raise SyntheticDataError(f"{groups.where}: groups must be male, female and optionally child.")
            ref = {k: _bounds(v, f"{groups.where}.{k}") for k, v in groups.data.items()}
        else:
            ref = {"any": _bounds(ref_raw, f"{item.where}.ref")}
        if "normal" in item.data:
            normal_pair = item.pair("normal")
            normal = {group: normal_pair for group in ref}
        else:
            normal = {}
            for group, (low, high) in ref.items():
                if low is None or high is None:
                    raise SyntheticDataError(f"{item.where}: a one-sided reference range needs 'normal'.")
                normal[group] = (low + 0.1 * (high - low), high - 0.1 * (high - low))
        labs[str(code)] = LabTest(
            str(code),
            item.text("display"),
            item.text("unit"),
            item.integer("decimals", high=MAX_DECIMALS),
            ref,
            normal,
        )
    return labs


def read_route(value: Any, where: str, specialties: set[str]) -> Route:
    item = Obj(value, where)
    klass = item.text("class")
    if klass not in ENCOUNTER_CLASSES:
        raise SyntheticDataError(f"{where}: class {klass!r} is not one of {', '.join(ENCOUNTER_CLASSES)}.")
    types = item.texts("at")
    check_types(types, where)
    specialty = item.text("specialty")
    if specialty not in specialties:
        raise SyntheticDataError(f"{where}: unknown specialty {specialty!r} (see specialties.csv).")
    age = item.int_pair("age", [0, 120])
    sex = item.raw("sex", None)
    if sex is not None and sex not in SEXES:
        raise SyntheticDataError(f"{where}: sex must be male or female, got {sex!r}.")
    national = item.raw("national", False)
    if not isinstance(national, bool):
        raise SyntheticDataError(f"{where}: national must be true or false.")
    return Route(klass, types, specialty, item.number("weight", 1.0), age[0], age[1], sex, national)


def read_profiles(
    raw: Obj,
    *,
    episode: bool,
    labs: dict[str, LabTest],
    vitals: dict[str, Any],
    medications: dict[str, Medication],
    specialties: set[str],
) -> dict[str, CareProfile]:
    out: dict[str, CareProfile] = {}
    for code in raw.data:
        item = raw.obj(str(code))
        routes = tuple(
            read_route(r, f"{item.where}.routes[{i}]", specialties) for i, r in enumerate(item.raw("routes"))
        )
        admission = None
        if "admission" in item.data:
            adm = item.obj("admission")
            route = read_route({"weight": 1, **adm.obj("route").data}, f"{adm.where}.route", specialties)
            admission = Admission(adm.number("share", high=1), adm.int_pair("los"), route)
        if not routes and admission is None:
            raise SyntheticDataError(f"{item.where}: needs routes or an admission.")
        lab_rows: list[tuple[str, tuple[float, float] | None]] = []
        for lab, spec in Obj(item.raw("labs", {}), f"{item.where}.labs").data.items():
            if str(lab) not in labs:
                raise SyntheticDataError(f"{item.where}.labs: {lab} is not a test of the 'labs' table.")
            lab_rows.append(
                (str(lab), None if spec == "normal" else check_pair(spec, f"{item.where}.labs.{lab}"))
            )
        vital_ranges = Obj(item.raw("vitals", {}), f"{item.where}.vitals")
        measure = item.texts("measure", [])
        unknown = sorted((set(vital_ranges.data) | set(measure)) - set(vitals))
        if unknown:
            raise SyntheticDataError(f"{item.where}: unknown vital sign(s) {', '.join(unknown)}.")
        meds = Obj(item.raw("medications", {}), f"{item.where}.medications")
        missing = sorted(set(meds.data) - set(medications))
        if missing:
            raise SyntheticDataError(
                f"{item.where}.medications: {', '.join(missing)} not in medications.yaml."
            )
        med_weights = weights(meds.data, meds.where) if meds.data else {}
        confidentiality = item.text("confidentiality", "N")
        if confidentiality not in CONFIDENTIALITY:
            raise SyntheticDataError(f"{item.where}: confidentiality must be one of {CONFIDENTIALITY}.")
        sex = item.raw("sex", None)
        if sex is not None and sex not in SEXES:
            raise SyntheticDataError(f"{item.where}: sex must be male or female, got {sex!r}.")
        encounters = item.int_pair("encounters", [1, 1] if episode else [1, 3])
        if encounters[0] < 1:
            raise SyntheticDataError(f"{item.where}.encounters: at least one encounter.")
        out[str(code)] = CareProfile(
            str(code),
            item.text("display"),
            episode,
            routes,
            admission,
            encounters,
            tuple(lab_rows),
            item.number("lab_share", 1.0 if lab_rows else 0.0, high=1),
            {k: vital_ranges.pair(k) for k in vital_ranges.data},
            measure,
            WeightedChoice(list(med_weights), list(med_weights.values())) if med_weights else None,
            item.integer("max_medications", 1, low=1),
            confidentiality,
            sex,
            age_bands(item.raw("incidence"), f"{item.where}.incidence") if episode else (),
            age_bands(item.raw("incidence_female", {}), f"{item.where}.incidence_female") if episode else (),
            item.integer("min_interval_days", 0),
        )
    return out
