"""Session fixtures of the synthetic-population tests: the built ma.smr.core package, its rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.identifiers import IdentifierRules
from testbed.packages import PackageRegistry
from testbed.synthetic import PopulationModel

ROOT = Path(__file__).resolve().parents[3]
PROFILE = ROOT / "profiles" / "ma.smr.core"
CANONICAL = "https://fhir.smr.ma"


@pytest.fixture(scope="session")
def ma_registry(tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    reg = PackageRegistry(cache_dir=tmp_path_factory.getbasetemp() / "synthetic-cache")
    reg.load(PROFILE)
    return reg


@pytest.fixture(scope="session")
def rules(ma_registry: PackageRegistry) -> IdentifierRules:
    return IdentifierRules.from_registry(ma_registry)


@pytest.fixture(scope="session")
def ig_settings() -> dict[str, Any]:
    settings: dict[str, Any] = yaml.safe_load((PROFILE / "ig.yaml").read_text(encoding="utf-8"))["settings"]
    return settings


@pytest.fixture(scope="session")
def model() -> PopulationModel:
    return PopulationModel.load()


def codes(registry: PackageRegistry, kind: str, rid: str) -> dict[str, dict[str, Any]]:
    """Concepts of a CodeSystem (``kind`` = CodeSystem) or of a ValueSet's enumerated includes, by code."""
    resource = registry.resolve(f"{CANONICAL}/{kind}/{rid}")
    assert resource is not None, f"{kind} {rid} is not in the built package"
    if kind == "CodeSystem":
        return {c["code"]: c for c in resource["concept"]}
    return {c["code"]: c for inc in resource["compose"]["include"] for c in inc.get("concept", [])}
