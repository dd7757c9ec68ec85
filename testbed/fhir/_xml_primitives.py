"""Primitive values between their XML lexical form and their JSON value."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

BOOLEAN = "boolean"
DECIMAL = "decimal"
INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
NUMBER_TYPES = INTEGER_TYPES | {DECIMAL}

# Used when a StructureDefinition gives no regex (the core package always does).
_DEFAULT_REGEX = {
    BOOLEAN: "true|false",
    DECIMAL: r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
    "integer": "-?([0]|([1-9][0-9]*))",
    "positiveInt": "[1-9][0-9]*",
    "unsignedInt": "[0]|([1-9][0-9]*)",
}


class FhirDecimal(float):
    """A FHIR decimal read from XML: a ``float`` for arithmetic and JSON, which keeps its lexical form.

    FHIR decimals carry their precision (``1.50`` is not ``1.5``). The value behaves as the float
    that ``json.loads`` would give for the same JSON number, so code written for JSON input works
    unchanged; :attr:`lexical` keeps the exact text so that writing XML again gives ``1.50``.
    """

    __slots__ = ("lexical",)
    lexical: str

    def __new__(cls, lexical: str) -> FhirDecimal:
        obj = super().__new__(cls, lexical)
        obj.lexical = lexical
        return obj

    def __repr__(self) -> str:
        return self.lexical

    def __reduce__(self) -> tuple[type[FhirDecimal], tuple[str]]:
        return (FhirDecimal, (self.lexical,))

    def __deepcopy__(self, memo: dict[int, Any]) -> FhirDecimal:
        return self

    def __copy__(self) -> FhirDecimal:
        return self


class LexicalError(ValueError):
    """A primitive value whose text does not fit its type."""


def compile_regex(type_name: str, regex: str | None) -> re.Pattern[str] | None:
    """The full-match pattern used to check the lexical form of a JSON number/boolean type."""
    pattern = regex or _DEFAULT_REGEX.get(type_name)
    return re.compile(pattern) if pattern else None


def from_lexical(type_name: str, text: str, pattern: re.Pattern[str] | None) -> Any:
    """The JSON value of an XML ``value`` attribute.

    Raises:
        LexicalError: empty text, or a number/boolean whose text does not match its type's regex.
    """
    if text == "":
        raise LexicalError("an attribute value must not be empty (FHIR forbids empty attributes; omit it)")
    if type_name not in NUMBER_TYPES and type_name != BOOLEAN:
        return text
    if pattern is not None and pattern.fullmatch(text) is None:
        raise LexicalError(f"'{text}' is not a valid {type_name} (expected the form {pattern.pattern})")
    if type_name == BOOLEAN:
        if text not in ("true", "false"):
            raise LexicalError(f"'{text}' is not a valid boolean (expected true or false)")
        return text == "true"
    if type_name in INTEGER_TYPES:
        try:
            return int(text)
        except ValueError:
            raise LexicalError(f"'{text}' is not a valid {type_name}") from None
    try:
        value = FhirDecimal(text)
    except ValueError:
        raise LexicalError(f"'{text}' is not a valid decimal") from None
    if math.isinf(value):
        raise LexicalError(f"decimal '{text}' is too large for a JSON number")
    return value


def to_lexical(type_name: str, value: Any) -> str:
    """The XML ``value`` attribute text of a JSON primitive value.

    Raises:
        LexicalError: the JSON value has the wrong JSON type for this FHIR type, or cannot be written.
    """
    if type_name == BOOLEAN:
        if not isinstance(value, bool):
            raise LexicalError(f"a boolean must be JSON true or false, not {_describe(value)}")
        return "true" if value else "false"
    if type_name in INTEGER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise LexicalError(f"a {type_name} must be a JSON integer, not {_describe(value)}")
        return str(value)
    if type_name == DECIMAL:
        if isinstance(value, FhirDecimal):
            return value.lexical
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise LexicalError(f"a decimal must be a JSON number, not {_describe(value)}")
        if isinstance(value, int):
            return str(value)
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise LexicalError(f"decimal {value} is not a finite number")
            return str(value)
        if not math.isfinite(value):
            raise LexicalError(f"decimal {value} is not a finite number")
        return repr(value)
    if not isinstance(value, str):
        raise LexicalError(f"a {type_name} must be a JSON string, not {_describe(value)}")
    if value == "":
        raise LexicalError(f"a {type_name} must not be an empty string (FHIR forbids empty values; omit it)")
    return value


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string '{value}'"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
