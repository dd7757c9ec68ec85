"""The one issue model shared by every validator of the testbed.

An :class:`Issue` says how bad (:class:`Severity`), what kind (:class:`IssueCode`, the FHIR
IssueType), where (a location in the notation of the standard: FHIRPath, XPath or an HL7 v2
path), what happened, which rule (constraint key or element id) and which national
requirements it touches. A :class:`ValidationOutcome` gathers the issues of one input and
converts to a FHIR OperationOutcome.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


class Severity(enum.Enum):
    """Issue severity, in decreasing order of gravity (FHIR issue-severity)."""

    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"

    @property
    def rank(self) -> int:
        """0 for fatal up to 3 for information; lower is worse."""
        return _SEVERITY_RANK[self]

    @property
    def is_error(self) -> bool:
        """True for fatal and error: the input does not conform."""
        return self in (Severity.FATAL, Severity.ERROR)


_SEVERITY_RANK = {Severity.FATAL: 0, Severity.ERROR: 1, Severity.WARNING: 2, Severity.INFORMATION: 3}


class IssueCode(enum.Enum):
    """The FHIR IssueType codes (http://hl7.org/fhir/issue-type) used by the testbed."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    INVARIANT = "invariant"
    SECURITY = "security"
    LOGIN = "login"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    FORBIDDEN = "forbidden"
    SUPPRESSED = "suppressed"
    PROCESSING = "processing"
    NOT_SUPPORTED = "not-supported"
    DUPLICATE = "duplicate"
    MULTIPLE_MATCHES = "multiple-matches"
    NOT_FOUND = "not-found"
    DELETED = "deleted"
    TOO_LONG = "too-long"
    CODE_INVALID = "code-invalid"
    EXTENSION = "extension"
    TOO_COSTLY = "too-costly"
    BUSINESS_RULE = "business-rule"
    CONFLICT = "conflict"
    TRANSIENT = "transient"
    LOCK_ERROR = "lock-error"
    NO_STORE = "no-store"
    EXCEPTION = "exception"
    TIMEOUT = "timeout"
    INCOMPLETE = "incomplete"
    THROTTLED = "throttled"
    INFORMATIONAL = "informational"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding of a validator.

    Attributes:
        severity: How bad it is.
        code: What kind of problem (FHIR IssueType).
        location: Where, in the standard's own notation (``Patient.identifier[1].value``,
            ``/ClinicalDocument/id``, ``PID-3[2].1``); empty when it concerns the whole input.
        message: What happened and why, in one or two sentences for a person.
        rule: The constraint key (``ele-1``) or element id (``Patient.identifier:ins``) broken, if any.
        requirements: National requirement IDs (``MA-PAT-001``) this issue bears on.
    """

    severity: Severity
    code: IssueCode
    location: str
    message: str
    rule: str | None = None
    requirements: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by ``testbed validate --format json``."""
        return {
            "severity": self.severity.value,
            "code": self.code.value,
            "location": self.location,
            "message": self.message,
            "rule": self.rule,
            "requirements": list(self.requirements),
        }

    def to_fhir(self) -> dict[str, Any]:
        """Return the issue as an ``OperationOutcome.issue`` element."""
        out: dict[str, Any] = {"severity": self.severity.value, "code": self.code.value}
        if self.rule or self.requirements:
            codings = []
            if self.rule:
                codings.append({"system": RULE_SYSTEM, "code": self.rule})
            codings.extend({"system": REQUIREMENT_SYSTEM, "code": r} for r in self.requirements)
            out["details"] = {"coding": codings}
        out["diagnostics"] = self.message
        if self.location:
            out["expression"] = [self.location]
        return out

    def sort_key(self) -> tuple[int, str, str]:
        """Worst first, then by location."""
        return (self.severity.rank, self.location, self.message)


RULE_SYSTEM = "urn:testbed:rule"
REQUIREMENT_SYSTEM = "urn:testbed:requirement"


@dataclass(slots=True)
class ValidationOutcome:
    """All the issues found in one input (a file, a resource, a message, a document).

    Attributes:
        source: What was validated (a file path or a label).
        standard: ``fhir``, ``hl7v2``, ``cda`` or ``unknown``.
        issues: The findings, in the order found.
        versions: Versions of the content used for the verdict (packages, code systems).
    """

    source: str
    standard: str = "unknown"
    issues: list[Issue] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fatal(cls, source: str, standard: str, message: str) -> ValidationOutcome:
        """An outcome holding one fatal issue: the input could not be read as the standard it claims."""
        return cls(
            source=source, standard=standard, issues=[Issue(Severity.FATAL, IssueCode.STRUCTURE, "", message)]
        )

    @property
    def valid(self) -> bool:
        """True when no issue is fatal or an error."""
        return not any(i.severity.is_error for i in self.issues)

    def errors(self) -> list[Issue]:
        """The fatal and error issues."""
        return [i for i in self.issues if i.severity.is_error]

    def count(self, severity: Severity) -> int:
        """How many issues have this severity."""
        return sum(1 for i in self.issues if i.severity is severity)

    def extend(self, issues: Iterable[Issue]) -> None:
        """Add issues."""
        self.issues.extend(issues)

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def sorted_issues(self) -> list[Issue]:
        """Issues worst first, then by location."""
        return sorted(self.issues, key=Issue.sort_key)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object for one input in ``testbed validate --format json``."""
        return {
            "file": self.source,
            "standard": self.standard,
            "valid": self.valid,
            "issues": [i.to_dict() for i in self.issues],
        }

    def to_operation_outcome(self) -> dict[str, Any]:
        """A FHIR R4 OperationOutcome holding every issue (an ``informational`` one when empty)."""
        issues = [i.to_fhir() for i in self.issues]
        if not issues:
            issues = [{"severity": "information", "code": "informational", "diagnostics": "No issues found."}]
        return {"resourceType": "OperationOutcome", "issue": issues}
