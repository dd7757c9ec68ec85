"""The label decision (spec §9): the level each declared actor reaches, from rules kept as data.

The rules live in ``reports/label-rules.yaml``: for each level, which requirement levels and areas it
asks for; how each scenario result counts (met, not met, not judged, not applicable); whether an
untested requirement blocks. A level is *satisfied* for an actor when every requirement it asks of
that actor is met and no scenario of that actor at that level blocks; it is *reached* when it and
every level below it are satisfied. An error (the testbed could not judge) is never a pass: it
blocks the level and is shown as "not judged".

Example:
    ```python
    rules = LabelRules.load()
    decisions = decide_labels(load_run(run_dir), rules)
    decisions["SMR"].level_reached, decisions["SMR"].blocking_ids
    ```
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed.core.errors import InputError
from testbed.core.settings import load_settings
from testbed.reporting._paths import reports_dir
from testbed.reporting.runrecord import Result, RunRecord, Scenario
from testbed.requirements import Requirement, RequirementCatalogue, RequirementError


class Status(enum.StrEnum):
    """What the run says about a requirement for one actor."""

    MET = "met"
    NOT_MET = "not-met"
    NOT_JUDGED = "not-judged"
    NOT_APPLICABLE = "not-applicable"
    UNTESTED = "untested"


# When several scenarios bear on one requirement, the worst status wins.
_PRECEDENCE = (Status.NOT_MET, Status.NOT_JUDGED, Status.MET, Status.NOT_APPLICABLE)
_BLOCK_ORDER = (Status.NOT_MET, Status.NOT_JUDGED, Status.UNTESTED, Status.MET, Status.NOT_APPLICABLE)
_RULE_KEYS = {"edition", "catalogue", "strengths", "results", "untested", "levels"}
_LEVEL_KEYS = {"level", "key", "requirement_levels", "areas"}


class LabelRulesError(InputError):
    """``label-rules.yaml`` cannot be used; the message names the file, the key and why."""


@dataclass(frozen=True, slots=True)
class LevelRule:
    """What one label level asks for."""

    level: int
    key: str
    requirement_levels: frozenset[int]
    areas: frozenset[str]


@dataclass(frozen=True, slots=True)
class LabelRules:
    """The label rules of one framework edition, with the requirement catalogue they apply to."""

    edition: str
    strengths: frozenset[str]
    results: Mapping[Result, Status]
    untested_blocks: bool
    levels: tuple[LevelRule, ...]
    catalogue: RequirementCatalogue

    @classmethod
    def load(cls, path: Path | None = None, *, catalogue: RequirementCatalogue | None = None) -> LabelRules:
        """Read the rules (default ``reports/label-rules.yaml``) and the catalogue they name.

        Args:
            path: the rules file.
            catalogue: use this catalogue instead of the one the file names (tests, other editions).

        Raises:
            LabelRulesError: the file or the catalogue it names cannot be used.
        """
        path = Path(path) if path is not None else reports_dir() / "label-rules.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise LabelRulesError(f"{path}: cannot read the label rules ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise LabelRulesError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict):
            raise LabelRulesError(f"{path}: the label rules are a YAML mapping")
        if catalogue is None:
            catalogue = _catalogue(data.get("catalogue"), path)
        return cls.from_mapping(data, catalogue, where=str(path))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], catalogue: RequirementCatalogue, *, where: str = "label rules"
    ) -> LabelRules:
        """Build the rules from their parsed YAML.

        Raises:
            LabelRulesError: an unknown key, a missing result mapping, levels not numbered 1, 2, 3...,
                or an area the catalogue does not know.
        """

        def fail(key: str, why: str) -> LabelRulesError:
            return LabelRulesError(f"{where}: {key}: {why}")

        unknown = sorted(set(data) - _RULE_KEYS)
        if unknown:
            raise fail(unknown[0], f"unknown key; expected {sorted(_RULE_KEYS)}")
        results: dict[Result, Status] = {}
        raw_results = data.get("results") or {}
        for result in Result:
            try:
                results[result] = Status(raw_results[result.value])
            except KeyError:
                raise fail(
                    f"results.{result.value}", "missing: every scenario result needs a meaning"
                ) from None
            except ValueError:
                allowed = [s.value for s in Status if s is not Status.UNTESTED]
                raise fail(f"results.{result.value}", f"must be one of {allowed}") from None
        if results[Result.ERROR] is Status.MET:
            raise fail("results.error", "an error (the testbed could not judge) can never count as met")
        untested = data.get("untested", "block")
        if untested not in ("block", "allow"):
            raise fail("untested", "must be 'block' or 'allow'")
        known_areas = {r.area for r in catalogue}
        levels = tuple(_level(raw, i, known_areas, fail) for i, raw in enumerate(data.get("levels") or []))
        if not levels:
            raise fail("levels", "no level defined")
        return cls(
            edition=str(data.get("edition", "")),
            strengths=frozenset(str(s) for s in data.get("strengths") or ["SHALL"]),
            results=results,
            untested_blocks=untested == "block",
            levels=levels,
            catalogue=catalogue,
        )

    @property
    def max_level(self) -> int:
        """The highest level a label can have."""
        return self.levels[-1].level

    def asks(self, rule: LevelRule, requirement: Requirement, actor: str) -> bool:
        """Whether this level asks ``actor`` to meet ``requirement``."""
        return (
            actor in requirement.actors
            and requirement.strength.value in self.strengths
            and requirement.level in rule.requirement_levels
            and requirement.area in rule.areas
        )

    def unassigned(self) -> list[Requirement]:
        """Requirements of a blocking strength that no level asks for (a gap in the rules)."""
        return [
            r
            for r in self.catalogue
            if r.strength.value in self.strengths
            and not any(r.level in lv.requirement_levels and r.area in lv.areas for lv in self.levels)
        ]

    def blocks(self, status: Status) -> bool:
        """Whether a requirement or scenario with this status blocks its level."""
        if status is Status.UNTESTED:
            return self.untested_blocks
        return status in (Status.NOT_MET, Status.NOT_JUDGED)


def _level(raw: Any, index: int, known_areas: set[str], fail: Any) -> LevelRule:
    at = f"levels[{index}]"
    if not isinstance(raw, Mapping):
        raise fail(at, "a level is a mapping")
    unknown = sorted(set(raw) - _LEVEL_KEYS)
    if unknown:
        raise fail(f"{at}.{unknown[0]}", f"unknown key; expected {sorted(_LEVEL_KEYS)}")
    if raw.get("level") != index + 1:
        raise fail(f"{at}.level", f"levels are numbered 1, 2, 3... in order; expected {index + 1}")
    areas = frozenset(str(a) for a in raw.get("areas") or [])
    strange = sorted(areas - known_areas)
    if strange:
        raise fail(f"{at}.areas", f"area {strange[0]!r} is not in the requirement catalogue")
    req_levels = raw.get("requirement_levels") or []
    if not req_levels or not all(isinstance(v, int) and not isinstance(v, bool) for v in req_levels):
        raise fail(f"{at}.requirement_levels", "a non-empty list of requirement levels (integers)")
    return LevelRule(index + 1, str(raw.get("key") or f"level{index + 1}"), frozenset(req_levels), areas)


def _catalogue(name: Any, rules_path: Path) -> RequirementCatalogue:
    if not isinstance(name, str) or not name:
        raise LabelRulesError(
            f"{rules_path}: catalogue: name the requirement catalogue (relative to profiles/)"
        )
    profiles = load_settings().profiles_dir
    if profiles is None:
        raise LabelRulesError(f"{rules_path}: no profiles/ folder to find the catalogue {name!r} in")
    try:
        return RequirementCatalogue.load(profiles / name)
    except RequirementError as exc:
        raise LabelRulesError(f"{rules_path}: catalogue {name!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class RequirementStatus:
    """The status of one requirement for one actor, and the scenario results it comes from."""

    id: str
    status: Status
    scenarios: tuple[tuple[str, Result], ...] = ()


@dataclass(frozen=True, slots=True)
class Blocker:
    """Something that keeps a level from being satisfied: a requirement, a scenario, or an empty level."""

    kind: str  # "requirement", "scenario" or "level"
    id: str
    status: Status
    level: int
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.id} ({self.status.value}{': ' + self.detail if self.detail else ''})"


@dataclass(frozen=True, slots=True)
class LevelStatus:
    """How one actor stands against one level."""

    level: int
    key: str
    satisfied: bool
    reached: bool
    blockers: tuple[Blocker, ...]
    asked: int
    met: int


@dataclass(frozen=True, slots=True)
class LabelDecision:
    """The label of one actor: the level reached, what blocks the next one, and every level's status."""

    actor: str
    level_reached: int
    blocking: tuple[Blocker, ...]
    levels: tuple[LevelStatus, ...]
    requirements: Mapping[str, RequirementStatus]

    @property
    def blocking_ids(self) -> list[str]:
        """Ids of the requirements and scenarios that block the next level."""
        return [b.id for b in self.blocking]

    def to_dict(self) -> dict[str, Any]:
        """JSON form (used in the certificate tooling and the JSON outputs)."""
        return {
            "actor": self.actor,
            "level_reached": self.level_reached,
            "blocking": [
                {"kind": b.kind, "id": b.id, "status": b.status.value, "level": b.level, "detail": b.detail}
                for b in self.blocking
            ],
            "levels": [
                {
                    "level": s.level,
                    "key": s.key,
                    "satisfied": s.satisfied,
                    "reached": s.reached,
                    "asked": s.asked,
                    "met": s.met,
                    "blockers": len(s.blockers),
                }
                for s in self.levels
            ],
        }


