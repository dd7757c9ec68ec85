"""``testbed run`` and ``testbed replay`` through click: selection, exit codes, --expect, --rerun-failed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from testbed.cli.run import compare, replay_command, run_command
from testbed.scenarios.schema import content_dir

T11 = str(content_dir() / "smr" / "t11-capability-statement.scenario.yaml")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of two scenarios against the embedded SMR: one passes, one is made to fail."""
    folder = tmp_path_factory.mktemp("runs") / "first"
    scenarios = tmp_path_factory.mktemp("scenarios")
    (scenarios / "ok.scenario.yaml").write_text(Path(T11).read_text())
    broken = (
        Path(T11)
        .read_text()
        .replace("smr-t11-capability-statement", "cli-broken")
        .replace("      - status: 200", "      - status: 201")
    )
    (scenarios / "broken.scenario.yaml").write_text(broken)
    result = CliRunner().invoke(
        run_command, ["--scenarios", str(scenarios), "--out", str(folder), "--seed", "3"]
    )
    assert result.exit_code == 1, result.output
    assert "FAIL cli-broken" in result.output and "run folder:" in result.output
    return folder


def test_run_writes_a_record_and_exits_1_on_a_failure(first_run: Path) -> None:
    record = json.loads((first_run / "run.json").read_text())
    assert {s["id"]: s["result"] for s in record["scenarios"]} == {
        "cli-broken": "fail",
        "smr-t11-capability-statement": "pass",
    }
    assert record["sut"]["embedded"] is True and record["seed"] == "3"
    assert record["summary"]["exit_code"] == 1 and record["summary"]["required_failed"] == ["cli-broken"]


def test_exchange_files_follow_their_schema(first_run: Path) -> None:
    from testbed.scenarios.schema import check

    files = list((first_run / "exchanges").iterdir())
    assert files
    for file in files:
        assert check(json.loads(file.read_text()), "exchange.schema.json", source=str(file)) == []


def test_expect_compares_result_sets(first_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        run_command,
        ["--scenarios", T11, "--out", str(tmp_path / "a"), "--expect", str(first_run / "run.json")],
    )
    assert result.exit_code == 1 and "cli-broken: expected fail, not run" in result.output
    expected = tmp_path / "expected.json"
    expected.write_text(json.dumps({"results": {"smr-t11-capability-statement": "pass"}}))
    result = runner.invoke(
        run_command, ["--scenarios", T11, "--out", str(tmp_path / "b"), "--expect", str(expected)]
    )
    assert result.exit_code == 0, result.output
    assert compare({"a": "pass"}, {"a": "fail", "b": "pass"}) == [
        "a: expected pass, got fail",
        "b: pass, not in the expected results",
    ]


def test_rerun_failed_and_usage_errors(first_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    scenarios = str(
        first_run.parent.parent
        / next(p.name for p in first_run.parent.parent.iterdir() if p.name.startswith("scenarios"))
    )
    result = runner.invoke(
        run_command,
        ["--scenarios", scenarios, "--rerun-failed", str(first_run), "--out", str(tmp_path / "again")],
    )
    record = json.loads((tmp_path / "again" / "run.json").read_text())
    assert [s["id"] for s in record["scenarios"]] == ["cli-broken"] and result.exit_code == 1
    assert runner.invoke(run_command, ["--scenarios", T11, "-k", "nothing-matches"]).exit_code == 2
    assert (
        runner.invoke(run_command, ["--scenarios", T11, "--target", "https://127.0.0.1:9/fhir"]).exit_code
        == 2
    )
    assert runner.invoke(run_command, ["--scenarios", T11, "--out", str(first_run)]).exit_code == 2


def test_replay_resends_a_recorded_exchange(first_run: Path) -> None:
    exchange = next((first_run / "exchanges").iterdir())
    result = CliRunner().invoke(replay_command, [str(exchange)])
    assert result.exit_code == 0, result.output
    assert "recorded" in result.output and "replayed" in result.output and "same status" in result.output
