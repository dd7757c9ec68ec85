"""Label decision (spec §9): the rules of reports/label-rules.yaml applied to small runs, level by level."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from testbed.reporting.labels import LabelRules, LabelRulesError, Status, decide_labels
from testbed.reporting.runrecord import Assertion, Result, RunRecord, Scenario, Step
from testbed.requirements import Requirement, RequirementCatalogue, Strength

RULES_FILE = Path(__file__).resolve().parents[3] / "reports" / "label-rules.yaml"

# A tiny catalogue: two requirements per level for actor A, one SHOULD, one for another actor.
CATALOGUE = RequirementCatalogue(
    [
        Requirement("XX-API-001", "API", "transport works", Strength.SHALL, 1, ("A",), "§1"),
        Requirement("XX-API-002", "API", "errors reported", Strength.SHALL, 1, ("A", "B"), "§1"),
        Requirement("XX-PAT-001", "PAT", "profile conformance", Strength.SHALL, 2, ("A",), "§2"),
        Requirement("XX-PAT-002", "PAT", "a recommendation", Strength.SHOULD, 2, ("A",), "§2"),
        Requirement("XX-SEC-001", "SEC", "tokens checked", Strength.SHALL, 3, ("A",), "§3"),
        Requirement("XX-API-003", "API", "B only", Strength.SHALL, 1, ("B",), "§1"),
    ]
)


def rules_data() -> dict[str, Any]:
    data = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))
    for level in data["levels"]:
        level["areas"] = [a for a in level["areas"] if a in ("API", "PAT", "SEC")]
    return data


def make_rules(**changes: Any) -> LabelRules:
    data = rules_data()
    data.update(changes)
    return LabelRules.from_mapping(data, CATALOGUE)


def scenario(
    sid: str,
    level: int,
    result: Result,
    reqs: tuple[str, ...],
    *,
    actor: str = "A",
    required: bool = True,
    steps: tuple[Step, ...] = (),
) -> Scenario:
    return Scenario(sid, sid, actor, level, result, reqs, steps=steps, required=required)


def run(*scenarios: Scenario, actors: tuple[str, ...] = ("A",)) -> RunRecord:
    return RunRecord("r1", "V", "P", "1", actors, {}, "1", {}, "", "", scenarios)


def all_pass() -> list[Scenario]:
    return [
        scenario("s1", 1, Result.PASS, ("XX-API-001", "XX-API-002")),
        scenario("s2", 2, Result.PASS, ("XX-PAT-001",)),
        scenario("s3", 3, Result.PASS, ("XX-SEC-001",)),
    ]


def test_everything_met_reaches_the_top_level() -> None:
    decision = decide_labels(run(*all_pass()), make_rules())["A"]
    assert decision.level_reached == 3
    assert decision.blocking == ()
    assert [s.reached for s in decision.levels] == [True, True, True]


def test_level_one_only() -> None:
    decision = decide_labels(run(*all_pass()[:1]), make_rules(untested="block"))["A"]
    assert decision.level_reached == 1
    assert decision.blocking_ids == ["XX-PAT-001"]
    assert decision.blocking[0].status is Status.UNTESTED


def test_a_failure_at_level_one_gives_no_level() -> None:
    scenarios = all_pass()
    scenarios[0] = scenario("s1", 1, Result.FAIL, ("XX-API-001", "XX-API-002"))
    decision = decide_labels(run(*scenarios), make_rules())["A"]
    assert decision.level_reached == 0
    assert {"XX-API-001", "XX-API-002", "s1"} <= set(decision.blocking_ids)
    assert decision.levels[1].satisfied and not decision.levels[1].reached  # higher levels met, not reached


def test_an_error_is_never_a_pass_and_blocks() -> None:
    scenarios = all_pass()
    scenarios[1] = scenario("s2", 2, Result.ERROR, ("XX-PAT-001",))
    decision = decide_labels(run(*scenarios), make_rules())["A"]
    assert decision.level_reached == 1
    assert decision.requirements["XX-PAT-001"].status is Status.NOT_JUDGED
    assert {b.status for b in decision.blocking} == {Status.NOT_JUDGED}


def test_an_error_beside_a_pass_still_blocks() -> None:
    scenarios = [*all_pass(), scenario("s2b", 2, Result.ERROR, ("XX-PAT-001",))]
    decision = decide_labels(run(*scenarios), make_rules())["A"]
    assert decision.level_reached == 1
    assert decision.requirements["XX-PAT-001"].status is Status.NOT_JUDGED


def test_a_skip_blocks_but_an_omit_does_not() -> None:
    skipped = [*all_pass(), scenario("s4", 3, Result.SKIP, ())]
    assert decide_labels(run(*skipped), make_rules())["A"].level_reached == 2
    omitted = [*all_pass(), scenario("s4", 3, Result.OMIT, ("XX-SEC-001",))]
    assert decide_labels(run(*omitted), make_rules())["A"].level_reached == 3


def test_a_requirement_only_omitted_is_not_applicable() -> None:
    scenarios = all_pass()
    scenarios[2] = scenario("s3", 3, Result.OMIT, ("XX-SEC-001",))
    decision = decide_labels(run(*scenarios), make_rules())["A"]
    assert decision.requirements["XX-SEC-001"].status is Status.NOT_APPLICABLE
    assert decision.level_reached == 3


def test_untested_blocks_unless_the_rules_allow_it() -> None:
    only_one = run(all_pass()[0])
    assert decide_labels(only_one, make_rules(untested="block"))["A"].level_reached == 1
    assert decide_labels(only_one, make_rules(untested="allow"))["A"].level_reached == 3
    assert rules_data()["untested"] == "allow"  # edition 0.1 decides on what the suite can judge


def test_should_requirements_never_block() -> None:
    decision = decide_labels(run(*all_pass()), make_rules())["A"]
    assert decision.requirements["XX-PAT-002"].status is Status.UNTESTED
    assert decision.level_reached == 3


def test_an_optional_scenario_does_not_block() -> None:
    scenarios = [*all_pass(), scenario("opt", 1, Result.FAIL, (), required=False)]
    assert decide_labels(run(*scenarios), make_rules())["A"].level_reached == 3


def test_an_assertion_requirement_takes_the_assertion_result() -> None:
    failed = Assertion("conforms", "profile", Result.FAIL, requirements=("XX-PAT-001",))
    step = Step(1, "validate", "fhir", Result.FAIL, assertions=(failed,))
    scenarios = [*all_pass()[:1], scenario("s2", 2, Result.FAIL, (), steps=(step,)), all_pass()[2]]
    decision = decide_labels(run(*scenarios), make_rules())["A"]
    assert decision.requirements["XX-PAT-001"].status is Status.NOT_MET
    assert decision.level_reached == 1


def test_each_actor_is_decided_on_its_own_scenarios() -> None:
    scenarios = [*all_pass(), scenario("b1", 1, Result.FAIL, ("XX-API-002", "XX-API-003"), actor="B")]
    decisions = decide_labels(run(*scenarios, actors=("A", "B")), make_rules())
    assert decisions["A"].level_reached == 3
    assert decisions["B"].level_reached == 0
    assert decisions["A"].requirements["XX-API-002"].status is Status.MET  # B's failure is B's


def test_an_actor_unknown_to_the_catalogue_gets_no_level() -> None:
    decision = decide_labels(run(*all_pass(), actors=("A", "Ghost")), make_rules())["Ghost"]
    assert decision.level_reached == 0
    assert decision.blocking[0].kind == "level"


def test_blockers_put_failures_before_untested() -> None:
    scenarios = [scenario("s1", 1, Result.FAIL, ("XX-API-002",))]
    statuses = [b.status for b in decide_labels(run(*scenarios), make_rules())["A"].blocking]
    assert statuses == sorted(statuses, key=[Status.NOT_MET, Status.NOT_JUDGED, Status.UNTESTED].index)
    assert statuses[0] is Status.NOT_MET


def test_shipped_rules_ask_for_every_shall_of_the_catalogue(rules: LabelRules) -> None:
    assert rules.levels[-1].key == "trusted"
    assert rules.unassigned() == []
    assert rules.results[Result.ERROR] is Status.NOT_JUDGED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "results": {
                    "pass": "met",
                    "fail": "not-met",
                    "error": "met",
                    "skip": "not-judged",
                    "omit": "not-applicable",
                }
            },
            "can never count as met",
        ),
        ({"results": {"pass": "met"}}, "results.fail: missing"),
        ({"untested": "maybe"}, "untested"),
        ({"colour": "red"}, "unknown key"),
        ({"levels": []}, "no level"),
    ],
)
def test_bad_rules_are_refused_with_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(LabelRulesError, match=message):
        make_rules(**change)


def test_bad_level_entries_are_refused() -> None:
    data = rules_data()
    bad = copy.deepcopy(data)
    bad["levels"][1]["level"] = 5
    with pytest.raises(LabelRulesError, match=r"levels\[1\].level"):
        LabelRules.from_mapping(bad, CATALOGUE)
    bad = copy.deepcopy(data)
    bad["levels"][0]["areas"] = ["NOPE"]
    with pytest.raises(LabelRulesError, match="NOPE"):
        LabelRules.from_mapping(bad, CATALOGUE)


def test_rules_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("levels: [", encoding="utf-8")
    with pytest.raises(LabelRulesError, match="not valid YAML"):
        LabelRules.load(bad, catalogue=CATALOGUE)
    with pytest.raises(LabelRulesError, match="cannot read"):
        LabelRules.load(tmp_path / "missing.yaml", catalogue=CATALOGUE)


def test_the_sample_run_reaches_no_level_and_says_why(report_data: Any) -> None:
    source = report_data.decisions["Source"]
    assert source.level_reached == 0
    first = source.blocking[0]
    assert (first.id, first.status) == ("MA-DOC-010", Status.NOT_JUDGED)
    assert "source-t4-document-submission error" in first.detail
