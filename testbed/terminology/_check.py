"""The verdict of one terminology check."""

from __future__ import annotations

from dataclasses import dataclass

from testbed.core.issues import IssueCode


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """The answer to "is this code valid here?".

    Attributes:
        valid: True (valid), False (invalid) or None (cannot be checked offline: the code system is not
            shipped, the value set is unknown, ...). None is never a silent pass: ``message`` says why.
        message: For a person: what was checked (code, system, value set) and why this verdict.
        code: The FHIR issue type to report (``CODE_INVALID``, ``NOT_SUPPORTED``, ``NOT_FOUND``,
            ``INFORMATIONAL`` when valid).
        display_issue: Set when the code is valid but the display given is not one of the code's
            displays or designations (the validator reports it as a warning).
        versions: ``url|version`` of every ValueSet and CodeSystem the verdict rests on.
        system: The code system of the code (inferred from the value set when none was given).
        display: The preferred display of the code, when known.
        warnings: Other remarks on a valid code: inactive or deprecated concept, code matched in
            another case in a code system whose case sensitivity is not stated, other codings of a
            CodeableConcept that are wrong in their own code system.
    """

    valid: bool | None
    message: str
    code: IssueCode
    display_issue: str | None = None
    versions: tuple[str, ...] = ()
    system: str | None = None
    display: str | None = None
    warnings: tuple[str, ...] = ()
