"""The FHIR conformance sources of ma.smr.core: profiles, extensions, naming systems, the SMR capability
statement, and the examples that pin down what each profile accepts and refuses.

Every source is a Jinja2 + YAML file rendered with the package settings (``ig.yaml`` ``settings`` plus
``version``). The rendered resources are written as JSON into a folder and loaded with
``FhirContext.create([folder])``; then each conformance resource must be valid FHIR R4, each profile's
snapshot must generate and compile, and each example must get the verdict it declares in ``expect``:

- ``valid: true`` — no error (``warnings``: rules that must be reported as warnings; ``absent``: rules
  that must not be reported at all);
- ``valid: false`` — an error whose rule is ``rule`` (a constraint key or an element id), at ``location``
  when given, citing at least the ``requirements`` listed;
- ``needs: <feature>`` — the verdict depends on an engine feature; the example is skipped while a probe
  shows the feature missing (see :data:`FEATURES`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from jinja2 import meta

from testbed.core.errors import PackageError
from testbed.core.issues import Issue, Severity
from testbed.fhir.context import FhirContext
from testbed.fhir.validator import FhirValidator
from testbed.igtools.build import build_package, render_text
from testbed.requirements import RequirementCatalogue, Vocabulary

PACKAGE = Path(__file__).resolve().parents[3] / "profiles" / "ma.smr.core"
INPUT = PACKAGE / "input"
OWN_FOLDERS = ("profiles", "extensions", "namingsystems", "capabilities")
EXAMPLES = PACKAGE / "examples"
IG = yaml.safe_load((PACKAGE / "ig.yaml").read_text(encoding="utf-8"))
SETTINGS: dict[str, Any] = {**IG["settings"], "version": IG["package"]["version"]}
CANONICAL: str = SETTINGS["canonical"]
OID_ROOT: str = SETTINGS["oid_root"]
CORE_SD = "http://hl7.org/fhir/StructureDefinition/"

PROFILES = {  # spec §1 ids and §4 base types
    "ma-patient": "Patient",
    "ma-practitioner": "Practitioner",
    "ma-organization": "Organization",
    "ma-coverage": "Coverage",
    "ma-encounter": "Encounter",
    "ma-condition": "Condition",
    "ma-observation-lab": "Observation",
    "ma-vital-signs": "Observation",
    "ma-medication-request": "MedicationRequest",
    "ma-allergy-intolerance": "AllergyIntolerance",
    "ma-immunization": "Immunization",
    "ma-consent-smr": "Consent",
    "ma-document-reference": "DocumentReference",
    "ma-audit-event": "AuditEvent",
    "ma-provenance": "Provenance",
    "ma-bundle-document-submission": "Bundle",
}
EXTENSIONS = {  # id: (context, value type, required value set id or None)
    "ma-name-script": ("HumanName", "code", "ma-script"),
    "ma-address-region": ("Address", "Coding", "ma-region"),
    "ma-identifier-pattern": ("NamingSystem", "string", None),
    "ma-identifier-check-digit": ("NamingSystem", "code", None),
}
NAMING_SYSTEMS = {  # id: (settings key, arc of the assigning authority OID under the root, spec §1)
    "ins": ("ins", 1),
    "cnie": ("cnie", 2),
    "inpe": ("inpe", 3),
    "carte-sejour": ("carte_sejour", 4),
    "cnss": ("cnss", 6),
    "cnops": ("cnops", 7),
}
EXPECT_KEYS = frozenset({"valid", "rule", "location", "requirements", "needs", "warnings", "absent"})
REQ_ID = re.compile(r"\bMA-[A-Z][A-Z0-9]*-[0-9]{3}\b")
SMR_RESOURCES = {  # resource types the §5 transactions SMR-T1..T11 name
    "Patient",
    "DocumentReference",
    "Binary",
    "Condition",
    "Observation",
    "AllergyIntolerance",
    "Immunization",
    "MedicationRequest",
    "Consent",
    "AuditEvent",
}


# ---------------------------------------------------------------------------------------------- helpers


def render(text: str, settings: dict[str, Any] | None = None) -> Any:
    """Render a source as `testbed ig build` does (an undefined variable is an error) and parse the YAML."""
    return render_text(text, settings or SETTINGS)


def template_variables(text: str) -> set[str]:
    return set(meta.find_undeclared_variables(jinja2.Environment().parse(text)))


def ins_key_ok(value: str) -> bool:
    """mod97-2: 10 digits then the 2-digit key 97 − (the 10-digit number mod 97)."""
    if not re.fullmatch(r"[0-9]{12}", value):
        return False
    return int(value[10:]) == 97 - int(value[:10]) % 97


def source_files() -> list[Path]:
    return sorted(p for folder in OWN_FOLDERS for p in (INPUT / folder).glob("*.yaml"))


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def errors(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.severity.is_error]


def describe(issues: list[Issue]) -> str:
    return "; ".join(f"[{i.severity.value}] {i.location} {i.rule}: {i.message}" for i in issues) or "none"


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    found = {p.relative_to(PACKAGE).as_posix(): p.read_text(encoding="utf-8") for p in source_files()}
    assert found, f"no sources under {INPUT}"
    return found


@pytest.fixture(scope="module")
def resources(texts: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Rendered conformance resources of the owned folders, by relative path."""
    return {name: render(text) for name, text in texts.items()}


