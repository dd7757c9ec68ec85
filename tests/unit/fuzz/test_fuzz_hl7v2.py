"""Property-based fuzzing of the HL7 v2 validator: no exception, no hang, a clear issue for bad input."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.api import Validator
from testbed.core.issues import Severity, ValidationOutcome
from testbed.hl7v2 import Hl7v2ParseError, Hl7v2Validator, parse_batch

from .inputs import hl7v2_input, hl7v2_pool

POOL = hl7v2_pool()


@pytest.fixture(scope="module")
def v2(ma_validator: Validator) -> Hl7v2Validator:
    return ma_validator.hl7v2


def _judged(outcome: ValidationOutcome) -> None:
    for issue in outcome.issues:
        assert issue.message.strip() and isinstance(issue.location, str), issue


def _readable(data: bytes) -> bool:
    try:
        parse_batch(data)
    except Hl7v2ParseError:
        return False
    return True


@settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.randoms(use_true_random=False))
def test_hostile_v2_is_judged_not_crashed(v2: Hl7v2Validator, rng: random.Random) -> None:
    data = hl7v2_input(POOL, rng)
    outcome = v2.validate(data, "fuzz.hl7")  # an exception here is a crash
    _judged(outcome)
    if not _readable(data):
        assert any(i.severity is Severity.FATAL for i in outcome.issues), outcome.issues


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"MSH",
        b"MSH|",
        b"MSH|^~\\&",
        b"\x0bMSH|^~\\&|\x1c\r",
        b"MSH|^~\\&|" + b"|" * 100_000,
        b"\xff\xfe" * 50,
    ],
)
def test_degenerate_messages_get_a_fatal_issue(v2: Hl7v2Validator, data: bytes) -> None:
    outcome = v2.validate(data, "degenerate.hl7")
    _judged(outcome)
    assert outcome.issues and any(i.severity in (Severity.FATAL, Severity.ERROR) for i in outcome.issues)


def test_the_pool_is_judged(v2: Hl7v2Validator) -> None:
    assert len(POOL) > 30
    for text in POOL:
        _judged(v2.validate(text, "pool.hl7"))
