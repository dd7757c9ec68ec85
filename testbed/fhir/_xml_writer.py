"""The FHIR JSON form to FHIR XML, in the element order of the StructureDefinitions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from testbed.fhir._xml_errors import XmlFormatError, XmlProblem
from testbed.fhir._xml_model import PRIMITIVE, RESOURCE, ElementDef, TypeModel, TypeModels
from testbed.fhir._xml_primitives import LexicalError, to_lexical
from testbed.fhir._xml_safe import FHIR_NS, XHTML_NS, parse_xml_safely

INDENT = "  "
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


def write_resource(models: TypeModels, resource: Mapping[str, Any], label: str) -> bytes:
    """Pretty-printed FHIR XML (UTF-8, with an XML declaration) of a resource in its JSON form.

    Raises:
        XmlFormatError: the JSON is not a FHIR R4 resource that XML can carry (unknown property,
            wrong JSON type, empty object, bad XHTML …), each problem with its FHIRPath location.
    """
    writer = _Writer(models)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    try:
        writer.resource(resource, 0, "", lines, root=True)
    except RecursionError:
        too_deep = XmlProblem("the resource is nested too deeply to write as XML")
        raise XmlFormatError(label, [too_deep]) from None
    if writer.problems:
        raise XmlFormatError(label, writer.problems)
    lines.append("")
    return "\n".join(lines).encode("utf-8")


class _Writer:
    def __init__(self, models: TypeModels) -> None:
        self.models = models
        self.problems: list[XmlProblem] = []

    def problem(self, message: str, expr: str) -> None:
        self.problems.append(XmlProblem(message, expression=expr, location=expr))

    def resource(self, obj: Any, depth: int, expr: str, out: list[str], *, root: bool = False) -> None:
        if not isinstance(obj, Mapping):
            self.problem(f"a resource must be a JSON object, not {type(obj).__name__}", expr)
            return
        rtype = obj.get("resourceType")
        model = self.models.get(rtype) if isinstance(rtype, str) else None
        if model is None or model.kind != RESOURCE or model.abstract:
            self.problem(
                f"resourceType {rtype!r} is not a concrete FHIR R4 resource type", expr or "resourceType"
            )
            return
        expr = expr or str(rtype)
        xmlns = f' xmlns="{FHIR_NS}"' if root else ""
        attrs, body = self.content(obj, model, model.root, depth + 1, expr, skip="resourceType")
        pad = INDENT * depth
        if body:
            out.append(f"{pad}<{rtype}{xmlns}>")
            out.extend(body)
            out.append(f"{pad}</{rtype}>")
        else:
            out.append(f"{pad}<{rtype}{xmlns}/>")

    def content(
        self, obj: Any, model: TypeModel, path: str, depth: int, expr: str, skip: str = ""
    ) -> tuple[list[tuple[str, str]], list[str]]:
        """(XML attributes, child lines) of a JSON object whose children are those of ``path``."""
        attrs: list[tuple[str, str]] = []
        body: list[str] = []
        if not isinstance(obj, Mapping):
            self.problem(f"expected a JSON object, not {_kind(obj)}", expr)
            return attrs, body
        attr_defs = model.attrs.get(path, {})
        names = model.by_name.get(path, {})
        present: dict[str, tuple[ElementDef, str, str]] = {}
        for key in obj:
            if key == skip:
                continue
            base = key[1:] if key.startswith("_") else key
            entry = names.get(base)
            if entry is None:
                if key in attr_defs:
                    present[key] = (attr_defs[key], key, "")
                else:
                    self.problem(self._unknown(key, model, path), f"{expr}.{key}")
                continue
            edef, code = entry
            seen = present.get(edef.name)
            if seen is not None and seen[1] != base:
                self.problem(
                    f"{seen[1]} and {base} are both given for {edef.name}[x], which takes one type only",
                    f"{expr}.{base}",
                )
                continue
            present[edef.name] = (edef, base, code)
        for edef, key, code in sorted(present.values(), key=_order):
            if edef.xml_attr:
                is_value = model.kind == PRIMITIVE and key == "value"
                where = expr if is_value else f"{expr}.{key}"
                text = self.lexical(model.name if is_value else "string", obj[key], where)
                if text is not None:
                    attrs.append((key, text))
            else:
                self.element(edef, key, code, obj, model, depth, expr, body)
        return attrs, body

    def element(
        self,
        edef: ElementDef,
        key: str,
        code: str,
        obj: Mapping[str, Any],
        model: TypeModel,
        depth: int,
        expr: str,
        out: list[str],
    ) -> None:
        value, extra = obj.get(key), obj.get(f"_{key}")
        tmodel = None if edef.content_path is not None or code == "xhtml" else self.models.require(code)
        primitive = tmodel is not None and tmodel.kind == PRIMITIVE
        if not primitive and f"_{key}" in obj:
            self.problem(f"'_{key}' is only allowed for primitive elements", f"{expr}._{key}")
            if key not in obj:
                return
        if not edef.is_array:
            if isinstance(value, list) or isinstance(extra, list):
                self.problem(
                    f"'{key}' must not be an array: {edef.path} allows at most one value", f"{expr}.{key}"
                )
                return
            self.item(edef, key, code, tmodel, value, extra, key in obj, model, depth, f"{expr}.{key}", out)
            return
        values = value if key in obj else []
        extras = extra if f"_{key}" in obj else []
        if not isinstance(values, list) or not isinstance(extras, list):
            self.problem(f"'{key}' must be a JSON array: {edef.path} repeats", f"{expr}.{key}")
            return
        if not primitive:
            for i, item in enumerate(values):
                self.item(edef, key, code, tmodel, item, None, True, model, depth, f"{expr}.{key}[{i}]", out)
            return
        if values and extras and len(values) != len(extras):
            self.problem(
                f"'{key}' and '_{key}' must be arrays of the same length ({len(values)} and {len(extras)})",
                f"{expr}._{key}",
            )
            return
        for i in range(max(len(values), len(extras))):
            v = values[i] if values else None
            x = extras[i] if extras else None
            self.item(edef, key, code, tmodel, v, x, v is not None, model, depth, f"{expr}.{key}[{i}]", out)

    def item(
        self,
        edef: ElementDef,
        key: str,
        code: str,
        tmodel: TypeModel | None,
        value: Any,
        extra: Any,
        has_value: bool,
        model: TypeModel,
        depth: int,
        expr: str,
        out: list[str],
    ) -> None:
        pad = INDENT * depth
        if code == "xhtml":
            self.xhtml(value, pad, expr, out)
            return
        if tmodel is not None and tmodel.kind == RESOURCE:
            inner: list[str] = []
            self.resource(value, depth + 1, expr, inner)
            if inner:
                out.extend((f"{pad}<{key}>", *inner, f"{pad}</{key}>"))
            return
        if tmodel is not None and tmodel.kind == PRIMITIVE:
            if extra is not None and not isinstance(extra, Mapping):
                self.problem(f"'_{edef.name}' must hold JSON objects (id, extension) or null", expr)
                return
            merged: dict[str, Any] = dict(extra or {})
            if "value" in merged:
                self.problem(
                    "'value' is not allowed in a '_' object: the value goes in the plain property", expr
                )
                return
            if has_value:
                if value is None:
                    self.problem(f"'{key}' is null", expr)
                    return
                merged["value"] = value
            elif not merged:
                self.problem(f"'{key}' and '_{key}' are both null at this position", expr)
                return
            attrs, body = self.content(merged, tmodel, tmodel.root, depth + 1, expr)
        else:
            content_model = model if tmodel is None else tmodel
            path = edef.content_path if tmodel is None and edef.content_path else content_model.root
            attrs, body = self.content(value, content_model, str(path), depth + 1, expr)
            if not attrs and not body and isinstance(value, Mapping):
                self.problem(
                    f"'{key}' is an empty object: FHIR elements are never empty (leave it out)", expr
                )
                return
        attr_text = "".join(f' {name}="{self.escape(text, expr)}"' for name, text in attrs)
        if body:
            out.extend((f"{pad}<{key}{attr_text}>", *body, f"{pad}</{key}>"))
        else:
            out.append(f"{pad}<{key}{attr_text}/>")

    def xhtml(self, value: Any, pad: str, expr: str, out: list[str]) -> None:
        if not isinstance(value, str):
            self.problem(f"the narrative div must be a JSON string of XHTML, not {_kind(value)}", expr)
            return
        text = value.strip()
        try:
            root = parse_xml_safely(text.encode("utf-8"), expr)
        except XmlFormatError as exc:
            self.problem(f"the narrative div is not well-formed XHTML: {exc.problems[0]}", expr)
            return
        if root.tag != f"{{{XHTML_NS}}}div":
            self.problem(
                f"the narrative must be a <div> in the XHTML namespace ({XHTML_NS}), not <{root.tag}>", expr
            )
            return
        if text.startswith("<?xml"):
            text = text[text.index("?>") + 2 :].lstrip()
        out.append(pad + text)

    def lexical(self, type_name: str, value: Any, expr: str) -> str | None:
        try:
            return to_lexical(type_name, value)
        except LexicalError as exc:
            self.problem(str(exc), expr)
            return None

    def escape(self, text: str, expr: str) -> str:
        bad = _NOT_XML_CHAR.search(text)
        if bad:
            self.problem(f"character U+{ord(bad.group()):04X} cannot be written in XML", expr)
            text = _NOT_XML_CHAR.sub("\ufffd", text)
        return text.translate(_ATTR_ESCAPES)

    def _unknown(self, key: str, model: TypeModel, path: str) -> str:
        if key.startswith("_"):
            return f"unknown property '{key}': '_' properties go with primitive elements only"
        return f"unknown property '{key}': FHIR R4 defines no such element in {path}"


def _order(entry: tuple[ElementDef, str, str]) -> int:
    return entry[0].order


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
