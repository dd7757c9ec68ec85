"""``lowBoundary()`` / ``highBoundary()`` (FHIRPath 2.0) for decimals, dates, dateTimes and times."""

from __future__ import annotations

import calendar
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fhirpathpy.engine.nodes import FP_DateTime, FP_Time, FP_Type

_PRECISION_ONLY_DECIMAL = (
    "the precision argument of lowBoundary()/highBoundary() is only supported on decimals"
)
_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")
_DATE_RE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_TIME_RE = re.compile(r"^T?(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?$")


def literal_text(value: FP_Type) -> str:
    """The text of a date/time/quantity (fhirpathpy's str() of a partial date invents the missing parts)."""
    text = getattr(value, "asStr", None)
    return text if isinstance(text, str) else str(value)


def boundary(value: Any, type_name: str | None, precision: Any, high: bool) -> Any:
    """The lowest (or highest) value a value of limited precision can stand for; [] when not applicable.

    Raises:
        ValueError: A precision argument on a date/time (not supported).
    """
    if isinstance(value, (FP_DateTime, FP_Time)):
        type_name = "time" if isinstance(value, FP_Time) else "dateTime"
        value = literal_text(value)
    elif isinstance(value, FP_Type):
        return []
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, Decimal, float)) or (isinstance(value, str) and type_name == "decimal"):
        return _decimal_boundary(str(value), precision, high)
    if isinstance(value, str):
        if type_name == "time" or (_TIME_RE.match(value) and not _DATE_RE.match(value)):
            if precision not in (None, []):
                raise ValueError(_PRECISION_ONLY_DECIMAL)
            return _time_boundary(value, high)
        if _DATE_RE.match(value):
            return _date_boundary(value, precision, high)
    return []


def _decimal_boundary(text: str, precision: Any, high: bool) -> Any:
    if not _DECIMAL_RE.match(text):
        return []
    try:
        number = Decimal(text)
    except InvalidOperation:
        return []
    digits = len(text.split(".")[1]) if "." in text else 0
    out_digits = 8 if precision in (None, []) else int(precision)
    if out_digits > 28 or out_digits < 0:
        return []
    half = Decimal(5) * Decimal(10) ** -(digits + 1)
    bound = number + half if high else number - half
    quantum = Decimal(10) ** -out_digits
    return bound.quantize(quantum) if out_digits >= digits + 1 else bound


def _date_boundary(text: str, precision: Any, high: bool) -> Any:
    m = _DATE_RE.match(text)
    if m is None:
        return []
    year, month, day, hour, minute, second, frac, tz = m.groups()
    month = month or ("12" if high else "01")
    if day is None:
        day = f"{calendar.monthrange(int(year), int(month))[1]:02d}" if high else "01"
    if precision not in (None, []):
        raise ValueError(_PRECISION_ONLY_DECIMAL)
    if hour is None:
        return FP_DateTime(f"{year}-{month}-{day}")
    hour = hour or ("23" if high else "00")
    minute = minute or ("59" if high else "00")
    second = second or ("59" if high else "00")
    frac = (frac or "")[:3].ljust(3, "9" if high else "0")
    tz = tz or ("-12:00" if high else "+14:00")
    return FP_DateTime(f"{year}-{month}-{day}T{hour}:{minute}:{second}.{frac}{tz}")


def _time_boundary(text: str, high: bool) -> Any:
    m = _TIME_RE.match(text)
    if m is None:
        return []
    hour, minute, second, frac = m.groups()
    minute = minute or ("59" if high else "00")
    second = second or ("59" if high else "00")
    frac = (frac or "")[:3].ljust(3, "9" if high else "0")
    return FP_Time(f"{hour}:{minute}:{second}.{frac}")
