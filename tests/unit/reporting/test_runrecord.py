"""Reading a run folder: the run record (scenario engine's schema) and its evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.reporting.evidence import check_evidence, exchange_key
from testbed.reporting.runrecord import Result, RunRecordError, load_run
from testbed.scenarios.schema import RUN_SCHEMA, check
from tests.unit.reporting.conftest import SAMPLE


def test_the_sample_follows_the_scenario_engines_schema() -> None:
    data = json.loads((SAMPLE / "run.json").read_text(encoding="utf-8"))
    assert check(data, RUN_SCHEMA, source="run.json") == []


def test_the_sample_reads_into_the_model() -> None:
    run = load_run(SAMPLE)
    assert (run.vendor, run.product, run.version) == ("Atlas Santé Systèmes (fictional)", "AtlasHIS", "4.2.0")
    assert run.actors == ("Source", "Consumer")
    assert run.framework_edition == "0.1" and run.testbed_version == "0.1.0"
    assert run.content_versions["ma.smr.core"] == "0.1.0"
    assert {s.result for s in run.scenarios} == set(Result)
    failed = next(s for s in run.scenarios if s.id == "source-t1-patient-ins-key")
    assert failed.steps[0].index == 1  # people count steps from 1
    assert failed.steps[0].assertions[0].location == "Patient.identifier[0].value"
    assert ("MA-ID-003", Result.FAIL) in failed.contributions()
    assert run.counts("Consumer") == {"pass": 1, "fail": 1, "error": 0, "skip": 1, "omit": 0}


def test_a_record_breaking_the_schema_names_the_place(tmp_path: Path) -> None:
    data = json.loads((SAMPLE / "run.json").read_text(encoding="utf-8"))
    data["scenarios"][0]["result"] = "maybe"
    (tmp_path / "run.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RunRecordError, match=r"/scenarios/0/result"):
        load_run(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no run record"), ("{", "not valid JSON"), ('{"format": "other"}', "not a testbed run record")],
)
def test_unreadable_records(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "run.json").write_text(content, encoding="utf-8")
    with pytest.raises(RunRecordError, match=message):
        load_run(tmp_path)


def test_the_sample_evidence_is_intact() -> None:
    check_ = check_evidence(SAMPLE)
    assert check_.intact, check_.findings
    assert check_.digest == (SAMPLE / "evidence-digest.txt").read_text().strip()
    assert "run.json" in check_.files


def test_every_change_to_the_evidence_is_named(run_dir: Path) -> None:
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    exchange = next((run_dir / "exchanges").iterdir())
    exchange.unlink()
    (run_dir / "run.json").write_text(json.dumps(run).replace('"fail"', '"pass"', 1), encoding="utf-8")
    (run_dir / "extra.txt").write_text("added later", encoding="utf-8")
    findings = "\n".join(check_evidence(run_dir).findings)
    assert "run.json: SHA-256" in findings
    assert f"exchanges/{exchange.name}: listed in the manifest but missing" in findings
    assert "extra.txt: present but not listed" in findings


def test_a_folder_without_manifest_is_an_input_error(tmp_path: Path) -> None:
    from testbed.core.errors import InputError

    with pytest.raises(InputError, match="no manifest"):
        check_evidence(tmp_path)


def test_exchange_key() -> None:
    assert exchange_key("exchanges/abc.json") == exchange_key("abc.json") == exchange_key("abc") == "abc"
