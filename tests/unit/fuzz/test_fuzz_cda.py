"""Property-based fuzzing of the CDA validator (through ``Validator.validate_bytes``): no crash, no hang,
a clear issue for every input that is not well-formed, and every DTD refused.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from testbed.api import Validator
from testbed.core.issues import IssueCode, Severity, ValidationOutcome

from .inputs import cda_input, cda_pool

POOL = cda_pool()


def _judged(outcome: ValidationOutcome) -> None:
    crashes = [i for i in outcome.issues if i.code is IssueCode.EXCEPTION]
    assert crashes == [], crashes[0].message
    for issue in outcome.issues:
        assert issue.message.strip(), issue


def _well_formed(data: bytes) -> bool:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        etree.fromstring(data, parser)
    except etree.XMLSyntaxError:
        return False
    return True


@settings(max_examples=120, deadline=5000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.randoms(use_true_random=False))
def test_hostile_cda_is_judged_not_crashed(ma_validator: Validator, rng: random.Random) -> None:
    data = cda_input(POOL, rng)
    outcome = ma_validator.validate_bytes(data, label="fuzz.xml")
    assert outcome.standard == "cda"
    _judged(outcome)
    bad = [i for i in outcome.issues if i.severity in (Severity.FATAL, Severity.ERROR)]
    if not _well_formed(data) or b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        assert bad, "a document that is not well-formed or declares a DTD got no error"


def test_the_pool_is_judged(ma_validator: Validator) -> None:
    assert len(POOL) > 20
    for doc in POOL[:10]:
        _judged(ma_validator.validate_bytes(doc, label="pool.xml"))
