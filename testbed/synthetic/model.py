"""The population model: the tables of ``synthetic/`` loaded once, checked and ready for sampling."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from testbed.core.errors import UsageError
from testbed.synthetic._sampling import WeightedChoice
from testbed.synthetic._tables import Row, SyntheticDataError, mapping, read_csv, read_yaml, weights

DATA_DIR_ENV = "TESTBED_SYNTHETIC_DIR"
"""Environment variable naming the folder of the population tables (default: the project's ``synthetic/``)."""

DEFAULT_REFERENCE_DATE = date(2026, 1, 1)
"""Date at which ages are counted unless the caller gives one; fixed so output never depends on the clock."""

SEXES = ("male", "female")
"""Sex codes used throughout (FHIR administrative-gender)."""

REGION_CODES = tuple(f"{i:02d}" for i in range(1, 13))
COVERAGE_SCHEMES = frozenset(
    {"AMO-CNSS", "AMO-CNOPS", "AMO-TADAMON", "AMO-TNS", "AMO-ACHAMIL", "AMO-PENSION", "PRIVATE", "NONE"}
)
ESTABLISHMENT_TYPES = frozenset(
    {"CHU", "CHR", "CHP", "HL", "ESSP", "CLINIQUE", "CABINET", "LABO", "PHARMACIE", "RADIO", "UMM", "TELEMED"}
)
_POSTAL = re.compile(r"[1-9][0-9]{4}")
_BAND = re.compile(r"(\d+)-(\d+)")
_ARABIC_LETTER = "\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff"
_ARABIC = re.compile(f"[{_ARABIC_LETTER}][{_ARABIC_LETTER} \\-]*")
_LATIN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ' \-]*")


class Name(NamedTuple):
    """A name in Latin script and its Arabic-script form."""

    latin: str
    arabic: str


@dataclass(frozen=True, slots=True)
class NameEntry:
    """A row of a name table."""

    latin: str
    arabic: str
    origin: str


@dataclass(frozen=True, slots=True)
class City:
    """A city with its postal codes (``postal_sourced``: the first code is in a cited list)."""

    name: str
    postal_codes: tuple[str, ...]
    postal_sourced: bool
    weight: float


@dataclass(frozen=True, slots=True)
class Province:
    """A prefecture or province with its cities."""

    name: str
    kind: str
    weight: float
    cities: tuple[City, ...]
    city_choice: WeightedChoice[City] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Region:
    """A region of ``ma-region`` with its 2024 population and provinces."""

    code: str
    name: str
    name_ar: str
    capital: str
    population: int
    urban_population: int
    fixed_prefixes: tuple[str, ...]
    cnie_prefixes: tuple[str, ...]
    provinces: tuple[Province, ...]
    province_choice: WeightedChoice[Province] = field(repr=False, compare=False)

    @property
    def urban_share(self) -> float:
        return self.urban_population / self.population

    def cities(self) -> tuple[City, ...]:
        return tuple(city for province in self.provinces for city in province.cities)


@dataclass(frozen=True, slots=True)
class AgeBand:
    """One band of the age pyramid: percent of the whole population by sex."""

    label: str
    age_min: int
    age_max: int
    male_pct: float
    female_pct: float

    def pct(self, sex: str | None) -> float:
        if sex == "male":
            return self.male_pct
        if sex == "female":
            return self.female_pct
        return self.male_pct + self.female_pct


@dataclass(frozen=True, slots=True)
class ConditionPrevalence:
    """Prevalence of one ICD-10 code by age band, for one sex or ``any``."""

    code: str
    sex: str  # "any", "male" or "female"
    bands: tuple[tuple[int, int, float], ...]  # (age_min, age_max, prevalence)

    def at(self, age: int) -> float:
        for lo, hi, p in self.bands:
            if lo <= age <= hi:
                return p
        return 0.0


@dataclass(frozen=True, slots=True)
class Vaccination:
    """One dose of the national immunization schedule (PNI)."""

    vaccine: str
    dose: int
    age_days: int
    age_label: str
    sex: str
    cvx: str
    cvx_display: str
    atc: str
    coverage: float


@dataclass(frozen=True, slots=True)
class Specialty:
    """A practitioner specialty of the invented directory."""

    code: str
    label: str
    title: str
    establishment_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Establishment:
    """An invented health establishment."""

    inpe: str
    type: str
    name: str
    region: str
    province: str
    city: str
    postal_code: str
    line: str
    phone: str


@dataclass(frozen=True, slots=True)
class Practitioner:
    """An invented practitioner attached to one establishment."""

    inpe: str
    family: Name
    given: Name
    sex: str
    specialty: str
    establishment: str
    phone: str


@dataclass(frozen=True, slots=True)
class Activity:
    """An activity (employment situation) and the ages at which it is possible."""

    code: str
    label: str
    age_min: int
    age_max: int


@dataclass(frozen=True, slots=True)
class PhonePlan:
    """The numbering plan used to draw phone numbers."""

    country_code: str
    e164_pattern: re.Pattern[str]
    mobile_blocks: WeightedChoice[str]
    fixed_digits: int


@dataclass(frozen=True, slots=True)
class StreetParts:
    """Building blocks of street addresses."""

    street_types: WeightedChoice[str]
    street_names: tuple[str, ...]
    quarters: tuple[str, ...]
    douars: tuple[str, ...]


class PopulationModel:
    """All tables of the synthetic population, loaded once per folder and shared (read-only).

    Use :meth:`load`; the generators of :mod:`testbed.synthetic` read everything from here.
    """

    def __init__(self, data_dir: Path, *, directory: bool = True) -> None:
        self.data_dir = data_dir
        self.first_names: dict[str, tuple[NameEntry, ...]] = {
            "male": _names(data_dir / "names_male.csv"),
            "female": _names(data_dir / "names_female.csv"),
        }
        self.family_names: tuple[NameEntry, ...] = _names(data_dir / "family_names.csv")
        self.regions: tuple[Region, ...] = _regions(data_dir / "regions.yaml")
        self._regions_by_code = {r.code: r for r in self.regions}
        self.region_choice = WeightedChoice(self.regions, [r.population for r in self.regions])
        self.age_bands: tuple[AgeBand, ...] = _age_bands(data_dir / "age_pyramid.csv")
        self.phone_plan: PhonePlan = _phone_plan(data_dir / "phone_plan.yaml")
        self.streets: StreetParts = _streets(data_dir / "streets.yaml")
        cov = _coverage(data_dir / "coverage.yaml")
        self.activities: dict[str, Activity] = cov[0]
        self.activity_by_age: tuple[tuple[int, int, dict[str, WeightedChoice[str]]], ...] = cov[1]
        self.schemes: dict[str, WeightedChoice[str]] = cov[2]
        self.conditions: tuple[ConditionPrevalence, ...] = _conditions(data_dir / "conditions.csv")
        self.vaccinations: tuple[Vaccination, ...] = _vaccinations(data_dir / "immunization_pni.csv")
        self.specialties: dict[str, Specialty] = _specialties(data_dir / "specialties.csv")
        self.establishments: tuple[Establishment, ...] = ()
        self.practitioners: tuple[Practitioner, ...] = ()
        if directory:
            self.establishments = _establishments(data_dir / "establishments.csv", self)
            self.practitioners = _practitioners(data_dir / "practitioners.csv", self)
        self._establishments_by_inpe = {e.inpe: e for e in self.establishments}
        self.first_name_choice = {
            sex: WeightedChoice([Name(n.latin, n.arabic) for n in names], [1.0] * len(names))
            for sex, names in sorted(self.first_names.items())
        }
        self.family_name_choice = WeightedChoice(
            [Name(n.latin, n.arabic) for n in self.family_names], [1.0] * len(self.family_names)
        )
        self.sex_choice = WeightedChoice(SEXES, [sum(b.pct(sex) for b in self.age_bands) for sex in SEXES])
        self._age_choices: dict[tuple[str | None, int, int], WeightedChoice[tuple[int, int]]] = {}

    @classmethod
    def load(cls, data_dir: Path | str | None = None) -> PopulationModel:
        """The model of ``data_dir`` (default: ``$TESTBED_SYNTHETIC_DIR``, else ``synthetic/``), cached."""
        return _load(str(resolve_data_dir(data_dir)))

    def region(self, code: str) -> Region:
        """The region of a ``ma-region`` code, or a clear error."""
        try:
            return self._regions_by_code[code]
        except KeyError:
            raise UsageError(
                f"Unknown region code {code!r}: the codes of ma-region are {', '.join(REGION_CODES)}."
            ) from None

    def male_share(self) -> float:
        """The share of males in the population (from the age pyramid)."""
        return self.sex_choice.probability("male")

    def age_choice(self, sex: str | None, age_min: int, age_max: int) -> WeightedChoice[tuple[int, int]]:
        """Year ranges ``(lo, hi)``, one per age band overlapping ``age_min..age_max``.

        Each range is weighted by its band's share (of ``sex``, or both sexes) times the fraction of the
        band it keeps; a caller then picks a year uniformly in the drawn range. Cached per arguments.
        """
        key = (sex, age_min, age_max)
        choice = self._age_choices.get(key)
        if choice is None:
            items: list[tuple[int, int]] = []
            item_weights: list[float] = []
            for band in self.age_bands:
                lo, hi = max(band.age_min, age_min), min(band.age_max, age_max)
                if lo > hi:
                    continue
                items.append((lo, hi))
                item_weights.append(band.pct(sex) * (hi - lo + 1) / (band.age_max - band.age_min + 1))
            if not items or sum(item_weights) <= 0:
                raise SyntheticDataError(
                    f"No age between {age_min} and {age_max} is covered by the age pyramid "
                    f"({self.age_bands[0].age_min}-{self.age_bands[-1].age_max})."
                )
            choice = WeightedChoice(items, item_weights)
            self._age_choices[key] = choice
        return choice

    def activity_choice(self, age: int, sex: str) -> WeightedChoice[str]:
        """The activity distribution of people of ``age`` and ``sex``."""
        for lo, hi, by_sex in self.activity_by_age:
            if lo <= age <= hi:
                return by_sex[sex]
        raise SyntheticDataError(f"coverage.yaml gives no activity distribution for age {age}.")

    def prevalence(self, code: str, age: int, sex: str) -> float:
        """The prevalence of an ICD-10 code for one age and sex (0 when the table has no row)."""
        return sum(c.at(age) for c in self.conditions if c.code == code and c.sex in ("any", sex))

    def establishment(self, inpe: str) -> Establishment:
        """The establishment of an INPE, or a clear error."""
        try:
            return self._establishments_by_inpe[inpe]
        except KeyError:
            raise UsageError(f"No establishment of the directory has the INPE {inpe!r}.") from None

    def establishments_in(
        self, region: str | None = None, types: frozenset[str] | set[str] | None = None
    ) -> tuple[Establishment, ...]:
        """Establishments of one region and/or of some types, in table order."""
        return tuple(
            e
            for e in self.establishments
            if (region is None or e.region == region) and (types is None or e.type in types)
        )

    def practitioners_at(self, establishment_inpe: str) -> tuple[Practitioner, ...]:
        """Practitioners attached to one establishment, in table order."""
        return tuple(p for p in self.practitioners if p.establishment == establishment_inpe)


def resolve_data_dir(data_dir: Path | str | None = None) -> Path:
    """The folder of the population tables, or a clear error when it does not exist."""
    if data_dir is None:
        env = os.environ.get(DATA_DIR_ENV)
        path = Path(env) if env else Path(__file__).resolve().parents[2] / "synthetic"
    else:
        path = Path(data_dir)
    path = path.resolve()
    if not (path / "regions.yaml").is_file():
        raise SyntheticDataError(
            f"The synthetic population tables were not found in {path}: pass the folder that holds "
            f"regions.yaml, names_*.csv, ... or set {DATA_DIR_ENV}."
        )
    return path


@lru_cache(maxsize=8)
def _load(path: str) -> PopulationModel:
    return PopulationModel(Path(path))


# --- table readers ---------------------------------------------------------------------------------


def _names(path: Path) -> tuple[NameEntry, ...]:
    out: list[NameEntry] = []
    seen: set[str] = set()
    for row in read_csv(path, ("latin", "arabic", "origin")):
        latin, arabic, origin = row.text("latin"), row.text("arabic"), row.text("origin")
        if not _LATIN.fullmatch(latin):
            raise SyntheticDataError(f"{row.where}: '{latin}' is not a name in Latin script.")
        if not _ARABIC.fullmatch(arabic):
            raise SyntheticDataError(f"{row.where}: '{arabic}' is not a name in Arabic script.")
        if origin not in ("arabic", "amazigh"):
            raise SyntheticDataError(f"{row.where}: origin must be 'arabic' or 'amazigh', got '{origin}'.")
        if latin in seen:
            raise SyntheticDataError(f"{row.where}: '{latin}' appears twice.")
        seen.add(latin)
        out.append(NameEntry(latin, arabic, origin))
    return tuple(sorted(out, key=lambda n: n.latin))


def _positive(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise SyntheticDataError(f"{where}: expected a positive number, got {value!r}.")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SyntheticDataError(f"{where}: expected a non-empty text, got {value!r}.")
    return value.strip()


def _texts(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SyntheticDataError(f"{where}: expected a non-empty list.")
    return tuple(_text(v, where) for v in value)


def _regions(path: Path) -> tuple[Region, ...]:
    data = read_yaml(path)
    raw_regions = data.get("regions")
    if not isinstance(raw_regions, list):
        raise SyntheticDataError(f"{path}: 'regions' must be a list.")
    regions: list[Region] = []
    for i, raw in enumerate(raw_regions):
        where = f"{path}: regions[{i}]"
        item = mapping(raw, where)
        code = _text(item.get("code"), f"{where}.code")
        if code not in REGION_CODES:
            raise SyntheticDataError(f"{where}: code {code!r} is not one of the ma-region codes 01-12.")
        population = int(_positive(item.get("population"), f"{where}.population"))
        urban = int(_positive(item.get("urban_population"), f"{where}.urban_population"))
        if urban > population:
            raise SyntheticDataError(f"{where}: urban_population exceeds population.")
        prefixes = _texts(item.get("fixed_prefixes"), f"{where}.fixed_prefixes")
        for prefix in prefixes:
            if not re.fullmatch(r"5[0-9]{2}", prefix):
                raise SyntheticDataError(f"{where}: fixed prefix {prefix!r} is not 3 digits starting with 5.")
        cnie = _texts(item.get("cnie_prefixes"), f"{where}.cnie_prefixes")
        for prefix in cnie:
            if not re.fullmatch(r"[A-Z]{1,2}", prefix):
                raise SyntheticDataError(f"{where}: CNIE prefix {prefix!r} is not 1-2 capital letters.")
        raw_provinces = item.get("provinces")
        if not isinstance(raw_provinces, list) or not raw_provinces:
            raise SyntheticDataError(f"{where}: 'provinces' must be a non-empty list.")
        provinces = tuple(_province(p, f"{where}.provinces[{j}]") for j, p in enumerate(raw_provinces))
        regions.append(
            Region(
                code,
                _text(item.get("name"), f"{where}.name"),
                _text(item.get("name_ar"), f"{where}.name_ar"),
                _text(item.get("capital"), f"{where}.capital"),
                population,
                urban,
                prefixes,
                cnie,
                provinces,
                WeightedChoice(provinces, [p.weight for p in provinces]),
            )
        )
    regions.sort(key=lambda r: r.code)
    if tuple(r.code for r in regions) != REGION_CODES:
        raise SyntheticDataError(f"{path}: the regions must be exactly the codes 01-12, each once.")
    return tuple(regions)


def _province(raw: Any, where: str) -> Province:
    item = mapping(raw, where)
    kind = _text(item.get("kind"), f"{where}.kind")
    if kind not in ("prefecture", "province"):
        raise SyntheticDataError(f"{where}: kind must be 'prefecture' or 'province', got {kind!r}.")
    raw_cities = item.get("cities")
    if not isinstance(raw_cities, list) or not raw_cities:
        raise SyntheticDataError(f"{where}: 'cities' must be a non-empty list.")
    cities: list[City] = []
    for k, raw_city in enumerate(raw_cities):
        cw = f"{where}.cities[{k}]"
        city = mapping(raw_city, cw)
        codes = _texts(city.get("postal_codes"), f"{cw}.postal_codes")
        for code in codes:
            if not _POSTAL.fullmatch(code):
                raise SyntheticDataError(f"{cw}: postal code {code!r} is not 5 digits (first digit 1-9).")
        postal = _text(city.get("postal"), f"{cw}.postal")
        if postal not in ("S", "E"):
            raise SyntheticDataError(f"{cw}: postal must be S (sourced) or E (estimate), got {postal!r}.")
        cities.append(
            City(
                _text(city.get("name"), f"{cw}.name"), codes, postal == "S", _positive(city.get("weight"), cw)
            )
        )
    return Province(
        _text(item.get("name"), f"{where}.name"),
        kind,
        _positive(item.get("weight"), f"{where}.weight"),
        tuple(cities),
        WeightedChoice(cities, [c.weight for c in cities]),
    )


def _age_bands(path: Path) -> tuple[AgeBand, ...]:
    bands: list[AgeBand] = []
    for row in read_csv(path, ("band", "age_min", "age_max", "male_pct", "female_pct")):
        band = AgeBand(
            row.text("band"),
            row.integer("age_min"),
            row.integer("age_max"),
            row.number("male_pct"),
            row.number("female_pct"),
        )
        if band.age_min > band.age_max or band.male_pct < 0 or band.female_pct < 0:
            raise SyntheticDataError(f"{row.where}: the band bounds or shares are inconsistent.")
        if bands and band.age_min != bands[-1].age_max + 1:
            raise SyntheticDataError(f"{row.where}: bands must follow each other without gap or overlap.")
        bands.append(band)
    if bands[0].age_min != 0:
        raise SyntheticDataError(f"{path}: the first band must start at age 0.")
    total = sum(b.male_pct + b.female_pct for b in bands)
    if abs(total - 100) > 0.05:
        raise SyntheticDataError(f"{path}: the shares sum to {total:.3f} %, not 100 %.")
    return tuple(bands)


def _phone_plan(path: Path) -> PhonePlan:
    data = read_yaml(path)
    mobile = mapping(data.get("mobile"), f"{path}: mobile")
    blocks = weights(mobile.get("blocks"), f"{path}: mobile.blocks")
    for block in blocks:
        if not re.fullmatch(r"[67][0-9]", block):
            raise SyntheticDataError(
                f"{path}: mobile block {block!r} is not two digits starting with 6 or 7."
            )
    fixed = mapping(data.get("fixed"), f"{path}: fixed")
    digits = fixed.get("digits_after_prefix")
    if digits != 6:
        raise SyntheticDataError(f"{path}: fixed.digits_after_prefix must be 6 (9-digit national numbers).")
    try:
        pattern = re.compile(_text(data.get("e164_pattern"), f"{path}: e164_pattern"))
    except re.error as exc:
        raise SyntheticDataError(f"{path}: e164_pattern is not a regular expression ({exc}).") from None
    ordered = sorted(blocks)
    return PhonePlan(
        _text(data.get("country_code"), f"{path}: country_code"),
        pattern,
        WeightedChoice(ordered, [blocks[b] for b in ordered]),
        6,
    )


def _streets(path: Path) -> StreetParts:
    data = read_yaml(path)
    types = weights(data.get("street_types"), f"{path}: street_types")
    ordered = sorted(types)
    return StreetParts(
        WeightedChoice(ordered, [types[t] for t in ordered]),
        _texts(data.get("street_names"), f"{path}: street_names"),
        _texts(data.get("quarters"), f"{path}: quarters"),
        _texts(data.get("douars"), f"{path}: douars"),
    )


def _coverage(
    path: Path,
) -> tuple[
    dict[str, Activity],
    tuple[tuple[int, int, dict[str, WeightedChoice[str]]], ...],
    dict[str, WeightedChoice[str]],
]:
    data = read_yaml(path)
    activities: dict[str, Activity] = {}
    for code, raw in sorted(mapping(data.get("activities"), f"{path}: activities").items()):
        item = mapping(raw, f"{path}: activities.{code}")
        lo, hi = item.get("age_min"), item.get("age_max")
        if not isinstance(lo, int) or not isinstance(hi, int) or lo > hi:
            raise SyntheticDataError(f"{path}: activities.{code} needs integer age_min <= age_max.")
        activities[code] = Activity(
            code, _text(item.get("label"), f"{path}: activities.{code}.label"), lo, hi
        )

    def distribution(raw: Any, where: str, known: set[str] | frozenset[str]) -> WeightedChoice[str]:
        probs = weights(raw, where, total=1.0)
        unknown = sorted(set(probs) - set(known))
        if unknown:
            raise SyntheticDataError(f"{where}: unknown code(s) {', '.join(unknown)}.")
        ordered = sorted(probs)
        return WeightedChoice(ordered, [probs[k] for k in ordered])

    by_age: list[tuple[int, int, dict[str, WeightedChoice[str]]]] = []
    raw_bands = data.get("activity_by_age")
    if not isinstance(raw_bands, list) or not raw_bands:
        raise SyntheticDataError(f"{path}: activity_by_age must be a non-empty list.")
    for i, raw in enumerate(raw_bands):
        where = f"{path}: activity_by_age[{i}]"
        item = mapping(raw, where)
        lo, hi = item.get("age_min"), item.get("age_max")
        if not isinstance(lo, int) or not isinstance(hi, int) or lo > hi:
            raise SyntheticDataError(f"{where}: needs integer age_min <= age_max.")
        if by_age and lo != by_age[-1][1] + 1:
            raise SyntheticDataError(f"{where}: bands must follow each other without gap or overlap.")
        by_sex = {sex: distribution(item.get(sex), f"{where}.{sex}", set(activities)) for sex in SEXES}
        for sex, choice in by_sex.items():
            for code in choice.items:
                act = activities[code]
                if choice.probability(code) > 0 and (act.age_min > lo or act.age_max < hi):
                    raise SyntheticDataError(
                        f"{where}.{sex}: activity {code!r} (ages {act.age_min}-{act.age_max}) is not "
                        f"possible over the whole band {lo}-{hi}."
                    )
        by_age.append((lo, hi, by_sex))
    named: dict[str, Any] = {
        k: v for k, v in data.items() if k not in ("activities", "activity_by_age", "schemes")
    }
    schemes: dict[str, WeightedChoice[str]] = {}
    raw_schemes = mapping(data.get("schemes"), f"{path}: schemes")
    for code in sorted(activities):
        ref = raw_schemes.get(code)
        if ref is None:
            raise SyntheticDataError(f"{path}: schemes has no entry for the activity {code!r}.")
        if isinstance(ref, str):
            if ref not in named:
                raise SyntheticDataError(f"{path}: schemes.{code} names {ref!r}, which is not defined.")
            ref = named[ref]
        schemes[code] = distribution(ref, f"{path}: schemes.{code}", COVERAGE_SCHEMES)
    return activities, tuple(by_age), schemes


def _conditions(path: Path) -> tuple[ConditionPrevalence, ...]:
    rows = read_csv(path, ("code", "sex"))
    band_columns = [c for c in rows[0] if _BAND.fullmatch(c)]
    if not band_columns:
        raise SyntheticDataError(f"{path}: no age-band columns (like 0-4) in the header.")
    bounds = []
    for column in band_columns:
        match = _BAND.fullmatch(column)
        assert match is not None
        bounds.append((int(match.group(1)), int(match.group(2))))
    out: list[ConditionPrevalence] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        code, sex = row.text("code"), row.text("sex")
        if sex not in ("any", "male", "female"):
            raise SyntheticDataError(f"{row.where}: sex must be any, male or female, got '{sex}'.")
        if (code, sex) in seen or (code, "any") in seen or (sex == "any" and any(c == code for c, _ in seen)):
            raise SyntheticDataError(f"{row.where}: {code} has overlapping rows for the same sex.")
        seen.add((code, sex))
        bands = []
        for (lo, hi), column in zip(bounds, band_columns, strict=True):
            p = row.number(column)
            if not 0 <= p <= 1:
                raise SyntheticDataError(
                    f"{row.where}: the prevalence {p} for {column} is not between 0 and 1."
                )
            bands.append((lo, hi, p))
        out.append(ConditionPrevalence(code, sex, tuple(bands)))
    return tuple(out)


def _vaccinations(path: Path) -> tuple[Vaccination, ...]:
    fields = ("vaccine", "dose", "age_days", "age_label", "sex", "cvx", "cvx_display", "atc", "coverage")
    out: list[Vaccination] = []
    for row in read_csv(path, fields):
        sex = row.text("sex")
        if sex not in ("any", "male", "female"):
            raise SyntheticDataError(f"{row.where}: sex must be any, male or female, got '{sex}'.")
        coverage = row.number("coverage")
        if not 0 <= coverage <= 1:
            raise SyntheticDataError(f"{row.where}: coverage {coverage} is not between 0 and 1.")
        out.append(
            Vaccination(
                row.text("vaccine"),
                row.integer("dose"),
                row.integer("age_days"),
                row.text("age_label"),
                sex,
                row.text("cvx"),
                row.text("cvx_display"),
                row.text("atc"),
                coverage,
            )
        )
    return tuple(sorted(out, key=lambda v: (v.age_days, v.vaccine, v.dose)))


def _specialties(path: Path) -> dict[str, Specialty]:
    out: dict[str, Specialty] = {}
    for row in read_csv(path, ("code", "label", "title", "establishment_types")):
        types = tuple(t.strip() for t in row.text("establishment_types").split("|"))
        unknown = sorted(set(types) - ESTABLISHMENT_TYPES)
        if unknown:
            raise SyntheticDataError(f"{row.where}: unknown establishment type(s) {', '.join(unknown)}.")
        code = row.text("code")
        if code in out:
            raise SyntheticDataError(f"{row.where}: the specialty {code} appears twice.")
        out[code] = Specialty(code, row.text("label"), row.get("title", "").strip(), types)
    return out


def _inpe(row: Row, seen: set[str]) -> str:
    inpe = row.text("inpe")
    if not re.fullmatch(r"[0-9]{9}", inpe):
        raise SyntheticDataError(f"{row.where}: INPE {inpe!r} is not 9 digits.")
    if inpe in seen:
        raise SyntheticDataError(f"{row.where}: INPE {inpe} is used twice in the directory.")
    seen.add(inpe)
    return inpe


def _establishments(path: Path, model: PopulationModel) -> tuple[Establishment, ...]:
    fields = ("inpe", "type", "name", "region", "province", "city", "postal_code", "line", "phone")
    out: list[Establishment] = []
    seen: set[str] = set()
    for row in read_csv(path, fields):
        inpe = _inpe(row, seen)
        kind = row.text("type")
        if kind not in ESTABLISHMENT_TYPES:
            raise SyntheticDataError(f"{row.where}: {kind!r} is not a code of ma-establishment-type.")
        region = row.text("region")
        if region not in REGION_CODES:
            raise SyntheticDataError(f"{row.where}: {region!r} is not a code of ma-region.")
        postal = row.text("postal_code")
        if not _POSTAL.fullmatch(postal):
            raise SyntheticDataError(f"{row.where}: postal code {postal!r} is not 5 digits.")
        phone = row.text("phone")
        if not model.phone_plan.e164_pattern.fullmatch(phone):
            raise SyntheticDataError(f"{row.where}: phone {phone!r} does not match the numbering plan.")
        out.append(
            Establishment(
                inpe,
                kind,
                row.text("name"),
                region,
                row.text("province"),
                row.text("city"),
                postal,
                row.text("line"),
                phone,
            )
        )
    return tuple(out)


def _practitioners(path: Path, model: PopulationModel) -> tuple[Practitioner, ...]:
    fields = (
        "inpe",
        "family",
        "family_ar",
        "given",
        "given_ar",
        "sex",
        "specialty",
        "establishment",
        "phone",
    )
    known = {e.inpe for e in model.establishments}
    seen = set(known)
    out: list[Practitioner] = []
    for row in read_csv(path, fields):
        inpe = _inpe(row, seen)
        sex = row.text("sex")
        if sex not in SEXES:
            raise SyntheticDataError(f"{row.where}: sex must be male or female, got '{sex}'.")
        specialty = row.text("specialty")
        if specialty not in model.specialties:
            raise SyntheticDataError(f"{row.where}: unknown specialty {specialty!r} (see specialties.csv).")
        establishment = row.text("establishment")
        if establishment not in known:
            raise SyntheticDataError(f"{row.where}: no establishment has the INPE {establishment}.")
        for column in ("family_ar", "given_ar"):
            if not _ARABIC.fullmatch(row.text(column)):
                raise SyntheticDataError(f"{row.where}: {column} is not in Arabic script.")
        out.append(
            Practitioner(
                inpe,
                Name(row.text("family"), row.text("family_ar")),
                Name(row.text("given"), row.text("given_ar")),
                sex,
                specialty,
                establishment,
                row.text("phone"),
            )
        )
    return tuple(out)
