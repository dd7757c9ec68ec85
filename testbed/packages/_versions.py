"""Version ordering for canonical resolution (semver-like, tolerant of any string)."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)|([A-Za-z]+)")


def version_key(version: str | None) -> tuple[tuple[int, int | str], ...]:
    """Sort key: numeric parts compare as numbers, pre-release tags sort before the release."""
    if not version:
        return ((-1, 0),)
    main, _, pre = version.partition("-")
    key: list[tuple[int, int | str]] = [(1, int(n)) if n else (0, w) for n, w in _PART.findall(main)]
    key.append((0, pre) if pre else (2, 0))
    return tuple(key)


def version_matches(wanted: str, actual: str | None) -> bool:
    """``4.0`` matches ``4.0.1``; ``4.0.1`` matches only itself; ``x`` wildcards a part."""
    if actual is None:
        return False
    if wanted == actual:
        return True
    want_parts = wanted.split(".")
    have_parts = actual.split(".")
    if len(want_parts) > len(have_parts):
        return False
    return all(w in ("x", "*", h) for w, h in zip(want_parts, have_parts, strict=False))
