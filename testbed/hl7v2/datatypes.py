"""HL7 v2.5 data types: format checks of the primitive types, components of the composite ones.

The components of composite types (CX, XPN, XAD, CE, HD, TS, …) and the base definition of each
segment's fields come from hl7apy's v2.5 tables (``hl7apy.v2_5``), the one place where the standard's
structures are already transcribed: the testbed reads them as data and does not use hl7apy's (slow)
parser. Primitive formats (DTM, DT, TM, NM, SI) are checked here.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_DTM = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?"
)
_TM = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?")
_DT = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2}))?)?")
_NM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SI = re.compile(r"\d{1,4}")


def _zone(tz: str | None) -> str | None:
    if tz and (int(tz[1:3]) > 14 or int(tz[3:5]) > 59):
        return f"the time zone offset {tz} is out of range"
    return None


def _date_parts(year: str, month: str | None, day: str | None) -> str | None:
    if month is not None and not 1 <= int(month) <= 12:
        return f"month {month} does not exist"
    if day is not None and month is not None:
        last = calendar.monthrange(int(year), int(month))[1]
        if not 1 <= int(day) <= last:
            return f"day {day} does not exist in {year}-{month}"
    return None


def _time_parts(hour: str | None, minute: str | None, second: str | None) -> str | None:
    if hour is not None and int(hour) > 23:
        return f"hour {hour} is out of range"
    if minute is not None and int(minute) > 59:
        return f"minute {minute} is out of range"
    if second is not None and int(second) > 59:
        return f"second {second} is out of range"
    return None


def check_dtm(value: str) -> str | None:
    """Why a DTM value (``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]``) is wrong, or None."""
    m = _DTM.fullmatch(value)
    if m is None:
        return "it is not a date/time in the form YYYY[MM[DD[HH[MM[SS[.SSSS]]]]]][+/-ZZZZ]"
    y, mo, d, h, mi, s, _frac, tz = m.groups()
    return _date_parts(y, mo, d) or _time_parts(h, mi, s) or _zone(tz)


def check_dt(value: str) -> str | None:
    """Why a DT value (``YYYY[MM[DD]]``) is wrong, or None."""
    m = _DT.fullmatch(value)
    if m is None:
        return "it is not a date in the form YYYY[MM[DD]]"
    return _date_parts(*m.groups())


def check_tm(value: str) -> str | None:
    """Why a TM value (``HH[MM[SS[.SSSS]]][+/-ZZZZ]``) is wrong, or None."""
    m = _TM.fullmatch(value)
    if m is None:
        return "it is not a time in the form HH[MM[SS[.SSSS]]][+/-ZZZZ]"
    h, mi, s, _frac, tz = m.groups()
    return _time_parts(h, mi, s) or _zone(tz)


def check_nm(value: str) -> str | None:
    """Why an NM value (an optionally signed decimal number) is wrong, or None."""
    return None if _NM.fullmatch(value) else "it is not a number (digits, an optional sign and decimal point)"


def check_si(value: str) -> str | None:
    """Why an SI value (a non-negative integer of up to 4 digits) is wrong, or None."""
    return None if _SI.fullmatch(value) else "it is not a sequence number (1 to 4 digits)"


PRIMITIVE_CHECKS: dict[str, Callable[[str], str | None]] = {
    "DTM": check_dtm,
    "DT": check_dt,
    "TM": check_tm,
    "NM": check_nm,
    "SI": check_si,
}
"""Format checks by primitive type; the other primitives (ST, TX, FT, ID, IS) are free text."""

PRIMITIVES = frozenset({"ST", "TX", "FT", "ID", "IS", "DTM", "DT", "TM", "NM", "SI", "GTS", "varies"})


@dataclass(frozen=True, slots=True)
class BaseField:
    """A field as HL7 v2.5 defines it: data type, table, cardinality, long name."""

    position: int
    name: str
    type: str
    table: str | None
    min: int
    max: int | None


def _v25() -> Any:
    import hl7apy.v2_5 as v25  # imported lazily: ~40 ms, only when a validator is built

    return v25


@lru_cache(maxsize=256)
def components(type_name: str) -> tuple[tuple[str, str], ...] | None:
    """The (type, name) of each component of a composite type; None for a primitive or unknown type."""
    if type_name in PRIMITIVES:
        return None
    struct = _v25().DATATYPES_STRUCTS.get(type_name)
    if struct is None:
        return None
    out = []
    for _key, definition, _card, _kind in struct:
        out.append((str(definition[2]), str(definition[3] or "").replace("_", " ").title()))
    return tuple(out)


@lru_cache(maxsize=512)
def first_checked(type_name: str) -> int | None:
    """Where format checks start in a value of this type.

    0 for a checked primitive (DTM, NM, …), the first component holding one for a composite, None when no
    part of the type has a format to check.
    """
    if type_name in PRIMITIVE_CHECKS:
        return 0
    comps = components(type_name)
    if comps is None:
        return None
    for p, (ctype, _name) in enumerate(comps, start=1):
        if ctype in PRIMITIVE_CHECKS or any(sub in PRIMITIVE_CHECKS for sub, _ in components(ctype) or ()):
            return p
    return None


@lru_cache(maxsize=512)
def base_segment(name: str) -> tuple[BaseField, ...] | None:
    """The v2.5 base definition of a segment's fields, or None for a segment v2.5 does not define."""
    struct = _v25().SEGMENTS.get(name)
    if struct is None:
        return None
    fields = []
    for i, (_key, definition, card, _kind) in enumerate(struct[1], start=1):
        if definition[0] == "leaf":
            dtype, long_name, table = definition[2], definition[3], definition[4]
        else:
            dtype, long_name, table = definition[2], definition[3], definition[4]
        lo, hi = card
        fields.append(
            BaseField(
                i,
                str(long_name or "").replace("_", " ").title(),
                str(dtype),
                str(table) if table else None,
                int(lo),
                None if hi == -1 else int(hi),
            )
        )
    return tuple(fields)


@lru_cache(maxsize=64)
def hl7_table(table_id: str) -> frozenset[str] | None:
    """The codes of an HL7 v2.5 table (``HL70001``), or None when v2.5 does not list it."""
    entry = _v25().TABLES.get(table_id)
    if entry is None:
        return None
    return frozenset(str(c) for c in entry[1])
