"""The shape of FHIR types for (de)serialisation, indexed from StructureDefinition snapshots."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from testbed.core.errors import ProfileError
from testbed.core.resolver import CanonicalResolver
from testbed.fhir._xml_primitives import BOOLEAN, NUMBER_TYPES, compile_regex

SD_BASE = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."

PRIMITIVE = "primitive-type"
COMPLEX = "complex-type"
RESOURCE = "resource"


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One child element of a type, as XML and JSON see it.

    Attributes:
        name: The name without ``[x]`` (``value`` for ``value[x]``).
        path: The element's path in its StructureDefinition (``Patient.name``).
        is_array: Whether it repeats (base max is not "1"): a JSON array even with one item.
        types: FHIR type codes (``HumanName``, ``string``); several for a choice.
        choice: Whether the name carries a type suffix (``valueQuantity``).
        xml_attr: Whether XML holds it as an attribute (``id`` on elements, ``url`` on extensions, ``value``).
        content_path: Path of the element whose children apply (own path for inline backbone
            elements, the target of a contentReference); None when the children come from the type.
        order: Position among its siblings in the StructureDefinition.
    """

    name: str
    path: str
    is_array: bool
    types: tuple[str, ...]
    choice: bool
    xml_attr: bool
    content_path: str | None
    order: int

    def json_name(self, type_code: str) -> str:
        """The JSON property (and XML element) name for a value of this type."""
        return self.name + type_code[0].upper() + type_code[1:] if self.choice else self.name


@dataclass(slots=True)
class TypeModel:
    """Children of every path of one type (resource, complex or primitive datatype).

    Attributes:
        name: The type name (``Patient``, ``HumanName``, ``decimal``).
        kind: ``resource``, ``complex-type`` or ``primitive-type``.
        abstract: Whether instances of exactly this type are forbidden (``Resource``, ``Element``).
        root: The root path of the snapshot (usually the type name).
        pattern: For a JSON number or boolean type, the regex of its lexical form (from the snapshot).
        children: Path -> its children in StructureDefinition order.
        by_name: Path -> XML/JSON name -> (child, type code).
        attrs: Path -> attribute name -> child (children held as XML attributes).
    """

    name: str
    kind: str
    abstract: bool
    root: str
    pattern: re.Pattern[str] | None = None
    children: dict[str, tuple[ElementDef, ...]] = field(default_factory=dict)
    by_name: dict[str, dict[str, tuple[ElementDef, str]]] = field(default_factory=dict)
    attrs: dict[str, dict[str, ElementDef]] = field(default_factory=dict)


class TypeModels:
    """Builds and caches a :class:`TypeModel` per type name from the resolver's StructureDefinitions."""

    def __init__(self, resolver: CanonicalResolver) -> None:
        self._resolver = resolver
        self._models: dict[str, TypeModel | None] = {}

    def get(self, type_name: str) -> TypeModel | None:
        """The model of a type, or None if no StructureDefinition defines it."""
        if type_name not in self._models:
            sd = self._resolver.resolve(SD_BASE + type_name, "StructureDefinition")
            self._models[type_name] = _build(type_name, sd) if sd is not None else None
        return self._models[type_name]

    def require(self, type_name: str) -> TypeModel:
        """The model of a datatype the core definitions refer to.

        Raises:
            ProfileError: no usable StructureDefinition (the core package is probably not loaded).
        """
        model = self.get(type_name)
        if model is None:
            raise ProfileError(
                f"No StructureDefinition for FHIR type '{type_name}' ({SD_BASE}{type_name}): "
                "load the hl7.fhir.r4.core package into the resolver."
            )
        return model


def _build(type_name: str, sd: dict[str, Any]) -> TypeModel:
    elements = (sd.get("snapshot") or {}).get("element") or []
    if not elements:
        raise ProfileError(
            f"StructureDefinition {sd.get('url')} has no snapshot: cannot read or write '{type_name}'."
        )
    root = elements[0]["path"]
    model = TypeModel(type_name, str(sd.get("kind")), bool(sd.get("abstract")), root)
    seen: set[str] = set()
    parents_with_children = {e["path"].rsplit(".", 1)[0] for e in elements[1:] if "sliceName" not in e}
    for e in elements[1:]:
        path = e["path"]
        if "sliceName" in e or path in seen:
            continue
        seen.add(path)
        parent, _, last = path.rpartition(".")
        choice = last.endswith("[x]")
        name = last[:-3] if choice else last
        base_max = (e.get("base") or {}).get("max") or e.get("max") or "1"
        types = tuple(_type_code(t) for t in e.get("type") or [])
        ref = e.get("contentReference")
        if ref:
            content_path: str | None = ref.split("#", 1)[1]
        elif path in parents_with_children:
            content_path = path
        else:
            content_path = None
        siblings = model.children.get(parent, ())
        edef = ElementDef(
            name=name,
            path=path,
            is_array=base_max != "1",
            types=types,
            choice=choice,
            xml_attr="xmlAttr" in (e.get("representation") or ()),
            content_path=content_path,
            order=len(siblings),
        )
        model.children[parent] = (*siblings, edef)
        if edef.xml_attr:
            model.attrs.setdefault(parent, {})[name] = edef
        else:
            names = model.by_name.setdefault(parent, {})
            for code in types or ("",):
                names[edef.json_name(code) if code else name] = (edef, code)
        is_value = model.kind == PRIMITIVE and path == f"{root}.value"
        if is_value and (type_name in NUMBER_TYPES or type_name == BOOLEAN):
            model.pattern = compile_regex(type_name, _regex(e))
    return model


def _type_code(t: dict[str, Any]) -> str:
    code = str(t.get("code", ""))
    if code.startswith(SYSTEM_PREFIX):
        for ext in t.get("extension") or []:
            if ext.get("url") == FHIR_TYPE_EXT and ext.get("valueUrl"):
                return str(ext["valueUrl"])
        return "string"
    return code


def _regex(e: dict[str, Any]) -> str | None:
    for t in e.get("type") or []:
        for ext in t.get("extension") or []:
            if ext.get("url") == REGEX_EXT:
                return str(ext.get("valueString"))
    return None
