"""StructureDefinition snapshots compiled into element trees the validator walks quickly."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from testbed.core.errors import ProfileError

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SD_BASE = "http://hl7.org/fhir/StructureDefinition/"

_SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}


@dataclass(frozen=True, slots=True)
class TypeRef:
    """One allowed type of an element, with its profiles and (for references) target profiles."""

    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()
    regex: str | None = None

    @property
    def json_suffix(self) -> str:
        """The suffix of a choice element's JSON name for this type (``Quantity``, ``DateTime``)."""
        return self.code[0].upper() + self.code[1:]


@dataclass(frozen=True, slots=True)
class Constraint:
    """An invariant: key, severity, human text and FHIRPath expression."""

    key: str
    severity: str
    human: str
    expression: str | None
    source: str | None = None
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Discriminator:
    """A slicing discriminator (type ∈ value, exists, pattern, type, profile)."""

    type: str
    path: str


@dataclass(frozen=True, slots=True)
class Slicing:
    """How an element is sliced."""

    discriminators: tuple[Discriminator, ...]
    rules: str
    ordered: bool


@dataclass(slots=True, eq=False)
class ElementDef:
    """One element of a snapshot, with its children and slices resolved into a tree."""

    id: str
    path: str
    name: str
    min: int
    max: int | None
    types: tuple[TypeRef, ...]
    fixed: tuple[str, Any] | None = None
    pattern: tuple[str, Any] | None = None
    binding_strength: str | None = None
    binding_value_set: str | None = None
    constraints: tuple[Constraint, ...] = ()
    slicing: Slicing | None = None
    slice_name: str | None = None
    content_reference: str | None = None
    max_length: int | None = None
    requirements: tuple[str, ...] = ()
    children: dict[str, ElementDef] = field(default_factory=dict)
    slices: list[ElementDef] = field(default_factory=list)
    base_max: int | None | str = "same"
    is_choice: bool = False
    is_array: bool = False
    _keys: dict[str, tuple[ElementDef, TypeRef | None]] | None = None
    _required: tuple[ElementDef, ...] | None = None
    value_constraints: bool | None = None
    """Set by the validator: whether a primitive holding a value has constraints besides ele-1."""

    def __post_init__(self) -> None:
        self.is_choice = self.name.endswith("[x]")
        # JSON array-ness follows the base definition's max, whatever a profile narrows it to.
        limit = self.max if self.base_max == "same" else self.base_max
        self.is_array = limit is None or (isinstance(limit, int) and limit > 1)

    def required_children(self) -> tuple[ElementDef, ...]:
        """Children with min ≥ 1 or with a slice of min ≥ 1."""
        if self._required is None:
            self._required = tuple(
                c for c in self.children.values() if c.min > 0 or any(s.min > 0 for s in c.slices)
            )
        return self._required

    def json_keys(self) -> dict[str, tuple[ElementDef, TypeRef | None]]:
        """JSON property name → (child, type when the name fixes a choice type)."""
        if self._keys is None:
            keys: dict[str, tuple[ElementDef, TypeRef | None]] = {}
            for child in self.children.values():
                if child.is_choice:
                    stem = child.name[:-3]
                    for t in child.types:
                        keys[stem + t.json_suffix] = (child, t)
                else:
                    keys[child.name] = (child, child.types[0] if len(child.types) == 1 else None)
            self._keys = keys
        return self._keys


@dataclass(slots=True, eq=False)
class CompiledStructure:
    """A StructureDefinition compiled for validation."""

    url: str
    version: str | None
    name: str
    type: str
    kind: str
    derivation: str | None
    root: ElementDef
    by_id: dict[str, ElementDef]
    contexts: tuple[tuple[str, str], ...] = ()
    context_invariants: tuple[str, ...] = ()
    base_definition: str | None = None

    @property
    def label(self) -> str:
        """``url|version`` of the definition."""
        return f"{self.url}|{self.version}" if self.version else self.url


def _type_refs(raw: list[dict[str, Any]]) -> tuple[TypeRef, ...]:
    out = []
    for t in raw or []:
        code = t.get("code", "")
        regex = None
        for ext in t.get("extension") or []:
            if ext.get("url") == FHIR_TYPE_EXT:
                code = ext.get("valueUrl") or ext.get("valueUri") or code
            elif ext.get("url") == REGEX_EXT:
                regex = ext.get("valueString")
        code = _SYSTEM_TYPES.get(code, code)
        out.append(TypeRef(code, tuple(t.get("profile") or ()), tuple(t.get("targetProfile") or ()), regex))
    return tuple(out)


def _prefixed(element: dict[str, Any], prefix: str) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith(prefix) and len(key) > len(prefix) and key[len(prefix)].isupper():
            return key[len(prefix) :], value
    return None