def requirement_statuses(run: RunRecord, rules: LabelRules, actor: str) -> dict[str, RequirementStatus]:
    """The status of every catalogue requirement that names ``actor``, from that actor's scenarios."""
    evidence: dict[str, list[tuple[str, Result]]] = {}
    for scenario in run.scenarios_of(actor):
        for rid, result in scenario.contributions():
            evidence.setdefault(rid, []).append((scenario.id, result))
    out = {}
    for req in rules.catalogue:
        if actor not in req.actors:
            continue
        found = evidence.get(req.id, [])
        statuses = {rules.results[result] for _, result in found}
        status = next((s for s in _PRECEDENCE if s in statuses), Status.UNTESTED)
        out[req.id] = RequirementStatus(req.id, status, tuple(found))
    return out


def _culprits(status: RequirementStatus, rules: LabelRules, most: int = 4) -> str:
    """The scenarios whose result holds the requirement back (not those that passed)."""
    bad = [f"{sid} {res.value}" for sid, res in status.scenarios if rules.results[res] is status.status]
    more = f" (+{len(bad) - most})" if len(bad) > most else ""
    return ", ".join(bad[:most]) + more


def _scenario_blocker(scenario: Scenario, status: Status, level: int) -> Blocker:
    detail = f"{scenario.result.value}: {scenario.message}" if scenario.message else scenario.result.value
    return Blocker("scenario", scenario.id, status, level, detail)


