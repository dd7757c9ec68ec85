"""JSON Schema checks of the scenario content: scenario files, vendor configurations and run records.

The schemas are content (``scenarios/schema/*.json``), shipped beside the scenarios. A problem names the
file, the 1-based line of the offending key (documents loaded with :mod:`testbed.scenarios._yaml` keep
their lines), the JSON pointer and what is wrong, with a hint for unknown keys.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import ValidationError

from testbed.core.errors import TestbedError, UsageError
from testbed.core.settings import PROJECT_ROOT
from testbed.scenarios._yaml import line_at

SCENARIOS_ENV = "TESTBED_SCENARIOS"
"""Environment variable naming the scenario content folder (default: ``scenarios/`` of the checkout)."""

SCENARIO_SCHEMA = "scenario.schema.json"
VENDOR_SCHEMA = "vendor-config.schema.json"
RUN_SCHEMA = "run-record.schema.json"
EXCHANGE_SCHEMA = "exchange.schema.json"


def content_dir() -> Path:
    """The scenario content folder (``$TESTBED_SCENARIOS`` or ``scenarios/`` of the checkout)."""
    env = os.environ.get(SCENARIOS_ENV)
    return Path(env) if env else PROJECT_ROOT / "scenarios"


def schema_dir() -> Path:
    """Where the JSON Schemas live: ``scenarios/schema/`` of the checkout.

    The schemas stay with the checkout even when ``$TESTBED_SCENARIOS`` points at another suite, so that
    a vendor's own scenario folder is checked by the testbed's rules.
    """
    return PROJECT_ROOT / "scenarios" / "schema"


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One schema violation: where (file, line, JSON pointer) and what."""

    source: str
    line: int
    pointer: str
    message: str

    def __str__(self) -> str:
        at = f" (at {self.pointer})" if self.pointer else ""
        return f"{self.source}:{self.line}: {self.message}{at}"


class ScenarioSchemaError(TestbedError):
    """A scenario file, vendor configuration or run record breaks its JSON Schema (all problems listed)."""

    def __init__(self, problems: Iterable[SchemaProblem | str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@lru_cache(maxsize=8)
def _validator(name: str) -> jsonschema.protocols.Validator:
    path = schema_dir() / name
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot load the JSON Schema {path}: {exc}") from None
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def check(document: Any, schema: str, *, source: str) -> list[SchemaProblem]:
    """Check ``document`` against the shipped schema ``schema``; an empty list when it conforms."""
    errors = sorted(
        _validator(schema).iter_errors(document), key=lambda e: (list(map(str, e.path)), e.message)
    )
    problems = [_problem(err, document, source) for err in errors]
    seen: set[tuple[int, str, str]] = set()
    unique = []
    for p in problems:
        if (p.line, p.pointer, p.message) not in seen:
            seen.add((p.line, p.pointer, p.message))
            unique.append(p)
    return unique


def require(document: Any, schema: str, *, source: str) -> None:
    """Raise :class:`ScenarioSchemaError` unless ``document`` conforms to ``schema``."""
    problems = check(document, schema, source=source)
    if problems:
        raise ScenarioSchemaError(problems)


def _pointer(path: Sequence[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else ""


def _problem(err: ValidationError, document: Any, source: str) -> SchemaProblem:
    path = list(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted((err.schema.get("properties") or {}) if isinstance(err.schema, dict) else {})
        extra = sorted(set(err.instance) - set(allowed))
        bad = extra[0] if extra else ""
        close = difflib.get_close_matches(bad, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
        return SchemaProblem(
            source, line_at(document, [*path, bad]), _pointer([*path, bad]), f"unknown key {bad!r}{hint}"
        )
    if err.validator == "oneOf" and isinstance(err.schema, dict):
        kinds = _exclusive_keys(err.schema.get("oneOf"))
        if kinds and isinstance(err.instance, dict):
            present = [k for k in kinds if k in err.instance]
            what = f"found {', '.join(present)}" if present else "found none"
            return SchemaProblem(
                source,
                line_at(document, path),
                _pointer(path),
                f"needs exactly one of {', '.join(kinds)} ({what})",
            )
        deepest = _best_context(err)
        if deepest is not None:
            return _problem(deepest, document, source)
    if (
        err.validator == "required"
        and isinstance(err.validator_value, list)
        and isinstance(err.instance, dict)
    ):
        missing = [k for k in err.validator_value if k not in err.instance]
        return SchemaProblem(
            source,
            line_at(document, path),
            _pointer(path),
            f"missing required key {', '.join(map(repr, missing))}",
        )
    return SchemaProblem(source, line_at(document, path), _pointer(path), err.message)


def _exclusive_keys(branches: Any) -> list[str]:
    """The keys of a ``oneOf`` whose branches each only require one key (exactly-one-of-these-keys)."""
    if not isinstance(branches, list):
        return []
    keys = []
    for branch in branches:
        if not (isinstance(branch, dict) and set(branch) == {"required"} and len(branch["required"]) == 1):
            return []
        keys.append(branch["required"][0])
    return keys


def _best_context(err: ValidationError) -> ValidationError | None:
    if not err.context:
        return None
    # prefer the branch whose errors went deepest into the instance: that branch was the intended one
    return max(err.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
