"""The result vocabulary and the result objects of a scenario run.

``fail`` means the system under test is wrong; ``error`` means the testbed could not judge (its own
exception, a broken configuration, a missing tool). ``skip``: a precondition is missing (an input, a
trigger). ``omit``: the scenario does not apply to the actors or options the vendor declared.

Transport problems talking to a declared endpoint of the system under test (connection refused, TLS
handshake failure, timeout) are ``fail``: the endpoint does not work at level 1 (transport).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Result(enum.Enum):
    """Outcome of an assertion, a step or a scenario."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    SKIP = "skip"
    OMIT = "omit"


class StepFailure(AssertionError):
    """The system under test does not conform (raised by a step or assertion: a *fail*)."""

    def __init__(
        self,
        message: str,
        *,
        requirements: tuple[str, ...] = (),
        expected: Any = None,
        received: Any = None,
        location: str | None = None,
        issues: list[IssueRecord] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.requirements = requirements
        self.expected = expected
        self.received = received
        self.location = location
        self.issues = list(issues or [])


class StepError(Exception):
    """The testbed could not judge (configuration, missing component, bad scenario data): an *error*."""


class StepSkipped(Exception):  # noqa: N818 - reads as an outcome
    """A precondition is missing (an input, a trigger): the scenario is skipped."""


@dataclass(slots=True)
class IssueRecord:
    """A validator issue on a resource the system under test sent (for the report)."""

    severity: str
    code: str
    location: str
    message: str
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "location": self.location,
            "message": self.message,
        }
        if self.rule:
            data["rule"] = self.rule
        return data


@dataclass(slots=True)
class AssertionResult:
    """The verdict of one ``expect`` item."""

    kind: str
    title: str
    result: Result
    line: int
    message: str = ""
    requirements: tuple[str, ...] = ()
    expected: Any = None
    received: Any = None
    location: str | None = None
    warning_only: bool = False
    issues: list[IssueRecord] = field(default_factory=list)
    exchanges: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "title": self.title,
            "result": self.result.value,
            "line": self.line,
            "requirements": list(self.requirements),
        }
        if self.message:
            data["message"] = self.message
        if self.expected is not None:
            data["expected"] = _jsonable(self.expected)
        if self.received is not None:
            data["received"] = _jsonable(self.received)
        if self.location:
            data["location"] = self.location
        if self.warning_only:
            data["warning_only"] = True
        if self.issues:
            data["issues"] = [i.to_json() for i in self.issues]
        if self.exchanges:
            data["exchanges"] = list(self.exchanges)
        return data


@dataclass(slots=True)
class StepResult:
    """The result of one step: the exchanges it made or matched, its assertions and messages."""

    index: int
    name: str
    kind: str
    line: int
    result: Result = Result.PASS
    message: str = ""
    duration_s: float = 0.0
    requirements: tuple[str, ...] = ()
    exchanges: list[str] = field(default_factory=list)
    assertions: list[AssertionResult] = field(default_factory=list)
    messages: list[dict[str, str]] = field(default_factory=list)
    reproduce: list[str] = field(default_factory=list)

    def note(self, level: str, text: str) -> None:
        """Add an observation that does not change the result (info or warning)."""
        self.messages.append({"level": level, "text": text})

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "index": self.index,
            "name": self.name,
            "kind": self.kind,
            "line": self.line,
            "result": self.result.value,
            "duration_s": round(self.duration_s, 4),
            "requirements": list(self.requirements),
            "exchanges": list(self.exchanges),
            "assertions": [a.to_json() for a in self.assertions],
        }
        if self.message:
            data["message"] = self.message
        if self.messages:
            data["messages"] = list(self.messages)
        if self.reproduce:
            data["reproduce"] = list(self.reproduce)
        return data


@dataclass(slots=True)
class ScenarioResult:
    """The result of one scenario."""

    id: str
    result: Result
    message: str = ""
    steps: list[StepResult] = field(default_factory=list)
    started: str = ""
    duration_s: float = 0.0
    seed: str = ""

    @property
    def reproduce(self) -> list[str]:
        """Reproduction lines of the failed or errored steps."""
        return [line for s in self.steps if s.result in (Result.FAIL, Result.ERROR) for line in s.reproduce]

    def failure_text(self) -> str:
        """The failed assertions and step messages, one per line, with reproduction lines."""
        lines = [self.message] if self.message else []
        for step in self.steps:
            if step.result not in (Result.FAIL, Result.ERROR):
                continue
            if step.message:
                lines.append(f"step {step.index + 1} ({step.name}), line {step.line}: {step.message}")
            for a in step.assertions:
                if a.result in (Result.FAIL, Result.ERROR):
                    reqs = f" [{', '.join(a.requirements)}]" if a.requirements else ""
                    lines.append(f"step {step.index + 1} ({step.name}), line {a.line}: {a.title}{reqs}")
                    if a.message:
                        lines.extend("    " + m for m in a.message.splitlines())
            for r in step.reproduce:
                lines.append(f"    reproduce: {r}")
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return str(value)
