"""Scenario files: schema errors name the file, the line and the key; the shipped suite is consistent."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from testbed.core.errors import InputError
from testbed.scenarios import checks_effects  # noqa: F401 - registers the effect checks
from testbed.scenarios.catalogue import load_catalogue
from testbed.scenarios.checks import CHECKS
from testbed.scenarios.model import ASSERTION_KINDS, STEP_KINDS, load_scenario, load_suite, scenario_files
from testbed.scenarios.schema import ScenarioSchemaError, content_dir, schema_dir
from testbed.scenarios.steps import EXECUTORS

VALID = """
id: demo-ok
title: A valid scenario
actor: SMR
level: 1
requirements: [MA-API-010]
steps:
  - name: read metadata
    fhir: {method: GET, path: metadata}
    expect:
      - status: 200
"""


def problems(write: Callable[[str], Path], text: str) -> list[str]:
    path = write(text)
    with pytest.raises(ScenarioSchemaError) as info:
        load_scenario(path, catalogue=load_catalogue())
    return [str(p) for p in info.value.problems]


def test_a_valid_scenario_loads(write_scenario: Callable[[str], Path]) -> None:
    scenario = load_scenario(write_scenario(VALID), catalogue=load_catalogue())
    assert scenario.id == "demo-ok"
    assert scenario.steps[0].kind == "fhir"
    assert scenario.steps[0].line == 7
    assert scenario.steps[0].expect[0].line == 10
    assert scenario.line == 1


def test_an_unknown_key_names_file_line_and_key(write_scenario: Callable[[str], Path]) -> None:
    found = problems(write_scenario, VALID.replace("      - status: 200", "      - stauts: 200"))
    assert any(":10: unknown key 'stauts'; did you mean 'status'?" in p for p in found), found
    assert all(p.split(":")[0].endswith(".scenario.yaml") for p in found)


def test_a_step_without_kind_is_named(write_scenario: Callable[[str], Path]) -> None:
    found = problems(write_scenario, VALID.replace("fhir: {method: GET, path: metadata}", "fhri: {}"))
    assert any(":8: unknown key 'fhri'; did you mean 'fhir'?" in p for p in found), found
    assert any("needs exactly one of fhir, submit_document" in p and "(found none)" in p for p in found), (
        found
    )


def test_a_missing_required_key(write_scenario: Callable[[str], Path]) -> None:
    found = problems(write_scenario, VALID.replace("level: 1\n", ""))
    assert any(":1: missing required key 'level'" in p for p in found), found


def test_a_wrong_value_points_at_its_line(write_scenario: Callable[[str], Path]) -> None:
    found = problems(write_scenario, VALID.replace("actor: SMR", "actor: Hospital"))
    assert any(":3: 'Hospital' is not one of" in p and "/actor" in p for p in found), found


def test_an_unknown_requirement_id_is_refused_with_a_hint(write_scenario: Callable[[str], Path]) -> None:
    found = problems(write_scenario, VALID.replace("MA-API-010", "MA-API-910"))
    assert any(":5: unknown requirement ID 'MA-API-910'" in p for p in found), found


def test_an_unknown_fixture_is_refused(write_scenario: Callable[[str], Path]) -> None:
    text = VALID + "  - submit_document: {fixture: nobody}\n"
    found = problems(write_scenario, text)
    assert any("unknown fixture 'nobody'" in p and ":11:" in p for p in found), found


def test_invalid_yaml_names_line_and_column(write_scenario: Callable[[str], Path]) -> None:
    path = write_scenario("id: x\nsteps: [a\n")
    with pytest.raises(InputError, match=r"\.scenario\.yaml:3:1: invalid YAML"):
        load_scenario(path)


def test_a_duplicate_key_is_an_error(write_scenario: Callable[[str], Path]) -> None:
    path = write_scenario(VALID + "id: again\n")
    with pytest.raises(InputError, match=r":11:1: invalid YAML: duplicate key 'id'"):
        load_scenario(path)


def test_duplicate_scenario_ids_in_a_suite(write_scenario: Callable[[str], Path]) -> None:
    first = write_scenario(VALID)
    write_scenario(VALID)
    with pytest.raises(ScenarioSchemaError, match="duplicate scenario id 'demo-ok'"):
        load_suite([first.parent], catalogue=load_catalogue())


def test_the_shipped_suite_loads_and_cites_only_catalogue_ids() -> None:
    catalogue = load_catalogue()
    suite = load_suite([content_dir()], catalogue=catalogue)
    assert len(suite) == len(scenario_files([content_dir()])) >= 70
    for scenario in suite:
        assert catalogue.unknown(scenario.all_requirements) == [], scenario.id


def test_every_smr_transaction_has_positive_and_negative_scenarios() -> None:
    suite = load_suite([content_dir()], catalogue=load_catalogue())
    smr = [s for s in suite if s.actor == "SMR"]
    for number in range(1, 12):
        if number == 7:
            continue  # SMR-T7 is HL7 v2 only (ORU^R01): the v2 scenarios
        assert any(s.transaction == f"SMR-T{number}" for s in smr), number
    for t in ("SMR-T1", "SMR-T4", "SMR-T6", "SMR-T8"):
        assert any(s.transaction == t and "reject" in s.id for s in smr), t
    for actor in ("Source", "Consumer", "IdentitySource"):
        assert any(s.actor == actor for s in suite), actor


def test_kinds_agree_between_schema_model_and_registries() -> None:
    schema = json.loads((schema_dir() / "scenario.schema.json").read_text())
    assertion_kinds = {b["required"][0] for b in schema["$defs"]["assertion"]["oneOf"]}
    step_kinds = {b["required"][0] for b in schema["$defs"]["step"]["oneOf"]}
    assert assertion_kinds == set(ASSERTION_KINDS) == set(CHECKS)
    assert step_kinds == set(STEP_KINDS) == set(EXECUTORS)