@pytest.fixture(scope="module")
def by_key(resources: dict[str, dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["resourceType"], r["id"]): r for r in resources.values()}


@pytest.fixture(scope="module")
def examples() -> dict[str, dict[str, Any]]:
    return {p.stem: render(p.read_text(encoding="utf-8")) for p in example_files()}


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> FhirContext:
    """R4 core plus the package built from the sources (so its package.json settings apply too)."""
    out = tmp_path_factory.mktemp("ma-smr-core-built")
    build_package(PACKAGE, out=out)
    return FhirContext.create([out])


@pytest.fixture(scope="module")
def validator(context: FhirContext) -> FhirValidator:
    return FhirValidator(context)


@pytest.fixture(scope="module")
def catalogue() -> RequirementCatalogue:
    vocab = Vocabulary.from_mapping(
        {k: v for k, v in IG["requirements"].items() if k in ("prefix", "areas", "actors", "levels")}
    )
    return RequirementCatalogue.load(PACKAGE / IG["requirements"]["file"], vocabulary=vocab)


# ------------------------------------------------------------------------------------- engine features


def _probe_identifier_rules(v: FhirValidator) -> bool:
    """Whether the validator checks identifier values against the NamingSystem pattern extension."""
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": f"{CANONICAL}/NamingSystem/cnie", "value": "not a CNIE"}],
    }
    return any(i.rule == "cnie:pattern" for i in v.validate(patient).issues)


def _probe_base_array_cardinality(v: FhirValidator) -> bool:
    """Whether JSON arrays follow the base definition (R4 JSON rules), not a profile's max of 1."""
    structure = v.ctx.structure(f"{CANONICAL}/StructureDefinition/ma-organization")
    return structure is not None and structure.by_id["Organization.type"].is_array


FEATURES: dict[str, Callable[[FhirValidator], bool]] = {
    "identifier-rules": _probe_identifier_rules,
    "base-array-cardinality": _probe_base_array_cardinality,
}


@pytest.fixture(scope="module")
def features(validator: FhirValidator) -> dict[str, bool]:
    return {name: probe(validator) for name, probe in FEATURES.items()}


# ---------------------------------------------------------------------------------------------- sources


def test_sources_are_exactly_the_artefacts_of_spec_section_1(texts: dict[str, str]) -> None:
    expected = (
        {f"input/profiles/StructureDefinition-{i}.yaml" for i in PROFILES}
        | {f"input/extensions/StructureDefinition-{i}.yaml" for i in EXTENSIONS}
        | {f"input/namingsystems/NamingSystem-{i}.yaml" for i in NAMING_SYSTEMS}
        | {"input/capabilities/CapabilityStatement-ma-smr.yaml"}
    )
    assert set(texts) == expected


def test_file_names_match_type_and_id(resources: dict[str, dict[str, Any]]) -> None:
    for name, res in resources.items():
        assert Path(name).name == f"{res['resourceType']}-{res['id']}.yaml", name


