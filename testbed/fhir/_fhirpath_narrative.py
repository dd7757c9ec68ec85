"""FHIR Narrative XHTML checks (the ``htmlChecks()`` function behind ``txt-1`` and ``txt-2``).

The rules are those of R4 ``narrative.html#xhtml``: the content is a ``div`` in the XHTML namespace
using only the basic formatting elements of HTML 4.0 (chapters 7-11 and 15), ``a`` (``name`` or
``href``), images and ``style`` attributes; no ``head``/``body``, scripts, forms, frames, objects,
event handlers or ``javascript:`` URLs; and some non-whitespace content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree

from testbed.core.xmlparser import safe_xml_parser

XHTML_NS = "http://www.w3.org/1999/xhtml"
_XML_NS = "http://www.w3.org/XML/1998/namespace"

_ALLOWED_ELEMENTS = frozenset(
    {
        "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong",
        "small", "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr",
        "address", "bdo", "kbd", "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table",
        "caption", "colgroup", "col", "thead", "tr", "tfoot", "tbody", "th", "td", "code", "samp",
        "img", "map", "area", "s", "u", "strike", "center", "font", "basefont",
    }
)  # fmt: skip

_ALLOWED_ANY_ATTRIBUTES = frozenset(
    {
        "title", "style", "class", "id", "lang", "dir", "accesskey", "tabindex",
        "span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope",
        "rowspan", "colspan", "nowrap", "bgcolor", "height", "size", "color", "face", "start",
        "type", "value", "compact", "clear", "noshade", "border",
    }
)  # fmt: skip

_ALLOWED_ELEMENT_ATTRIBUTES = frozenset(
    {
        "a.href", "a.name", "a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape",
        "a.coords", "img.src", "img.alt", "img.longdesc", "img.usemap", "img.ismap", "map.name",
        "area.shape", "area.coords", "area.href", "area.nohref", "area.alt", "blockquote.cite",
        "q.cite", "table.summary", "table.frame", "table.rules",
        "table.cellspacing", "table.cellpadding",
    }
)  # fmt: skip

_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "usemap"})
_SCRIPT_URL = re.compile(r"^(?:javascript|vbscript|livescript)\s*:", re.IGNORECASE)
_CONTROL_AND_SPACE = re.compile(r"[\x00-\x20]+")
_DANGEROUS_STYLE = re.compile(r"expression\s*\(|javascript\s*:|vbscript\s*:|behavior\s*:|-moz-binding", re.I)



@dataclass(frozen=True, slots=True)
class NarrativeReport:
    """What is wrong with a narrative ``div`` (empty lists when nothing is)."""

    structure: tuple[str, ...]
    """Problems with the XHTML itself (txt-1): well-formedness, root, names, attributes, scripts."""
    content: tuple[str, ...]
    """Problems with the content (txt-2): no non-whitespace text or image."""
    parsed: bool = True
    """False when the XHTML could not be parsed, so its content could not be looked at."""

    @property
    def ok(self) -> bool:
        return not self.structure and not self.content


@lru_cache(maxsize=512)
def _check_text(div: str) -> NarrativeReport:
    return _check(div)


def check_narrative(div: object) -> NarrativeReport:
    """Check a ``Narrative.div`` value against the FHIR narrative rules.

    Args:
        div: The XHTML string as it appears in FHIR JSON.

    Returns:
        The problems found, split into structural (txt-1) and content (txt-2) problems.
    """
    if isinstance(div, str):
        return _check_text(div)
    return _check(div)


def _check(div: object) -> NarrativeReport:
    if not isinstance(div, str):
        return NarrativeReport((f"the narrative is not an XHTML string ({type(div).__name__})",), (), False)
    if "<!DOCTYPE" in div or "<!ENTITY" in div:
        return NarrativeReport(("the XHTML must not contain a DOCTYPE or entity declarations",), (), False)
    try:
        root = etree.fromstring(div.encode("utf-8"), safe_xml_parser(keep_processing_instructions=True))
    except etree.XMLSyntaxError as exc:
        return NarrativeReport((f"the XHTML is not well-formed XML: {exc}",), (), False)
    structure: list[str] = []
    if root.tag != f"{{{XHTML_NS}}}div":
        structure.append(f"the root element must be a 'div' in the XHTML namespace, not {_display(root.tag)}")
    _check_element(root, structure, is_root=True)
    has_content = _has_content(root)
    content = () if has_content else ("the narrative has no non-whitespace content",)
    return NarrativeReport(tuple(structure), content)


def html_checks(div: object) -> bool:
    """The ``htmlChecks()`` FHIRPath function: True when the narrative passes every rule."""
    return check_narrative(div).ok


def _display(tag: object) -> str:
    if not isinstance(tag, str):
        return "a non-element node"
    ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    return f"'{local}'" + (f" (namespace '{ns}')" if ns else " (no namespace)")


def _check_element(el: etree._Element, problems: list[str], *, is_root: bool = False) -> None:
    for node in el.iter():
        tag = node.tag
        if not isinstance(tag, str):
            if isinstance(node, etree._ProcessingInstruction):
                problems.append("processing instructions are not allowed in the XHTML")
            continue
        if not tag.startswith(f"{{{XHTML_NS}}}"):
            if node is not el or not is_root:
                problems.append(f"element {_display(tag)} is not in the XHTML namespace")
            continue
        name = tag[len(XHTML_NS) + 2 :]
        if name not in _ALLOWED_ELEMENTS:
            problems.append(f"element '{name}' is not allowed in a FHIR narrative")
        for attr, value in node.attrib.items():
            _check_attribute(name, str(attr), str(value), problems)


def _check_attribute(element: str, attr: str, value: str, problems: list[str]) -> None:
    if attr.startswith("{"):
        ns, _, local = attr[1:].partition("}")
        if ns == _XML_NS and local in ("lang", "space"):
            return
        problems.append(f"attribute '{local}' (namespace '{ns}') is not allowed on '{element}'")
        return
    lowered = attr.lower()
    if lowered.startswith("on"):
        problems.append(f"event handler attribute '{attr}' is not allowed on '{element}'")
        return
    if attr not in _ALLOWED_ANY_ATTRIBUTES and f"{element}.{attr}" not in _ALLOWED_ELEMENT_ATTRIBUTES:
        problems.append(f"attribute '{attr}' is not allowed on '{element}'")
        return
    if lowered in _URL_ATTRIBUTES and _SCRIPT_URL.match(_CONTROL_AND_SPACE.sub("", value)):
        problems.append(f"a script URL is not allowed in '{element}/@{attr}'")
    elif lowered == "style" and _DANGEROUS_STYLE.search(value):
        problems.append(f"scripting in a style attribute is not allowed on '{element}'")


def _has_content(root: etree._Element) -> bool:
    for node in root.iter():
        if isinstance(node.tag, str) and node.tag == f"{{{XHTML_NS}}}img":
            return True
        if node.text and node.text.strip() and isinstance(node.tag, str):
            return True
        if node is not root and node.tail and node.tail.strip():
            return True
    return False
