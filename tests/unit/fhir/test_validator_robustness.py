"""Random mutations of the spec examples never crash the validator (seeded, bounded)."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from testbed.api import Validator
from testbed.core.issues import IssueCode
from tests.conftest import EXAMPLES

JUNK: list[Any] = [
    None,
    "",
    " ",
    "x" * 300,
    0,
    -1,
    1.5,
    True,
    [],
    {},
    [None],
    {"": 1},
    "<div>",
    "#",
    "urn:uuid:",
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _mutate(resource: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(out) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent: Any = out
        for key in path[:-1]:
            parent = parent[key]
        action = rng.random()
        if action < 0.3 and isinstance(parent, dict):
            del parent[path[-1]]
        elif action < 0.5 and isinstance(parent, dict):
            parent["_" + str(path[-1])] = copy.deepcopy(rng.choice(JUNK))
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(JUNK))
    return out


def test_mutated_examples_never_crash() -> None:
    rng = random.Random(20261123)
    validator = Validator(default_ig=False)
    files = sorted(EXAMPLES.glob("*.json"))
    for path in rng.sample(files, 60):
        base = json.loads(path.read_text(encoding="utf-8"))
        for _ in range(5):
            outcome = validator.validate(_mutate(base, rng), label=path.name)
            crashes = [i.message for i in outcome.issues if i.code is IssueCode.EXCEPTION]
            assert crashes == [], f"{path.name}: {crashes}"
