"""The national checks the profiles name (``check:`` in ``segments.yaml`` and message files).

Each check receives a field of a segment and reports issues citing the requirement IDs the content
gives for each of its parts (``checkRequirements``): identifiers against the national scheme
(authority, type code, value format and check digit), name scripts, practitioner INPE, LOINC codes,
UCUM units, observation values by value type, and the INS kept by a merge.
"""

from __future__ import annotations

from collections.abc import Callable

from testbed.hl7v2.checkctx import CheckContext
from testbed.hl7v2.checks_coded import (
    check_loinc,
    check_observation_value,
    check_person_names,
    check_ucum,
    script_of,
)
from testbed.hl7v2.checks_identity import (
    check_facility_inpe,
    check_merge_keeps_ins,
    check_patient_identifiers,
    check_practitioner_inpe,
)
from testbed.hl7v2.message import Segment
from testbed.hl7v2.profile_model import Rule

__all__ = ["FIELD_CHECKS", "MESSAGE_CHECKS", "CheckContext", "script_of"]

FIELD_CHECKS: dict[str, Callable[[CheckContext, Segment, str, Rule], None]] = {
    "patient-identifiers": check_patient_identifiers,
    "person-names": check_person_names,
    "facility-inpe": check_facility_inpe,
    "practitioner-inpe": check_practitioner_inpe,
    "loinc": check_loinc,
    "ucum": check_ucum,
    "observation-value": check_observation_value,
}
"""Field checks by the name the profiles use."""

MESSAGE_CHECKS: dict[str, Callable[[CheckContext, tuple[str, ...]], None]] = {
    "merge-keeps-ins": check_merge_keeps_ins,
}
"""Message checks by the name the profiles use."""
