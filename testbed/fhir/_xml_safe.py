"""Parsing untrusted XML: no DTD, no entity expansion, no file or network access."""

from __future__ import annotations

import re

from lxml import etree

from testbed.core.xmlparser import safe_xml_parser
from testbed.fhir._xml_errors import XmlFormatError, XmlProblem

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_POSITION_SUFFIX = re.compile(r", line \d+, column \d+$")


def parse_xml_safely(data: bytes, label: str = "<input>") -> etree._Element:
    """Parse XML bytes, refusing anything that could read files, reach the network or blow up.

    A document with a DOCTYPE (hence any DTD, internal or external, and any entity declaration:
    XXE, "billion laughs") is refused, as FHIR forbids DTDs. Entity references are never expanded
    and no external resource is ever loaded. Comments are kept in the tree (callers skip them).

    Args:
        data: The raw XML bytes (the encoding comes from the XML declaration or a BOM).
        label: A name for the input, used in messages.

    Returns:
        The root element.

    Raises:
        XmlFormatError: not well-formed XML, empty input, or a DOCTYPE/DTD/entity declaration.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise XmlFormatError(label, [XmlProblem(f"expected XML as bytes, got {type(data).__name__}")])
    raw = bytes(data)
    if not raw.strip():
        raise XmlFormatError(label, [XmlProblem("the input is empty, not an XML document")])
    try:
        root = etree.fromstring(raw, safe_xml_parser())
    except etree.XMLSyntaxError as exc:
        if _doctype_line(raw) is not None:
            raise XmlFormatError(label, [_doctype_problem(raw)]) from None
        line, column = exc.position if exc.position else (None, None)
        detail = _POSITION_SUFFIX.sub("", exc.msg or str(exc))
        if "Start tag expected" in detail or "Document is empty" in detail:
            message = f"not XML at all: no root element ({detail})"
        else:
            message = f"not well-formed XML: {detail}"
        raise XmlFormatError(label, [XmlProblem(message, line=line, column=column)]) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise XmlFormatError(label, [_doctype_problem(raw)])
    return root


def _doctype_problem(raw: bytes) -> XmlProblem:
    return XmlProblem(
        "a DOCTYPE declaration is not allowed: FHIR XML must not contain a DTD, and DTDs enable entity "
        "attacks (external entities, entity expansion); remove the <!DOCTYPE ...>",
        line=_doctype_line(raw),
    )


def _doctype_line(raw: bytes) -> int | None:
    for encoding in ("utf-8", "utf-16"):
        text = raw.decode(encoding, errors="replace")
        pos = text.find("<!DOCTYPE")
        if pos >= 0:
            return text.count("\n", 0, pos) + 1
    return None
