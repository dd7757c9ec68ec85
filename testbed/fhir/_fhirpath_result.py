"""The outcome of checking one constraint."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConstraintResult:
    """The outcome of one constraint on one element.

    Attributes:
        ok: True when the constraint holds, False when it is violated, None when it could not be
            evaluated (unsupported function, evaluation error, terminology or resolution not available).
        reason: Why it could not be evaluated (always set when ``ok`` is None), or a detail of the
            violation when one is known (e.g. which XHTML element is not allowed).
    """

    ok: bool | None
    reason: str | None = None


PASS = ConstraintResult(True)
FAIL = ConstraintResult(False)
