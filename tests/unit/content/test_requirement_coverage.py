"""Requirement coverage across all content: FHIR package, v2 profiles, CDA schematron, scenarios.

Every requirement ID cited anywhere must exist in the catalogue; the areas whose content claims full
coverage (HL7 v2, CDA) must cite every one of their SHALL requirements; the remaining uncovered
SHALLs are listed in the report of each run (the engine's coverage), and this test prints them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testbed.requirements import RequirementCatalogue

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = ROOT / "profiles" / "ma.smr.core" / "requirements.csv"
REQ = re.compile(r"\bMA-[A-Z][A-Z0-9]*-\d{3}\b")
SOURCES = {
    "fhir": (ROOT / "profiles" / "ma.smr.core" / "package", ("*.json",)),
    "hl7v2": (ROOT / "profiles" / "ma.smr.v2", ("*.yaml",)),
    "cda": (ROOT / "profiles" / "ma.smr.cda", ("*.sch", "*.yaml")),
    "scenarios": (ROOT / "scenarios", ("*.scenario.yaml",)),
}

ENGINE_BEHAVIOUR = {
    "MA-CDA-034": "the order of CDA checks is engine behaviour, proved in tests/unit/cda",
}


def cited(source: str) -> set[str]:
    folder, patterns = SOURCES[source]
    found: set[str] = set()
    for pattern in patterns:
        for path in folder.rglob(pattern):
            if path.parent.name == "example" or path.name == "examples.json":
                continue
            found.update(REQ.findall(path.read_text(encoding="utf-8")))
    return found


@pytest.fixture(scope="module")
def catalogue() -> RequirementCatalogue:
    return RequirementCatalogue.load(CATALOGUE)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_cited_requirement_exists(catalogue: RequirementCatalogue, source: str) -> None:
    known = {r.id for r in catalogue}
    ids = cited(source)
    assert ids, f"{source} cites no requirement"
    assert sorted(ids - known) == []


@pytest.mark.parametrize(("source", "area"), [("hl7v2", "V2"), ("cda", "CDA")])
def test_content_covers_its_whole_area(catalogue: RequirementCatalogue, source: str, area: str) -> None:
    shall = {r.id for r in catalogue if r.area == area and r.strength.value == "SHALL"}
    assert sorted(shall - cited(source) - set(ENGINE_BEHAVIOUR)) == []


def test_uncovered_shall_requirements_are_known(catalogue: RequirementCatalogue) -> None:
    everywhere = set().union(*(cited(s) for s in SOURCES))
    uncovered = [r.id for r in catalogue if r.strength.value == "SHALL" and r.id not in everywhere]
    print(f"{len(uncovered)} SHALL requirements cited by no content: {', '.join(uncovered)}")
    assert len(uncovered) < len(list(catalogue))