def test_first_line_states_provenance(texts: dict[str, str]) -> None:
    for name, text in texts.items():
        assert re.match(r"^# Source: \S", text), f"{name}: the first line must be '# Source: ...'"


def test_no_literal_canonical_or_oid_root() -> None:
    for path in source_files() + example_files():
        text = path.read_text(encoding="utf-8")
        assert "fhir.smr.ma" not in text, f"{path.name}: write {{{{ canonical }}}}, not the host"
        assert OID_ROOT not in text, f"{path.name}: write {{{{ oid_root }}}}, not {OID_ROOT}"


def test_only_the_package_settings_are_templated() -> None:
    for path in source_files() + example_files():
        text = path.read_text(encoding="utf-8")
        used = template_variables(text)
        assert used <= set(SETTINGS), (
            f"{path.name}: unknown template variables {sorted(used - set(SETTINGS))}"
        )
        assert "{%" not in text, f"{path.name}: no Jinja2 statements, only {{{{ setting }}}}"


def test_rendering_refuses_an_unknown_setting() -> None:
    with pytest.raises(PackageError, match="'publisher' is undefined"):
        render('url: "{{ canonical }}/x"\npublisher: "{{ publisher }}"\n')


def test_settings_move_every_url_and_oid() -> None:
    other = {**SETTINGS, "canonical": "https://example.org/fhir", "oid_root": "1.2.3.4"}
    for path in source_files() + example_files():
        dumped = json.dumps(render(path.read_text(encoding="utf-8"), other), ensure_ascii=False)
        assert "fhir.smr.ma" not in dumped and OID_ROOT not in dumped, path.name


def test_canonical_check_catches_a_literal_url() -> None:
    text = 'url: "https://fhir.smr.ma/StructureDefinition/x"\n'
    assert "fhir.smr.ma" in text and not template_variables(text)


# ---------------------------------------------------------------------------------------------- metadata


def test_structure_definitions_are_differential_only_with_spec_ids(
    by_key: dict[tuple[str, str], Any],
) -> None:
    for sid, base_type in {**PROFILES, **dict.fromkeys(EXTENSIONS, "Extension")}.items():
        sd = by_key[("StructureDefinition", sid)]
        assert sd["url"] == f"{CANONICAL}/StructureDefinition/{sid}"
        assert sd["version"] == SETTINGS["version"] and sd["date"] == SETTINGS["date"], sid
        assert sd["status"] == "active" and sd["fhirVersion"] == "4.0.1", sid
        assert re.fullmatch(r"MA[A-Z][A-Za-z0-9]*", sd["name"]), sd["name"]
        assert sd["type"] == base_type and sd["baseDefinition"] == CORE_SD + base_type, sid
        assert sd["derivation"] == "constraint", sid
        assert "snapshot" not in sd, f"{sid}: sources are differential-only"
        elements = sd["differential"]["element"]
        for element in elements:
            assert element["id"].split(".")[0] == base_type and element["path"].split(".")[0] == base_type


def test_profile_names_are_those_of_spec_section_4(by_key: dict[tuple[str, str], Any]) -> None:
    names = {by_key[("StructureDefinition", sid)]["name"] for sid in PROFILES}
    assert names == {
        "MAPatient",
        "MAPractitioner",
        "MAOrganization",
        "MACoverage",
        "MAEncounter",
        "MACondition",
        "MAObservationLab",
        "MAVitalSigns",
        "MAMedicationRequest",
        "MAAllergyIntolerance",
        "MAImmunization",
        "MAConsentSMR",
        "MADocumentReference",
        "MAAuditEvent",
        "MAProvenance",
        "MABundleDocumentSubmission",
    }


def test_extensions_have_the_context_value_and_binding_of_spec_section_1(
    by_key: dict[tuple[str, str], Any],
) -> None:
    for sid, (context, value_type, value_set) in EXTENSIONS.items():
        sd = by_key[("StructureDefinition", sid)]
        assert sd["context"] == [{"type": "element", "expression": context}], sid
        elements = {e["id"]: e for e in sd["differential"]["element"]}
        assert elements["Extension.url"]["fixedUri"] == sd["url"], sid
        value = elements["Extension.value[x]"]
        assert [t["code"] for t in value["type"]] == [value_type] and value["min"] == 1, sid
        if value_set is None:
            assert "binding" not in value, sid
        else:
            assert value["binding"] == {
                "strength": "required",
                "valueSet": f"{CANONICAL}/ValueSet/{value_set}",
            }
    check_digit = by_key[("StructureDefinition", "ma-identifier-check-digit")]
    assert "mod97-2" in check_digit["description"]


