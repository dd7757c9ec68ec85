"""FHIR XML to the FHIR JSON form, driven by the StructureDefinitions."""

from __future__ import annotations

import copy
import functools
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from testbed.fhir._xml_errors import XmlFormatError, XmlProblem
from testbed.fhir._xml_model import PRIMITIVE, RESOURCE, ElementDef, TypeModel, TypeModels
from testbed.fhir._xml_primitives import LexicalError, from_lexical
from testbed.fhir._xml_safe import FHIR_NS, XHTML_NS, XSI_NS

XHTML = "xhtml"
_XSI_PREFIX = "{" + XSI_NS + "}"


@dataclass(slots=True)
class _Pending:
    message: str
    element: etree._Element | None
    location: str
    expression: str


@dataclass(slots=True)
class _Slot:
    """The values gathered for one child element definition of one parent."""

    edef: ElementDef
    json_name: str
    primitive: bool
    values: list[Any] = field(default_factory=list)
    extras: list[dict[str, Any] | None] = field(default_factory=list)


def read_resource(models: TypeModels, root: etree._Element, raw: bytes, label: str) -> dict[str, Any]:
    """The JSON form of the resource whose XML root element is ``root``.

    Raises:
        XmlFormatError: every problem found, each with its line, column and location.
    """
    reader = _Reader(models)
    local = etree.QName(root).localname if isinstance(root.tag, str) else "?"
    try:
        result = reader.resource(root, f"/{local}", "")
    except RecursionError:
        too_deep = XmlProblem("the XML is nested too deeply to be a FHIR resource")
        raise XmlFormatError(label, [too_deep]) from None
    if reader.pending or result is None:
        raise XmlFormatError(label, _locate(reader.pending, root, raw))
    return result


