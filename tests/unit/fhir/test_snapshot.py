"""Snapshot generation from SUSHI-style differentials (fixtures under fixtures/snapshot/)."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.core.errors import ProfileError
from testbed.fhir.snapshot import SnapshotGenerator, generate_snapshot
from testbed.packages import PackageRegistry

FIXTURES = Path(__file__).parent / "fixtures" / "snapshot"
MA = "http://example.ma/fhir/StructureDefinition/"
CORE = "http://hl7.org/fhir/StructureDefinition/"


class Layered:
    """In-memory StructureDefinitions over the core package."""

    def __init__(self, base: PackageRegistry, *sds: dict[str, Any]) -> None:
        self.base = base
        self.own = {sd["url"]: sd for sd in sds}

    def resolve(self, canonical: str, resource_type: str | None = None) -> dict[str, Any] | None:
        own = self.own.get(canonical.split("|")[0])
        return own if own is not None else self.base.resolve(canonical, resource_type)

    def iter_resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        yield from (sd for sd in self.own.values() if sd["resourceType"] == resource_type)
        yield from self.base.iter_resources(resource_type)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    cache = os.environ.get("TESTBED_CACHE_DIR")
    reg = PackageRegistry(cache_dir=Path(cache) if cache else tmp_path_factory.getbasetemp() / "cache")
    reg.load_core()
    return reg


def load_fixtures() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("StructureDefinition-*.json"))]


@pytest.fixture(scope="module")
def fixtures() -> list[dict[str, Any]]:
    return load_fixtures()


@pytest.fixture(scope="module")
def resolver(registry: PackageRegistry, fixtures: list[dict[str, Any]]) -> Layered:
    return Layered(registry, *fixtures)


@pytest.fixture(scope="module")
def gen(resolver: Layered) -> SnapshotGenerator:
    return SnapshotGenerator(resolver)


def snapshot_of(gen: SnapshotGenerator, resolver: Layered, url: str) -> list[dict[str, Any]]:
    sd = resolver.resolve(url)
    assert sd is not None
    return list(gen.ensure_snapshot(sd)["snapshot"]["element"])


def by_id(elements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["id"]: e for e in elements}


def codes(ed: dict[str, Any]) -> list[str]:
    return [t["code"] for t in ed.get("type") or []]


def profile(
    *elements: dict[str, Any], base: str = CORE + "Patient", type_: str = "Patient", url: str = MA + "test"
) -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "id": url.rsplit("/", 1)[-1],
        "url": url,
        "name": "Test",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": type_,
        "baseDefinition": base,
        "derivation": "constraint",
        "differential": {"element": list(elements)},
    }


def generate(
    registry: PackageRegistry, sd: dict[str, Any], *others: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    return by_id(SnapshotGenerator(Layered(registry, sd, *others)).ensure_snapshot(sd)["snapshot"]["element"])


# ---------------------------------------------------------------------------------------- API contract


def test_sd_with_snapshot_is_returned_as_is(registry: PackageRegistry) -> None:
    patient = registry.resolve(CORE + "Patient")
    assert patient is not None
    assert SnapshotGenerator(registry).ensure_snapshot(patient) is patient


def test_input_is_not_modified_and_result_is_cached(registry: PackageRegistry) -> None:
    sds = load_fixtures()
    before = copy.deepcopy(sds)
    core_patient = json.dumps(registry.resolve(CORE + "Patient"), sort_keys=True)
    resolver = Layered(registry, *sds)
    gen = SnapshotGenerator(resolver)
    hospital = resolver.resolve(MA + "ma-patient-hospital")
    assert hospital is not None
    first = gen.ensure_snapshot(hospital)
    assert first is not hospital and "snapshot" not in hospital
    assert gen.ensure_snapshot(hospital) is first
    assert sds == before
    assert json.dumps(registry.resolve(CORE + "Patient"), sort_keys=True) == core_patient
    first["snapshot"]["element"][0]["short"] = "changed"
    assert sds == before


def test_cache_is_keyed_by_url_and_version(registry: PackageRegistry) -> None:
    v1 = profile({"id": "Patient.gender", "path": "Patient.gender", "min": 1})
    v1["version"] = "1.0.0"
    v2 = copy.deepcopy(v1)
    v2["version"] = "2.0.0"
    v2["differential"]["element"][0]["max"] = "0"
    v2["differential"]["element"][0]["min"] = 0
    gen = SnapshotGenerator(registry)
    g1, g2 = gen.ensure_snapshot(v1), gen.ensure_snapshot(v2)
    assert by_id(g1["snapshot"]["element"])["Patient.gender"]["max"] == "1"
    assert by_id(g2["snapshot"]["element"])["Patient.gender"]["max"] == "0"
    assert gen.ensure_snapshot(copy.deepcopy(v1)) is g1


def test_generate_snapshot_function(registry: PackageRegistry) -> None:
    base = registry.resolve(CORE + "Patient")
    assert base is not None
    sd = profile({"id": "Patient.active", "path": "Patient.active", "min": 1})
    out = generate_snapshot(sd, base, registry)
    assert by_id(out["snapshot"]["element"])["Patient.active"]["min"] == 1
    assert list(out)[-2:] == ["snapshot", "differential"] and "mapping" in out
    with pytest.raises(ProfileError, match="has no snapshot"):
        generate_snapshot(sd, profile(), registry)


@pytest.mark.parametrize(
    "url",
    [
        "ma-patient",
        "ma-patient-hospital",
        "ma-lab-result",
        "ma-lab-hemoglobin",
        "ma-questionnaire",
        "ma-religion",
        "ma-coverage-info",
    ],
)
def test_snapshot_is_well_formed(gen: SnapshotGenerator, resolver: Layered, url: str) -> None:
    elements = snapshot_of(gen, resolver, MA + url)
    ids = [e["id"] for e in elements]
    assert len(ids) == len(set(ids))
    for e in elements:
        assert e["path"] == ".".join(seg.split(":")[0] for seg in e["id"].split("."))
        assert {"path", "min", "max"} <= set(e["base"])
        assert list(e)[0] == "id"
    assert "type" not in elements[0]


# ---------------------------------------------------------------------------------- merging (Patient)


def test_patient_constraints_merged(gen: SnapshotGenerator, resolver: Layered) -> None:
    s = by_id(snapshot_of(gen, resolver, MA + "ma-patient"))
    root = s["Patient"]
    keys = [c["key"] for c in root["constraint"]]
    assert keys[:5] == ["dom-2", "dom-3", "dom-4", "dom-5", "dom-6"] and keys[-1] == "ma-pat-1"
    assert root["constraint"][-1]["source"] == MA + "ma-patient"
    assert root["short"] == "Patient (Morocco)"
    birth = s["Patient.birthDate"]
    assert (birth["min"], birth["max"], birth["minValueDate"], birth["mustSupport"]) == (
        1,
        "1",
        "1900-01-01",
        True,
    )
    assert birth["comment"].endswith("\r\nPrecision to the day is expected.") and len(birth["comment"]) > 40
    assert birth["base"] == {"path": "Patient.birthDate", "min": 0, "max": "1"}
    assert s["Patient.gender"]["binding"]["valueSet"].endswith("administrative-gender|4.0.1")
    assert codes(s["Patient.deceased[x]"]) == ["boolean"]
    assert s["Patient.generalPractitioner"]["type"][0]["targetProfile"] == [CORE + "Practitioner"]
    assert s["Patient.maritalStatus"]["binding"] == {
        "strength": "extensible",
        "valueSet": "http://example.ma/fhir/ValueSet/marital-status",
    }
    assert s["Patient.link"]["max"] == "0" and s["Patient.link.other"]["min"] == 1


def test_patient_order_follows_base_not_differential(gen: SnapshotGenerator, resolver: Layered) -> None:
    ids = [e["id"] for e in snapshot_of(gen, resolver, MA + "ma-patient")]
    base = resolver.resolve(CORE + "Patient")
    assert base is not None
    base_ids = [e["id"] for e in base["snapshot"]["element"]]
    assert [i for i in ids if i in base_ids] == base_ids


def test_patient_dives_into_datatypes(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-patient")
    ids = [e["id"] for e in elements]
    s = by_id(elements)
    telecom = [i for i in ids if i.startswith("Patient.telecom.")]
    assert telecom == [
        f"Patient.telecom.{n}" for n in ("id", "extension", "system", "value", "use", "rank", "period")
    ]
    assert s["Patient.telecom.system"]["min"] == 1
    assert s["Patient.telecom.system"]["base"]["path"] == "ContactPoint.system"
    assert s["Patient.name.family"]["min"] == 1 and s["Patient.name.family"]["path"] == "Patient.name.family"
    assert "Patient.address.city" not in s  # not constrained: not unfolded


def test_patient_slices(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-patient")
    ids = [e["id"] for e in elements]
    s = by_id(elements)
    ident = s["Patient.identifier"]
    assert ident["min"] == 1 and ident["slicing"]["discriminator"] == [{"type": "value", "path": "system"}]
    start = ids.index("Patient.identifier")
    assert ids[start + 1] == "Patient.identifier:cin"
    assert ids[start + 2 : start + 10] == [
        f"Patient.identifier:cin.{n}"
        for n in ("id", "extension", "use", "type", "system", "value", "period", "assigner")
    ]
    assert ids[start + 10] == "Patient.identifier:ipp"
    cin = s["Patient.identifier:cin"]
    assert (cin["sliceName"], cin["min"], cin["max"], cin["path"]) == ("cin", 0, "1", "Patient.identifier")
    assert cin["base"] == {"path": "Patient.identifier", "min": 0, "max": "*"} and "slicing" not in cin
    assert s["Patient.identifier:cin.system"]["fixedUri"] == "http://example.ma/fhir/NamingSystem/cin"
    assert s["Patient.identifier:cin.system"]["path"] == "Patient.identifier.system"
    assert s["Patient.identifier:cin.value"]["maxLength"] == 8
    assert s["Patient.identifier:ipp"]["max"] == "*"
    assert s["Patient.identifier:ipp.type"]["patternCodeableConcept"]["coding"][0]["code"] == "MR"
    assert "fixedUri" not in s["Patient.identifier:ipp.value"]


def test_patient_extension_slices(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-patient")
    ids = [e["id"] for e in elements]
    s = by_id(elements)
    assert s["Patient.extension"]["slicing"]["discriminator"] == [{"type": "value", "path": "url"}]
    assert [i for i in ids if i.startswith("Patient.extension")] == [
        "Patient.extension",
        "Patient.extension:birthPlace",
        "Patient.extension:religion",
        "Patient.extension:religion.id",
        "Patient.extension:religion.extension",
        "Patient.extension:religion.url",
        "Patient.extension:religion.value[x]",
        "Patient.extension:coverage",
    ]
    birth_place = s["Patient.extension:birthPlace"]
    assert birth_place["type"] == [{"code": "Extension", "profile": [CORE + "patient-birthPlace"]}]
    assert birth_place["short"] == "Place of Birth for patient"  # from the extension's definition
    religion = s["Patient.extension:religion"]
    assert religion["short"] == "Religion" and religion["max"] == "1"
    # children come from the extension's own (generated) snapshot
    assert s["Patient.extension:religion.url"]["fixedUri"] == MA + "ma-religion"
    assert s["Patient.extension:religion.extension"]["max"] == "0"
    value = s["Patient.extension:religion.value[x]"]
    assert codes(value) == ["CodeableConcept"] and value["mustSupport"] is True
    assert value["short"] == "Religion code" and value["binding"]["strength"] == "extensible"


# ----------------------------------------------------------------------------------- extension definitions


def test_simple_extension_definition(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-religion")
    assert [e["id"] for e in elements] == [
        "Extension",
        "Extension.id",
        "Extension.extension",
        "Extension.url",
        "Extension.value[x]",
    ]
    s = by_id(elements)
    assert s["Extension"]["short"] == "Religion" and "extension" not in s["Extension"]
    assert s["Extension.extension"]["max"] == "0"
    assert s["Extension.url"]["fixedUri"] == MA + "ma-religion"
    assert codes(s["Extension.value[x]"]) == ["CodeableConcept"]


def test_complex_extension_definition(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-coverage-info")
    s = by_id(elements)
    coding = ["id", "extension", "system", "version", "code", "display", "userSelected"]
    assert [e["id"] for e in elements] == [
        "Extension",
        "Extension.id",
        "Extension.extension",
        "Extension.extension:scheme",
        "Extension.extension:scheme.id",
        "Extension.extension:scheme.extension",
        "Extension.extension:scheme.url",
        "Extension.extension:scheme.value[x]",
        *[f"Extension.extension:scheme.value[x].{n}" for n in coding],
        "Extension.extension:number",
        "Extension.extension:number.id",
        "Extension.extension:number.extension",
        "Extension.extension:number.url",
        "Extension.extension:number.value[x]",
        "Extension.url",
        "Extension.value[x]",
    ]
    assert s["Extension.extension"]["min"] == 1
    assert (
        s["Extension.extension:scheme"]["min"] == 1
        and s["Extension.extension:scheme"]["short"] == "Coverage scheme"
    )
    assert s["Extension.extension:scheme.url"]["fixedUri"] == "scheme"
    assert codes(s["Extension.extension:scheme.url"]) == ["http://hl7.org/fhirpath/System.String"]
    assert s["Extension.extension:scheme.value[x].system"]["min"] == 1
    assert s["Extension.extension:scheme.value[x].system"]["path"] == "Extension.extension.value[x].system"
    assert s["Extension.extension:number.value[x]"]["maxLength"] == 20
    assert s["Extension.value[x]"]["max"] == "0"
    assert s["Extension.url"]["fixedUri"] == MA + "ma-coverage-info"


# ------------------------------------------------------------------------------ Observation: choices, slices


def test_lab_result(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-lab-result")
    ids = [e["id"] for e in elements]
    s = by_id(elements)
    assert [c["key"] for c in s["Observation"]["constraint"]][-1] == "ma-obs-1"
    assert s["Observation.category:lab"]["patternCodeableConcept"]["coding"][0]["code"] == "laboratory"
    assert s["Observation.code.coding:loinc.system"]["fixedUri"] == "http://loinc.org"
    assert ids.index("Observation.code.coding:loinc") == ids.index("Observation.code.coding") + 1
    assert ids.index("Observation.code.text") > ids.index("Observation.code.coding:loinc.userSelected")
    assert s["Observation.subject"]["type"][0]["targetProfile"] == [MA + "ma-patient"]
    assert codes(s["Observation.effective[x]"]) == ["dateTime", "Period"]
    value = s["Observation.value[x]"]
    assert (
        value["slicing"]["rules"] == "open" and len(codes(value)) == 11
    )  # open type slicing keeps all types
    assert value["condition"] == ["obs-7", "ma-obs-1"]
    assert codes(s["Observation.value[x]:valueQuantity"]) == ["Quantity"]
    assert s["Observation.value[x]:valueQuantity.value"]["minValueDecimal"] == 0
    assert s["Observation.value[x]:valueQuantity.system"]["path"] == "Observation.value[x].system"
    assert s["Observation.interpretation"]["max"] == "1"
    assert s["Observation.interpretation"]["binding"]["strength"] == "required"


def test_renamed_choice_inside_backbone_slice_narrows_in_place(
    gen: SnapshotGenerator, resolver: Layered
) -> None:
    s = by_id(snapshot_of(gen, resolver, MA + "ma-lab-result"))
    ratio = s["Observation.component:ratio.value[x]"]
    assert codes(ratio) == ["Ratio"] and ratio["min"] == 1 and "slicing" not in ratio
    assert s["Observation.component:ratio.value[x].numerator"]["min"] == 1
    assert not [i for i in s if i.startswith("Observation.component:ratio.value[x]:")]
    assert len(codes(s["Observation.component.value[x]"])) == 11


@pytest.mark.parametrize(
    "key",
    [
        {"id": "Observation.valueQuantity", "path": "Observation.valueQuantity"},
        {"id": "Observation.value[x]:valueQuantity", "path": "Observation.valueQuantity"},
        {
            "id": "Observation.value[x]:valueQuantity",
            "path": "Observation.value[x]",
            "sliceName": "valueQuantity",
        },
    ],
)
def test_renamed_choice_becomes_type_slice(registry: PackageRegistry, key: dict[str, Any]) -> None:
    sd = profile(
        {**key, "min": 1},
        {
            "id": key["id"] + ".system",
            "path": key["path"] + ".system",
            "min": 1,
            "fixedUri": "http://unitsofmeasure.org",
        },
        base=CORE + "Observation",
        type_="Observation",
    )
    s = generate(registry, sd)
    root = s["Observation.value[x]"]
    assert root["slicing"] == {
        "discriminator": [{"type": "type", "path": "$this"}],
        "ordered": False,
        "rules": "closed",
    }
    assert codes(root) == ["Quantity"] and root["min"] == 0
    slice_ = s["Observation.value[x]:valueQuantity"]
    assert (slice_["path"], slice_["sliceName"], slice_["min"], codes(slice_)) == (
        "Observation.value[x]",
        "valueQuantity",
        1,
        ["Quantity"],
    )
    system = s["Observation.value[x]:valueQuantity.system"]
    assert (
        system["path"] == "Observation.value[x].system" and system["fixedUri"] == "http://unitsofmeasure.org"
    )


def test_choice_with_one_type_has_children(registry: PackageRegistry) -> None:
    sd = profile(
        {"id": "Observation.effective[x]", "path": "Observation.effective[x]", "type": [{"code": "Period"}]},
        {"id": "Observation.effective[x].start", "path": "Observation.effective[x].start", "min": 1},
        base=CORE + "Observation",
        type_="Observation",
    )
    s = generate(registry, sd)
    assert s["Observation.effective[x].start"]["min"] == 1
    assert s["Observation.effective[x].start"]["base"]["path"] == "Period.start"


def test_profile_on_profile(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-lab-hemoglobin")
    ids = [e["id"] for e in elements]
    s = by_id(elements)
    # the base (itself differential-only) is generated first; its constraints are inherited
    assert s["Observation.subject"]["type"][0]["targetProfile"] == [MA + "ma-patient"]
    assert [c["key"] for c in s["Observation"]["constraint"]][-1] == "ma-obs-1"
    assert ids.index("Observation.category:extra") == ids.index("Observation.category:lab") + 1
    assert (
        s["Observation.category:extra"]["max"] == "1"
        and "patternCodeableConcept" not in s["Observation.category:extra"]
    )
    loinc = [s[f"Observation.code.coding:loinc.{n}"] for n in ("system", "code")]
    assert (loinc[0]["fixedUri"], loinc[1]["fixedCode"]) == ("http://loinc.org", "718-7")
    assert s["Observation.value[x]:valueQuantity.unit"]["min"] == 1
    assert s["Observation.value[x]:valueQuantity.code"]["fixedCode"] == "g/dL"
    assert s["Observation.value[x]:valueQuantity.system"]["fixedUri"] == "http://unitsofmeasure.org"
    assert s["Observation.component:ratio"]["max"] == "0"
    assert ids.index("Observation.component:method") > ids.index("Observation.component:ratio.interpretation")
    assert codes(s["Observation.component:method.value[x]"]) == ["CodeableConcept"]
    assert s["Observation.component:method"]["base"]["path"] == "Observation.component"


def test_reslicing_and_slicing_a_slice(gen: SnapshotGenerator, resolver: Layered) -> None:
    elements = snapshot_of(gen, resolver, MA + "ma-patient-hospital")
    ids = [e["id"] for e in elements]
    s = by_id(elements)
    ipp = s["Patient.identifier:ipp"]
    assert ipp["slicing"]["discriminator"] == [{"type": "value", "path": "assigner.display"}]
    rabat = s["Patient.identifier:ipp/chuRabat"]
    assert (rabat["sliceName"], rabat["max"]) == ("ipp/chuRabat", "1")
    assert ids.index("Patient.identifier:ipp/chuRabat") == ids.index("Patient.identifier:ipp.assigner") + 1
    assert ids.index("Patient.identifier:passport") > ids.index("Patient.identifier:ipp/chuRabat.assigner")
    # a re-slice starts from the slice it refines
    assert (
        s["Patient.identifier:ipp/chuRabat.system"]["fixedUri"] == "http://example.ma/fhir/NamingSystem/ipp"
    )
    assert s["Patient.identifier:ipp/chuRabat.assigner.display"]["fixedString"] == "CHU Rabat"
    assert s["Patient.identifier:cin"]["min"] == 1
    assert s["Patient.identifier:passport.type.coding"]["slicing"]["discriminator"][0]["path"] == "code"
    assert s["Patient.identifier:passport.type.coding:ppn.code"]["fixedCode"] == "PPN"
    assert s["Patient.extension:religion"]["max"] == "0"


def test_new_extension_slice_on_sliced_base_gets_extension_elements(
    gen: SnapshotGenerator, resolver: Layered
) -> None:
    s = by_id(snapshot_of(gen, resolver, MA + "ma-patient-hospital"))
    # as the HL7 generator does when the base already slices the element
    assert s["Patient.extension:nationality.url"]["fixedUri"] == CORE + "patient-nationality"
    assert s["Patient.extension:nationality.extension:code.url"]["fixedUri"] == "code"
    assert "Patient.extension:birthPlace.url" not in s


def test_content_reference_is_unfolded(gen: SnapshotGenerator, resolver: Layered) -> None:
    s = by_id(snapshot_of(gen, resolver, MA + "ma-questionnaire"))
    item = s["Questionnaire.item.item"]
    assert "contentReference" not in item and codes(item) == ["BackboneElement"]
    assert (item["max"], item["mustSupport"]) == ("10", True)
    assert s["Questionnaire.item.item.linkId"]["maxLength"] == 20
    assert s["Questionnaire.item.item.linkId"]["base"]["path"] == "Questionnaire.item.linkId"
    assert s["Questionnaire.item.item.text"]["min"] == 1
    assert s["Questionnaire.item.item.item"]["contentReference"] == "#Questionnaire.item"
    assert "maxLength" not in s["Questionnaire.item.linkId"]


def test_differential_without_ids_uses_order(
    registry: PackageRegistry, resolver: Layered, gen: SnapshotGenerator
) -> None:
    with_ids = resolver.resolve(MA + "ma-lab-result")
    assert with_ids is not None
    without = copy.deepcopy(with_ids)
    for e in without["differential"]["element"]:
        del e["id"]
    expected = gen.ensure_snapshot(with_ids)["snapshot"]["element"]
    got = SnapshotGenerator(Layered(registry, *load_fixtures(), without)).ensure_snapshot(without)
    assert got["snapshot"]["element"] == expected


def test_single_named_slice_without_slicing_names_the_element(registry: PackageRegistry) -> None:
    sd = profile({"id": "Patient.birthDate:dob", "path": "Patient.birthDate", "sliceName": "dob", "min": 1})
    s = generate(registry, sd)
    assert "Patient.birthDate" not in s and s["Patient.birthDate:dob"]["min"] == 1


# ------------------------------------------------------------------------------------------------ errors


def _observation(*elements: dict[str, Any]) -> dict[str, Any]:
    return profile(*elements, base=CORE + "Observation", type_="Observation")


@pytest.mark.parametrize(
    ("sd", "message"),
    [
        (profile({"id": "Patient.foo", "path": "Patient.foo"}), "no element 'foo' under 'Patient'"),
        (
            profile({"id": "Patient.name.foo", "path": "Patient.name.foo"}),
            "no element 'foo' under 'Patient.name'",
        ),
        (
            profile({"id": "Patient.birthDate", "path": "Patient.birthDate", "type": [{"code": "string"}]}),
            "type string is not allowed by the base",
        ),
        (
            profile({"id": "Patient.deceasedString", "path": "Patient.deceasedString"}),
            "type String is not allowed",
        ),
        (
            _observation({"id": "Observation.status", "path": "Observation.status", "min": 0}),
            "min 0 is less than the base min 1",
        ),
        (
            profile({"id": "Patient.gender", "path": "Patient.gender", "max": "*"}),
            "max \\* is greater than the base max 1",
        ),
        (
            profile({"id": "Patient.gender", "path": "Patient.gender", "min": 2}),
            "min 2 is greater than max 1",
        ),
        (profile({"id": "Patient.gender", "path": "Patient.gender", "max": "many"}), "neither"),
        (
            profile(
                {
                    "id": "Patient.gender",
                    "path": "Patient.gender",
                    "binding": {"strength": "extensible", "valueSet": "http://x/vs"},
                }
            ),
            "required binding cannot be relaxed",
        ),
        (
            profile({"id": "Patient.active", "path": "Patient.active", "isModifier": False}),
            "cannot change isModifier",
        ),
        (
            _observation(
                {
                    "id": "Observation.subject",
                    "path": "Observation.subject",
                    "type": [{"code": "Reference", "targetProfile": [CORE + "Practitioner"]}],
                }
            ),
            "targetProfile .*Practitioner is not allowed",
        ),
        (
            profile(
                {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a"},
                {"id": "Patient.identifier:b", "path": "Patient.identifier", "sliceName": "b"},
            ),
            "slices \\(a, b\\) are defined but it has no slicing",
        ),
        (
            profile({"id": "Patient.identifier:nope/x", "path": "Patient.identifier", "sliceName": "nope/x"}),
            "re-slice 'nope/x' of an unknown slice 'nope'",
        ),
        (
            _observation({"id": "Observation.value[x].system", "path": "Observation.value[x].system"}),
            "several types",
        ),
        (
            profile(
                {"id": "Patient.active.value", "path": "Patient.active.value"},
                {"id": "Patient.active.value.foo", "path": "Patient.active.value.foo"},
            ),
            "primitive value",
        ),
        (
            profile({"id": "Observation.status", "path": "Observation.status"}),
            "does not start with .*'Patient'",
        ),
        (
            profile({"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "b"}),
            "does not match its id",
        ),
        (
            profile(
                {
                    "id": "Patient.extension:x",
                    "path": "Patient.extension",
                    "sliceName": "x",
                    "type": [{"code": "Extension", "profile": [MA + "missing"]}],
                },
                {"id": "Patient.extension:x.value[x]", "path": "Patient.extension.value[x]"},
            ),
            "unknown StructureDefinition http://example.ma/fhir/StructureDefinition/missing",
        ),
        (
            profile(
                {"id": "Patient.identifier", "path": "Patient.identifier", "slicing": {"rules": "open"}},
                {
                    "id": "Patient.identifier:a",
                    "path": "Patient.identifier",
                    "sliceName": "a",
                    "type": [{"code": "Quantity"}],
                },
            ),
            "type Quantity is not allowed",
        ),
        (profile({"path": ""}), "has no path"),
        (
            profile({"id": "Patient.name", "path": "Patient.name", "constraint": "x"}),
            "constraint is not a list",
        ),
        (
            profile({"id": "Patient.name", "path": "Patient.name", "constraint": ["x"]}),
            "differential element 'Patient.name' is malformed",
        ),
        (
            profile({"id": "Patient.name", "path": "Patient.name", "slicing": ["x"]}),
            "slicing is not an object",
        ),
        (
            profile({"id": "Patient.name", "path": "Patient.name", "type": "HumanName"}),
            "type must be a non-empty list",
        ),
        (
            profile({"id": "Patient.name", "path": "Patient.name", "min": "1"}),
            "min '1' is not a non-negative integer",
        ),
        (profile(base="http://example.org/nope"), "unknown base definition http://example.org/nope"),
        ({**profile(), "baseDefinition": None}, "no snapshot and no baseDefinition"),
        ({**profile(), "derivation": "specialization"}, "specializations is not supported"),
        (profile(base=CORE + "Observation"), "constrains type Patient but its base"),
    ],
)
def test_logical_errors(registry: PackageRegistry, sd: dict[str, Any], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        SnapshotGenerator(registry).ensure_snapshot(sd)


def test_error_names_profile_and_element(registry: PackageRegistry) -> None:
    sd = profile(
        {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a"},
        {"id": "Patient.identifier:a.system", "path": "Patient.identifier.system", "max": "2"},
    )
    sd["differential"]["element"].insert(
        0, {"id": "Patient.identifier", "path": "Patient.identifier", "slicing": {"rules": "open"}}
    )
    with pytest.raises(ProfileError) as info:
        SnapshotGenerator(registry).ensure_snapshot(sd)
    assert str(info.value) == (
        f"Profile {MA}test, element 'Patient.identifier:a.system': max 2 is greater than the base max 1"
    )


def test_cycle_is_reported(registry: PackageRegistry) -> None:
    a = profile(url=MA + "a", base=MA + "b")
    b = profile(url=MA + "b", base=MA + "a")
    with pytest.raises(ProfileError, match="Circular snapshot generation: .*a\\|.*b\\|.*a\\|"):
        SnapshotGenerator(Layered(registry, a, b)).ensure_snapshot(a)


def _sliced_base(rules: str) -> dict[str, Any]:
    return profile(
        {
            "id": "Patient.identifier",
            "path": "Patient.identifier",
            "slicing": {
                "discriminator": [{"type": "value", "path": "system"}],
                "ordered": False,
                "rules": rules,
            },
        },
        {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a"},
        url=MA + "sliced-base",
    )


@pytest.mark.parametrize(
    ("rules", "derived", "message"),
    [
        (
            "closed",
            {"id": "Patient.identifier:b", "path": "Patient.identifier", "sliceName": "b"},
            "cannot add slice 'b': the base slicing is closed",
        ),
        (
            "closed",
            {"id": "Patient.identifier", "path": "Patient.identifier", "slicing": {"rules": "open"}},
            "rules 'open' loosen the base rules 'closed'",
        ),
        (
            "open",
            {
                "id": "Patient.identifier",
                "path": "Patient.identifier",
                "slicing": {"discriminator": [{"type": "value", "path": "use"}]},
            },
            "discriminators do not match",
        ),
        (
            "open",
            {"id": "Patient.identifier", "path": "Patient.identifier", "slicing": {"ordered": True}},
            "ordered=True contradicts the base",
        ),
    ],
)
def test_slicing_rules_of_the_base_are_enforced(
    registry: PackageRegistry, rules: str, derived: dict[str, Any], message: str
) -> None:
    base = _sliced_base(rules)
    sd = profile(derived, base=base["url"])
    with pytest.raises(ProfileError, match=message):
        SnapshotGenerator(Layered(registry, base, sd)).ensure_snapshot(sd)


@pytest.mark.parametrize(
    "derived",
    [
        {"id": "Patient.identifier:a", "path": "Patient.identifier", "sliceName": "a", "max": "1"},
        {
            "id": "Patient.identifier",
            "path": "Patient.identifier",
            "slicing": {"rules": "closed", "ordered": False},
        },
    ],
)
def test_allowed_changes_to_a_sliced_base(registry: PackageRegistry, derived: dict[str, Any]) -> None:
    base = _sliced_base("open")
    sd = profile(derived, base=base["url"])
    s = by_id(SnapshotGenerator(Layered(registry, base, sd)).ensure_snapshot(sd)["snapshot"]["element"])
    assert s["Patient.identifier:a"]["sliceName"] == "a"
    assert s["Patient.identifier"]["slicing"]["discriminator"] == [{"type": "value", "path": "system"}]


def test_allowed_changes_pass_the_checks(registry: PackageRegistry) -> None:
    sd = _observation(
        {
            "id": "Observation.status",
            "path": "Observation.status",
            "min": 1,
            "max": "1",
            "binding": {"strength": "required", "valueSet": "http://example.ma/fhir/ValueSet/status"},
        },
        {
            "id": "Observation.subject",
            "path": "Observation.subject",
            "type": [{"code": "Reference", "targetProfile": [MA + "ma-patient"]}],
        },
        {"id": "Observation.code", "path": "Observation.code", "binding": {"strength": "required"}},
        {"id": "Observation.modifierExtension", "path": "Observation.modifierExtension", "isModifier": True},
    )
    s = generate(registry, sd, *load_fixtures())
    assert s["Observation.status"]["binding"]["valueSet"] == "http://example.ma/fhir/ValueSet/status"
    assert s["Observation.code"]["binding"]["valueSet"] == "http://hl7.org/fhir/ValueSet/observation-codes"
    assert s["Observation.code"]["binding"]["strength"] == "required"