def test_naming_systems(by_key: dict[tuple[str, str], Any]) -> None:
    pattern_url = f"{CANONICAL}/StructureDefinition/ma-identifier-pattern"
    check_url = f"{CANONICAL}/StructureDefinition/ma-identifier-check-digit"
    for nid, (key, arc) in NAMING_SYSTEMS.items():
        ns = by_key[("NamingSystem", nid)]
        assert ns["kind"] == "identifier" and ns["status"] == "active", nid
        preferred = ns["uniqueId"][0]
        assert (preferred["type"], preferred["value"], preferred["preferred"]) == (
            "uri",
            f"{CANONICAL}/NamingSystem/{nid}",
            True,
        ), nid
        oids = [u["value"] for u in ns["uniqueId"] if u["type"] == "oid"]
        assert oids == [f"{OID_ROOT}.{arc}"], nid
        exts = {e["url"]: e for e in ns.get("extension", [])}
        assert exts[pattern_url]["valueString"] == SETTINGS["identifiers"][key]["pattern"], nid
        expected_check = SETTINGS["identifiers"][key].get("check_digit")
        if expected_check is None:
            assert check_url not in exts, nid
        else:
            assert exts[check_url]["valueCode"] == expected_check, nid
    assert by_key[("NamingSystem", "ins")]["extension"][1]["valueCode"] == "mod97-2"


def test_capability_statement_covers_the_smr_transactions(by_key: dict[tuple[str, str], Any]) -> None:
    cs = by_key[("CapabilityStatement", "ma-smr")]
    assert cs["url"] == f"{CANONICAL}/CapabilityStatement/ma-smr" and cs["kind"] == "requirements"
    (rest,) = cs["rest"]
    assert rest["mode"] == "server"
    assert [i["code"] for i in rest["interaction"]] == ["transaction"]
    assert "/metadata" in rest["documentation"]
    resources = {r["type"]: r for r in rest["resource"]}
    assert SMR_RESOURCES <= set(resources)
    supported = {p for r in rest["resource"] for p in r.get("supportedProfile", [])}
    assert supported == {f"{CANONICAL}/StructureDefinition/{sid}" for sid in PROFILES}

    def interactions(rtype: str) -> set[str]:
        return {i["code"] for i in resources[rtype].get("interaction", [])}

    def params(rtype: str) -> set[str]:
        return {p["name"] for p in resources[rtype].get("searchParam", [])}

    assert {"create", "update", "read", "search-type"} <= interactions("Patient")  # SMR-T1..T3
    assert params("Patient") == {"_id", "identifier", "family", "given", "birthdate"}
    assert params("DocumentReference") == {"patient", "type", "date"}  # SMR-T5
    assert interactions("Binary") == {"read"}
    for rtype in ("Condition", "Observation", "AllergyIntolerance", "Immunization", "MedicationRequest"):
        assert "create" in interactions(rtype), rtype  # SMR-T6
    assert "create" in interactions("Consent")  # SMR-T8
    assert params("AuditEvent") == {"patient"}  # SMR-T9
    (oauth,) = rest["security"]["extension"]
    assert oauth["url"] == "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    token = next(e["valueUri"] for e in oauth["extension"] if e["url"] == "token")
    assert token == f"{CANONICAL}/auth/token"


# ---------------------------------------------------------------------------------------------- validity


def test_conformance_resources_are_valid_fhir_r4(
    resources: dict[str, dict[str, Any]], validator: FhirValidator
) -> None:
    for name, res in resources.items():
        outcome = validator.validate(res, label=name)
        assert outcome.valid, f"{name}: {describe(errors(outcome.issues))}"


