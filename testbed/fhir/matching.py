"""Fixed-value and pattern matching, and value extraction along simple FHIRPath paths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

_FUNC = re.compile(r"^(\w+)\((.*)\)$")


def values_equal(actual: Any, expected: Any) -> bool:
    """Exact equality as ``fixed[x]`` requires (numbers compared by value, bools never equal numbers)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(actual) == float(expected)
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or actual.keys() != expected.keys():
            return False
        return all(values_equal(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return False
        return all(values_equal(a, e) for a, e in zip(actual, expected, strict=True))
    return bool(actual == expected)


def matches_pattern(actual: Any, pattern: Any) -> bool:
    """Whether ``actual`` holds at least everything ``pattern`` holds (``pattern[x]`` semantics)."""
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            return False
        return all(k in actual and matches_pattern(actual[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = actual if isinstance(actual, list) else [actual]
        return all(any(matches_pattern(a, p) for a in items) for p in pattern)
    return values_equal(actual, pattern)


@lru_cache(maxsize=1024)
def split_path(path: str) -> tuple[str, ...]:
    """Split a discriminator path on dots that are not inside parentheses or quotes."""
    parts: list[str] = []
    depth = 0
    quote = False
    current: list[str] = []
    for ch in path:
        if ch == "'" and depth:
            quote = not quote
        elif ch == "(" and not quote:
            depth += 1
        elif ch == ")" and not quote:
            depth -= 1
        if ch == "." and depth == 0 and not quote:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return tuple(p for p in parts if p)


@lru_cache(maxsize=1024)
def parse_function(segment: str) -> tuple[str, str] | None:
    """``extension('url')`` → (``extension``, ``url``); None when the segment is a plain name."""
    m = _FUNC.match(segment)
    if not m:
        return None
    return m.group(1), m.group(2).strip().strip("'\"")


def json_children(value: Any, name: str) -> Iterator[Any]:
    """Values of a JSON property by FHIR element name; a choice name matches any ``name<Type>`` key."""
    if not isinstance(value, dict):
        return
    if name in value:
        v = value[name]
        yield from (v if isinstance(v, list) else [v])
        return
    for key, v in value.items():
        if key.startswith(name) and len(key) > len(name) and key[len(name)].isupper():
            yield from (v if isinstance(v, list) else [v])
