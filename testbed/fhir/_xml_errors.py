"""Errors of the FHIR XML converter, with the position of each problem in the input."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from testbed.core.errors import InputError


@dataclass(frozen=True, slots=True)
class XmlProblem:
    """One problem found while converting FHIR XML (or writing it).

    Attributes:
        message: What is wrong and why.
        location: XPath-like place (``/Patient/name[1]/given[2]/@value``); empty for the whole input.
        line: 1-based line in the XML input, when known.
        column: 1-based column in the XML input, when known.
        expression: The same place in FHIRPath notation (``Patient.name[0].given[1]``), when known.
    """

    message: str
    location: str = ""
    line: int | None = None
    column: int | None = None
    expression: str = ""

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}" + (f", column {self.column}" if self.column is not None else ""))
        if self.location:
            where.append(f"at {self.location}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class XmlFormatError(InputError, ValueError):
    """FHIR XML that cannot be read (or a resource that cannot be written as FHIR XML).

    Attributes:
        label: The input's name (a file path or ``<input>``).
        problems: Every problem found, in document order; never empty.
    """

    def __init__(self, label: str, problems: Iterable[XmlProblem]) -> None:
        self.label = label
        self.problems: tuple[XmlProblem, ...] = tuple(problems) or (XmlProblem("unreadable FHIR XML"),)
        super().__init__(self._render())

    def __reduce__(self) -> tuple[type[XmlFormatError], tuple[str, tuple[XmlProblem, ...]]]:
        return (type(self), (self.label, self.problems))

    @property
    def line(self) -> int | None:
        """Line of the first problem."""
        return self.problems[0].line

    @property
    def column(self) -> int | None:
        """Column of the first problem."""
        return self.problems[0].column

    @property
    def location(self) -> str:
        """XPath-like location of the first problem."""
        return self.problems[0].location

    def _render(self) -> str:
        if len(self.problems) == 1:
            return f"{self.label}: {self.problems[0]}"
        lines = [f"{self.label}: {len(self.problems)} problems in FHIR XML:"]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)
