"""The terminology sources of ma.smr.core: Jinja2 + YAML files rendering to FHIR R4 CodeSystems and ValueSets.

Each source is rendered with the package settings, parsed, validated with the project's validator and
checked against the framework (spec §1, §3, §6): ids and canonical URLs, national value sets that expand
to their whole code system, GS1 and LOINC check digits, Arabic designations in Arabic script, sizes.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2 import meta

from testbed.core.errors import PackageError, TerminologyError
from testbed.fhir.context import FhirContext
from testbed.fhir.validator import FhirValidator
from testbed.igtools.build import render_text
from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService, check_ucum

SOURCES = Path(__file__).resolve().parents[3] / "profiles" / "ma.smr.core" / "input" / "terminology"
SETTINGS = {
    "canonical": "https://fhir.smr.ma",
    "version": "0.1.0",
    "oid_root": "2.16.504.1.1",
    "date": "2026-11-23",
}
CANONICAL = SETTINGS["canonical"]
NATIONAL = (
    "ma-region",
    "ma-coverage-scheme",
    "ma-establishment-type",
    "ma-script",
    "ma-language",
    "ma-document-type",
    "ma-consent-scope",
    "ma-medication",
)
VALUE_SETS_ONLY = ("ma-icd10", "ma-lab-loinc", "ma-vital-signs")
ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC = "http://loinc.org"
BCP47 = "urn:ietf:bcp:47"
USAGE = {"system": "http://terminology.hl7.org/CodeSystem/designation-usage", "code": "display"}
PROVENANCE = re.compile(r"^# (Source: \S.*|Invented for the testbed \(provisional\).*)$")
# Arabic, Arabic Supplement, Arabic Extended-A, Presentation Forms-A and -B.
ARABIC_RANGES = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))


# ---------------------------------------------------------------------------------------------- helpers


def render(text: str, **settings: str) -> dict[str, Any]:
    """Render a source as `testbed ig build` does (undefined variables are errors) and parse the YAML."""
    data = render_text(text, settings or SETTINGS)
    assert isinstance(data, dict), "a source must render to a YAML mapping"
    return data


def template_variables(text: str) -> set[str]:
    return set(meta.find_undeclared_variables(jinja2.Environment().parse(text)))


def gtin_is_valid(code: str) -> bool:
    """GS1 check digit: weights 3,1,3,... from the digit left of the check digit."""
    if not re.fullmatch(r"[0-9]{14}", code):
        return False
    body, check = code[:-1], int(code[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def loinc_is_valid(code: str) -> bool:
    """LOINC mod-10 check digit (the Luhn algorithm over the digits, check digit included)."""
    m = re.fullmatch(r"([0-9]{1,7})-([0-9])", code)
    if m is None:
        return False
    digits = [int(d) for d in m.group(1) + m.group(2)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 1:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return total % 10 == 0


def is_arabic_script(text: str) -> bool:
    """Every letter is Arabic script, and there is at least one."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and all(any(lo <= ord(ch) <= hi for lo, hi in ARABIC_RANGES) for ch in letters)


def designations(item: dict[str, Any]) -> list[dict[str, Any]]:
    return list(item.get("designation") or [])


def vs_concepts(vs: dict[str, Any], system: str) -> list[dict[str, Any]]:
    includes = vs["compose"]["include"]
    return [c for inc in includes if inc.get("system") == system for c in inc.get("concept", [])]


def ucum_notes(text: str) -> dict[str, str]:
    """The ``# UCUM <unit>`` comment of each ``- code:`` line of a LOINC value set source."""
    notes = {}
    for line in text.splitlines():
        m = re.match(r"\s*- code: (\S+)\s+# UCUM (\S+)", line)
        if m:
            notes[m.group(1)] = m.group(2)
    return notes


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    found = {p.name: p.read_text(encoding="utf-8") for p in sorted(SOURCES.glob("*.yaml"))}
    assert found, f"no sources in {SOURCES}"
    return found