def test_validation_catches_a_broken_structure_definition(
    by_key: dict[tuple[str, str], Any], validator: FhirValidator
) -> None:
    sd = json.loads(json.dumps(by_key[("StructureDefinition", "ma-patient")]))
    sd["status"] = "published"
    sd["differential"]["element"][1]["min"] = "one"
    outcome = validator.validate(sd)
    assert not outcome.valid and {"StructureDefinition.status"} <= {i.rule for i in errors(outcome.issues)}


def test_snapshots_generate_and_compile(by_key: dict[tuple[str, str], Any], context: FhirContext) -> None:
    for sid in list(PROFILES) + list(EXTENSIONS):
        sd = by_key[("StructureDefinition", sid)]
        compiled = context.structure(sd["url"])
        assert compiled is not None and compiled.type == sd["type"], sid
        missing = [e["id"] for e in sd["differential"]["element"] if e["id"] not in compiled.by_id]
        assert not missing, f"{sid}: differential elements absent from the snapshot: {missing}"


# ---------------------------------------------------------------------------------------------- requirements


def _cited(text: str) -> list[str]:
    return REQ_ID.findall(text)


def test_every_cited_requirement_exists(catalogue: RequirementCatalogue) -> None:
    cited = 0
    for path in source_files() + example_files():
        text = path.read_text(encoding="utf-8")
        ids = _cited(text)
        cited += len(ids)
        assert not catalogue.unknown(ids), f"{path.name}: unknown requirement ids {catalogue.unknown(ids)}"
        broken = re.findall(r"\bMA-(?![A-Z][A-Z0-9]*-[0-9]{3}\b)\S*", text)
        assert not broken, f"{path.name}: malformed requirement id(s) {broken}"
    assert cited >= 200


def test_requirement_check_refuses_an_unknown_id(catalogue: RequirementCatalogue) -> None:
    assert catalogue.unknown(_cited("requirements: MA-PAT-004, MA-PAT-999")) == ["MA-PAT-999"]


def test_profile_rules_cite_requirements(by_key: dict[tuple[str, str], Any]) -> None:
    for sid in PROFILES:
        for element in by_key[("StructureDefinition", sid)]["differential"]["element"]:
            for c in element.get("constraint", []):
                assert _cited(c.get("requirements", "")), f"{sid} {c['key']}: no requirement cited"
            if (
                element.get("min", 0) >= 1
                and "." in element["id"]
                and not element["id"].endswith((".system", ".code", ".fullUrl", ".request", ".resource"))
            ):
                assert _cited(element.get("requirements", "")), f"{sid} {element['id']}: no requirement cited"


# ---------------------------------------------------------------------------------------------- examples


def test_example_files_are_well_formed(
    examples: dict[str, dict[str, Any]], catalogue: RequirementCatalogue
) -> None:
    for stem, data in examples.items():
        assert set(data) == {"expect", "resource"}, stem
        expect, res = data["expect"], data["resource"]
        assert set(expect) <= EXPECT_KEYS, f"{stem}: unknown expect keys {sorted(set(expect) - EXPECT_KEYS)}"
        assert isinstance(expect["valid"], bool), stem
        assert expect["requirements"] and not catalogue.unknown(expect["requirements"]), stem
        assert expect.get("needs") in (None, *FEATURES), f"{stem}: unknown feature {expect.get('needs')}"
        if expect["valid"]:
            assert "rule" not in expect and "location" not in expect, stem
        else:
            assert isinstance(expect.get("rule"), str) and expect["rule"], (
                f"{stem}: an invalid example names its rule"
            )
        assert res["id"] == stem and len(stem) <= 64, stem
        (profile,) = res["meta"]["profile"]
        sid = profile.rsplit("/", 1)[-1]
        assert profile == f"{CANONICAL}/StructureDefinition/{sid}" and sid in PROFILES, stem
        assert stem.startswith(f"{sid}-{'valid' if expect['valid'] else 'invalid'}"), stem