def decide_labels(run: RunRecord, rules: LabelRules) -> dict[str, LabelDecision]:
    """The label decision for every actor the run declares.

    Args:
        run: the run record.
        rules: the label rules and their requirement catalogue.

    Returns:
        ``{actor: LabelDecision}`` in the order the run declares the actors.
    """
    decisions = {}
    for actor in run.actors:
        statuses = requirement_statuses(run, rules, actor)
        scenarios = run.scenarios_of(actor)
        levels: list[LevelStatus] = []
        below_reached = True
        for rule in rules.levels:
            blockers: list[Blocker] = []
            asked = [r for r in rules.catalogue if rules.asks(rule, r, actor)]
            for req in asked:
                st = statuses[req.id]
                if rules.blocks(st.status):
                    blockers.append(
                        Blocker("requirement", req.id, st.status, rule.level, _culprits(st, rules))
                    )
            at_level = [s for s in scenarios if s.level in rule.requirement_levels]
            for scenario in at_level:
                status = rules.results[scenario.result]
                if scenario.required and rules.blocks(status):
                    blockers.append(_scenario_blocker(scenario, status, rule.level))
            if not statuses:
                why = "the requirement catalogue names no requirement for this actor"
                blockers.append(Blocker("level", actor, Status.UNTESTED, rule.level, why))
            blockers.sort(key=lambda b: _BLOCK_ORDER.index(b.status))
            met = sum(1 for r in asked if statuses[r.id].status in (Status.MET, Status.NOT_APPLICABLE))
            satisfied = not blockers
            below_reached = below_reached and satisfied
            levels.append(
                LevelStatus(rule.level, rule.key, satisfied, below_reached, tuple(blockers), len(asked), met)
            )
        reached = max((s.level for s in levels if s.reached), default=0)
        blocking = levels[reached].blockers if reached < len(levels) else ()
        decisions[actor] = LabelDecision(actor, reached, blocking, tuple(levels), statuses)
    return decisions


__all__ = [
    "Blocker",
    "LabelDecision",
    "LabelRules",
    "LabelRulesError",
    "LevelRule",
    "LevelStatus",
    "RequirementStatus",
    "Status",
    "decide_labels",
    "requirement_statuses",
]
