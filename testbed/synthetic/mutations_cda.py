"""Negative variants of CDA documents, each breaking named requirements (registered as standard ``cda``).

A mutation takes a clean CDA document (UTF-8 bytes, or text) and returns it broken, in the same type,
with the XPath of the place it broke (``/ClinicalDocument/recordTarget[1]``; ``/`` for the prolog). The
self-consistency test proves the CDA validator fails on each named requirement. Mutations find what they
change by document structure (the first ``patientRole/id`` passing the INS check digits, the document
author, …), never by a national OID: they work whatever the national content says.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lxml import etree

from testbed.identifiers import CHECK_DIGITS
from testbed.synthetic.mutations import Mutated, Mutation, NotApplicable, register

V3 = "urn:hl7-org:v3"
_NS = {"cda": V3}
Document = bytes | str


def _parse(artefact: Document) -> etree._ElementTree:
    data = artefact.encode("utf-8") if isinstance(artefact, str) else artefact
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)
    try:
        return etree.fromstring(data, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        raise NotApplicable(f"not a well-formed CDA document: {exc}") from None


def _dump(tree: etree._ElementTree, like: Document) -> Document:
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return data.decode("utf-8") if isinstance(like, str) else data


def _xpath(node: etree._Element) -> str:
    steps = []
    current: etree._Element | None = node
    while current is not None:
        parent = current.getparent()
        name = etree.QName(current).localname
        if parent is None:
            steps.append(f"/{name}")
        else:
            index = 1 + sum(1 for s in current.itersiblings(preceding=True) if s.tag == current.tag)
            steps.append(f"/{name}[{index}]")
        current = parent
    return "".join(reversed(steps))


def _first(tree: etree._ElementTree, path: str, what: str) -> etree._Element:
    found = tree.xpath(path, namespaces=_NS)
    if not isinstance(found, list) or not found or not isinstance(found[0], etree._Element):
        raise NotApplicable(f"the document has no {what}")
    return found[0]


def _edit(
    path: str, what: str, change: Callable[[etree._Element, random.Random], str]
) -> Callable[[Document, random.Random], Mutated]:
    """A mutation applying ``change`` to the first element ``path`` selects (it returns the detail)."""

    def apply(artefact: Document, rng: random.Random) -> Mutated:
        tree = _parse(artefact)
        node = _first(tree, path, what)
        location = _xpath(node)
        detail = change(node, rng)
        return Mutated(_dump(tree, artefact), location, detail)

    return apply


def _remove(node: etree._Element, rng: random.Random) -> str:
    parent = node.getparent()
    if parent is None:
        raise NotApplicable("cannot remove the root element")
    parent.remove(node)
    return f"removed {etree.QName(node).localname}"


def _ins(tree: etree._ElementTree) -> etree._Element:
    for node in tree.xpath("/cda:ClinicalDocument/cda:recordTarget/cda:patientRole/cda:id", namespaces=_NS):
        value = node.get("extension") or ""
        if len(value) == 12 and CHECK_DIGITS["mod97-2"](value):
            return node
    raise NotApplicable("the patient has no INS")


def _ins_key(artefact: Document, rng: random.Random) -> Mutated:
    tree = _parse(artefact)
    node = _ins(tree)
    value = node.get("extension") or ""
    wrong = f"{(int(value[-2:]) + 1 + rng.randrange(90)) % 100:02d}"
    if CHECK_DIGITS["mod97-2"](value[:-2] + wrong):
        wrong = f"{(int(wrong) + 1) % 100:02d}"
    node.set("extension", value[:-2] + wrong)
    return Mutated(_dump(tree, artefact), _xpath(node), f"INS key {value[-2:]} -> {wrong}")


def _ins_root(artefact: Document, rng: random.Random) -> Mutated:
    tree = _parse(artefact)
    node = _ins(tree)
    root = node.get("root") or ""
    node.set("root", f"{root}.0")
    return Mutated(
        _dump(tree, artefact), _xpath(node), f"INS root {root} -> {root}.0 (not the INS naming system)"
    )


def _author_without_inpe(node: etree._Element, rng: random.Random) -> str:
    ids = node.findall(f"{{{V3}}}id")
    if not ids:
        raise NotApplicable("the author has no id")
    for extra in ids[1:]:
        node.remove(extra)
    first = ids[0]
    first.attrib.clear()
    first.set("nullFlavor", "UNK")
    return "author id replaced by nullFlavor UNK (no INPE)"


def _set(attribute: str, value: str) -> Callable[[etree._Element, random.Random], str]:
    def change(node: etree._Element, rng: random.Random) -> str:
        before = node.get(attribute)
        node.set(attribute, value)
        return f"{attribute} {before} -> {value}"

    return change


def _document_code(node: etree._Element, rng: random.Random) -> str:
    before = node.get("code")
    node.set(
        "code", "34133-9"
    )  # LOINC "Summary of episode note": a real document code outside ma-document-type
    node.set("displayName", "Summary of episode note")
    return f"document code {before} -> 34133-9"


_XXE = (
    '<!DOCTYPE ClinicalDocument [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n'
    '  <!ENTITY remote SYSTEM "http://127.0.0.1:9/evil.dtd">\n]>\n'
)
_LAUGHS = (
    '<!DOCTYPE ClinicalDocument [\n  <!ENTITY lol "lol">\n'
    + "".join(
        f'  <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10)
    )
    + "]>\n"
)


def _inject(doctype: str, reference: str) -> Callable[[Document, random.Random], Mutated]:
    def apply(artefact: Document, rng: random.Random) -> Mutated:
        text = artefact.decode("utf-8") if isinstance(artefact, bytes) else artefact
        start = text.find("<ClinicalDocument")
        if start < 0:
            raise NotApplicable("no ClinicalDocument element")
        title = text.find("<title>", start)
        broken = text[:start] + doctype + text[start:]
        if title >= 0:
            at = title + len(doctype) + len("<title>")
            broken = broken[:at] + reference + broken[at:]
        out: Document = broken.encode("utf-8") if isinstance(artefact, bytes) else broken
        return Mutated(out, "/", f"DOCTYPE with {reference} injected before the root element")

    return apply


_DOC = "/cda:ClinicalDocument"
CDA_MUTATIONS = (
    Mutation(
        "cda.no-record-target",
        "cda",
        ("MA-CDA-012",),
        "the recordTarget is removed",
        _edit(f"{_DOC}/cda:recordTarget", "recordTarget", _remove),
        "ma-header-record-target",
    ),
    Mutation(
        "cda.ins-key", "cda", ("MA-ID-003", "MA-CDA-012"), "the INS of the patient has a wrong key", _ins_key
    ),
    Mutation(
        "cda.ins-root",
        "cda",
        ("MA-CDA-012",),
        "the INS is given under a root that is not the INS OID",
        _ins_root,
        "ma-header-patient-ins",
    ),
    Mutation(
        "cda.author-without-inpe",
        "cda",
        ("MA-CDA-017",),
        "the document author has no INPE",
        _edit(f"{_DOC}/cda:author/cda:assignedAuthor", "author", _author_without_inpe),
        "ma-header-author-inpe",
    ),
    Mutation(
        "cda.missing-header-template",
        "cda",
        ("MA-CDA-001",),
        "the MA header templateId is removed",
        _edit(f"{_DOC}/cda:templateId", "templateId", _remove),
        "ma-header-template",
    ),
    Mutation(
        "cda.document-code",
        "cda",
        ("MA-CDA-007",),
        "the document code is a LOINC code outside ma-document-type",
        _edit(f"{_DOC}/cda:code", "code", _document_code),
        "cda-binding:document-type",
    ),
    Mutation(
        "cda.confidentiality",
        "cda",
        ("MA-CDA-010",),
        "confidentialityCode X (not N, R or V)",
        _edit(f"{_DOC}/cda:confidentialityCode", "confidentialityCode", _set("code", "X")),
        "ma-header-confidentiality",
    ),
    Mutation(
        "cda.language",
        "cda",
        ("MA-CDA-011",),
        "languageCode en-US (not fr-MA or ar-MA)",
        _edit(f"{_DOC}/cda:languageCode", "languageCode", _set("code", "en-US")),
        "ma-header-language",
    ),
    Mutation(
        "cda.non-ucum-unit",
        "cda",
        ("MA-CDA-024",),
        "an observation value has a unit that is not UCUM",
        _edit("//cda:observation/cda:value[@unit]", "observation value with a unit", _set("unit", "µg/dL")),
        "cda-ucum",
    ),
    Mutation(
        "cda.external-entity",
        "cda",
        ("MA-CDA-035", "MA-CDA-036"),
        "a DOCTYPE with external entities (XXE) is injected",
        _inject(_XXE, "&xxe;"),
        "cda-parse:external-entity",
    ),
    Mutation(
        "cda.entity-expansion",
        "cda",
        ("MA-CDA-035",),
        "a DOCTYPE with nested entities (billion laughs) is injected",
        _inject(_LAUGHS, "&lol9;"),
        "cda-parse:dtd",
    ),
)

for _mutation in CDA_MUTATIONS:
    register(_mutation)
