"""Shared fixtures: one loaded R4 core context for the whole session (loading it is the slow part)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from testbed.packages import PackageRegistry

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.fhir.context import FhirContext
    from testbed.fhir.validator import FhirValidator
    from testbed.national import NationalContent

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "fhir-r4-examples"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> PackageRegistry:
    reg = PackageRegistry(cache_dir=tmp_path_factory.getbasetemp() / "registry-cache")
    reg.load_core()
    return reg


@pytest.fixture(scope="session")
def fhir_context() -> FhirContext:
    from testbed.fhir.context import FhirContext

    return FhirContext.create()


@pytest.fixture(scope="session")
def validator(fhir_context: FhirContext) -> FhirValidator:
    from testbed.fhir.validator import FhirValidator

    return FhirValidator(fhir_context)


@pytest.fixture(scope="session")
def ma_validator(tmp_path_factory: pytest.TempPathFactory) -> Validator:
    """The library validator with the national packages of ``profiles/`` loaded (shared by the session)."""
    from testbed.api import Validator

    return Validator()


@pytest.fixture(scope="session")
def national(ma_validator: Validator) -> NationalContent:
    """The national names declared by ``profiles/ma.smr.core``."""
    from testbed.national import NationalContent

    return NationalContent.from_registry(ma_validator.context.registry)
