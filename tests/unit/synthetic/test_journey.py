"""Clinical journeys: determinism, codes of ma.smr.core, consistent dates and plausible content.

Run as a module (``python -m tests.unit.synthetic.test_journey SEED COUNT``) it prints the serialised records,
which the cross-process determinism test compares with its own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.core.errors import UsageError
from testbed.identifiers import IdentifierRules
from testbed.packages import PackageRegistry
from testbed.synthetic import PopulationModel, SyntheticDataError
from testbed.synthetic._journey_fast import fast_constructor
from testbed.synthetic.clinical import ClinicalModel
from testbed.synthetic.journey import (
    JourneyOptions,
    generate_patient,
    generate_records,
    iter_population,
    patient_id,
)
from testbed.synthetic.model import DEFAULT_REFERENCE_DATE
from testbed.synthetic.record import (
    AllergyRecord,
    Code,
    Component,
    ConditionRecord,
    DocumentRecord,
    EncounterRecord,
    ImmunizationRecord,
    ObservationRecord,
    PatientRecord,
    PrescriptionRecord,
)
from testbed.terminology import TerminologyService

from .conftest import CANONICAL, ROOT

LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
RICH = JourneyOptions(objection_rate=0.2, duplicate_rate=0.1, foreigner_rate=0.1)
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
V3 = "http://terminology.hl7.org/CodeSystem/"
VS = "http://hl7.org/fhir/ValueSet/"


def serialise(records: Iterator[PatientRecord] | list[PatientRecord]) -> str:
    """Every field of every record as canonical JSON (dates and date-times in ISO form with their offset)."""

    def default(value: Any) -> str:
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise TypeError(type(value).__name__)

    rows = [dataclasses.asdict(r) for r in records]
    return json.dumps(rows, ensure_ascii=False, sort_keys=True, default=default, separators=(",", ":"))


@pytest.fixture(scope="module")
def records() -> list[PatientRecord]:
    return list(iter_population("journey-tests", 400, options=RICH))


@pytest.fixture(scope="module")
def terminology(ma_registry: PackageRegistry) -> TerminologyService:
    return TerminologyService(ma_registry)


@pytest.fixture(scope="module")
def clinical() -> ClinicalModel:
    return ClinicalModel.for_population()


def _datetimes(record: PatientRecord) -> Iterator[tuple[str, datetime]]:
    for e in record.encounters:
        yield e.id, e.start
        if e.end is not None:
            yield e.id, e.end
    for c in record.conditions:
        yield c.id, c.recorded
    for o in record.observations:
        yield o.id, o.effective
    for p in record.prescriptions:
        yield p.id, p.authored
    for d in record.documents:
        yield d.id, d.created
    if record.consent is not None:
        yield record.consent.id, record.consent.date_time


# --- determinism and identifiers --------------------------------------------------------------------------


def test_same_seed_and_index_give_equal_records() -> None:
    assert generate_patient(7, 3) == generate_patient(7, 3)
    assert generate_patient(7, 3) == generate_patient("7", 3)
    assert serialise([generate_patient(7, 3)]) == serialise([generate_patient(7, 3)])
    assert generate_patient(7, 3) != generate_patient(8, 3)
    assert (
        generate_patient(7, 3).family != generate_patient(7, 4).family
        or generate_patient(7, 3).birth_date != generate_patient(7, 4).birth_date
    )


def test_a_patient_does_not_depend_on_the_others() -> None:
    alone = generate_records("x", 25)
    streamed = [r for r in iter_population("x", 5, start=23) if r.index == 25]
    assert list(alone) == streamed


def test_records_are_identical_in_another_process(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.unit.synthetic.test_journey", "2026", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    mine = serialise(iter_population(2026, 60, options=RICH))
    assert result.stdout.decode("utf-8") == mine
    other = serialise(iter_population(2027, 60, options=RICH))
    assert other != mine


def test_record_ids_are_stable_and_safe() -> None:
    pid = patient_id(42, 17)
    assert re.fullmatch(r"p[0-9a-f]{8}-000017", pid)
    assert patient_id("42", 17) == pid and patient_id(43, 17) != pid
    assert patient_id(42, 1234567).endswith("-1234567")
    with pytest.raises(UsageError):
        patient_id(42, -1)
    with pytest.raises(UsageError):
        patient_id(4.2, 1)  # type: ignore[arg-type]


def test_entry_ids_derive_from_the_patient_and_are_unique(records: list[PatientRecord]) -> None:
    for record in records:
        assert FHIR_ID.fullmatch(record.id)
        ids = [record.id] + [i for i, _ in _datetimes(record)]
        ids += [a.id for a in record.allergies] + [i.id for i in record.immunizations]
        entry_ids = {i for i in ids[1:]}
        assert all(i.startswith(record.id + "-") and FHIR_ID.fullmatch(i) for i in entry_ids)
        unique = (
            [e.id for e in record.encounters]
            + [c.id for c in record.conditions]
            + [o.id for o in record.observations]
            + [p.id for p in record.prescriptions]
            + [a.id for a in record.allergies]
            + [i.id for i in record.immunizations]
            + [d.id for d in record.documents]
        )
        assert len(unique) == len(set(unique))


def test_identifiers_pass_the_rules_of_the_package(
    records: list[PatientRecord], rules: IdentifierRules
) -> None:
    def check(name: str, value: str) -> None:
        assert rules.check(f"{CANONICAL}/NamingSystem/{name}", value, "x") == [], (name, value)

    for record in records:
        identity = record.identity
        for name, value in (
            ("ins", identity.ins),
            ("cnie", identity.cnie),
            ("carte-sejour", identity.carte_sejour),
            ("cnss", identity.cnss),
            ("cnops", identity.cnops),
        ):
            if value is not None:
                check(name, value)
        for inpe, _ in identity.local:
            check("inpe", inpe)
        for encounter in record.encounters:
            check("inpe", encounter.practitioner.inpe)
            check("inpe", encounter.establishment.inpe)
        assert identity.ins or identity.cnie or identity.carte_sejour or identity.passport or identity.local


# --- codes of ma.smr.core -----------------------------------------------------------------------------------


def _valid(ts: TerminologyService, value_set: str, code: Code | tuple[str | None, str]) -> None:
    system, value, display = (
        (code.system, code.code, code.display) if isinstance(code, Code) else (*code, None)
    )
    check = ts.validate_code(value_set, system=system, code=value, display=display)
    assert check.valid is True, check.message
    assert check.display_issue is None, check.display_issue


def test_every_code_is_in_its_value_set(
    records: list[PatientRecord], terminology: TerminologyService, ma_registry: PackageRegistry
) -> None:
    ts = terminology
    ma = f"{CANONICAL}/ValueSet/"
    medication = {
        c["code"]: c for c in ma_registry.resolve(f"{CANONICAL}/CodeSystem/ma-medication")["concept"]
    }
    seen: set[tuple[str, str]] = set()

    def once(kind: str, value: str) -> bool:
        if (kind, value) in seen:
            return False
        seen.add((kind, value))
        return True

    for r in records:
        if once("lang", r.language):
            _valid(ts, ma + "ma-language", (None, r.language))
        if once("marital", r.marital_status):
            _valid(ts, VS + "marital-status", (V3 + "v3-MaritalStatus", r.marital_status))
        if once("region", r.address.region_code):
            _valid(ts, ma + "ma-region", (None, r.address.region_code))
        if r.coverage is not None and once("scheme", r.coverage.scheme):
            _valid(ts, ma + "ma-coverage-scheme", (None, r.coverage.scheme))
        for e in r.encounters:
            if once("class", e.klass):
                _valid(
                    ts,
                    "http://terminology.hl7.org/ValueSet/v3-ActEncounterCode",
                    (V3 + "v3-ActCode", e.klass),
                )
            if once("type", e.establishment.type):
                _valid(ts, ma + "ma-establishment-type", (None, e.establishment.type))
            if e.reason is not None and once("icd", e.reason.code):
                _valid(ts, ma + "ma-icd10", e.reason)
        for c in r.conditions:
            _valid(ts, ma + "ma-icd10", c.code)
        for o in r.observations:
            if once("obs", o.code.code):
                _valid(ts, ma + ("ma-vital-signs" if o.kind == "vital" else "ma-lab-loinc"), o.code)
            for unit in [o.unit] + [c.unit for c in o.components]:
                if unit is not None and once("ucum", unit):
                    _valid(ts, VS + "ucum-units", ("http://unitsofmeasure.org", unit))
            for component in o.components:
                _valid(ts, ma + "ma-vital-signs", component.code)
            if o.interpretation is not None and once("interp", o.interpretation):
                _valid(
                    ts,
                    VS + "observation-interpretation",
                    (V3 + "v3-ObservationInterpretation", o.interpretation),
                )
        for p in r.prescriptions:
            concept = medication[p.medication.code]
            assert p.medication.display == concept["display"]
            atc = next(x["valueCoding"] for x in concept["property"] if x["code"] == "atc")
            assert (p.atc.code, p.atc.display) == (atc["code"], atc["display"])
            if once("dose", p.dose_unit):
                _valid(ts, VS + "ucum-units", ("http://unitsofmeasure.org", p.dose_unit))
        for a in r.allergies:
            if once("category", a.category):
                _valid(ts, VS + "allergy-intolerance-category", (None, a.category))
            if once("criticality", a.criticality):
                _valid(ts, VS + "allergy-intolerance-criticality", (None, a.criticality))
        for d in r.documents:
            if once("doc", d.type):
                _valid(ts, ma + "ma-document-type", (f"{CANONICAL}/CodeSystem/ma-document-type", d.type))
            if once("conf", d.confidentiality):
                _valid(
                    ts,
                    "http://terminology.hl7.org/ValueSet/v3-ConfidentialityClassification",
                    (V3 + "v3-Confidentiality", d.confidentiality),
                )
            if once("doclang", d.language):
                _valid(ts, VS + "all-languages", ("urn:ietf:bcp:47", d.language))
    kinds = {k for k, _ in seen}
    assert {"obs", "ucum", "interp", "dose", "doc", "icd", "class", "category"} <= kinds


def _verhoeff(number: str) -> bool:
    d = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ]
    p = [list(range(10)), [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
    for i in range(2, 8):
        p.append([p[i - 1][p[1][j]] for j in range(10)])
    check = 0
    for position, digit in enumerate(reversed(number)):
        check = d[check][p[position % 8][int(digit)]]
    return check == 0


def test_verhoeff_rejects_a_wrong_check_digit() -> None:
    assert _verhoeff("716186003") and _verhoeff("105590001") and _verhoeff("195967001")
    assert not _verhoeff("716186004") and not _verhoeff("105590002")


def test_allergy_codes_are_snomed_substances_of_the_core_value_set(
    clinical: ClinicalModel, ma_registry: PackageRegistry
) -> None:
    roots: set[str] = set()
    value_sets = ["http://hl7.org/fhir/ValueSet/allergyintolerance-code"]
    while value_sets:
        vs = ma_registry.resolve(value_sets.pop())
        assert vs is not None
        for include in vs["compose"]["include"]:
            value_sets += include.get("valueSet", [])
            roots |= {f["value"] for f in include.get("filter", []) if f["op"] == "is-a"}
    assert "105590001" in roots
    for allergen in clinical.allergens:
        assert allergen.parent in roots, allergen.code
        assert _verhoeff(allergen.code), f"{allergen.code} has a wrong SNOMED CT check digit"


def test_tables_name_the_displays_of_the_package(
    clinical: ClinicalModel, terminology: TerminologyService
) -> None:
    ma = f"{CANONICAL}/ValueSet/"
    for profile in [*clinical.conditions.values(), *clinical.episodes]:
        _valid(
            terminology,
            ma + "ma-icd10",
            Code("http://hl7.org/fhir/sid/icd-10", profile.code, profile.display),
        )
    for test in clinical.labs.values():
        _valid(terminology, ma + "ma-lab-loinc", Code("http://loinc.org", test.code, test.display))
        _valid(terminology, VS + "ucum-units", ("http://unitsofmeasure.org", test.unit))
    for vital in clinical.vitals.values():
        _valid(terminology, ma + "ma-vital-signs", Code("http://loinc.org", vital.code, vital.display))
    for code in clinical.settings.documents.values():
        _valid(terminology, ma + "ma-document-type", (f"{CANONICAL}/CodeSystem/ma-document-type", code))
    for medication in clinical.medications.values():
        _valid(terminology, ma + "ma-medication", (f"{CANONICAL}/CodeSystem/ma-medication", medication.gtin))
    for rules in clinical.identity.languages.values():
        for language in rules.items:
            _valid(terminology, ma + "ma-language", (None, language))


# --- dates and people ---------------------------------------------------------------------------------------


def test_dates_fall_between_birth_and_the_reference_date(records: list[PatientRecord]) -> None:
    reference = DEFAULT_REFERENCE_DATE
    for r in records:
        assert r.birth_date < reference
        for entry_id, moment in _datetimes(r):
            assert moment.utcoffset() == timedelta(hours=1), entry_id
            assert moment.microsecond == 0, entry_id
            assert r.birth_date < moment.date() < reference, (entry_id, moment)
        for e in r.encounters:
            assert e.end is not None and e.start < e.end
            assert e.start.date() >= date(reference.year - 3, reference.month, reference.day)
        for c in r.conditions:
            encounter = r.encounter(c.encounter_id)
            assert r.birth_date <= c.onset <= c.recorded.date()
            assert encounter.end is not None and encounter.start <= c.recorded <= encounter.end
        for a in r.allergies:
            assert r.birth_date < a.recorded < reference
        for i in r.immunizations:
            assert r.birth_date <= i.occurrence < reference
        if r.coverage is not None:
            assert r.birth_date <= r.coverage.start < reference


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_identity_follows_age_and_nationality(records: list[PatientRecord]) -> None:
    minors_without = 0
    for r in records:
        age = _age(r.birth_date, DEFAULT_REFERENCE_DATE)
        if r.identity.cnie is not None:
            assert age >= 16 and r.nationality == "MA"
        elif age < 16:
            minors_without += 1
        if r.nationality != "MA" and r.duplicate_of is None:
            assert r.identity.carte_sejour or r.identity.passport
            if age < 18:
                assert r.identity.carte_sejour is None
        if r.nationality == "MA":
            assert r.identity.carte_sejour is None and r.identity.passport is None
        assert r.family.latin and r.family.arabic and all(g.latin and g.arabic for g in r.given)
    assert minors_without > 50


def test_references_between_entries_resolve(records: list[PatientRecord]) -> None:
    for r in records:
        encounters = {e.id for e in r.encounters}
        for group in (r.conditions, r.observations, r.prescriptions):
            for item in group:
                assert item.encounter_id in encounters
        for d in r.documents:
            assert d.encounter_id in encounters
            assert len(r.entries(d.entry_ids)) == len(d.entry_ids) > 0
        for e in r.encounters:
            assert e.practitioner.establishment == e.establishment.inpe
        visited = {e.establishment.inpe for e in r.encounters}
        assert {inpe for inpe, _ in r.identity.local} == visited or r.duplicate_of is not None


def test_documents_match_their_encounters(records: list[PatientRecord], clinical: ClinicalModel) -> None:
    kinds = clinical.settings.documents
    summaries = 0
    for r in records:
        if not r.identity.ins:
            assert r.documents == (), "a patient without INS cannot be named by a document (§6)"
            continue
        by_type: dict[str, list[DocumentRecord]] = {}
        for d in r.documents:
            by_type.setdefault(d.type, []).append(d)
        for e in r.encounters:
            main = [d for d in r.documents if d.encounter_id == e.id and d.type == kinds[e.klass]]
            assert main, (r.id, e.id)
        for d in by_type.get(kinds["lab"], []):
            assert all(isinstance(x, ObservationRecord) and x.kind == "lab" for x in r.entries(d.entry_ids))
        for d in by_type.get(kinds["prescription"], []):
            assert all(isinstance(x, PrescriptionRecord) for x in r.entries(d.entry_ids))
        if r.conditions:
            assert len(by_type.get(kinds["summary"], [])) == 1
            summaries += 1
        else:
            assert kinds["summary"] not in by_type
    assert summaries > 50


def test_encounters_are_with_a_plausible_specialty(
    records: list[PatientRecord], clinical: ClinicalModel
) -> None:
    profiles = {p.code: p for p in (*clinical.conditions.values(), *clinical.episodes)}
    for r in records:
        for e in r.encounters:
            if e.reason is None:
                continue
            profile = profiles[e.reason.code]
            routes = list(profile.routes) + ([profile.admission.route] if profile.admission else [])
            assert any(
                e.practitioner.specialty == route.specialty and e.establishment.type in route.types
                for route in routes
            ), (r.id, e.reason.code, e.practitioner.specialty, e.establishment.type)


def test_every_condition_is_offered_everywhere(model: PopulationModel, clinical: ClinicalModel) -> None:
    from testbed.synthetic.journey import _engine

    engine = _engine(model, JourneyOptions())
    for region in model.regions:
        for province in region.provinces:
            for row in model.conditions:
                profile = clinical.conditions[row.code]
                for sex in ("male", "female") if row.sex == "any" else (row.sex,):
                    for low, _high, chance in row.bands:
                        if chance > 0 and profile.routes and any(r.fits(low, sex) for r in profile.routes):
                            offered = engine.offered(profile, low, sex, region.code, province.name)
                            assert offered is not None, (row.code, region.code, province.name, low, sex)


# --- values -------------------------------------------------------------------------------------------------


def test_values_are_plausible_for_the_condition(records: list[PatientRecord]) -> None:
    hba1c: dict[bool, list[float]] = {True: [], False: []}
    systolic: dict[bool, list[float]] = {True: [], False: []}
    for r in records:
        codes = {c.code.code for c in r.conditions}
        for o in r.observations:
            if o.value is not None:
                assert o.value == round(o.value, o.decimals)
            if o.code.code == "4548-4":
                hba1c["E11.9" in codes or "E10.9" in codes].append(o.value or 0)
            if o.code.code == "85354-9":
                age = _age(r.birth_date, o.effective.date())
                if age >= 18:
                    systolic["I10" in codes].append(o.components[0].value)
            if o.kind == "lab" and o.reference_range is not None and o.value is not None:
                low, high = o.reference_range
                expected = (
                    "H"
                    if high is not None and o.value > high
                    else "L"
                    if low is not None and o.value < low
                    else "N"
                )
                assert o.interpretation == expected
    assert hba1c[True] and all(7.0 <= v <= 10.5 for v in hba1c[True])
    assert all(v < 6.0 for v in hba1c[False])
    assert systolic[True] and min(systolic[True]) >= 128
    assert sum(systolic[False]) / len(systolic[False]) < 125


def test_body_measures_agree(records: list[PatientRecord]) -> None:
    checked = 0
    for r in records:
        for e in r.encounters:
            values = {
                o.code.code: o.value for o in r.observations if o.encounter_id == e.id and o.kind == "vital"
            }
            if "39156-5" in values:
                weight, height, bmi = values["29463-7"], values["8302-2"], values["39156-5"]
                assert weight and height and bmi
                assert abs(bmi - weight / (height / 100) ** 2) < 0.06
                assert 10 < bmi < 50
                checked += 1
    assert checked > 50


def test_no_prescription_contradicts_an_allergy(
    records: list[PatientRecord], clinical: ClinicalModel
) -> None:
    avoid = {a.code: a.avoid_atc for a in clinical.allergens}
    for r in records:
        ruled_out = tuple(atc for a in r.allergies for atc in avoid[a.code.code])
        assert not any(p.atc.code.startswith(ruled_out) for p in r.prescriptions if ruled_out)


# --- options ------------------------------------------------------------------------------------------------


def test_objection_and_duplicates(records: list[PatientRecord]) -> None:
    for i, r in enumerate(records):
        if r.duplicate_of is not None:
            survivor = records[i - 1]
            assert r.duplicate_of == survivor.id and r.id == survivor.id + "-dup"
            assert (r.family, r.given, r.birth_date, r.sex) == (
                survivor.family,
                survivor.given,
                survivor.birth_date,
                survivor.sex,
            )
            assert r.identity.ins is None and len(r.identity.local) == 1 and r.identity.cnie is None
            assert len(r.encounters) == 1 and r.coverage is None and r.conditions == ()
            assert datetime.fromisoformat(r.extra["merged"]) > r.encounters[0].start
    assert sum(r.duplicate_of is not None for r in records) > 10
    assert sum(r.consent is not None for r in records) > 40
    everyone = list(iter_population("obj", 30, options=JourneyOptions(objection_rate=1, duplicate_rate=0)))
    assert all(r.consent is not None for r in everyone)
    nobody = list(iter_population("obj", 30, options=JourneyOptions(objection_rate=0, duplicate_rate=0)))
    assert all(r.consent is None for r in nobody)
    assert [r.family for r in everyone] == [r.family for r in nobody]  # a rate does not shift the stream


def test_foreigners_and_region_options() -> None:
    foreign = list(iter_population("f", 40, options=JourneyOptions(foreigner_rate=1, duplicate_rate=0)))
    assert all(r.nationality != "MA" and r.identity.cnie is None for r in foreign)
    assert {r.language for r in foreign} <= {"fr", "es", "ar", "en"}
    local = list(iter_population("f", 40, options=JourneyOptions(region="12", duplicate_rate=0)))
    assert {r.address.region_code for r in local} == {"12"}


def test_reference_date_moves_everything() -> None:
    earlier = JourneyOptions(reference_date=date(2020, 6, 1))
    for r in iter_population("ref", 40, options=earlier):
        for entry_id, moment in _datetimes(r):
            assert moment.date() < date(2020, 6, 1), entry_id


@pytest.mark.parametrize(
    "kwargs",
    [
        {"objection_rate": 1.5},
        {"duplicate_rate": -0.1},
        {"foreigner_rate": "x"},
        {"reference_date": "2026-01-01"},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError):
        JourneyOptions(**kwargs)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(UsageError, match="region"):
        generate_patient(1, 1, options=JourneyOptions(region="13"))
    with pytest.raises(UsageError):
        list(iter_population(1, -1))
    with pytest.raises(UsageError):
        generate_patient(True, 1)  # type: ignore[arg-type]


# --- fast constructors --------------------------------------------------------------------------------------


def test_fast_constructors_build_what_the_dataclass_builds(records: list[PatientRecord]) -> None:
    samples: list[Any] = []
    for r in records[:120]:
        samples += [*r.encounters[:1], *r.conditions[:1], *r.observations[:2], *r.prescriptions[:1]]
        samples += [*r.allergies[:1], *r.immunizations[:1], *r.documents[:1]]
        samples += [c for o in r.observations[:3] for c in o.components]
    classes = {type(s) for s in samples}
    assert classes == {
        EncounterRecord,
        ConditionRecord,
        ObservationRecord,
        PrescriptionRecord,
        AllergyRecord,
        ImmunizationRecord,
        DocumentRecord,
        Component,
    }
    for sample in samples:
        values = [getattr(sample, f.name) for f in dataclasses.fields(sample)]
        rebuilt = type(sample)(*values)
        assert rebuilt == sample and hash(rebuilt) == hash(sample)
        assert fast_constructor(type(sample))(*values) == rebuilt


def test_fast_constructor_refuses_classes_with_more_in_their_init() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        value: int

    with pytest.raises(TypeError, match="__post_init__"):
        fast_constructor(Checked)
    with pytest.raises(TypeError, match="not a slotted dataclass"):
        fast_constructor(Unslotted)


def test_patients_are_built_like_the_dataclass_builds_them(records: list[PatientRecord]) -> None:
    for record in records[:50]:
        values = [getattr(record, f.name) for f in dataclasses.fields(record)]
        assert PatientRecord(*values) == record
        assert type(record) is PatientRecord
        with pytest.raises(dataclasses.FrozenInstanceError):
            record.sex = "female"  # type: ignore[misc]


# --- tables -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> PopulationModel:
    """A population model on a copy of the tables; a test may rewrite a clinical table, then restores it."""
    target = tmp_path_factory.mktemp("tables") / "synthetic"
    shutil.copytree(ROOT / "synthetic", target, ignore=shutil.ignore_patterns("tools", "*.md"))
    return PopulationModel(target)


def _rewrite(population: PopulationModel, table: str, edit: Any) -> str:
    path = population.data_dir / table
    original = path.read_text(encoding="utf-8")
    data = yaml.load(original, Loader=LOADER)
    edit(data)
    path.write_text(
        "# invented test table\n" + yaml.dump(data, Dumper=DUMPER, allow_unicode=True), encoding="utf-8"
    )
    return original


@pytest.mark.parametrize(
    ("table", "path", "value", "message"),
    [
        (
            "clinical.yaml",
            ["conditions", "I10", "labs", "9999-9"],
            "normal",
            "not a test of the 'labs' table",
        ),
        ("clinical.yaml", ["conditions", "I10", "routes", 0, "specialty"], "XX", "unknown specialty"),
        ("clinical.yaml", ["conditions", "I10", "routes", 0, "class"], "HOME", "is not one of"),
        ("clinical.yaml", ["labs", "2345-7", "ref"], [2.0, 1.0], "not a reference range"),
        ("clinical.yaml", ["episodes", "O80", "incidence"], {"twenty": 0.1}, "not an age band"),
        ("medications.yaml", ["medications", "09521002000252", "per_day"], [], "at least one value"),
        ("identity.yaml", ["cnie", 0, "age_min"], 12, "from age 16"),
        ("identity.yaml", ["member_number", "AMO-CNSS"], "passport", "cnss, cnops or none"),
        ("clinical.yaml", ["conditions", "J45.9", "routes"], [], "needs routes or an admission"),
        (
            "clinical.yaml",
            ["conditions", "E10.9", "routes"],
            [{"class": "AMB", "at": ["CHU"], "specialty": "ENDO", "age": [15, 120]}],
            "no route for a male aged 0",
        ),
    ],
)
def test_malformed_tables_are_refused_with_their_place(
    scratch: PopulationModel, table: str, path: list[Any], value: Any, message: str
) -> None:
    def edit(data: Any) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    original = _rewrite(scratch, table, edit)
    try:
        with pytest.raises(SyntheticDataError, match=re.escape(message)) as error:
            ClinicalModel(scratch)
        assert table in str(error.value)
    finally:
        (scratch.data_dir / table).write_text(original, encoding="utf-8")


def test_a_condition_without_care_profile_is_refused(scratch: PopulationModel) -> None:
    original = _rewrite(scratch, "clinical.yaml", lambda data: data["conditions"].pop("M06.9"))
    try:
        with pytest.raises(SyntheticDataError, match="M06.9"):
            ClinicalModel(scratch)
    finally:
        (scratch.data_dir / "clinical.yaml").write_text(original, encoding="utf-8")
    assert ClinicalModel(scratch).conditions["M06.9"]  # the restored tables load again


if __name__ == "__main__":
    sys.stdout.buffer.write(
        serialise(iter_population(int(sys.argv[1]), int(sys.argv[2]), options=RICH)).encode("utf-8")
    )
