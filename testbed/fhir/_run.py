"""The mutable state of one validation: issues found, the resource being walked, bundle index."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity

_INDEX = re.compile(r"\[\d+\]")
_OFTYPE = re.compile(r"\.ofType\([^)]*\)")


@dataclass(slots=True)
class Run:
    """Collects issues (without duplicates) while the validator walks an instance."""

    root: dict[str, Any]
    resource: dict[str, Any]
    resource_path: str
    bundle: dict[str, dict[str, Any]] | None = None
    container: dict[str, Any] | None = None
    issues: list[Issue] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    _seen: set[tuple[str, str, str, str | None]] = field(default_factory=set)
    depth: int = 0
    hosts: list[tuple[str, str, Any, str]] = field(default_factory=list)
    in_progress: set[tuple[int, str]] = field(default_factory=set)

    def add(
        self,
        severity: Severity,
        code: IssueCode,
        location: str,
        message: str,
        rule: str | None = None,
        requirements: tuple[str, ...] = (),
    ) -> None:
        """Record an issue unless the same one is already recorded."""
        key = (severity.value, location, message, rule)
        if key in self._seen:
            return
        self._seen.add(key)
        self.issues.append(Issue(severity, code, location, message, rule, requirements))

    def has_errors(self) -> bool:
        """Whether an error or fatal issue was recorded."""
        return any(i.severity.is_error for i in self.issues)

    def child(self) -> Run:
        """A run sharing the context but collecting its issues apart (for trial matches)."""
        return Run(
            self.root,
            self.resource,
            self.resource_path,
            self.bundle,
            self.container,
            depth=self.depth,
            hosts=list(self.hosts),
            in_progress=self.in_progress,
        )

    def element_path(self, location: str) -> str:
        """``Patient.name`` for ``Bundle.entry[0].resource.name[1]`` (resource-relative, no indexes)."""
        rest = location[len(self.resource_path) :] if location.startswith(self.resource_path) else location
        rtype = self.resource.get("resourceType", "")
        return _OFTYPE.sub("", _INDEX.sub("", f"{rtype}{rest}"))