def _max(value: str | None) -> int | None:
    if value is None or value == "*":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ProfileError(f"Element max '{value}' is not a number or '*'.") from exc


_REQ_RE = re.compile(r"\b[A-Z][A-Z0-9]*-[A-Z0-9]+-\d{3}\b")  # requirement IDs such as XX-AREA-001


def _element(raw: dict[str, Any], sd_url: str) -> ElementDef:
    path = raw.get("path")
    if not isinstance(path, str):
        raise ProfileError(f"{sd_url}: an element of the snapshot has no path.")
    eid = raw.get("id") or path
    last = eid.rsplit(".", 1)[-1]
    name = last.split(":", 1)[0]
    slicing = None
    if isinstance(raw.get("slicing"), dict):
        s = raw["slicing"]
        slicing = Slicing(
            tuple(
                Discriminator(d.get("type", "value"), d.get("path", "$this"))
                for d in s.get("discriminator") or ()
            ),
            s.get("rules", "open"),
            bool(s.get("ordered", False)),
        )
    binding = raw.get("binding") or {}
    constraints = tuple(
        Constraint(
            c.get("key", "?"),
            c.get("severity", "error"),
            c.get("human", ""),
            c.get("expression"),
            c.get("source"),
            tuple(dict.fromkeys(_REQ_RE.findall(c.get("requirements") or ""))),
        )
        for c in raw.get("constraint") or ()
    )
    reqs = tuple(dict.fromkeys(_REQ_RE.findall(raw.get("requirements") or "")))
    base = raw.get("base")
    base_max: int | None | str = _max(base.get("max")) if isinstance(base, dict) and "max" in base else "same"
    return ElementDef(
        id=eid,
        path=path,
        name=name,
        min=int(raw.get("min", 0)),
        max=_max(raw.get("max")),
        types=_type_refs(raw.get("type") or []),
        fixed=_prefixed(raw, "fixed"),
        pattern=_prefixed(raw, "pattern"),
        binding_strength=binding.get("strength"),
        binding_value_set=binding.get("valueSet"),
        constraints=constraints,
        slicing=slicing,
        slice_name=raw.get("sliceName"),
        content_reference=raw.get("contentReference"),
        max_length=raw.get("maxLength"),
        requirements=reqs,
        base_max=base_max,
    )


def _parent_and_slice(eid: str) -> tuple[str | None, str | None]:
    """(id of the parent element, id of the sliced element) for an element id."""
    head, dot, last = eid.rpartition(".")
    if ":" in last:
        name, _, slice_name = last.partition(":")
        if "/" in slice_name:
            base_slice = slice_name.rsplit("/", 1)[0]
            return None, f"{head}{dot}{name}:{base_slice}"
        return None, f"{head}{dot}{name}"
    return (head if dot else None), None


def compile_structure(sd: dict[str, Any]) -> CompiledStructure:
    """Build the element tree of a StructureDefinition that has a snapshot.

    Raises:
        ProfileError: no snapshot, or an element whose parent is missing.
    """
    url = sd.get("url", "?")
    elements = (sd.get("snapshot") or {}).get("element")
    if not elements:
        raise ProfileError(f"StructureDefinition {url} has no snapshot to validate with.")
    by_id: dict[str, ElementDef] = {}
    root: ElementDef | None = None
    for raw in elements:
        el = _element(raw, url)
        by_id[el.id] = el
        if root is None:
            root = el
            continue
        parent_id, sliced_id = _parent_and_slice(el.id)
        if sliced_id is not None:
            sliced = by_id.get(sliced_id)
            if sliced is None:
                raise ProfileError(
                    f"{url}: slice '{el.id}' comes before the element it slices ({sliced_id})."
                )
            sliced.slices.append(el)
        else:
            parent = by_id.get(parent_id or "")
            if parent is None:
                raise ProfileError(
                    f"{url}: element '{el.id}' has no parent element '{parent_id}' in the snapshot."
                )
            parent.children[el.name] = el
    assert root is not None
    rid = root.children.get("id")
    if sd.get("kind") == "resource" and rid is not None and rid.types and rid.types[0].code == "string":
        # R4 snapshots declare Resource.id as System.String/"string", but the specification types it as `id`.
        rid.types = (TypeRef("id"),)
    contexts = tuple(
        (c.get("type", "element"), c.get("expression", ""))
        for c in sd.get("context") or ()
        if isinstance(c, dict)
    )
    return CompiledStructure(
        url=url,
        version=sd.get("version"),
        name=sd.get("name", sd.get("id", "?")),
        type=sd.get("type", root.path.split(".")[0]),
        kind=sd.get("kind", "resource"),
        derivation=sd.get("derivation"),
        root=root,
        by_id=by_id,
        contexts=contexts,
        context_invariants=tuple(sd.get("contextInvariant") or ()),
        base_definition=sd.get("baseDefinition"),
    )
