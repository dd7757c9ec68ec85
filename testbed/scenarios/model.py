"""Scenario files: loading, schema and reference checks, and the typed model the runner reads.

A scenario file (``*.scenario.yaml``) holds one scenario. It is checked when loaded: against the JSON
Schema ``scenarios/schema/scenario.schema.json``, then every requirement id it cites must exist in the
catalogue and every fixture it names must be declared. Errors name the file, the line and the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.core.settings import load_settings
from testbed.requirements import RequirementCatalogue
from testbed.scenarios._yaml import LineDict, LineList, load_yaml_file
from testbed.scenarios.schema import SCENARIO_SCHEMA, ScenarioSchemaError, SchemaProblem, check, schema_dir

SUFFIX = ".scenario.yaml"
STEP_KINDS = (
    "fhir",
    "submit_document",
    "mllp",
    "wait_inbound",
    "trigger",
    "connect",
    "verify",
    "hostile",
    "tls",
)
ASSERTION_KINDS = (
    "status",
    "header",
    "outcome",
    "conforms",
    "fhirpath",
    "bundle",
    "resource_type",
    "ack",
    "audit",
    "consent_enforced",
    "no_secret_echo",
    "evidence",
    "authorized",
    "refused",
    "json",
    "acknowledgement",
    "agree",
    "rejected",
    "still_up",
    "tls_secure",
    "audit_trail",
)
CLIENT_ACTORS = ("Source", "Consumer", "IdentitySource")


@dataclass(frozen=True, slots=True)
class AssertionSpec:
    """One ``expect`` item: its kind, its arguments and where it is written."""

    kind: str
    args: Any
    line: int
    requirements: tuple[str, ...] = ()
    label: str = ""
    warning_only: bool = False
    direction: str | None = None

    @property
    def title(self) -> str:
        """A short human name: the label, or the kind and its arguments."""
        if self.label:
            return self.label
        text = self.args if isinstance(self.args, str | int | bool) else _short(self.args)
        return f"{self.kind}: {text}"


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step: its kind (``fhir``, ``mllp``, …), the kind's arguments, assertions and saved values."""

    index: int
    kind: str
    args: Mapping[str, Any]
    name: str
    line: int
    expect: tuple[AssertionSpec, ...] = ()
    save: Mapping[str, Any] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FixtureSpec:
    """A synthetic patient: index for the scenario's seed, generator options and mutations."""

    name: str
    index: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    mutations: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InputSpec:
    """A declared input of the scenario (what the session must provide for it to run)."""

    name: str
    title: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario file, checked and typed."""

    id: str
    title: str
    actor: str
    level: int
    requirements: tuple[str, ...]
    steps: tuple[StepSpec, ...]
    path: Path
    line: int
    description: str = ""
    transaction: str | None = None
    required: bool = True
    capabilities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    fixtures: Mapping[str, FixtureSpec] = field(default_factory=dict)
    digest: str = ""

    @property
    def all_requirements(self) -> tuple[str, ...]:
        """The scenario's requirements, then those only its steps and assertions cite."""
        ids = list(self.requirements)
        for step in self.steps:
            ids.extend(step.requirements)
            for a in step.expect:
                ids.extend(a.requirements)
        return tuple(dict.fromkeys(ids))

    @property
    def is_client_actor(self) -> bool:
        """True when the system under test is a client (the testbed plays the SMR)."""
        return self.actor in CLIENT_ACTORS

    @property
    def location(self) -> str:
        """``file:line`` of the scenario."""
        return f"{self.path}:{self.line}"


def load_scenario(path: Path, *, catalogue: RequirementCatalogue | None = None) -> Scenario:
    """Load and check one scenario file.

    Raises:
        InputError: the file cannot be read or is not YAML.
        ScenarioSchemaError: the file breaks the schema, cites an unknown requirement or fixture.
    """
    raw = path.read_bytes() if path.is_file() else b""
    document = load_yaml_file(path)
    source = str(path)
    proven = _proven_key(raw)
    problems: list[SchemaProblem] = (
        [] if _is_proven(proven) else check(document, SCENARIO_SCHEMA, source=source)
    )
    if problems:
        raise ScenarioSchemaError(problems)
    _remember(proven)
    assert isinstance(document, LineDict)  # the schema says it is a mapping
    problems.extend(_references(document, source, catalogue))
    if problems:
        raise ScenarioSchemaError(problems)
    return _build(document, path, hashlib.sha256(raw).hexdigest())


def _proven_key(raw: bytes) -> str:
    schema = (schema_dir() / SCENARIO_SCHEMA).read_bytes()
    return hashlib.sha256(hashlib.sha256(schema).digest() + raw).hexdigest()


def _proven_dir() -> Path:
    return load_settings().cache_dir / "scenario-schema-ok"


def _is_proven(key: str) -> bool:
    """Whether these exact bytes passed this exact schema before (the check takes ~20 ms a file)."""
    return (_proven_dir() / key).is_file()


def _remember(key: str) -> None:
    try:
        folder = _proven_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / key).touch()
    except OSError:
        pass  # a read-only cache only costs time


