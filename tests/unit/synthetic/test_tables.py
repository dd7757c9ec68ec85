"""The population tables: consistent with ma.smr.core, with their sources, and refused when malformed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testbed.identifiers import IdentifierRules
from testbed.packages import PackageRegistry
from testbed.synthetic import PopulationModel, SyntheticDataError
from testbed.synthetic.model import resolve_data_dir

from .conftest import CANONICAL, ROOT, codes

DATA = ROOT / "synthetic"
ARABIC = re.compile(r"[\u0600-\u06FF \-]+")
LATIN = re.compile(r"[A-Za-zÀ-ÿ' \-]+")
TABLES = sorted(p for p in DATA.iterdir() if p.suffix in (".csv", ".yaml"))


def _pop(model: PopulationModel, lo: int, hi: int) -> float:
    """Percent of the population aged lo..hi (uniform within a band)."""
    total = 0.0
    for band in model.age_bands:
        overlap = min(hi, band.age_max) - max(lo, band.age_min) + 1
        if overlap > 0:
            total += band.pct(None) * overlap / (band.age_max - band.age_min + 1)
    return total


# --- sources and documentation ---------------------------------------------------------------------


@pytest.mark.parametrize("path", TABLES, ids=lambda p: p.name)
def test_every_table_opens_with_its_source(path: Path) -> None:
    head = path.read_text(encoding="utf-8").splitlines()[:12]
    comment = " ".join(line for line in head if line.startswith("#")).lower()
    assert comment, f"{path.name} does not open with a comment"
    assert any(word in comment for word in ("source", "invented")), f"{path.name} names no source"


def test_readme_lists_every_table() -> None:
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in TABLES if f"`{p.name}`" not in readme]
    assert missing == []


# --- consistency with the package ma.smr.core ------------------------------------------------------


def test_regions_are_those_of_ma_region(model: PopulationModel, ma_registry: PackageRegistry) -> None:
    concepts = codes(ma_registry, "CodeSystem", "ma-region")
    assert [r.code for r in model.regions] == sorted(concepts)
    for region in model.regions:
        concept = concepts[region.code]
        assert region.name == concept["display"]
        arabic = [d["value"] for d in concept.get("designation", []) if d.get("language") == "ar"]
        assert arabic == [region.name_ar]
        chef_lieu = [p["valueString"] for p in concept["property"] if p["code"] == "chef-lieu"]
        assert chef_lieu == [region.capital]


def test_region_populations_sum_to_the_census_total(model: PopulationModel) -> None:
    assert sum(r.population for r in model.regions) == 36_828_330  # RGPH 2024 legal population
    urban = sum(r.urban_population for r in model.regions)
    assert urban == pytest.approx(23_110_108, abs=5)  # RGPH 2024 urban population
    assert sum(len(r.provinces) for r in model.regions) == 75  # decree 2-15-40


def test_every_capital_is_a_city_of_its_region(model: PopulationModel) -> None:
    for region in model.regions:
        assert region.capital in {c.name for c in region.cities()}


def test_coverage_codes_are_those_of_ma_coverage_scheme(
    model: PopulationModel, ma_registry: PackageRegistry
) -> None:
    concepts = codes(ma_registry, "CodeSystem", "ma-coverage-scheme")
    used = {code for choice in model.schemes.values() for code in choice.items}
    assert used <= set(concepts)
    assert {"AMO-CNSS", "AMO-CNOPS", "AMO-TADAMON", "AMO-TNS", "NONE"} <= used


def test_establishment_types_are_those_of_ma_establishment_type(
    model: PopulationModel, ma_registry: PackageRegistry
) -> None:
    concepts = set(codes(ma_registry, "CodeSystem", "ma-establishment-type"))
    assert {e.type for e in model.establishments} <= concepts
    assert {t for s in model.specialties.values() for t in s.establishment_types} <= concepts
    assert {"CHU", "CHR", "CHP", "ESSP", "CLINIQUE", "CABINET", "LABO", "PHARMACIE"} <= {
        e.type for e in model.establishments
    }


def test_condition_codes_are_in_ma_icd10(model: PopulationModel, ma_registry: PackageRegistry) -> None:
    concepts = codes(ma_registry, "ValueSet", "ma-icd10")
    assert {c.code for c in model.conditions} <= set(concepts)
    assert {"I10", "E11.9", "J45.9"} <= {c.code for c in model.conditions}


def test_directory_identifiers_and_contacts_follow_the_package(
    model: PopulationModel, rules: IdentifierRules, ig_settings: dict[str, Any], ma_registry: PackageRegistry
) -> None:
    inpe = f"{CANONICAL}/NamingSystem/inpe"
    phone = re.compile(ig_settings["phone_pattern"])
    postal = re.compile(ig_settings["postal_code_pattern"])
    regions = set(codes(ma_registry, "CodeSystem", "ma-region"))
    for e in model.establishments:
        assert rules.check(inpe, e.inpe, e.name) == []
        assert phone.fullmatch(e.phone) and postal.fullmatch(e.postal_code) and e.region in regions
    for p in model.practitioners:
        assert rules.check(inpe, p.inpe, p.inpe) == []
        assert phone.fullmatch(p.phone)
        assert ARABIC.fullmatch(p.family.arabic) and ARABIC.fullmatch(p.given.arabic)
    all_inpe = [e.inpe for e in model.establishments] + [p.inpe for p in model.practitioners]
    assert len(all_inpe) == len(set(all_inpe))
    staffed = {p.establishment for p in model.practitioners}
    assert staffed == {e.inpe for e in model.establishments}


def test_directory_is_regenerated_byte_for_byte(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(DATA / "tools" / "build_directory.py"), "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("establishments.csv", "practitioners.csv"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


# --- names -----------------------------------------------------------------------------------------


def test_names_pair_latin_and_arabic_script(model: PopulationModel) -> None:
    entries = [*model.first_names["male"], *model.first_names["female"], *model.family_names]
    assert len(entries) >= 300
    for entry in entries:
        assert LATIN.fullmatch(entry.latin), entry
        assert ARABIC.fullmatch(entry.arabic), entry
    for table in (*model.first_names.values(), model.family_names):
        amazigh = [n for n in table if n.origin == "amazigh"]
        assert len(amazigh) >= 15


def test_family_name_transliteration_is_consistent(model: PopulationModel) -> None:
    for name in model.family_names:
        if name.latin.startswith("El "):
            assert name.arabic.startswith("ال"), name
        if name.latin.startswith("Ben") and name.latin[3:4].islower():
            assert name.arabic.startswith("بن"), name
        if name.latin.startswith("Ait "):
            assert name.arabic.startswith("آيت "), name
        if name.origin == "amazigh" and re.match(r"Ou[^a]", name.latin):
            assert name.arabic.startswith("أو"), name
    # the same Latin spelling never has two Arabic forms, across the three tables
    seen: dict[str, str] = {}
    for name in [*model.first_names["male"], *model.first_names["female"], *model.family_names]:
        assert seen.setdefault(name.latin, name.arabic) == name.arabic, name


# --- sourced figures the estimates must reproduce ----------------------------------------------------


def test_age_pyramid_matches_the_census_groups(model: PopulationModel) -> None:
    assert _pop(model, 0, 14) == pytest.approx(26.5, abs=0.01)
    assert _pop(model, 15, 59) == pytest.approx(59.7, abs=0.01)
    assert _pop(model, 60, 99) == pytest.approx(13.8, abs=0.01)
    assert model.male_share() == pytest.approx(0.498, abs=1e-6)


@pytest.mark.parametrize(("code", "steps"), [("I10", 0.293), ("E11.9", 0.106)])
def test_hypertension_and_diabetes_average_the_steps_survey(
    model: PopulationModel, code: str, steps: float
) -> None:
    num = den = 0.0
    for age in range(18, 100):
        weight = _pop(model, age, age)
        num += weight * (model.prevalence(code, age, "male") + model.prevalence(code, age, "female")) / 2
        den += weight
    assert num / den == pytest.approx(steps, abs=0.005)


def test_coverage_model_reproduces_the_census_rates(model: PopulationModel) -> None:
    activity: dict[str, float] = {}
    above_15 = 0.0
    for age in range(0, 100):
        for sex in ("male", "female"):
            share = sum(
                b.pct(sex) / (b.age_max - b.age_min + 1)
                for b in model.age_bands
                if b.age_min <= age <= b.age_max
            )
            if age >= 15:
                above_15 += share
            choice = model.activity_choice(age, sex)
            for code in choice.items:
                activity[code] = activity.get(code, 0.0) + share * choice.probability(code)
    active = sum(
        activity.get(a, 0) for a in ("employee-private", "employee-public", "self-employed", "unemployed")
    )
    assert active / above_15 == pytest.approx(0.416, abs=0.02)  # RGPH 2024 activity rate of the 15+
    scheme: dict[str, float] = {}
    for code, weight in activity.items():
        for s in model.schemes[code].items:
            scheme[s] = scheme.get(s, 0.0) + weight / 100 * model.schemes[code].probability(s)
    assert 1 - scheme["NONE"] == pytest.approx(0.698, abs=0.05)  # 69.8 % report coverage (RGPH 2024)
    assert scheme["AMO-TADAMON"] == pytest.approx(11.4 / 36.8, abs=0.03)  # ~11.4 M TADAMON beneficiaries


def test_immunization_schedule_covers_the_pni_diseases(model: PopulationModel) -> None:
    vaccines = {v.vaccine for v in model.vaccinations}
    assert {"BCG", "HB", "VPO", "Pentavalent", "Rota", "Pneumo", "RR"} <= vaccines
    assert [v.age_days for v in model.vaccinations] == sorted(v.age_days for v in model.vaccinations)
    assert all(v.cvx.isdigit() and v.atc.startswith("J07") for v in model.vaccinations)


# --- malformed tables are refused with a clear message ------------------------------------------------


def _broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    target = tmp_path / "synthetic"
    shutil.copytree(DATA, target, ignore=shutil.ignore_patterns("tools", "README.md"))
    path = target / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("regions.yaml", '["90000", ', '["9000", ', "is not 5 digits"),
        ("regions.yaml", 'code: "12"', 'code: "13"', "not one of the ma-region codes"),
        ("names_male.csv", "Mohamed,محمد", "Mohamed,Mohamed", "not a name in Arabic script"),
        ("coverage.yaml", "AMO-CNSS: 0.90", "AMO-CNSS: 0.95", "sum to 1.0500"),
        ("coverage.yaml", "AMO-CNOPS: 0.97", "AMO-CNOP: 0.97", "unknown code(s) AMO-CNOP"),
        (
            "coverage.yaml",
            "male: {student: 0.15,",
            "male: {retired: 0.15,",
            "not possible over the whole band",
        ),
        ("age_pyramid.csv", "5-9,5,9", "5-9,6,9", "without gap or overlap"),
        ("conditions.csv", "I10,any,0,0,0.0609", "I10,any,0,0,1.5", "is not between 0 and 1"),
        ("establishments.csv", ",CHU,", ",HOPITAL,", "is not a code of ma-establishment-type"),
    ],
)
def test_malformed_tables_are_refused(tmp_path: Path, name: str, old: str, new: str, message: str) -> None:
    folder = _broken_copy(tmp_path, name, old, new)
    with pytest.raises(SyntheticDataError) as caught:
        PopulationModel(folder)
    assert message in str(caught.value)
    assert name in str(caught.value)


def test_the_unmodified_copy_loads(tmp_path: Path) -> None:
    folder = _broken_copy(tmp_path, "regions.yaml", "Tanger", "Tanger")
    assert len(PopulationModel(folder).regions) == 12


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SyntheticDataError, match="were not found"):
        resolve_data_dir(tmp_path / "nowhere")
