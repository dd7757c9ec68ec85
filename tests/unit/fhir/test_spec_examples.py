"""The FHIR R4 specification's own examples validate against the base definitions with zero errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.fhir.validator import FhirValidator
from tests.conftest import EXAMPLES

FILES = sorted(EXAMPLES.glob("*.json"))


def test_examples_are_present() -> None:
    assert len(FILES) == 254


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_spec_example_has_no_error(validator: FhirValidator, path: Path) -> None:
    out = validator.validate(json.loads(path.read_text(encoding="utf-8")), label=path.name)
    assert [(i.location, i.message) for i in out.errors()] == []
