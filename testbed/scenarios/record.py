"""The run record: one JSON document per run, the single input of the reports.

Its shape is fixed by ``scenarios/schema/run-record.schema.json``. Besides every scenario and step
result it holds the requirement coverage: every requirement of the catalogue whose actors meet the
tested actors, with ``pass``, ``fail``, ``error`` or ``untested`` — requirements no scenario exercised
are listed, not hidden.

Coverage rule: a scenario that ran (pass, fail or error) contributes to the requirements it cites at
its top level with its own result; a requirement cited only by a step or an assertion gets that
step's or assertion's result. A requirement is ``fail`` if any contribution failed, else ``error`` if
any errored, else ``pass`` if any passed, else ``untested``.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from testbed.requirements import RequirementCatalogue
from testbed.scenarios.model import Scenario
from testbed.scenarios.results import Result, ScenarioResult, StepResult

FORMAT = "testbed-run/1"
_RAN = (Result.PASS, Result.FAIL, Result.ERROR)
_ORDER = {"untested": 0, "pass": 1, "error": 2, "fail": 3}


def exit_code(results: Iterable[tuple[Scenario, ScenarioResult]]) -> int:
    """0: every required scenario passed (or was skipped/omitted); 1: a required one failed; 3: an error.

    A failure outranks an error: the system under test was shown wrong even if something else could
    not be judged.
    """
    pairs = list(results)
    if any(s.required and r.result is Result.FAIL for s, r in pairs):
        return 1
    if any(r.result is Result.ERROR for _, r in pairs):
        return 3
    return 0


def summary(pairs: Sequence[tuple[Scenario, ScenarioResult]]) -> dict[str, Any]:
    """Counts by result, the required failures and the run's outcome and exit code."""
    counts = {r.value: 0 for r in Result}
    for _, res in pairs:
        counts[res.result.value] += 1
    code = exit_code(pairs)
    outcome = {0: "pass", 1: "fail", 3: "error"}[code]
    required_failed = sorted(s.id for s, r in pairs if s.required and r.result is Result.FAIL)
    return {
        "total": len(pairs),
        **counts,
        "required_failed": required_failed,
        "outcome": outcome,
        "exit_code": code,
    }


def _contributions(scenario: Scenario, result: ScenarioResult) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    if result.result not in _RAN:
        return found
    for rid in scenario.requirements:
        found.setdefault(rid, []).append(result.result.value)
    top = set(scenario.requirements)
    steps: dict[int, StepResult] = {s.index: s for s in result.steps}
    for spec in scenario.steps:
        ran = steps.get(spec.index)
        if ran is None or ran.result not in _RAN:
            continue
        for rid in spec.requirements:
            if rid not in top:
                found.setdefault(rid, []).append(ran.result.value)
        for a_spec, a_res in zip(spec.expect, ran.assertions, strict=False):
            for rid in a_spec.requirements:
                if rid not in top and rid not in spec.requirements:
                    found.setdefault(rid, []).append(a_res.result.value)
    return found


def coverage(
    catalogue: RequirementCatalogue, actors: Sequence[str], pairs: Sequence[tuple[Scenario, ScenarioResult]]
) -> dict[str, Any]:
    """The requirement × result table for the tested actors (see the module docstring)."""
    contributions: dict[str, list[str]] = {}
    citing: dict[str, list[dict[str, str]]] = {}
    for scenario, result in pairs:
        for rid, values in _contributions(scenario, result).items():
            contributions.setdefault(rid, []).extend(values)
        for rid in scenario.all_requirements:
            citing.setdefault(rid, []).append({"id": scenario.id, "result": result.result.value})
    rows = []
    counts = {"pass": 0, "fail": 0, "error": 0, "untested": 0}
    for req in catalogue:
        if not set(req.actors) & set(actors):
            continue
        values = contributions.get(req.id, [])
        verdict = max(
            (v if v in _ORDER else "untested" for v in values), key=_ORDER.__getitem__, default="untested"
        )
        counts[verdict] += 1
        rows.append(
            {
                "id": req.id,
                "area": req.area,
                "level": req.level,
                "strength": req.strength.value,
                "actors": list(req.actors),
                "section": req.section,
                "text": req.text,
                "result": verdict,
                "scenarios": citing.get(req.id, []),
            }
        )
    return {"actors": list(actors), "requirements": rows, "summary": {"total": len(rows), **counts}}


def scenario_json(scenario: Scenario, result: ScenarioResult, *, root: str | None = None) -> dict[str, Any]:
    """One scenario's entry in the run record."""
    file = str(scenario.path)
    if root and file.startswith(root.rstrip("/") + "/"):
        file = file[len(root.rstrip("/")) + 1 :]
    data: dict[str, Any] = {
        "id": scenario.id,
        "title": scenario.title,
        "actor": scenario.actor,
        "transaction": scenario.transaction,
        "level": scenario.level,
        "required": scenario.required,
        "requirements": list(scenario.all_requirements),
        "capabilities": list(scenario.capabilities),
        "file": file,
        "line": scenario.line,
        "digest": scenario.digest,
        "result": result.result.value,
        "message": result.message,
        "started": result.started,
        "duration_s": round(result.duration_s, 4),
        "seed": result.seed,
        "reproduce": result.reproduce,
        "steps": [s.to_json() for s in result.steps],
    }
    if scenario.description:
        data["description"] = scenario.description
    return data


def build_record(
    *,
    run_id: str,
    started: str,
    finished: str,
    duration_s: float,
    seed: int | str,
    sut: Mapping[str, Any],
    simulator: Mapping[str, Any] | None,
    versions: Mapping[str, Any],
    pairs: Sequence[tuple[Scenario, ScenarioResult]],
    catalogue: RequirementCatalogue,
    actors: Sequence[str],
    exchanges: Sequence[Mapping[str, Any]],
    root: str | None = None,
    command: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The run record (see ``run-record.schema.json``)."""
    record: dict[str, Any] = {
        "format": FORMAT,
        "run_id": run_id,
        "started": started,
        "finished": finished,
        "duration_s": round(duration_s, 3),
        "seed": str(seed),
        "sut": dict(sut),
        "simulator": dict(simulator) if simulator else None,
        "versions": {**versions, "python": platform.python_version()},
        "summary": summary(pairs),
        "scenarios": [scenario_json(s, r, root=root) for s, r in pairs],
        "coverage": coverage(catalogue, actors, pairs),
        "exchanges": list(exchanges),
    }
    if command is not None:
        record["command"] = list(command)
    return record


def results_map(record: Mapping[str, Any]) -> dict[str, str]:
    """``{scenario id: result}`` of a run record (the form ``--expect`` compares)."""
    return {s["id"]: s["result"] for s in record.get("scenarios") or []}
