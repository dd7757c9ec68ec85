"""Hostile-input generators shared by the fuzz tests and ``benchmarks/fuzz.py``.

Each generator takes a ``random.Random`` (hypothesis supplies it in tests, so failures shrink to a seed)
and a pool of valid artefacts, and returns bytes: a valid artefact broken in one to five places, or
garbage shaped like the standard.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "profiles" / "ma.smr.core" / "package" / "example"

_WEIRD_STRINGS = [
    "",
    " ",
    "\u0000",
    "\ud7ff",
    "é" * 3,
    "مرحبا",
    "'; DROP TABLE patient; --",
    "<script>alert(1)</script>",
    "../../../../etc/passwd",
    "9" * 400,
    "2024-02-30",
    "2024-13-01T25:61:61Z",
    "urn:uuid:not-a-uuid",
    "http://",
    "#",
    "Patient/",
    "%00",
    "\\u0000",
    "x" * 5000,
]


def fhir_pool() -> list[dict[str, Any]]:
    """The valid examples of the national package (and their invalid siblings: both are useful seeds)."""
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXAMPLES.glob("*.json"))]


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1.5, 10**30, -(10**30), 1e308, 0.1])
    if kind == 3:
        return rng.choice(_WEIRD_STRINGS)
    if kind == 4:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(0, 12)))
    if kind == 5:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if kind == 6:
        return {}
    return {
        rng.choice(["id", "value", "system", "code", "url", "extension", "_x", "resourceType"]): _random_json(
            rng, depth + 1
        )
    }


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _parent(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for step in path[:-1]:
        node = node[step]
    return node


def mutate_json(resource: dict[str, Any], rng: random.Random) -> dict[str, Any] | list[Any] | Any:
    """Apply one to five random structural mutations to a copy of a resource."""
    doc: Any = json.loads(json.dumps(resource))
    for _ in range(rng.randint(1, 5)):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return _random_json(rng)
        path = rng.choice(paths)
        parent = _parent(doc, path)
        key = path[-1]
        op = rng.randrange(7)
        if op == 0:
            del parent[key]
        elif op == 1:
            parent[key] = _random_json(rng)
        elif op == 2 and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif op == 3 and isinstance(parent, dict):
            parent[
                rng.choice(
                    ["unknownElement", "_" + str(key), str(key) + "X", "extension", "modifierExtension"]
                )
            ] = _random_json(rng)
        elif op == 4:
            value = parent[key]
            parent[key] = [value] if not isinstance(value, list) else (value[0] if value else {})
        elif op == 5:
            parent[key] = rng.choice(_WEIRD_STRINGS)
        else:
            parent[key] = {"resourceType": rng.choice(["Patient", "Bundle", "Nope", ""]), "id": "x"}
    return doc


def deep_nesting(rng: random.Random) -> bytes:
    """JSON nested far beyond any sane depth, as arrays, objects or extensions."""
    depth = rng.choice([200, 2000, 50000])
    kind = rng.randrange(3)
    if kind == 0:
        return b'{"resourceType":"Patient","x":' + b"[" * depth + b"]" * depth + b"}"
    if kind == 1:
        return b'{"resourceType":"Patient","a":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    ext = '{"url":"http://e","extension":[' * depth + '{"url":"u","valueString":"v"}' + "]}" * depth
    return ('{"resourceType":"Patient","extension":[' + ext + "]}").encode()


def fhir_input(pool: list[dict[str, Any]], rng: random.Random) -> bytes:
    """One hostile FHIR JSON input."""
    choice = rng.random()
    if choice < 0.75:
        return json.dumps(mutate_json(rng.choice(pool), rng), ensure_ascii=rng.random() < 0.5).encode()
    if choice < 0.85:
        text = json.dumps(rng.choice(pool)).encode()
        return text[: rng.randrange(1, len(text))]
    if choice < 0.92:
        return deep_nesting(rng)
    if choice < 0.96:
        return b"{" + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    return json.dumps(rng.choice(pool)).encode().replace(b'"', b"\xff", 1)


Generator = Callable[[random.Random], bytes]


# --- HL7 v2 ---------------------------------------------------------------------------------------------

V2_FIXTURES = ROOT / "tests" / "fixtures" / "hl7v2"
_V2_WEIRD = [
    "",
    "^^^^^^^^",
    "~~~~",
    "\\",
    "\\X0D\\",
    "\\XZZ\\",
    "\\E\\\\F\\\\S\\",
    "\\Cxxxx\\",
    "&&&&&",
    "|",
    "\r",
    "\n",
    "\x0b",
    "\x1c",
    "\x00",
    "MSH",
    "MSH|",
    "9" * 300,
    "ا" * 40,
    "é",
    "'; DROP TABLE patient; --",
    "<script>alert(1)</script>",
    "20241399",
    "2.5" * 100,
]


def hl7v2_pool(patients: int = 12) -> list[str]:
    """Synthetic MA messages of a few patients (every event) and the foreign fixtures."""
    from testbed.synthetic._content import load_content
    from testbed.synthetic.hl7v2 import Hl7v2Renderer
    from testbed.synthetic.journey import iter_population

    _, national = load_content(ROOT / "profiles")
    renderer = Hl7v2Renderer(national, content=ROOT / "profiles" / "ma.smr.v2")
    pool = [text for record in iter_population("fuzz-v2", patients) for _, text in renderer.messages(record)]
    pool += [p.read_bytes().decode("latin-1") for p in sorted(V2_FIXTURES.glob("*.hl7"))]
    return pool


def mutate_er7(text: str, rng: random.Random) -> str:
    """One to five edits of an ER7 message at the level of segments, fields and characters."""
    segments = [s for s in re.split(r"\r\n|\r|\n", text) if s]
    for _ in range(rng.randint(1, 5)):
        if not segments:
            segments = ["MSH"]
        n = rng.randrange(len(segments))
        fields = segments[n].split("|")
        op = rng.randrange(11)
        if op == 0:
            del segments[n]
        elif op == 1:
            segments.insert(n, segments[n])
        elif op == 2 and len(fields) > 1:
            fields[rng.randrange(1, len(fields))] = rng.choice(_V2_WEIRD)
            segments[n] = "|".join(fields)
        elif op == 3:
            segments[n] = segments[n][: rng.randrange(len(segments[n]) + 1)]
        elif op == 4:
            cut = rng.randrange(len(segments[n]) + 1)
            segments[n] = segments[n][:cut] + rng.choice(_V2_WEIRD) + segments[n][cut:]
        elif op == 5:
            segments[n] = segments[n] + "|" * rng.randrange(1, 300)
        elif op == 6:
            segments.append(
                rng.choice(["ZZZ|1", "OBX", "PID|||", "MSH|^~\\&", "ERR|", "NTE|1||" + "x" * 70000])
            )
        elif op == 7 and segments[0].startswith("MSH") and len(segments[0]) > 8:
            chars = list(segments[0])
            chars[rng.randrange(3, 8)] = rng.choice(["|", "^", "~", "\\", "&", "#", " ", "\x00"])
            segments[0] = "".join(chars)
        elif op == 8 and len(fields) > 3:
            fields[rng.randrange(1, len(fields))] = "~".join(["^".join(["&"] * 20)] * rng.randrange(1, 50))
            segments[n] = "|".join(fields)
        elif op == 9:
            rng.shuffle(segments)
        else:
            segments[n] = "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 40)))
    return "\r".join(segments) + ("\r" if rng.random() < 0.8 else "")


def flip_bytes(data: bytes, rng: random.Random, most: int) -> bytes:
    """``data`` with one to ``most`` bytes replaced by random ones."""
    out = bytearray(data)
    for _ in range(rng.randint(1, most)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def hl7v2_input(pool: list[str], rng: random.Random) -> bytes:
    """One hostile HL7 v2 input (bytes: encodings and invalid UTF-8 are part of the attack)."""
    choice = rng.random()
    if choice < 0.75:
        return mutate_er7(rng.choice(pool), rng).encode("utf-8", "surrogatepass")
    if choice < 0.83:
        data = rng.choice(pool).encode("utf-8")
        return data[: rng.randrange(1, len(data))]
    if choice < 0.9:
        return flip_bytes(rng.choice(pool).encode("utf-8"), rng, 8)
    if choice < 0.95:
        return b"MSH" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
    return (
        rng.choice(pool)
        .replace("MSH|^~\\&", "MSH|" + rng.choice(["", "^", "^~", "^~\\&#", "||||"]), 1)
        .encode()
    )


# --- CDA ------------------------------------------------------------------------------------------------

_XML_WEIRD = [
    "",
    "&amp;",
    "&undefined;",
    "]]>",
    "<!--",
    "\u0000",
    "\ufffe",
    "é" * 3,
    "ابت",
    "'; DROP TABLE patient; --",
    "<script>alert(1)</script>",
    "2.16.504.1.1.10.99",
    "9" * 200,
    "x" * 5000,
]
_DTDS = [
    '<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    '<!DOCTYPE ClinicalDocument SYSTEM "http://127.0.0.1:9/cda.dtd">',
    '<!DOCTYPE ClinicalDocument [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>',
    "<!DOCTYPE ClinicalDocument ["
    + '<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    + "]>",
]


def cda_pool(patients: int = 8) -> list[bytes]:
    """The synthetic CDA documents of a few patients (every document type they have)."""
    from testbed.synthetic._content import load_content
    from testbed.synthetic.cda import CdaRenderer
    from testbed.synthetic.journey import iter_population

    _, national = load_content(ROOT / "profiles")
    renderer = CdaRenderer(national, content=ROOT / "profiles" / "ma.smr.cda")
    return [xml for record in iter_population("fuzz-cda", patients) for _, xml in renderer.documents(record)]


def mutate_xml(doc: bytes, rng: random.Random) -> bytes:
    """One to five edits of an XML document: tags, attributes, text, DTDs, nesting, bytes."""
    text = doc.decode("utf-8")
    for _ in range(rng.randint(1, 5)):
        tags = [m.span() for m in re.finditer(r"<[^<>]+>", text)]
        op = rng.randrange(10)
        if op == 0 and tags:
            start, end = rng.choice(tags)
            text = text[:start] + text[end:]
        elif op == 1 and tags:
            start, end = rng.choice(tags)
            text = text[:end] + text[start:end] + text[end:]
        elif op == 2:
            attrs = [m.span(1) for m in re.finditer(r'="([^"]*)"', text)]
            if attrs:
                start, end = rng.choice(attrs)
                text = text[:start] + rng.choice(_XML_WEIRD).replace('"', "&quot;") + text[end:]
        elif op == 3:
            texts = [m.span(1) for m in re.finditer(r">([^<>]+)<", text)]
            if texts:
                start, end = rng.choice(texts)
                text = text[:start] + rng.choice(_XML_WEIRD) + text[end:]
        elif op == 4:
            head = re.match(r"\s*<\?xml[^>]*\?>", text)
            at = head.end() if head else 0
            text = text[:at] + rng.choice(_DTDS) + text[at:] + rng.choice(["", "&xxe;", "&i;"])
        elif op == 5 and tags:
            depth = rng.choice([50, 500, 5000])
            _, end = rng.choice(tags)
            text = text[:end] + "<component>" * depth + "</component>" * depth + text[end:]
        elif op == 6:
            text = text[: rng.randrange(1, len(text))]
        elif op == 7:
            text = text.replace("urn:hl7-org:v3", rng.choice(["urn:hl7-org:v2", "", "urn:hl7-org:sdtc"]), 1)
        elif op == 8 and tags:
            start, end = rng.choice(tags)
            text = text[:end] + f'<x:{rng.choice(["a", "b"])} xmlns:x="urn:x" y="{"z" * 100}"/>' + text[end:]
        else:
            cut = rng.randrange(len(text))
            text = (
                text[:cut]
                + rng.choice(["<![CDATA[", "<?pi x?>", "<!-- -- -->", "&#0;", "&#x110000;"])
                + text[cut:]
            )
    return text.encode("utf-8", "surrogatepass")


def cda_input(pool: list[bytes], rng: random.Random) -> bytes:
    """One hostile CDA input, still recognised as CDA by its first bytes (the CDA validator judges it)."""
    choice = rng.random()
    if choice < 0.85:
        data = mutate_xml(rng.choice(pool), rng)
    elif choice < 0.93:
        data = flip_bytes(rng.choice(pool), rng, 10)
    else:
        data = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + bytes(rng.randrange(256) for _ in range(200))
    from testbed.inputs import Standard, sniff

    if sniff(data) is not Standard.CDA:
        data = b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>' + data
    return data


# --- HTTP requests for the simulator ---------------------------------------------------------------------

_PATHS = [
    "",
    "metadata",
    "Patient",
    "Patient/",
    "Patient/{id}",
    "Patient/{id}/_history",
    "Patient/{id}/_history/{id}",
    "Patient/_search",
    "Observation",
    "Condition/{id}",
    "Consent",
    "AuditEvent",
    "AuditEvent/{id}",
    "DocumentReference",
    "Binary/{id}",
    "Bundle",
    "Nope",
    "Nope/{id}",
    ".well-known/smart-configuration",
    "auth/token",
    "_testbed/exchanges",
    "Patient/{id}/$everything",
    "%2e%2e/%2e%2e/etc/passwd",
    "../../../../etc/passwd",
]
_IDS = ["1", "x" * 65, "..", "%00", "a/b", "é", "' OR '1'='1", "<script>", "-", "a" * 5000, "", "$"]
_PARAMS = [
    "_count",
    "_include",
    "_revinclude",
    "_page_token",
    "_format",
    "_summary",
    "_total",
    "_sort",
    "_id",
    "identifier",
    "family",
    "birthdate",
    "patient",
    "subject",
    "date",
    "code",
    "_lastUpdated",
    "name:exact",
    "family:contains",
    "x" * 300,
    "",
]
_VALUES = [
    "-1",
    "0",
    "99999999999999999999",
    "*",
    "Patient:link",
    "Condition:subject",
    "Nope:nope",
    "|",
    "|||",
    "ge2020-13-45",
    "eq",
    "2020-02-30",
    "garbage.token.value",
    "xml",
    "count",
    "Patient/..",
    "' OR '1'='1",
    "%00",
    "é" * 10,
    "a" * 3000,
    "",
]
_CONTENT_TYPES = [
    "application/fhir+json",
    "application/json",
    "application/fhir+json; charset=latin-1",
    "application/fhir+xml",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=x",
    "",
]


def http_request(
    pool: list[dict[str, Any]], rng: random.Random
) -> tuple[str, str, list[tuple[str, Any]], dict[str, str], bytes]:
    """One hostile request to a FHIR server: (method, path under the base, query, headers, body)."""
    method = rng.choice(["GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    path = rng.choice(_PATHS).replace("{id}", rng.choice(_IDS))
    query = [(rng.choice(_PARAMS), rng.choice(_VALUES)) for _ in range(rng.randrange(0, 4))]
    headers = {"Accept": rng.choice(["application/fhir+json", "*/*", "application/xml", "", "text/html"])}
    if rng.random() < 0.7:
        headers["Content-Type"] = rng.choice(_CONTENT_TYPES)
    if rng.random() < 0.2:
        headers["X-Purpose-Of-Use"] = rng.choice(["BTG", "btg", "TREAT", "x" * 100, "B T G"])
    if rng.random() < 0.2:
        headers["If-Match"] = rng.choice(['W/"1"', 'W/"x"', "*", ""])
    if rng.random() < 0.1:
        headers["Prefer"] = rng.choice(["handling=strict", "return=OperationOutcome", "respond-async"])
    body = b""
    if method in ("POST", "PUT", "PATCH"):
        kind = rng.random()
        if kind < 0.7:
            body = fhir_input(pool, rng)
        elif kind < 0.85:
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 500)))
        else:
            body = "&".join(f"{rng.choice(_PARAMS)}={rng.choice(_VALUES)}" for _ in range(3)).encode()
    return method, path, query, headers, body
