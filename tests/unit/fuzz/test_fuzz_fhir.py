"""Property-based fuzzing of the FHIR validator: no crash, no hang, a clear issue for every bad input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.api import Validator
from testbed.core.issues import IssueCode, Severity, ValidationOutcome

from .inputs import deep_nesting, fhir_input, fhir_pool

POOL = fhir_pool()


def _judged(outcome: ValidationOutcome) -> None:
    crashes = [i for i in outcome.issues if i.code is IssueCode.EXCEPTION]
    assert crashes == [], crashes[0].message
    for issue in outcome.issues:
        assert issue.message.strip(), issue


def _parses(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


@settings(max_examples=250, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.randoms(use_true_random=False))
def test_hostile_fhir_json_is_judged_not_crashed(ma_validator: Validator, rng: random.Random) -> None:
    data = fhir_input(POOL, rng)
    outcome = ma_validator.validate_bytes(data, label="fuzz.json")
    _judged(outcome)
    if not _parses(data):
        assert any(i.severity in (Severity.FATAL, Severity.ERROR) for i in outcome.issues)


@pytest.mark.parametrize("seed", range(6))
def test_deep_nesting_gets_a_clear_error(ma_validator: Validator, seed: int) -> None:
    outcome = ma_validator.validate_bytes(deep_nesting(random.Random(seed)), label="deep.json")
    _judged(outcome)
    assert any(i.severity in (Severity.FATAL, Severity.ERROR) for i in outcome.issues)


def test_the_pool_itself_is_judged(ma_validator: Validator) -> None:
    assert len(POOL) > 50
    resource: dict[str, Any] = POOL[0]
    _judged(ma_validator.validate(resource))
