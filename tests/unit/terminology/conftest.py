"""Fixtures of the terminology tests: the R4 core package plus the synthetic resources, one per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from testbed.packages import PackageRegistry
from testbed.terminology import TerminologyService
from tests.unit.terminology.terminology_fixtures import synthetic_resources


@pytest.fixture(scope="session")
def term_registry(tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    """Its own registry (the synthetic resources must not leak into other tests), same extraction cache."""
    cache = Path(os.environ.get("TESTBED_CACHE_DIR") or tmp_path_factory.getbasetemp() / "registry-cache")
    reg = PackageRegistry(cache_dir=cache)
    reg.load_core()
    for res in synthetic_resources():
        reg.add_resource(res, package="terminology-tests")
    return reg


@pytest.fixture(scope="session")
def ts(term_registry: PackageRegistry) -> TerminologyService:
    return TerminologyService(term_registry)


@pytest.fixture()
def fresh(term_registry: PackageRegistry) -> TerminologyService:
    """A service with empty caches (for tests that look at first-use behaviour)."""
    return TerminologyService(term_registry)
