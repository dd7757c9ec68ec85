"""Hostile-input generators shared by the fuzz tests and ``benchmarks/fuzz.py``.

Each generator takes a ``random.Random`` (hypothesis supplies it in tests, so failures shrink to a seed)
and a pool of valid artefacts, and returns bytes: a valid artefact broken in one to five places, or
garbage shaped like the standard.
"""

from __future__ import annotations

import json
import random
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
