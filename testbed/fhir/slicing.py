"""Slicing: assigning repeated items to slices by their discriminators, then checking each slice."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed.core.issues import IssueCode, Severity
from testbed.fhir.matching import json_children, matches_pattern, parse_function, split_path, values_equal
from testbed.fhir.references import resolve_local

if TYPE_CHECKING:
    from testbed.fhir._run import Run
    from testbed.fhir.structure import CompiledStructure, Discriminator, ElementDef, TypeRef
    from testbed.fhir.validator import FhirValidator

Item = tuple[Any, Any, "TypeRef | None", str]
_NO_VALUE: tuple[str, Any] = ("none", None)


class SliceMatcher:
    """Matches instance items to slices (value, pattern, exists, type, profile discriminators)."""

    def __init__(self, validator: FhirValidator) -> None:
        self._v = validator
        self._expected: dict[tuple[int, str], tuple[str, Any]] = {}
        self._indexes: dict[tuple[int, tuple[Discriminator, ...]], dict[str, int] | None] = {}
        self._index_owners: list[list[ElementDef]] = []  # keeps the ids used as keys alive

    def process(
        self, run: Run, items: list[Item], sliced: ElementDef, struct: CompiledStructure, location: str
    ) -> None:
        """Assign items to slices, check slice cardinality, order and closure, then validate each item."""
        slicing = sliced.slicing
        assert slicing is not None
        slices = sliced.slices
        assigned: list[list[Item]] = [[] for _ in slices]
        unmatched: list[Item] = []
        last = -1
        for item in items:
            idx = self._match(run, item, slices, slicing.discriminators, struct)
            if idx is None:
                unmatched.append(item)
                if slicing.rules == "closed":
                    run.add(
                        Severity.ERROR,
                        IssueCode.STRUCTURE,
                        item[3],
                        f"This item matches none of the slices of '{sliced.id}', and the slicing is closed.",
                        sliced.id,
                        sliced.requirements,
                    )
                continue
            if slicing.ordered and idx < last:
                run.add(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    item[3],
                    f"Slice '{slices[idx].slice_name}' is out of order: '{sliced.id}' slices are ordered.",
                    sliced.id,
                )
            if slicing.rules == "openAtEnd" and unmatched:
                run.add(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    item[3],
                    f"Items that match no slice must come after all slice items "
                    f"(openAtEnd on '{sliced.id}').",
                    sliced.id,
                )
            last = max(last, idx)
            assigned[idx].append(item)
        for s, members in zip(slices, assigned, strict=True):
            count = len(members)
            if count < s.min:
                run.add(
                    Severity.ERROR,
                    IssueCode.REQUIRED,
                    location,
                    f"Slice '{s.slice_name}' requires at least {s.min} item(s), found {count}.",
                    s.id,
                    s.requirements,
                )
            if s.max is not None and count > s.max:
                run.add(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    location,
                    f"Slice '{s.slice_name}' allows at most {s.max} item(s), found {count}.",
                    s.id,
                    s.requirements,
                )
            if s.slicing is not None and s.slices:
                self.process(run, members, s, struct, location)
            else:
                for member in members:
                    self._v.item(run, member, s, struct)
        for item in unmatched:
            self._v.item(run, item, sliced, struct)

    # ------------------------------------------------------------------ matching

    def _match(
        self,
        run: Run,
        item: Item,
        slices: list[ElementDef],
        discriminators: tuple[Discriminator, ...],
        struct: CompiledStructure,
    ) -> int | None:
        index = self._value_index(slices, discriminators, struct)
        if index is not None:
            hits = [
                index[a]
                for a in self._values(run, item[0], discriminators[0].path)
                if type(a) is str and a in index
            ]
            return min(hits) if hits else None
        for i, s in enumerate(slices):
            if not discriminators:
                trial = run.child()
                self._v.item(trial, item, s, struct)
                if not trial.has_errors():
                    return i
                continue
            if all(self._discriminator_ok(run, item, s, d, struct) for d in discriminators):
                return i
        return None

    def _value_index(
        self, slices: list[ElementDef], discriminators: tuple[Discriminator, ...], struct: CompiledStructure
    ) -> dict[str, int] | None:
        """For one value/pattern discriminator whose slices all fix a string: string → first slice index.

        Equality of strings is what both fixed and pattern matching mean for a primitive, so one lookup
        replaces trying every slice in turn; any other slicing returns None and is matched slice by slice.
        """
        key = (id(slices), discriminators)
        if key in self._indexes:
            return self._indexes[key]
        index: dict[str, int] | None = None
        if len(discriminators) == 1 and discriminators[0].type in ("value", "pattern") and slices:
            index = {}
            for i, s in enumerate(slices):
                kind, expected = self._expected_at(s, discriminators[0].path, struct)
                if kind not in ("fixed", "pattern") or type(expected) is not str:
                    index = None
                    break
                index.setdefault(expected, i)
        self._indexes[key] = index
        self._index_owners.append(slices)
        return index

    def _discriminator_ok(
        self, run: Run, item: Item, s: ElementDef, d: Discriminator, struct: CompiledStructure
    ) -> bool:
        value, _ext, tref, path = item
        if d.type in ("value", "pattern"):
            kind, expected = self._expected_at(s, d.path, struct)
            if kind == "none":
                return False
            actual = self._values(run, value, d.path)
            if kind == "fixed":
                return any(values_equal(a, expected) for a in actual)
            if kind == "pattern":
                return any(matches_pattern(a, expected) for a in actual)
            return any(self._in_value_set(a, expected) for a in actual)
        if d.type == "exists":
            target = self._element_at(s, d.path, struct)
            present = bool(self._values(run, value, d.path))
            if target is None:
                return False
            if target.min >= 1:
                return present
            if target.max == 0:
                return not present
            return True
        if d.type == "type":
            target = self._element_at(s, d.path, struct)
            if target is None or not target.types:
                return False
            allowed = {t.code for t in target.types}
            actual = self._values(run, value, d.path)
            if d.path == "$this" and tref is not None:
                return tref.code in allowed
            return any(_type_of(a) in allowed for a in actual)
        if d.type == "profile":
            target = self._element_at(s, d.path, struct)
            if target is None:
                return False
            profiles = [p for t in target.types for p in (t.profiles or t.target_profiles)]
            actual = self._values(run, value, d.path)
            return any(self._v.conforms(a, p, run, path) for a in actual for p in profiles)
        return False

    def _in_value_set(self, actual: Any, value_set: str) -> bool:
        term = self._v.ctx.terminology
        if isinstance(actual, str):
            return term.validate_code(value_set, system=None, code=actual).valid is True
        if isinstance(actual, dict):
            if "coding" in actual:
                return term.validate_codings(value_set, actual.get("coding") or []).valid is True
            if isinstance(actual.get("code"), str):
                return (
                    term.validate_code(value_set, system=actual.get("system"), code=actual["code"]).valid
                    is True
                )
        return False

    def _expected_at(self, s: ElementDef, path: str, struct: CompiledStructure) -> tuple[str, Any]:
        key = (id(s), path)
        cached = self._expected.get(key)
        if cached is not None:
            return cached
        result: tuple[str, Any] = _NO_VALUE
        if (
            path == "url"
            and not s.children
            and s.types
            and s.types[0].code == "Extension"
            and s.types[0].profiles
        ):
            result = ("fixed", s.types[0].profiles[0])
        else:
            target = self._element_at(s, path, struct)
            if target is not None:
                if target.fixed is not None:
                    result = ("fixed", target.fixed[1])
                elif target.pattern is not None:
                    result = ("pattern", target.pattern[1])
                elif target.binding_strength == "required" and target.binding_value_set:
                    result = ("binding", target.binding_value_set)
        self._expected[key] = result
        return result

    def _element_at(self, s: ElementDef, path: str, struct: CompiledStructure) -> ElementDef | None:
        elem: ElementDef | None = s
        for seg in split_path(path):
            if elem is None:
                return None
            if seg == "$this":
                continue
            func = parse_function(seg)
            if func is not None:
                name, arg = func
                if name == "extension":
                    elem = self._extension_slice(elem, arg, struct)
                    continue
                if name in ("resolve", "ofType"):
                    continue
                return None
            elem = self._child_def(elem, seg)
        return elem

    def _child_def(self, elem: ElementDef, name: str) -> ElementDef | None:
        children = elem.children
        if not children:
            ctx = self._v.ctx
            profiles = [p for t in elem.types for p in t.profiles]
            structure = ctx.structure(profiles[0]) if profiles else None
            if structure is None and len(elem.types) == 1:
                structure = ctx.structure_for_type(elem.types[0].code)
            if structure is None:
                return None
            children = structure.root.children
        return children.get(name) or children.get(name + "[x]")

    def _extension_slice(self, elem: ElementDef, url: str, struct: CompiledStructure) -> ElementDef | None:
        ext = self._child_def(elem, "extension")
        if ext is None:
            return None
        for sl in ext.slices:
            if any(url in t.profiles for t in sl.types):
                return sl
            url_child = sl.children.get("url")
            if url_child is not None and url_child.fixed is not None and url_child.fixed[1] == url:
                return sl
        return None

    def _values(self, run: Run, value: Any, path: str) -> list[Any]:
        if type(value) is dict and path.isidentifier():
            found = value.get(path)
            if found is not None:
                return found if type(found) is list else [found]
        current = [value]
        for seg in split_path(path):
            if seg == "$this":
                continue
            func = parse_function(seg)
            if func is None:
                current = [x for c in current for x in json_children(c, seg)]
                continue
            name, arg = func
            if name == "extension":
                current = [
                    e
                    for c in current
                    if isinstance(c, dict)
                    for e in c.get("extension") or ()
                    if isinstance(e, dict) and e.get("url") == arg
                ]
            elif name == "resolve":
                current = [
                    r
                    for c in current
                    if isinstance(c, dict) and isinstance(c.get("reference"), str)
                    for r in [resolve_local(run, c["reference"])]
                    if r is not None
                ]
            elif name == "ofType":
                current = [c for c in current if _type_of(c) == arg]
            else:
                return []
        return current


def _type_of(value: Any) -> str | None:
    if isinstance(value, dict):
        rtype = value.get("resourceType")
        return rtype if isinstance(rtype, str) else None
    return None