def test_every_profile_has_a_valid_example_and_every_invariant_an_invalid_one(
    examples: dict[str, dict[str, Any]], by_key: dict[tuple[str, str], Any]
) -> None:
    valid_for = {
        e["resource"]["meta"]["profile"][0].rsplit("/", 1)[-1]
        for e in examples.values()
        if e["expect"]["valid"]
    }
    assert valid_for == set(PROFILES)
    broken = {e["expect"]["rule"] for e in examples.values() if not e["expect"]["valid"]}
    for sid in PROFILES:
        for element in by_key[("StructureDefinition", sid)]["differential"]["element"]:
            for c in element.get("constraint", []):
                if c["severity"] == "error":
                    assert c["key"] in broken, f"{sid}: no invalid example breaks {c['key']}"


def test_ins_values_of_the_examples(examples: dict[str, dict[str, Any]]) -> None:
    ins = f"{CANONICAL}/NamingSystem/ins"
    seen = 0
    for stem, data in examples.items():
        found = [
            i["value"]
            for r in _resources(data["resource"])
            if r["resourceType"] == "Patient"
            for i in r.get("identifier", [])
            if i.get("system") == ins
        ]
        for value in found:
            seen += 1
            well_formed = re.fullmatch(SETTINGS["identifiers"]["ins"]["pattern"], value) is not None
            if data["expect"].get("rule") == "ins:check-digit":
                assert well_formed and not ins_key_ok(value), stem
            elif data["expect"].get("rule") == "ins:pattern":
                assert not well_formed, stem
            else:
                assert ins_key_ok(value), f"{stem}: INS {value} has a wrong key"
    assert seen >= 20


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("185041234507", True),
        ("297080123415", True),
        ("185041234508", False),
        ("18504123450", False),
        ("x" * 12, False),
    ],
)
def test_ins_key_check(value: str, ok: bool) -> None:
    assert ins_key_ok(value) is ok


def _resources(res: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield res
    for entry in res.get("entry", []):
        if isinstance(entry.get("resource"), dict):
            yield from _resources(entry["resource"])
    yield from res.get("contained", [])


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_example_gets_its_declared_verdict(
    path: Path, validator: FhirValidator, features: dict[str, bool]
) -> None:
    data = render(path.read_text(encoding="utf-8"))
    expect = data["expect"]
    needs = expect.get("needs")
    if needs:
        assert features.get(needs), f"the validator lost the '{needs}' feature this example depends on"
    issues = validator.validate(data["resource"], label=path.name).issues
    found = errors(issues)
    if expect["valid"]:
        assert not found, f"{path.stem}: expected valid, got {describe(found)}"
        warned = {i.rule for i in issues if i.severity is Severity.WARNING}
        for rule in expect.get("warnings", []):
            assert rule in warned, f"{path.stem}: expected a warning {rule}, got {describe(issues)}"
    else:
        hits = [i for i in found if i.rule == expect["rule"]]
        assert hits, f"{path.stem}: expected an error {expect['rule']}, got {describe(found)}"
        if "location" in expect:
            hits = [i for i in hits if i.location == expect["location"]]
            assert hits, (
                f"{path.stem}: {expect['rule']} expected at {expect['location']}, got {describe(found)}"
            )
        if not needs:
            cited = {r for i in hits for r in i.requirements}
            assert set(expect["requirements"]) <= cited, (
                f"{path.stem}: the issue cites {sorted(cited)}, not all of {expect['requirements']}"
            )
    reported = {i.rule for i in issues}
    for rule in expect.get("absent", []):
        assert rule not in reported, f"{path.stem}: {rule} must not be reported: {describe(issues)}"


def test_declared_verdicts_can_fail(validator: FhirValidator, examples: dict[str, dict[str, Any]]) -> None:
    """The verdict check has teeth: a valid example made invalid, and an invalid one repaired."""
    patient = json.loads(json.dumps(examples["ma-patient-valid-full"]["resource"]))
    patient["address"][0]["postalCode"] = "1000"
    assert any(i.rule == "ma-pat-5" for i in errors(validator.validate(patient).issues))
    repaired = json.loads(json.dumps(examples["ma-patient-invalid-no-national-id"]["resource"]))
    repaired["identifier"].append({"system": f"{CANONICAL}/NamingSystem/cnie", "value": "BK123456"})
    assert not errors(validator.validate(repaired).issues)


def test_feature_probes_answer(features: dict[str, bool]) -> None:
    assert set(features) == set(FEATURES)
    assert all(isinstance(v, bool) for v in features.values())
