"""JSON representation rules and lexical checks of the FHIR R4 primitive types."""

from __future__ import annotations

import datetime as _dt
import re
from functools import cache

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_STRING = 1024 * 1024

NUMBER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt", "decimal", "integer64"})
PRIMITIVE_TYPES = frozenset(
    {
        "boolean",
        "integer",
        "integer64",
        "positiveInt",
        "unsignedInt",
        "decimal",
        "string",
        "code",
        "id",
        "markdown",
        "uri",
        "url",
        "canonical",
        "oid",
        "uuid",
        "base64Binary",
        "date",
        "dateTime",
        "instant",
        "time",
        "xhtml",
    }
)


def is_primitive(type_code: str) -> bool:
    """Whether a FHIR type code names a primitive type."""
    return type_code in PRIMITIVE_TYPES


@cache
def _compiled(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def _valid_date_parts(text: str) -> bool:
    parts = text[:10].split("-")
    if len(parts) < 3:
        return True
    try:
        _dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return False
    return True


def check_primitive(type_code: str, value: object, regex: str | None) -> str | None:
    """Check a JSON primitive value for a FHIR type; None when fine, else the reason.

    Args:
        type_code: The FHIR primitive type (``decimal``, ``dateTime`` …).
        value: The JSON value as parsed (bool, int, float, str).
        regex: The type's lexical regex from its StructureDefinition, if any.
    """
    if type_code == "boolean":
        return (
            None
            if isinstance(value, bool)
            else f"must be a JSON boolean (true or false), not {describe(value)}"
        )
    if type_code in NUMBER_TYPES:
        return _check_number(type_code, value)
    if not isinstance(value, str):
        return f"must be a JSON string, not {describe(value)}"
    if type_code == "xhtml":
        return None if value.strip() else "must not be empty"
    if value == "":
        return "must not be an empty string (omit the element instead)"
    if len(value) > MAX_STRING:
        return f"is {len(value)} characters long; FHIR strings are limited to 1 MB"
    if regex is not None and _compiled(regex).fullmatch(value) is None:
        return f"value '{_clip(value)}' does not match the {type_code} format"
    if type_code in ("date", "dateTime", "instant") and not _valid_date_parts(value):
        return f"value '{value}' is not a real calendar date"
    if type_code in ("string", "markdown") and value.strip() == "":
        return "must not be only whitespace"
    return None


def _check_number(type_code: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a JSON number, not {describe(value)}"
    if type_code == "decimal":
        return None
    if isinstance(value, float) and not value.is_integer():
        return f"value {value} must be a whole number"
    number = int(value)
    if type_code != "integer64" and not INT32_MIN <= number <= INT32_MAX:
        return f"value {number} is outside the 32-bit integer range"
    if type_code == "positiveInt" and number < 1:
        return f"value {number} must be 1 or more"
    if type_code == "unsignedInt" and number < 0:
        return f"value {number} must be 0 or more"
    return None


def describe(value: object) -> str:
    """A short description of a JSON value for messages."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f'a string ("{_clip(value)}")'
    if isinstance(value, int | float):
        return f"a number ({value})"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    return type(value).__name__


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
