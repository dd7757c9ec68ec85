"""Parsing untrusted CDA XML safely, and naming places in it as XPath with line numbers.

The parser refuses any DOCTYPE before lxml sees the document (so no DTD is read, no entity is declared,
expanded or fetched: "billion laughs" and XXE are stopped at the door), never touches the network or
the file system, keeps libxml2's default limits on depth and text size (``huge_tree`` off), and adds its
own limits on input size and element count.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from lxml import etree

from testbed.core.errors import InputError
from testbed.core.xmlparser import safe_xml_parser

V3 = "urn:hl7-org:v3"
SDTC = "urn:hl7-org:sdtc"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"cda": V3, "sdtc": SDTC, "xsi": XSI}
"""Prefixes used in XPath expressions over CDA documents."""

MAX_BYTES = 64 * 1024 * 1024
MAX_ELEMENTS = 2_000_000

_COMMENTS_PIS = re.compile(r"<!--.*?-->|<\?.*?\?>", re.DOTALL)
_ROOT_START = re.compile(r"<[^!?/\s]")
_EXTERNAL = re.compile(
    r"<!ENTITY\s+%?\s*[^\s>]+\s+(SYSTEM|PUBLIC)\b|<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b", re.I
)
_POSITION = re.compile(r", line \d+, column \d+$")
_PREFIXES = {SDTC: "sdtc", XSI: "xsi"}


class CdaParseError(InputError):
    """A CDA input that cannot be read safely.

    Attributes:
        kind: ``dtd`` (a DOCTYPE: refused), ``external-entity`` (a DOCTYPE that names an external DTD
            or entity: refused), ``limit`` (too big), ``syntax`` (not well-formed XML) or ``empty``.
        line: 1-based line of the problem, when known.
    """

    def __init__(self, label: str, kind: str, message: str, line: int | None = None) -> None:
        self.label = label
        self.kind = kind
        self.detail = message
        self.line = line
        super().__init__(f"{label}: {message}" + (f" (line {line})" if line else ""))


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Size limits for one document (the defaults suit documents with embedded attachments)."""

    max_bytes: int = MAX_BYTES
    max_elements: int = MAX_ELEMENTS


def parse_cda(data: bytes, label: str = "<input>", limits: ParseLimits | None = None) -> etree._ElementTree:
    """Parse CDA bytes, refusing anything that could read files, reach the network or blow up.

    Args:
        data: The raw XML bytes (the encoding comes from the XML declaration or a BOM).
        label: A name for the input, used in messages.
        limits: Size limits (defaults: :data:`MAX_BYTES`, :data:`MAX_ELEMENTS`).

    Returns:
        The parsed tree (line numbers kept on elements).

    Raises:
        CdaParseError: empty, too big, a DOCTYPE (DTD, entity declarations, external entities), or not
            well-formed XML.
    """
    limits = limits or ParseLimits()
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CdaParseError(label, "syntax", f"expected XML as bytes, got {type(data).__name__}")
    raw = bytes(data)
    if not raw or raw.isspace():
        raise CdaParseError(label, "empty", "the input is empty, not an XML document")
    if len(raw) > limits.max_bytes:
        raise CdaParseError(
            label, "limit", f"the input has {len(raw):,} bytes, more than the limit of {limits.max_bytes:,}"
        )
    _refuse_doctype(raw, label)
    try:
        tree = etree.ElementTree(etree.fromstring(raw, safe_xml_parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        detail = _POSITION.sub("", exc.msg or str(exc))
        if "Start tag expected" in detail or "Document is empty" in detail:
            raise CdaParseError(
                label, "syntax", f"not XML at all: no root element ({detail})", line
            ) from None
        if "Excessive depth" in detail or "huge" in detail.lower():
            raise CdaParseError(
                label, "limit", f"the document exceeds the parser's limits: {detail}", line
            ) from None
        raise CdaParseError(label, "syntax", f"not well-formed XML: {detail}", line) from None
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.doctype:
        raise CdaParseError(label, "dtd", _DTD_MESSAGE)  # a DOCTYPE the byte scan could not see
    count = 0
    for _ in tree.getroot().iter():
        count += 1
        if count > limits.max_elements:
            raise CdaParseError(
                label, "limit", f"the document has more than {limits.max_elements:,} elements"
            )
    return tree


_DTD_MESSAGE = (
    "a DOCTYPE declaration is not allowed in a CDA document: DTDs enable entity attacks (entity "
    "expansion such as 'billion laughs', external entities reading files or URLs); the document was "
    "refused without reading the DTD or expanding any entity"
)
_XXE_MESSAGE = (
    "a DOCTYPE declaration is not allowed in a CDA document, and this one declares an external DTD or "
    "entity (SYSTEM/PUBLIC), an XXE attack vector that reads files or URLs; the document was refused "
    "without any file or network access and without expanding any entity"
)


def _refuse_doctype(raw: bytes, label: str) -> None:
    # The DOCTYPE can only sit in the prolog: scan a head first, the whole input only if the head has no root.
    for size in (65536, len(raw)):
        text = _text(raw[:size])
        cleaned = _COMMENTS_PIS.sub(lambda m: " " * len(m.group()), text)
        root = _ROOT_START.search(cleaned)
        if root is not None or size >= len(raw):
            break
    prolog = cleaned[: root.start()] if root else cleaned
    pos = prolog.upper().find("<!DOCTYPE")
    if pos < 0:
        return
    line = text.count("\n", 0, pos) + 1
    if _EXTERNAL.search(prolog):
        raise CdaParseError(label, "external-entity", _XXE_MESSAGE, line)
    raise CdaParseError(label, "dtd", _DTD_MESSAGE, line)


def _text(raw: bytes) -> str:
    """The document as characters, for the DOCTYPE scan (latin-1 keeps ASCII markup of any 8-bit encoding)."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if raw.startswith(bom):
            return raw.decode(encoding, errors="replace")
    if raw[:2] == b"<\x00":
        return raw.decode("utf-16-le", errors="replace")
    if raw[:2] == b"\x00<":
        return raw.decode("utf-16-be", errors="replace")
    return raw.decode("latin-1")


def xpath_of(node: etree._Element) -> str:
    """The XPath of an element, 1-based positions among same-named siblings below the root.

    CDA (``urn:hl7-org:v3``) names are written without prefix, SDTC ones as ``sdtc:name``:
    ``/ClinicalDocument/recordTarget[1]/patientRole[1]/id[1]``.
    """
    steps: list[str] = []
    current: etree._Element | None = node
    while current is not None:
        parent = current.getparent()
        name = _name(current)
        if parent is None:
            steps.append(f"/{name}")
        else:
            tag = current.tag
            index = 1
            for sibling in current.itersiblings(preceding=True):
                if sibling.tag == tag:
                    index += 1
            steps.append(f"/{name}[{index}]")
        current = parent
    return "".join(reversed(steps))


def _name(node: etree._Element) -> str:
    if not isinstance(node.tag, str):
        return "node()"
    qname = etree.QName(node)
    if qname.namespace in (None, V3):
        return qname.localname
    prefix = _PREFIXES.get(qname.namespace) or node.prefix
    return f"{prefix}:{qname.localname}" if prefix else f"*[local-name()='{qname.localname}']"


def pretty_message(message: str) -> str:
    """Drop the CDA namespace from libxml2 names (``{urn:hl7-org:v3}id`` → ``id``)."""
    return message.replace("{" + V3 + "}", "").replace("{" + SDTC + "}", "sdtc:")
