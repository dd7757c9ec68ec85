"""The run record as the reports read it: ``run.json`` of a run folder written by the scenario engine.

The record's shape and the result vocabulary (:class:`Result`) are the scenario engine's
(``scenarios/schema/run-record.schema.json``, format ``testbed-run/1``); the record is checked against
that schema first, then read into frozen dataclasses. A run folder also holds
``exchanges/<sha256>.json`` and ``manifest.json`` (see :mod:`testbed.reporting.evidence`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.core.errors import InputError
from testbed.scenarios.evidence import EXCHANGES_DIR, MANIFEST_FILE, RUN_FILE
from testbed.scenarios.results import IssueRecord, Result
from testbed.scenarios.schema import RUN_SCHEMA, check

FORMAT = "testbed-run/1"


@dataclass(frozen=True, slots=True)
class Assertion:
    """The verdict of one expectation of a step."""

    kind: str
    title: str
    result: Result
    message: str = ""
    location: str = ""
    requirements: tuple[str, ...] = ()
    expected: Any = None
    received: Any = None
    issues: tuple[IssueRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a scenario and what it produced."""

    index: int
    title: str
    kind: str
    result: Result
    message: str = ""
    requirements: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    assertions: tuple[Assertion, ...] = ()
    duration_ms: float | None = None
    reproduce: tuple[str, ...] = ()
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    """One scenario's result, the requirements it verifies and the label level it counts towards."""

    id: str
    title: str
    actor: str
    level: int
    result: Result
    requirements: tuple[str, ...] = ()
    message: str = ""
    steps: tuple[Step, ...] = ()
    duration_ms: float | None = None
    source: str = ""
    required: bool = True
    transaction: str = ""

    def contributions(self) -> list[tuple[str, Result]]:
        """(requirement, result) pairs this scenario gives evidence for.

        The scenario's own requirements get its result; a requirement cited only by a step gets the
        step's result; one cited only by an assertion gets the assertion's result (the scenario
        engine's coverage rule).
        """
        pairs = [(r, self.result) for r in self.requirements]
        top = set(self.requirements)
        for step in self.steps:
            pairs += [(r, step.result) for r in step.requirements if r not in top]
            for assertion in step.assertions:
                pairs += [
                    (r, assertion.result)
                    for r in assertion.requirements
                    if r not in top and r not in step.requirements
                ]
        return pairs


