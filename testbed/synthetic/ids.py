"""Generators of Moroccan identifiers, from a seeded ``random.Random`` (formats of spec §2, ma.smr.core)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from testbed.core.errors import UsageError
from testbed.identifiers import CHECK_DIGITS
from testbed.synthetic._tables import SyntheticDataError

INPE_FIRST_DIGIT = {"establishment": "1", "practitioner": "2"}
"""Invented convention of the testbed directory: establishment INPEs start with 1, practitioners' with 2."""

_CARTE_SEJOUR_PREFIXES = (
    "E",
    "EA",
    "EB",
    "R",
    "RA",
    "RB",
)  # invented (no public format, spec §2 provisional)


def _digits(rng: random.Random, count: int, *, leading_zero: bool = False) -> str:
    if leading_zero:
        return f"{rng.randrange(10**count):0{count}d}"
    return str(rng.randrange(10 ** (count - 1), 10**count))


def ins_key(body: str) -> str:
    """The two-digit key of an INS body: 97 − (body mod 97) (``mod97-2``, spec §2)."""
    if not body.isdigit():
        raise UsageError(f"An INS body must be digits, got {body!r}.")
    return f"{97 - int(body) % 97:02d}"


def make_ins(rng: random.Random) -> str:
    """An INS: 10 digits (no leading zero) and the mod97-2 key, checked with ``CHECK_DIGITS['mod97-2']``."""
    body = _digits(rng, 10)
    value = body + ins_key(body)
    if not CHECK_DIGITS["mod97-2"](value):
        raise SyntheticDataError(f"The generated INS {value} fails the mod97-2 check (generator defect).")
    return value


def make_cnie(rng: random.Random, prefixes: Sequence[str]) -> str:
    """A CNIE number: one of ``prefixes`` (1-2 letters) and 6 digits (5 for 1 card in 10: older series)."""
    prefix = prefixes[rng.randrange(len(prefixes))]
    return prefix + _digits(rng, 5 if rng.random() < 0.1 else 6, leading_zero=True)


def make_carte_sejour(rng: random.Random) -> str:
    """A residence-permit number: 1-2 letters, 7 digits and, for 1 in 3, a final letter (invented format)."""
    prefix = _CARTE_SEJOUR_PREFIXES[rng.randrange(len(_CARTE_SEJOUR_PREFIXES))]
    suffix = chr(ord("A") + rng.randrange(26)) if rng.random() < 1 / 3 else ""
    return prefix + _digits(rng, 7, leading_zero=True) + suffix


def make_cnss(rng: random.Random) -> str:
    """A CNSS registration number: 9 digits, no leading zero."""
    return _digits(rng, 9)


def make_cnops(rng: random.Random) -> str:
    """A CNOPS affiliation number: 8 to 10 digits, no leading zero (the real format is not public)."""
    return _digits(rng, 8 + rng.randrange(3))


def make_inpe(rng: random.Random, kind: str = "practitioner") -> str:
    """A 9-digit INPE; the first digit follows :data:`INPE_FIRST_DIGIT` for ``kind``."""
    try:
        first = INPE_FIRST_DIGIT[kind]
    except KeyError:
        raise UsageError(
            f"Unknown INPE kind {kind!r}: expected one of {', '.join(sorted(INPE_FIRST_DIGIT))}."
        ) from None
    return first + _digits(rng, 8, leading_zero=True)
