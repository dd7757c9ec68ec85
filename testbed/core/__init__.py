"""Core: the issue model, errors, settings and protocols. Imports nothing else from testbed."""

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
]