def load_suite(paths: Iterable[Path], *, catalogue: RequirementCatalogue | None = None) -> list[Scenario]:
    """Load every scenario file under ``paths`` (files or folders), sorted by path; ids must be unique.

    Raises:
        ScenarioSchemaError: any file is wrong (every problem of every file is listed).
    """
    scenarios: list[Scenario] = []
    problems: list[SchemaProblem | str] = []
    for file in scenario_files(paths):
        try:
            scenarios.append(load_scenario(file, catalogue=catalogue))
        except ScenarioSchemaError as exc:
            problems.extend(exc.problems)
        except Exception as exc:  # noqa: BLE001 - InputError etc.: list with the others
            text = str(exc)
            problems.append(text if text.startswith(str(file)) else f"{file}: {type(exc).__name__}: {text}")
    seen: dict[str, Scenario] = {}
    for s in scenarios:
        if s.id in seen:
            problems.append(
                SchemaProblem(
                    str(s.path), s.line, "/id", f"duplicate scenario id {s.id!r} (also {seen[s.id].location})"
                )
            )
        seen[s.id] = s
    if problems:
        raise ScenarioSchemaError(problems)
    return scenarios


def scenario_files(paths: Iterable[Path]) -> list[Path]:
    """The ``*.scenario.yaml`` files among ``paths`` (folders searched recursively), sorted."""
    found: set[Path] = set()
    for p in paths:
        if p.is_dir():
            found.update(f for f in p.rglob(f"*{SUFFIX}") if f.is_file())
        elif p.name.endswith(SUFFIX):
            found.add(p)
    return sorted(found)


def _references(doc: LineDict, source: str, catalogue: RequirementCatalogue | None) -> list[SchemaProblem]:
    problems = []
    fixtures = set(doc.get("fixtures") or {})
    for pointer, line, ids in _cited(doc):
        if catalogue is None:
            continue
        for message in catalogue.check_ids(ids, where=""):
            problems.append(SchemaProblem(source, line, pointer, message.removeprefix(": ")))
    steps: LineList = doc["steps"]
    for i, step in enumerate(steps):
        sub = step.get("submit_document")
        if isinstance(sub, LineDict) and sub.get("fixture") not in fixtures:
            problems.append(
                SchemaProblem(
                    source,
                    sub.line_of("fixture"),
                    f"/steps/{i}/submit_document/fixture",
                    f"unknown fixture {sub.get('fixture')!r}; declared: "
                    f"{', '.join(sorted(fixtures)) or 'none'}",
                )
            )
    return problems


def _cited(doc: LineDict) -> Iterable[tuple[str, int, list[str]]]:
    yield "/requirements", doc.line_of("requirements"), list(doc["requirements"])
    for i, step in enumerate(doc["steps"]):
        if "requirements" in step:
            yield f"/steps/{i}/requirements", step.line_of("requirements"), list(step["requirements"])
        for j, item in enumerate(step.get("expect") or []):
            if "requirements" in item:
                yield (
                    f"/steps/{i}/expect/{j}/requirements",
                    item.line_of("requirements"),
                    list(item["requirements"]),
                )


def _build(doc: LineDict, path: Path, digest: str) -> Scenario:
    steps = tuple(_step(i, s) for i, s in enumerate(doc["steps"]))
    fixtures = {
        name: FixtureSpec(
            name,
            int(f.get("index", 0)),
            dict(f.get("options") or {}),
            tuple(f.get("mutations") or ()),
            tuple(f.get("needs") or ()),
        )
        for name, f in (doc.get("fixtures") or {}).items()
    }
    return Scenario(
        id=doc["id"],
        title=doc["title"],
        actor=doc["actor"],
        level=int(doc["level"]),
        requirements=tuple(doc["requirements"]),
        steps=steps,
        path=path,
        line=doc.line_of("id"),
        description=str(doc.get("description") or "").strip(),
        transaction=doc.get("transaction"),
        required=bool(doc.get("required", True)),
        capabilities=tuple(doc.get("capabilities") or ()),
        tags=tuple(doc.get("tags") or ()),
        inputs=tuple(
            InputSpec(i["name"], i["title"], i.get("description", "")) for i in doc.get("inputs") or ()
        ),
        fixtures=fixtures,
        digest=digest,
    )


def _step(index: int, raw: LineDict) -> StepSpec:
    kind = next(k for k in STEP_KINDS if k in raw)
    args = raw[kind]
    expect = []
    for item in raw.get("expect") or []:
        akind = next(k for k in ASSERTION_KINDS if k in item)
        expect.append(
            AssertionSpec(
                kind=akind,
                args=item[akind],
                line=item.line_of(akind) if isinstance(item, LineDict) else raw.line,
                requirements=tuple(item.get("requirements") or ()),
                label=str(item.get("label") or ""),
                warning_only=bool(item.get("warning_only", False)),
                direction=item.get("direction"),
            )
        )
    return StepSpec(
        index=index,
        kind=kind,
        args=args,
        name=str(raw.get("name") or _default_name(kind, args)),
        line=raw.line,
        expect=tuple(expect),
        save=dict(raw.get("save") or {}),
        requirements=tuple(raw.get("requirements") or ()),
    )


def _default_name(kind: str, args: Mapping[str, Any]) -> str:
    if kind == "fhir":
        return f"{args.get('method')} {args.get('path') or args.get('url')}"
    if kind == "wait_inbound":
        what = args.get("method") or args.get("message_type") or "an exchange"
        return f"wait for {what} {args.get('path', '')}".strip()
    if kind == "trigger":
        return f"trigger {args.get('transaction')}"
    return kind.replace("_", " ")


def _short(value: Any, limit: int = 80) -> str:
    text = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, Mapping) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suite_digest(scenarios: Sequence[Scenario]) -> str:
    """SHA-256 over the scenario files' digests (id order): identifies the suite content of a run."""
    h = hashlib.sha256()
    for s in sorted(scenarios, key=lambda s: s.id):
        h.update(f"{s.id}\0{s.digest}\n".encode())
    return h.hexdigest()