class _Reader:
    def __init__(self, models: TypeModels) -> None:
        self.models = models
        self.pending: list[_Pending] = []

    def problem(self, message: str, element: etree._Element | None, location: str, expression: str) -> None:
        self.pending.append(_Pending(message, element, location, expression))

    def resource(self, el: etree._Element, loc: str, parent_expr: str) -> dict[str, Any] | None:
        ns, local = _split(el.tag)
        if ns != FHIR_NS:
            where = f"in namespace '{ns}'" if ns else "in no namespace"
            self.problem(
                f"the resource element '{local}' is {where}; FHIR XML elements must be in the namespace "
                f"'{FHIR_NS}' (add xmlns=\"{FHIR_NS}\")",
                el,
                loc,
                parent_expr,
            )
            return None
        model = self.models.get(local)
        if model is None or model.kind != RESOURCE:
            self.problem(f"'{local}' is not a FHIR R4 resource type", el, loc, parent_expr)
            return None
        if model.abstract:
            self.problem(f"'{local}' is an abstract type: use a concrete resource type", el, loc, parent_expr)
            return None
        out: dict[str, Any] = {"resourceType": local}
        out.update(self.content(el, model, model.root, loc, parent_expr or local))
        return out

    def content(self, el: etree._Element, model: TypeModel, path: str, loc: str, expr: str) -> dict[str, Any]:
        """The JSON object for an element whose children are those of ``path`` in ``model``."""
        fields: list[tuple[int, str, Any]] = []
        attr_defs = model.attrs.get(path, {})
        for name, text in el.attrib.items():
            ns, local = _split(name)
            if ns == XSI_NS:
                continue
            edef = attr_defs.get(name) if ns is None else None
            if edef is None:
                allowed = ", ".join(sorted(attr_defs)) or "none"
                self.problem(
                    f"unknown attribute '{local}' (allowed here: {allowed})", el, f"{loc}/@{local}", expr
                )
                continue
            is_value = model.kind == PRIMITIVE and name == "value"
            try:
                pattern = model.pattern if is_value else None
                value = from_lexical(model.name if is_value else "string", text, pattern)
                fields.append((edef.order, name, value))
            except LexicalError as exc:
                self.problem(f"bad value of attribute '{name}': {exc}", el, f"{loc}/@{name}", expr)
        if el.text is not None and el.text.strip():
            self.problem(
                f"text content '{_clip(el.text)}' is not allowed here: FHIR puts values in a "
                "'value' attribute",
                el,
                loc,
                expr,
            )
        slots: dict[str, _Slot] = {}
        counts: dict[str, int] = {}
        last: list[ElementDef] = []
        for child in el:
            if child.tail is not None and child.tail.strip():
                self.problem(f"text content '{_clip(child.tail)}' is not allowed here", el, loc, expr)
            if isinstance(child.tag, str):  # not a comment
                self.child(child, model, path, loc, expr, slots, counts, last)
        out: dict[str, Any] = {}
        if fields or slots:
            for slot in slots.values():
                fields.append((slot.edef.order, "", slot))
            for _order, name, value in sorted(fields, key=_first):
                if name:
                    out[name] = value
                else:
                    _emit(out, value)
        return out

    def child(
        self,
        child: etree._Element,
        model: TypeModel,
        path: str,
        loc: str,
        expr: str,
        slots: dict[str, _Slot],
        counts: dict[str, int],
        last: list[ElementDef],
    ) -> None:
        """Read one child element into ``slots``; ``last`` holds the latest definition seen, for order."""
        ns, local = _split(child.tag)
        counts[local] = counts.get(local, 0) + 1
        entry = model.by_name.get(path, {}).get(local)
        if entry is None:
            cloc = f"{loc}/{local}[{counts[local]}]" if counts[local] > 1 else f"{loc}/{local}"
            self.problem(self._unknown(local, ns, model, path), child, cloc, f"{expr}.{local}")
            return
        edef, code = entry
        jname = edef.json_name(code) if code else edef.name
        if edef.is_array:
            cloc, cexpr = f"{loc}/{local}[{counts[local]}]", f"{expr}.{jname}[{counts[local] - 1}]"
        else:
            cloc = f"{loc}/{local}[{counts[local]}]" if counts[local] > 1 else f"{loc}/{local}"
            cexpr = f"{expr}.{jname}"
        wanted_ns = XHTML_NS if code == XHTML else FHIR_NS
        if ns != wanted_ns:
            where = f"namespace '{ns}'" if ns else "no namespace"
            self.problem(f"element '{local}' is in {where}; it must be in '{wanted_ns}'", child, cloc, cexpr)
            return
        if last and edef.order < last[0].order:
            self.problem(
                f"element '{local}' is out of order: it must come before '{last[0].name}' "
                "(FHIR XML elements follow the order of the definition)",
                child,
                cloc,
                cexpr,
            )
        else:
            last[:] = [edef]
        slot = slots.get(edef.name)
        if slot is not None and slot.json_name != jname:
            self.problem(
                f"'{local}' and '{slot.json_name}' are both given for {edef.name}[x], which "
                "takes one type only",
                child,
                cloc,
                cexpr,
            )
            return
        if slot is not None and not edef.is_array:
            self.problem(
                f"element '{local}' occurs more than once, but at most one is allowed ({edef.path} max 1)",
                child,
                cloc,
                cexpr,
            )
            return
        if code != XHTML and _is_empty(child):
            self.problem(
                f"element '{local}' is empty: a FHIR element has a value attribute, children "
                "or extensions, or it is left out",
                child,
                cloc,
                cexpr,
            )
            return
        value, extra, primitive = self.child_value(child, model, edef, code, cloc, cexpr)
        if value is None and extra is None:
            return
        if slot is None:
            slot = slots[edef.name] = _Slot(edef, jname, primitive)
        slot.values.append(value)
        slot.extras.append(extra)

    def child_value(
        self, child: etree._Element, model: TypeModel, edef: ElementDef, code: str, loc: str, expr: str
    ) -> tuple[Any, dict[str, Any] | None, bool]:
        """(JSON value, ``_name`` object for primitives, whether primitive) of one child element."""
        if code == XHTML:
            return _xhtml(child), None, False
        if edef.content_path is not None:
            return self.content(child, model, edef.content_path, loc, expr), None, False
        tmodel = self.models.require(code)
        if tmodel.kind == PRIMITIVE:
            attrib = child.attrib
            plain = len(attrib) == 1 and len(child) == 0 and not (child.text and child.text.strip())
            if plain and "value" in attrib:
                try:  # the common case, without the general machinery
                    return from_lexical(tmodel.name, attrib["value"], tmodel.pattern), None, True
                except LexicalError as exc:
                    self.problem(f"bad value of attribute 'value': {exc}", child, f"{loc}/@value", expr)
                    return None, None, True
            obj = self.content(child, tmodel, tmodel.root, loc, expr)
            value = obj.pop("value", None)
            return value, (obj or None), True
        if tmodel.kind == RESOURCE:
            return self.wrapped(child, loc, expr), None, False
        return self.content(child, tmodel, tmodel.root, loc, expr), None, False

    def wrapped(self, el: etree._Element, loc: str, expr: str) -> dict[str, Any] | None:
        """A resource inside its container element (``contained``, ``entry/resource``, …)."""
        for name in el.attrib:
            if _split(name)[0] != XSI_NS:
                self.problem(f"unknown attribute '{_split(name)[1]}' on a resource container", el, loc, expr)
        if el.text is not None and el.text.strip():
            self.problem(f"text content '{_clip(el.text)}' is not allowed here", el, loc, expr)
        inner = [c for c in el if isinstance(c.tag, str)]
        if len(inner) != 1:
            self.problem(
                f"'{_split(el.tag)[1]}' must hold exactly one resource element, found {len(inner)}",
                el,
                loc,
                expr,
            )
            if not inner:
                return None
        first = inner[0]
        if first.tail is not None and first.tail.strip():
            self.problem(f"text content '{_clip(first.tail)}' is not allowed here", el, loc, expr)
        return self.resource(first, f"{loc}/{_split(first.tag)[1]}", expr)

    def _unknown(self, local: str, ns: str | None, model: TypeModel, path: str) -> str:
        if ns not in (FHIR_NS, XHTML_NS):
            where = f"namespace '{ns}'" if ns else "no namespace"
            return f"element '{local}' in {where} is not allowed: FHIR elements are in '{FHIR_NS}'"
        if local in model.attrs.get(path, {}):
            return f"'{local}' must be an XML attribute here, not an element"
        return f"unknown element '{local}': FHIR R4 defines no such element in {path}"


