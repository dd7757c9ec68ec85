"""testbed: interoperability conformance testbed for Morocco's Shared Medical Record (SMR).

The public API is small: :func:`validate` for one-off checks, :class:`Validator` to validate many
inputs with content loaded once, and the issue model (:class:`Issue`, :class:`ValidationOutcome`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from testbed.core.errors import (
    ConformanceFailure,
    InputError,
    PackageError,
    ProfileError,
    TerminologyError,
    TestbedError,
    UsageError,
)
from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome

if TYPE_CHECKING:
    from testbed.api import Validator, validate

__all__ = [
    "ConformanceFailure",
    "InputError",
    "Issue",
    "IssueCode",
    "PackageError",
    "ProfileError",
    "Severity",
    "TerminologyError",
    "TestbedError",
    "UsageError",
    "ValidationOutcome",
    "Validator",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name in ("Validator", "validate"):
        from testbed import api

        return getattr(api, name)
    raise AttributeError(f"module 'testbed' has no attribute {name!r}")
