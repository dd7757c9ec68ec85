"""Oracle test: regenerate the snapshots shipped in hl7.fhir.r4.core and compare them with the originals."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.fhir.snapshot import SnapshotGenerator
from testbed.packages import PackageRegistry

CORE = json.loads((Path(__file__).parent / "fixtures" / "snapshot" / "core-profiles.json").read_text())


class StrippingResolver:
    """The core package, with every constraint profile reduced to its differential (as SUSHI emits them)."""

    def __init__(self, registry: PackageRegistry) -> None:
        self._registry = registry
        self._memo: dict[int, dict[str, Any]] = {}

    def strip(self, sd: dict[str, Any]) -> dict[str, Any]:
        if sd.get("derivation") != "constraint":
            return sd
        if id(sd) not in self._memo:
            self._memo[id(sd)] = {k: v for k, v in sd.items() if k != "snapshot"}
        return self._memo[id(sd)]

    def resolve(self, canonical: str, resource_type: str | None = None) -> dict[str, Any] | None:
        found = self._registry.resolve(canonical, resource_type)
        return None if found is None else self.strip(found)

    def iter_resources(self, resource_type: str) -> Iterator[dict[str, Any]]:
        return (self.strip(r) for r in self._registry.iter_resources(resource_type))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    cache = os.environ.get("TESTBED_CACHE_DIR")
    reg = PackageRegistry(cache_dir=Path(cache) if cache else tmp_path_factory.getbasetemp() / "cache")
    reg.load_core()
    return reg


@pytest.fixture(scope="module")
def stripping(registry: PackageRegistry) -> StrippingResolver:
    return StrippingResolver(registry)


@pytest.fixture(scope="module")
def generator(stripping: StrippingResolver) -> SnapshotGenerator:
    return SnapshotGenerator(stripping)


def _comparable(ed: dict[str, Any]) -> dict[str, Any]:
    out = dict(ed)
    # Invariants: order and 'source' are bookkeeping; the generator records the source everywhere.
    out["constraint"] = sorted(
        ({k: v for k, v in c.items() if k != "source"} for c in ed.get("constraint") or []),
        key=lambda c: str(c.get("key")),
    )
    if any(t.get("profile") for t in ed.get("type") or []):
        # The Java generator copied these two from the profiled type's root element (dropping the
        # base's); the generator keeps the base's.
        out.pop("condition", None)
        out.pop("isSummary", None)
    return out


def compare(shipped: dict[str, Any], generated: dict[str, Any]) -> list[str]:
    """'<element id> <property>' for each difference, or one line about differing element ids."""
    expected = shipped["snapshot"]["element"]
    got = generated["snapshot"]["element"]
    if [e["id"] for e in expected] != [e["id"] for e in got]:
        missing = [e["id"] for e in expected if e["id"] not in {g["id"] for g in got}]
        extra = [g["id"] for g in got if g["id"] not in {e["id"] for e in expected}]
        return [f"element ids differ (missing {missing[:5]}, extra {extra[:5]}, or order)"]
    out = []
    for e, g in zip(expected, got, strict=True):
        a, b = _comparable(e), _comparable(g)
        out.extend(f"{e['id']} {k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
    return out


def test_profile_list_is_complete(registry: PackageRegistry) -> None:
    shipped = {
        sd["id"]
        for sd in registry.iter_resources("StructureDefinition")
        if sd.get("derivation") == "constraint" and (sd.get("snapshot") or {}).get("element")
    }
    assert shipped == set(CORE["profiles"])
    assert len(shipped) == 439


@pytest.mark.parametrize("sd_id", CORE["profiles"])
def test_regenerated_snapshot_matches_core(
    registry: PackageRegistry, stripping: StrippingResolver, generator: SnapshotGenerator, sd_id: str
) -> None:
    shipped = registry.get("StructureDefinition", sd_id)
    assert shipped is not None
    generated = generator.ensure_snapshot(stripping.strip(shipped))
    assert "snapshot" not in stripping.strip(shipped)
    known = CORE["known_differences"].get(sd_id, {}).get("differences", [])
    assert compare(shipped, generated) == known


def test_comparison_detects_a_difference(
    registry: PackageRegistry, generator: SnapshotGenerator, stripping: StrippingResolver
) -> None:
    shipped = registry.get("StructureDefinition", "bp")
    assert shipped is not None
    generated = generator.ensure_snapshot(stripping.strip(shipped))
    tampered = json.loads(json.dumps(generated))
    tampered["snapshot"]["element"][1]["max"] = "0"
    assert compare(shipped, tampered) == ["Observation.id max"]
    tampered["snapshot"]["element"].pop()
    assert compare(shipped, tampered)[0].startswith("element ids differ")


def test_input_resources_are_not_modified(registry: PackageRegistry) -> None:
    resolver = StrippingResolver(registry)
    urls = [
        "http://hl7.org/fhir/StructureDefinition/bp",
        "http://hl7.org/fhir/StructureDefinition/vitalsigns",
        "http://hl7.org/fhir/StructureDefinition/Observation",
        "http://hl7.org/fhir/StructureDefinition/Quantity",
        "http://hl7.org/fhir/StructureDefinition/elementdefinition-de",
        "http://hl7.org/fhir/StructureDefinition/elementdefinition-question",
    ]
    before = {u: json.dumps(registry.resolve(u), sort_keys=True) for u in urls}
    gen = SnapshotGenerator(resolver)
    for u in urls:
        sd = resolver.resolve(u)
        assert sd is not None
        gen.ensure_snapshot(sd)
    assert {u: json.dumps(registry.resolve(u), sort_keys=True) for u in urls} == before