def _first(item: tuple[int, str, Any]) -> int:
    return item[0]


def _emit(fields: dict[str, Any], slot: _Slot) -> None:
    name, is_array = slot.json_name, slot.edef.is_array
    if not slot.primitive:
        fields[name] = slot.values if is_array else slot.values[0]
        return
    if is_array:
        if any(v is not None for v in slot.values):
            fields[name] = slot.values
        if any(x is not None for x in slot.extras):
            fields["_" + name] = slot.extras
        return
    if slot.values[0] is not None:
        fields[name] = slot.values[0]
    if slot.extras[0] is not None:
        fields["_" + name] = slot.extras[0]


def _xhtml(el: etree._Element) -> str:
    div = copy.deepcopy(el)
    div.tail = None
    etree.cleanup_namespaces(div)
    return etree.tostring(div, encoding="unicode")


@functools.lru_cache(maxsize=4096)
def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _is_empty(el: etree._Element) -> bool:
    if len(el):
        return False
    return all(name.startswith(_XSI_PREFIX) for name in el.attrib)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _locate(pending: list[_Pending], root: etree._Element, raw: bytes) -> list[XmlProblem]:
    """Problems with line and column: columns come from a second pass with expat (lxml has none)."""
    starts = _element_starts(raw)
    order: dict[int, int] = {}
    if starts:
        order = {id(e): i for i, e in enumerate(root.iter(etree.Element))}
    problems = []
    for p in pending:
        line = column = None
        if p.element is not None:
            line = p.element.sourceline
            i = order.get(id(p.element))
            if i is not None and i < len(starts):
                line, column = starts[i]
        problems.append(XmlProblem(p.message, p.location, line, column, p.expression))
    return problems


def _element_starts(raw: bytes) -> list[tuple[int, int]]:
    parser = xml.parsers.expat.ParserCreate()
    starts: list[tuple[int, int]] = []

    def start(_name: str, _attrs: dict[str, str]) -> None:
        starts.append((parser.CurrentLineNumber, parser.CurrentColumnNumber + 1))

    parser.StartElementHandler = start
    try:
        parser.Parse(raw, True)
    except (xml.parsers.expat.ExpatError, ValueError):
        return []
    return starts
