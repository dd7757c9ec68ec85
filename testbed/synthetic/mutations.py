"""The catalogue of deliberate errors (negative variants) applied to rendered artefacts.

A mutation takes one clean artefact of its standard (a FHIR transaction Bundle as a dict, an HL7 v2
message as ER7 text, a CDA document as XML text, or MLLP bytes) and returns the broken artefact with
the location it broke, in the standard's notation. Each mutation names the requirement(s) it breaks:
the self-consistency test proves that the validator fails on exactly that requirement.

Standard-specific catalogues (``mutations_fhir``, ``mutations_hl7v2``, ``mutations_cda``) register
their mutations here with :func:`register`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from testbed.core.errors import UsageError

STANDARDS = ("fhir", "hl7v2", "cda", "mllp")
"""Artefact kinds a mutation can apply to."""


class NotApplicable(Exception):
    """Raised by a mutation that cannot apply to this artefact (e.g. no INS to corrupt)."""


@dataclass(frozen=True, slots=True)
class Mutated:
    """The result of applying a mutation: the broken artefact and where it was broken."""

    artefact: Any
    location: str
    detail: str


@dataclass(frozen=True, slots=True)
class Mutation:
    """One deliberate error.

    Attributes:
        id: stable identifier (``fhir.ins-key``), used in manifests and by tests.
        standard: one of :data:`STANDARDS`.
        requirements: requirement IDs the broken artefact violates.
        description: what is broken, in one line.
        apply: ``apply(artefact, rng) -> Mutated``; raises :class:`NotApplicable` when it cannot apply.
        rule: the validator rule expected to fire, when more precise than the requirement (optional).
    """

    id: str
    standard: str
    requirements: tuple[str, ...]
    description: str
    apply: Callable[[Any, random.Random], Mutated]
    rule: str | None = None


_CATALOGUE: dict[str, Mutation] = {}


def register(mutation: Mutation) -> Mutation:
    """Add a mutation to the catalogue (ids are unique)."""
    if mutation.standard not in STANDARDS:
        raise ValueError(f"mutation {mutation.id}: unknown standard {mutation.standard!r}")
    if mutation.id in _CATALOGUE and _CATALOGUE[mutation.id] is not mutation:
        raise ValueError(f"mutation {mutation.id} registered twice")
    _CATALOGUE[mutation.id] = mutation
    return mutation


def catalogue(standard: str | None = None) -> list[Mutation]:
    """Registered mutations, sorted by id, optionally for one standard."""
    _load_builtin()
    found = [m for m in _CATALOGUE.values() if standard is None or m.standard == standard]
    return sorted(found, key=lambda m: m.id)


def get(mutation_id: str) -> Mutation:
    """One mutation by id (UsageError when unknown)."""
    _load_builtin()
    try:
        return _CATALOGUE[mutation_id]
    except KeyError:
        known = ", ".join(sorted(_CATALOGUE))
        raise UsageError(f"Unknown mutation '{mutation_id}'. Known: {known}.") from None


def choose(standard: str, artefact: Any, rng: random.Random, only: Iterable[str] | None = None) -> tuple[
    Mutation, Mutated
]:
    """Apply one applicable mutation of ``standard`` drawn with ``rng`` (in catalogue order, then shuffled).

    Raises:
        NotApplicable: no mutation of that standard applies to the artefact.
    """
    wanted = set(only) if only is not None else None
    candidates = [m for m in catalogue(standard) if wanted is None or m.id in wanted]
    rng.shuffle(candidates)
    for mutation in candidates:
        try:
            return mutation, mutation.apply(artefact, rng)
        except NotApplicable:
            continue
    raise NotApplicable(f"no {standard} mutation applies")


def _load_builtin() -> None:
    import importlib

    for name in ("mutations_fhir", "mutations_hl7v2", "mutations_cda"):
        try:
            importlib.import_module(f"testbed.synthetic.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"testbed.synthetic.{name}":
                raise