@pytest.fixture(scope="module")
def resources(texts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Rendered resources by file name."""
    return {name: render(text) for name, text in texts.items()}


@pytest.fixture(scope="module")
def by_key(resources: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["resourceType"], r["id"]): r for r in resources.values()}


@pytest.fixture(scope="module")
def context() -> FhirContext:
    return FhirContext.create()


@pytest.fixture(scope="module")
def validator(context: FhirContext) -> FhirValidator:
    return FhirValidator(context)


@pytest.fixture(scope="module")
def terminology(
    resources: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> TerminologyService:
    """A fresh registry holding only the rendered resources (nothing else can answer for them)."""
    reg = PackageRegistry(cache_dir=tmp_path_factory.mktemp("terminology-sources-cache"))
    for res in resources.values():
        reg.add_resource(copy.deepcopy(res), package="ma.smr.core-terminology")
    return TerminologyService(reg)


def codes(cs: dict[str, Any]) -> list[str]:
    return [c["code"] for c in cs["concept"]]


def expanded(ts: TerminologyService, vs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in ts.expand(vs["url"])["expansion"]["contains"]]


# ---------------------------------------------------------------------------------------------- sources


def test_sources_are_exactly_the_terminology_of_spec_section_1(texts: dict[str, str]) -> None:
    expected = {f"CodeSystem-{i}.yaml" for i in NATIONAL} | {
        f"ValueSet-{i}.yaml" for i in NATIONAL + VALUE_SETS_ONLY
    }
    assert set(texts) == expected


def test_first_line_states_provenance(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        first = text.splitlines()[0]
        assert PROVENANCE.match(first), f"{name}: first line is not a provenance comment: {first!r}"


def test_provenance_check_refuses_a_missing_comment() -> None:
    assert not PROVENANCE.match("resourceType: CodeSystem")
    assert not PROVENANCE.match("# Source:")
    assert PROVENANCE.match("# Invented for the testbed (provisional): codes")


def test_canonical_base_is_never_written_literally(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        assert CANONICAL not in text, f"{name}: write {{{{ canonical }}}}, not {CANONICAL}"
        assert "fhir.smr.ma" not in text, f"{name}: the canonical host appears literally"


def test_only_the_package_settings_are_templated(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        used = template_variables(text)
        assert used <= set(SETTINGS), f"{name}: unknown template variables {sorted(used - set(SETTINGS))}"
        assert "{%" not in text, f"{name}: no Jinja2 statements in sources, only {{{{ setting }}}}"
        assert "canonical" in used, f"{name}: the url must be built from {{{{ canonical }}}}"


def test_rendering_refuses_an_unknown_setting() -> None:
    text = 'url: "{{ canonical }}/CodeSystem/x"\npublisher: "{{ publisher }}"\n'
    assert template_variables(text) == {"canonical", "publisher"}
    with pytest.raises(PackageError, match="'publisher' is undefined"):
        render(text)


def test_canonical_setting_moves_every_url(texts: dict[str, str]) -> None:
    other = {**SETTINGS, "canonical": "https://example.org/fhir"}
    for name, text in texts.items():
        res = render(text, **other)
        assert res["url"].startswith("https://example.org/fhir/"), name
        for inc in res.get("compose", {}).get("include", []):
            assert "fhir.smr.ma" not in inc.get("system", ""), name


def test_file_names_match_type_and_id(resources: dict[str, dict[str, Any]]) -> None:
    for name, res in resources.items():
        assert name == f"{res['resourceType']}-{res['id']}.yaml"


# ---------------------------------------------------------------------------------------------- metadata


def test_ids_urls_and_metadata(resources: dict[str, dict[str, Any]]) -> None:
    for name, res in resources.items():
        rtype, rid = res["resourceType"], res["id"]
        assert rtype in ("CodeSystem", "ValueSet"), name
        assert res["url"] == f"{CANONICAL}/{rtype}/{rid}", name
        assert res["version"] == SETTINGS["version"], name
        assert res["date"] == SETTINGS["date"], name
        assert res["status"] == "active", name
        assert res["experimental"] is False, name
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", res["name"]), f"{name}: name {res['name']!r} not PascalCase"
        for key in ("title", "publisher", "description"):
            assert isinstance(res.get(key), str) and res[key].strip(), f"{name}: {key} missing"


def test_national_code_systems(by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
    for rid in NATIONAL:
        cs = by_key[("CodeSystem", rid)]
        assert cs["caseSensitive"] is True, rid
        assert cs["content"] == "complete", rid
        assert cs["valueSet"] == f"{CANONICAL}/ValueSet/{rid}", rid
        found = codes(cs)
        assert len(found) == len(set(found)), f"{rid}: duplicate codes"
        if "count" in cs:
            assert cs["count"] == len(found), f"{rid}: count {cs['count']} but {len(found)} concepts"
        for concept in cs["concept"]:
            assert concept.get("display"), f"{rid}#{concept['code']}: no display"
            declared = {p["code"] for p in cs.get("property", [])}
            for prop in concept.get("property", []):
                assert prop["code"] in declared, (
                    f"{rid}#{concept['code']}: property {prop['code']} undeclared"
                )


def test_resources_are_valid_fhir_r4(resources: dict[str, dict[str, Any]], validator: FhirValidator) -> None:
    for name, res in resources.items():
        outcome = validator.validate(res, label=name)
        errors = "; ".join(f"{i.location}: {i.message}" for i in outcome.errors())
        assert outcome.valid, f"{name}: {errors}"


def test_validation_catches_a_broken_code_system(
    by_key: dict[tuple[str, str], dict[str, Any]], validator: FhirValidator
) -> None:
    bad = copy.deepcopy(by_key[("CodeSystem", "ma-region")])
    bad["status"] = "published"
    bad["concept"][1]["code"] = "01"
    outcome = validator.validate(bad, label="bad")
    assert not outcome.valid
    messages = " ".join(i.message for i in outcome.errors())
    assert "published" in messages and "csd-1" in messages


# ---------------------------------------------------------------------------------------------- designations


def test_designations_are_well_formed(resources: dict[str, dict[str, Any]]) -> None:
    for name, res in resources.items():
        items = list(res.get("concept", []))
        for inc in res.get("compose", {}).get("include", []):
            items.extend(inc.get("concept", []))
        for item in items:
            for d in designations(item):
                assert d.get("language") in ("ar", "en", "fr", "zgh"), f"{name}#{item['code']}: {d}"
                assert d.get("use") == USAGE, f"{name}#{item['code']}: designation use {d.get('use')}"
                assert isinstance(d.get("value"), str) and d["value"].strip(), f"{name}#{item['code']}"


def test_arabic_designations_are_in_arabic_script(resources: dict[str, dict[str, Any]]) -> None:
    seen = 0
    for name, res in resources.items():
        for concept in res.get("concept", []):
            for d in designations(concept):
                if d["language"] == "ar":
                    seen += 1
                    assert is_arabic_script(d["value"]), f"{name}#{concept['code']}: {d['value']!r}"
    assert seen >= 40


def test_arabic_script_check_refuses_latin_and_mixed_text() -> None:
    assert is_arabic_script("الدار البيضاء - سطات")
    assert is_arabic_script("التأمين «تضامن» (راميد)")
    assert not is_arabic_script("Casablanca-Settat")
    assert not is_arabic_script("الدار البيضاء - Settat")
    assert not is_arabic_script("ⵜⴰⵎⴰⵣⵉⵖⵜ")
    assert not is_arabic_script(" - ")


def test_national_concepts_have_one_arabic_display(by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
    for rid in NATIONAL:
        if rid == "ma-medication":
            continue
        for concept in by_key[("CodeSystem", rid)]["concept"]:
            arabic = [d for d in designations(concept) if d["language"] == "ar"]
            assert len(arabic) == 1, f"{rid}#{concept['code']}: {len(arabic)} Arabic designations"


# ---------------------------------------------------------------------------------------------- content


def test_regions_follow_hcp_order_and_spec_names(by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
    spec = [
        "Tanger-Tétouan-Al Hoceïma",
        "L'Oriental",
        "Fès-Meknès",
        "Rabat-Salé-Kénitra",
        "Béni Mellal-Khénifra",
        "Casablanca-Settat",
        "Marrakech-Safi",
        "Drâa-Tafilalet",
        "Souss-Massa",
        "Guelmim-Oued Noun",
        "Laâyoune-Sakia El Hamra",
        "Dakhla-Oued Ed-Dahab",
    ]
    cs = by_key[("CodeSystem", "ma-region")]
    assert [(c["code"], c["display"]) for c in cs["concept"]] == [
        (f"{i:02d}", n) for i, n in enumerate(spec, 1)
    ]
    for c in cs["concept"]:
        iso = next(p["valueCoding"]["code"] for p in c["property"] if p["code"] == "iso3166-2")
        assert iso == f"MA-{c['code']}"


@pytest.mark.parametrize(
    ("rid", "expected"),
    [
        (
            "ma-coverage-scheme",
            [
                "AMO-CNSS",
                "AMO-CNOPS",
                "AMO-TADAMON",
                "AMO-TNS",
                "AMO-ACHAMIL",
                "AMO-PENSION",
                "PRIVATE",
                "NONE",
            ],
        ),
        (
            "ma-establishment-type",
            [
                "CHU",
                "CHR",
                "CHP",
                "HL",
                "ESSP",
                "CLINIQUE",
                "CABINET",
                "LABO",
                "PHARMACIE",
                "RADIO",
                "UMM",
                "TELEMED",
            ],
        ),
        ("ma-script", ["Latn", "Arab", "Tfng"]),
        ("ma-language", ["ar", "ary", "zgh", "fr", "es", "en"]),
        ("ma-consent-scope", ["smr-sharing"]),
        ("ma-document-type", ["CRH", "CRBIO", "SYNTH", "ORD", "CRCONS"]),
    ],
)
def test_national_codes_are_those_of_spec_section_3(
    by_key: dict[tuple[str, str], dict[str, Any]], rid: str, expected: list[str]
) -> None:
    assert codes(by_key[("CodeSystem", rid)]) == expected


def test_document_types_map_to_the_loinc_codes_of_spec_section_6(
    by_key: dict[tuple[str, str], dict[str, Any]],
) -> None:
    cs = by_key[("CodeSystem", "ma-document-type")]
    assert {"code": "loinc", "type": "Coding"}.items() <= cs["property"][0].items()
    mapping = {}
    templates = {}
    for c in cs["concept"]:
        props = {p["code"]: p for p in c["property"]}
        coding = props["loinc"]["valueCoding"]
        assert coding["system"] == LOINC and loinc_is_valid(coding["code"])
        mapping[c["code"]] = coding["code"]
        templates[c["code"]] = props["cda-template"]["valueString"]
    assert mapping == {
        "CRH": "18842-5",
        "CRBIO": "11502-2",
        "SYNTH": "60591-5",
        "ORD": "57833-6",
        "CRCONS": "11488-4",
    }
    root = f"{SETTINGS['oid_root']}.10"
    assert templates == {
        "CRH": f"{root}.1",
        "CRBIO": f"{root}.2",
        "SYNTH": f"{root}.3",
        "ORD": f"{root}.4",
        "CRCONS": f"{root}.5",
    }


def test_medication_catalogue(by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
    cs = by_key[("CodeSystem", "ma-medication")]
    assert len(cs["concept"]) >= 50
    assert {(p["code"], p["type"]) for p in cs["property"]} >= {("atc", "Coding"), ("form", "string")}
    for c in cs["concept"]:
        assert gtin_is_valid(c["code"]), f"GTIN {c['code']} has a wrong GS1 check digit"
        assert c["code"].startswith("0952"), f"{c['code']}: not under the GS1 demonstration prefix 952"
        props = {p["code"]: p for p in c["property"]}
        atc = props["atc"]["valueCoding"]
        assert atc["system"] == "http://www.whocc.no/atc"
        assert re.fullmatch(r"[A-Z][0-9]{2}[A-Z]{2}([0-9]{2})?", atc["code"]), atc["code"]
        assert c["display"].endswith(", " + props["form"]["valueString"]), c["display"]


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("09521001000017", True),
        ("00012345600012", True),
        ("09521001000018", False),
        ("0952100100001", False),
        ("0952100100001X", False),
    ],
)
def test_gtin_check(code: str, valid: bool) -> None:
    assert gtin_is_valid(code) is valid


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("2345-7", True),
        ("85353-1", True),
        ("718-7", True),
        ("2345-6", False),
        ("2345", False),
        ("LP1-2", False),
    ],
)
def test_loinc_check(code: str, valid: bool) -> None:
    assert loinc_is_valid(code) is valid


def test_icd10_value_set(by_key: dict[tuple[str, str], dict[str, Any]]) -> None:
    vs = by_key[("ValueSet", "ma-icd10")]
    assert [inc["system"] for inc in vs["compose"]["include"]] == [ICD10]
    concepts = vs_concepts(vs, ICD10)
    found = [c["code"] for c in concepts]
    assert len(found) >= 60 and len(found) == len(set(found))
    for c in concepts:
        assert re.fullmatch(r"[A-Z][0-9]{2}(\.[0-9])?", c["code"]), c["code"]
        assert c.get("display"), c["code"]
        assert any(d["language"] == "en" for d in designations(c)), f"{c['code']}: no WHO English title"
    for needed in ("I10", "E10", "E11", "J45.9", "J44.9", "A15.0", "B18.1", "D50.9", "I25.9", "I64", "N18.9"):
        assert needed in found, needed
    assert any(code.startswith("O") for code in found) and any(code.startswith("S") for code in found)
    assert any(code.startswith("F32") for code in found)


@pytest.mark.parametrize(("rid", "minimum"), [("ma-lab-loinc", 30), ("ma-vital-signs", 13)])
def test_loinc_value_sets(
    by_key: dict[tuple[str, str], dict[str, Any]], texts: dict[str, str], rid: str, minimum: int
) -> None:
    vs = by_key[("ValueSet", rid)]
    assert [inc["system"] for inc in vs["compose"]["include"]] == [LOINC]
    concepts = vs_concepts(vs, LOINC)
    assert len(concepts) >= minimum
    notes = ucum_notes(texts[f"ValueSet-{rid}.yaml"])
    assert set(notes) == {c["code"] for c in concepts}, "every concept needs a '# UCUM <unit>' comment"
    for c in concepts:
        assert loinc_is_valid(c["code"]), f"{c['code']}: wrong LOINC check digit"
        assert any(d["language"] == "fr" for d in designations(c)), f"{c['code']}: no French name"
        unit = notes[c["code"]]
        if unit != "none":
            assert check_ucum(unit).valid, f"{c['code']}: '{unit}' is not valid UCUM"


def test_vital_signs_cover_the_core_vital_signs(
    by_key: dict[tuple[str, str], dict[str, Any]], texts: dict[str, str]
) -> None:
    core = {
        "85353-1",
        "8867-4",
        "9279-1",
        "2708-6",
        "59408-5",
        "8310-5",
        "8302-2",
        "29463-7",
        "39156-5",
        "85354-9",
        "8480-6",
        "8462-4",
        "9843-4",
        "8287-5",
    }
    found = {c["code"] for c in vs_concepts(by_key[("ValueSet", "ma-vital-signs")], LOINC)}
    assert core <= found
    notes = ucum_notes(texts["ValueSet-ma-vital-signs.yaml"])
    units = {"8867-4": "/min", "9279-1": "/min", "8310-5": "Cel", "8302-2": "cm", "29463-7": "kg"}
    units |= {"39156-5": "kg/m2", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]", "2708-6": "%", "9843-4": "cm"}
    for code, unit in units.items():
        assert notes[code] == unit, f"{code}: the FHIR vital signs profile requires {unit}"


def test_ucum_notes_are_read_from_code_lines() -> None:
    text = "        - code: 2345-7  # UCUM g/L\n          display: x\n        - code: 718-7\n"
    assert ucum_notes(text) == {"2345-7": "g/L"}


# ---------------------------------------------------------------------------------------------- expansion


def test_national_value_sets_expand_to_their_whole_code_system(
    by_key: dict[tuple[str, str], dict[str, Any]], terminology: TerminologyService
) -> None:
    for rid in NATIONAL:
        cs, vs = by_key[("CodeSystem", rid)], by_key[("ValueSet", rid)]
        got = expanded(terminology, vs)
        assert [code for system, code in got if system == cs["url"]] == codes(cs), rid
        others = sorted(code for system, code in got if system != cs["url"])
        if rid == "ma-language":
            assert {s for s, _ in got} == {cs["url"], BCP47}
            assert others == sorted(codes(cs)), "the BCP 47 codes must be the national language codes"
        elif rid == "ma-document-type":
            props = [p for c in cs["concept"] for p in c["property"]]
            loinc = [p["valueCoding"]["code"] for p in props if p["code"] == "loinc"]
            assert {s for s, _ in got} == {cs["url"], LOINC}
            assert others == sorted(loinc), "the LOINC codes must be those the document types map to"
        else:
            assert others == [], f"{rid}: codes from other systems {others}"


def test_national_value_sets_check_codes(
    by_key: dict[tuple[str, str], dict[str, Any]], terminology: TerminologyService
) -> None:
    region = by_key[("ValueSet", "ma-region")]["url"]
    system = by_key[("CodeSystem", "ma-region")]["url"]
    assert terminology.validate_code(region, system=system, code="06", display="Casablanca-Settat").valid
    ok = terminology.validate_code(region, system=system, code="06", display="الدار البيضاء - سطات")
    assert ok.valid and ok.display_issue is None
    assert terminology.validate_code(region, system=system, code="13").valid is False
    doc = by_key[("ValueSet", "ma-document-type")]["url"]
    assert terminology.validate_code(doc, system=LOINC, code="18842-5").valid
    assert terminology.validate_code(doc, system=LOINC, code="34133-9").valid is False


def test_external_value_sets_expand_to_their_listed_codes(
    by_key: dict[tuple[str, str], dict[str, Any]], terminology: TerminologyService
) -> None:
    for rid, system in (("ma-icd10", ICD10), ("ma-lab-loinc", LOINC), ("ma-vital-signs", LOINC)):
        vs = by_key[("ValueSet", rid)]
        got = expanded(terminology, vs)
        assert got == [(system, c["code"]) for c in vs_concepts(vs, system)], rid


def test_expansion_fails_without_the_code_system(
    by_key: dict[tuple[str, str], dict[str, Any]], tmp_path: Path
) -> None:
    reg = PackageRegistry(cache_dir=tmp_path / "cache")
    vs = copy.deepcopy(by_key[("ValueSet", "ma-region")])
    reg.add_resource(vs, package="lonely")
    with pytest.raises(TerminologyError):
        TerminologyService(reg).expand(vs["url"])