@dataclass(frozen=True, slots=True)
class RunRecord:
    """Everything the reports need from one run, read from ``run.json``."""

    run_id: str
    vendor: str
    product: str
    version: str
    actors: tuple[str, ...]
    target: Mapping[str, Any]
    seed: str
    versions: Mapping[str, Any]
    started: str
    finished: str
    scenarios: tuple[Scenario, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def testbed_version(self) -> str:
        """The testbed version that produced the run."""
        return str(self.versions.get("testbed") or "")

    @property
    def framework_edition(self) -> str:
        """The framework edition the run was judged against (empty when the run names none)."""
        return str(self.versions.get("framework_edition") or "")

    @property
    def content_versions(self) -> dict[str, str]:
        """Content package versions (``{"ma.smr.core": "0.1.0", ...}``)."""
        content = self.versions.get("content") or {}
        return {str(k): str(v) for k, v in content.items()} if isinstance(content, Mapping) else {}

    def scenarios_of(self, actor: str) -> list[Scenario]:
        """The scenarios that test ``actor``."""
        return [s for s in self.scenarios if s.actor == actor]

    def counts(self, actor: str | None = None) -> dict[str, int]:
        """How many scenarios have each result (all results listed, zeros included)."""
        counts = {r.value: 0 for r in Result}
        for scenario in self.scenarios:
            if actor is None or scenario.actor == actor:
                counts[scenario.result.value] += 1
        return counts


class RunRecordError(InputError):
    """``run.json`` is missing, not JSON, or not a run record; the message says where and why."""


def load_run(run_dir: Path) -> RunRecord:
    """Read the run record of a run folder.

    Args:
        run_dir: the run folder (holding ``run.json``), or the ``run.json`` file itself.

    Raises:
        RunRecordError: the file cannot be read or is not a run record.
    """
    path = Path(run_dir)
    if path.is_dir():
        path = path / RUN_FILE
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RunRecordError(f"{path}: no run record here (is {path.parent} a run folder?)") from None
    except OSError as exc:
        raise RunRecordError(f"{path}: cannot read the run record ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunRecordError(f"{path}: not valid JSON ({exc})") from None
    return parse_run(data, where=str(path))


def parse_run(data: Any, *, where: str = RUN_FILE) -> RunRecord:
    """Build a :class:`RunRecord` from the parsed JSON of ``run.json``.

    Raises:
        RunRecordError: the data breaks the run record's schema (names the JSON pointer and line).
    """
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RunRecordError(f'{where}: not a testbed run record (expected "format": "{FORMAT}")')
    problems = check(data, RUN_SCHEMA, source=where)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RunRecordError(f"{problems[0]}{more}")
    sut = data["sut"]
    target = {k: sut[k] for k in ("fhir", "mllp", "embedded") if sut.get(k) is not None}
    if data.get("simulator"):
        target["simulator"] = data["simulator"].get("fhir")
    return RunRecord(
        run_id=data["run_id"],
        vendor=sut.get("vendor") or "",
        product=sut.get("product") or "",
        version=sut.get("version") or "",
        actors=tuple(sut["actors"]),
        target=target,
        seed=str(data["seed"]),
        versions=data["versions"],
        started=data["started"],
        finished=data["finished"],
        scenarios=tuple(_scenario(s) for s in data["scenarios"]),
        raw=data,
    )


def _ms(seconds: Any) -> float | None:
    return float(seconds) * 1000 if isinstance(seconds, int | float) else None


def _scenario(obj: Mapping[str, Any]) -> Scenario:
    return Scenario(
        id=obj["id"],
        title=obj["title"],
        actor=obj["actor"],
        level=obj["level"],
        result=Result(obj["result"]),
        requirements=tuple(obj["requirements"]),
        message=obj.get("message") or "",
        steps=tuple(_step(s) for s in obj["steps"]),
        duration_ms=_ms(obj.get("duration_s")),
        source=f"{obj['file']}:{obj['line']}",
        required=bool(obj["required"]),
        transaction=obj.get("transaction") or "",
    )


def _step(obj: Mapping[str, Any]) -> Step:
    return Step(
        index=obj["index"] + 1,  # stored 0-based; people count steps from 1
        title=obj["name"],
        kind=obj["kind"],
        result=Result(obj["result"]),
        message=obj.get("message") or "",
        requirements=tuple(obj["requirements"]),
        exchanges=tuple(obj["exchanges"]),
        assertions=tuple(_assertion(a) for a in obj["assertions"]),
        duration_ms=_ms(obj.get("duration_s")),
        reproduce=tuple(obj.get("reproduce") or ()),
        line=obj.get("line"),
    )


def _assertion(obj: Mapping[str, Any]) -> Assertion:
    return Assertion(
        kind=obj["kind"],
        title=obj["title"],
        result=Result(obj["result"]),
        message=obj.get("message") or "",
        location=obj.get("location") or "",
        requirements=tuple(obj["requirements"]),
        expected=obj.get("expected"),
        received=obj.get("received"),
        issues=tuple(
            IssueRecord(i["severity"], i["code"], i["location"], i["message"], i.get("rule"))
            for i in obj.get("issues") or ()
        ),
    )


__all__ = [
    "EXCHANGES_DIR",
    "FORMAT",
    "MANIFEST_FILE",
    "RUN_FILE",
    "Assertion",
    "IssueRecord",
    "Result",
    "RunRecord",
    "RunRecordError",
    "Scenario",
    "Step",
    "load_run",
    "parse_run",
]
