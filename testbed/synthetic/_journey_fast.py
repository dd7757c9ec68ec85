"""Fast positional constructors for the frozen, slotted record dataclasses.

A frozen dataclass assigns each field through ``object.__setattr__`` by name (about 1,500 CPU instructions per
field on CPython 3.11); the journeys build ~40 records per patient, so construction was a fifth of the
generation time. These constructors fill an instance of a mutable twin class (same fields, same slots, so the
same memory layout) with plain attribute stores, then set its ``__class__`` to the frozen class: the object is
then exactly what the dataclass constructor builds (same type, equal, same hash, still frozen). CPython checks
at each ``__class__`` assignment that the layouts match and raises ``TypeError`` otherwise.

They are only made for classes whose ``__init__`` does nothing but assign (no ``__post_init__``; defaults
do not matter since every field is given), which is checked here; a test proves they build objects equal to
the normal constructor's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from testbed.synthetic.record import (
    AllergyRecord,
    Component,
    ConditionRecord,
    DocumentRecord,
    EncounterRecord,
    ImmunizationRecord,
    ObservationRecord,
    PatientRecord,
    PrescriptionRecord,
)

T = TypeVar("T")


def fast_constructor(cls: type[T]) -> Callable[..., T]:
    """A function ``make(f1, f2, ...)`` equivalent to ``cls(f1, f2, ...)`` with every field given."""
    if not dataclasses.is_dataclass(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__: its constructor must be used")
    names = [f.name for f in dataclasses.fields(cls)]
    twin = dataclasses.make_dataclass(f"_Mutable{cls.__name__}", [(n, Any) for n in names], slots=True)
    if twin.__slots__ != cls.__dict__["__slots__"]:  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} has slots beyond its fields: its constructor must be used")
    namespace: dict[str, Any] = {"_new": object.__new__, "_twin": twin, "_cls": cls}
    lines = [f"def make({', '.join(names)}):", "    obj = _new(_twin)"]
    lines += [f"    obj.{name} = {name}" for name in names]
    lines += ["    obj.__class__ = _cls", "    return obj"]
    exec("\n".join(lines), namespace)  # noqa: S102 - code built from the dataclass's own field names
    maker: Callable[..., T] = namespace["make"]
    return maker


new_allergy = fast_constructor(AllergyRecord)
new_component = fast_constructor(Component)
new_condition = fast_constructor(ConditionRecord)
new_document = fast_constructor(DocumentRecord)
new_encounter = fast_constructor(EncounterRecord)
new_immunization = fast_constructor(ImmunizationRecord)
new_observation = fast_constructor(ObservationRecord)
new_prescription = fast_constructor(PrescriptionRecord)
new_patient = fast_constructor(PatientRecord)
