"""Replies of the simulated SMR and the errors that become OperationOutcomes.

Every error reply is an OperationOutcome whose issues carry a severity, a code and an expression
(spec §5). When a problem has no element inside a resource, the expression names what the request
addressed: the resource type (``Patient``), its id (``Patient.id``) or version (``Patient.meta.versionId``),
a search parameter (``Patient.birthdate``), or, for the HTTP envelope, ``Bundle``/``Resource``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from testbed.core.issues import Issue, Severity

FHIR_JSON = "application/fhir+json"


@dataclass(slots=True)
class Reply:
    """What the SMR answers: status, body (a resource, raw bytes or nothing) and headers."""

    status: int
    body: dict[str, Any] | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = FHIR_JSON


def issue(severity: str, code: str, message: str, expression: str, **extra: Any) -> dict[str, Any]:
    """One ``OperationOutcome.issue``."""
    out: dict[str, Any] = {
        "severity": severity,
        "code": code,
        "diagnostics": message,
        "expression": [expression],
    }
    out.update(extra)
    return out


def operation_outcome(issues: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """An OperationOutcome resource holding ``issues``."""
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def issues_from(found: Iterable[Issue], default_expression: str, prefix: str = "") -> list[dict[str, Any]]:
    """OperationOutcome issues from validator issues, worst first; every issue gets an expression.

    ``prefix`` re-roots locations (``Bundle.entry[2].resource``) when a resource was validated alone.
    """
    out = []
    for found_issue in sorted(found, key=Issue.sort_key):
        entry = found_issue.to_fhir()
        location = found_issue.location
        if prefix and location:
            head, _, rest = location.partition(".")
            location = f"{prefix}.{rest}" if rest and "[" not in head else f"{prefix}"
        entry["expression"] = [location or default_expression]
        out.append(entry)
    return out


class FhirError(Exception):
    """An interaction that ends in an error reply (status + OperationOutcome)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        expression: str,
        *,
        issues: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.expression = expression
        self.issues = issues or [issue("error", code, message, expression)]
        self.headers = headers or {}
        self.audited = False  # set once the interaction recorded its own AuditEvent

    def reply(self) -> Reply:
        """The error as an OperationOutcome reply."""
        return Reply(self.status, operation_outcome(self.issues), dict(self.headers))


def invalid(message: str, expression: str) -> FhirError:
    """A 400 Bad Request."""
    return FhirError(400, "invalid", message, expression)


def not_found(rtype: str, rid: str) -> FhirError:
    """A 404 for a resource id."""
    return FhirError(404, "not-found", f"{rtype}/{rid} is not known to this SMR.", f"{rtype}.id")


def has_errors(found: Iterable[Issue]) -> bool:
    """Whether any issue is fatal or an error."""
    return any(i.severity in (Severity.FATAL, Severity.ERROR) for i in found)
