"""The run folder: canonical exchange files, manifest, evidence digest, tamper detection; run record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from testbed.core.errors import UsageError
from testbed.scenarios.catalogue import load_catalogue
from testbed.scenarios.evidence import (
    DIGEST_FILE,
    check_out_dir,
    evidence_digest,
    exchange_index,
    verify_run_folder,
    write_run_folder,
)
from testbed.scenarios.exchange import Exchange, body_json, sha256_hex
from testbed.scenarios.model import AssertionSpec, Scenario, StepSpec
from testbed.scenarios.record import build_record, coverage, exit_code, results_map
from testbed.scenarios.results import AssertionResult, Result, ScenarioResult, StepResult
from testbed.scenarios.selection import keyword_matcher, missing_inputs, omit_reason, select


def an_exchange(n: int = 0) -> Exchange:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ0YiJ9.c2lnbmF0dXJl"
    return Exchange(
        "http",
        "outbound",
        {
            "method": "GET",
            "url": f"https://x/fhir/Patient/{n}",
            "base": "https://x/fhir",
            "path": f"Patient/{n}",
            "headers": {"Authorization": "Bearer [redacted]"},
            "body": {"format": "empty"},
        },
        {
            "status": 200,
            "headers": {},
            "body": body_json(json.dumps({"access_token": token}).encode(), "application/json"),
        },
        started="2026-01-01T00:00:00.000Z",
    )


def scenario(
    sid: str,
    requirements: tuple[str, ...],
    *,
    step_reqs: tuple[str, ...] = (),
    assertion_reqs: tuple[str, ...] = (),
    actor: str = "SMR",
) -> Scenario:
    step = StepSpec(
        0,
        "fhir",
        {},
        "s",
        5,
        expect=(AssertionSpec("status", 200, 6, requirements=assertion_reqs),),
        requirements=step_reqs,
    )
    return Scenario(sid, sid, actor, 1, requirements, (step,), Path(f"/x/{sid}.scenario.yaml"), 1)


def result(
    sid: str, value: Result, assertion: Result = Result.PASS, exchanges: list[str] | None = None
) -> ScenarioResult:
    step = StepResult(
        0,
        "s",
        "fhir",
        5,
        value,
        exchanges=exchanges or [],
        assertions=[AssertionResult("status", "status: 200", assertion, 6)],
    )
    return ScenarioResult(sid, value, steps=[step], started="2026-01-01T00:00:00.000Z")


def record_for(pairs: list[tuple[Scenario, ScenarioResult]], exchanges: list[Exchange]) -> dict[str, Any]:
    return build_record(
        run_id="20260101T000000Z-abcdef",
        started="2026-01-01T00:00:00.000Z",
        finished="2026-01-01T00:00:01.000Z",
        duration_s=1.0,
        seed=42,
        sut={
            "vendor": "v",
            "product": "p",
            "version": "1",
            "actors": ["SMR"],
            "options": [],
            "embedded": True,
            "fhir": "https://x/fhir",
            "mllp": None,
        },
        simulator=None,
        versions={
            "testbed": "0.1.0",
            "framework_edition": "0.1",
            "content": {"ma.smr.core": "0.1.0"},
            "suite": {"digest": "0" * 64, "scenarios": len(pairs)},
        },
        pairs=pairs,
        catalogue=load_catalogue(),
        actors=["SMR"],
        exchanges=exchange_index([(s.id, 0, ex) for (s, _), ex in zip(pairs, exchanges, strict=False)]),
    )


def test_exchange_files_are_canonical_and_named_by_their_digest() -> None:
    ex = an_exchange()
    data = rfc8785.dumps(ex.to_json())
    assert ex.id == sha256_hex(data)
    assert ex.to_json()["response"]["body"]["value"]["access_token"] == "[redacted]"


def write(folder: Path, value: Result = Result.PASS) -> str:
    ex = an_exchange()
    pairs = [(scenario("a", ("MA-API-010",)), result("a", value, exchanges=[ex.id]))]
    return write_run_folder(folder, record_for(pairs, [ex]), [ex])


def test_the_digest_is_stable_and_changes_with_one_byte(tmp_path: Path) -> None:
    first = write(tmp_path / "one")
    assert write(tmp_path / "two") == first
    assert (tmp_path / "one" / DIGEST_FILE).read_text().strip() == first == evidence_digest(tmp_path / "one")
    assert verify_run_folder(tmp_path / "one", expected_digest=first) == []
    assert write(tmp_path / "three", Result.FAIL) != first

    run_json = tmp_path / "one" / "run.json"
    text = run_json.read_bytes()
    run_json.write_bytes(text.replace(b'"seed": "42"', b'"seed": "43"'))
    problems = verify_run_folder(tmp_path / "one", expected_digest=first)
    assert any(p.startswith("run.json: SHA-256") for p in problems), problems
    assert evidence_digest(tmp_path / "one") != first


def test_tampering_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    write(folder)
    exchange = next((folder / "exchanges").iterdir())
    shutil.copy(exchange, tmp_path / "backup.json")
    exchange.unlink()
    problems = verify_run_folder(folder)
    assert any("listed in the manifest but missing" in p for p in problems)
    assert any("run.json references exchanges/" in p for p in problems)
    shutil.copy(tmp_path / "backup.json", exchange)
    (folder / "extra.txt").write_text("x")
    assert verify_run_folder(folder) == ["extra.txt: present but not listed in the manifest"]
    (folder / "extra.txt").unlink()
    (folder / DIGEST_FILE).write_text("0" * 64)
    assert any(p.startswith(f"{DIGEST_FILE}: says") for p in verify_run_folder(folder))


def test_a_run_folder_is_never_inside_the_package_nor_a_used_folder(tmp_path: Path) -> None:
    from testbed.core.settings import PACKAGE_ROOT

    with pytest.raises(UsageError, match="inside the testbed package"):
        check_out_dir(PACKAGE_ROOT / "runs")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "f").write_text("x")
    with pytest.raises(UsageError, match="not an empty folder"):
        check_out_dir(tmp_path / "used")


def test_the_record_breaking_its_schema_is_refused(tmp_path: Path) -> None:
    from testbed.scenarios.evidence import EvidenceError

    record = record_for([(scenario("a", ("MA-API-010",)), result("a", Result.PASS))], [])
    record["summary"]["outcome"] = "great"
    with pytest.raises(EvidenceError, match="a testbed bug"):
        write_run_folder(tmp_path / "r", record, [])


def test_coverage_rules() -> None:
    pairs = [
        (
            scenario("a", ("MA-API-010",), assertion_reqs=("MA-API-011",)),
            result("a", Result.FAIL, Result.PASS),
        ),
        (scenario("b", ("MA-API-010",)), result("b", Result.PASS)),
        (scenario("c", ("MA-API-012",), step_reqs=("MA-API-013",)), result("c", Result.ERROR)),
        (scenario("d", ("MA-SEC-018",)), ScenarioResult("d", Result.SKIP)),
    ]
    table = {row["id"]: row for row in coverage(load_catalogue(), ["SMR"], pairs)["requirements"]}
    assert table["MA-API-010"]["result"] == "fail"  # one citing scenario failed
    assert table["MA-API-011"]["result"] == "pass"  # cited by an assertion that passed
    assert table["MA-API-012"]["result"] == "error"
    assert table["MA-API-013"]["result"] == "error"  # cited by a step that errored
    assert table["MA-SEC-018"]["result"] == "untested"  # the only citing scenario was skipped
    assert table["MA-SEC-018"]["scenarios"] == [{"id": "d", "result": "skip"}]
    assert "MA-CDA-001" not in table  # a Source-only requirement is not listed for the SMR actor
    assert all(row["result"] == "untested" for row in table.values() if not row["scenarios"])


def test_exit_codes_and_result_maps() -> None:
    a, b = scenario("a", ("MA-API-010",)), scenario("b", ("MA-API-010",))
    assert exit_code([(a, result("a", Result.PASS)), (b, ScenarioResult("b", Result.OMIT))]) == 0
    assert exit_code([(a, result("a", Result.ERROR)), (b, result("b", Result.PASS))]) == 3
    assert exit_code([(a, result("a", Result.ERROR)), (b, result("b", Result.FAIL))]) == 1
    optional = Scenario("o", "o", "SMR", 1, ("MA-API-010",), (), Path("/x"), 1, required=False)
    assert exit_code([(optional, result("o", Result.FAIL))]) == 0
    record = record_for([(a, result("a", Result.PASS))], [])
    assert results_map(record) == {"a": "pass"}


def test_selection() -> None:
    suite = [
        scenario("smr-t1-create", ("MA-API-010",)),
        scenario("smr-t1-reject-ins", ("MA-API-010",)),
        scenario("source-t1", ("MA-API-010",), actor="Source"),
    ]
    assert [s.id for s in select(suite, keyword="t1 and not reject")] == ["smr-t1-create", "source-t1"]
    assert [s.id for s in select(suite, keyword="(source or reject) and t1")] == [
        "smr-t1-reject-ins",
        "source-t1",
    ]
    assert [s.id for s in select(suite, ids=["source-t1"])] == ["source-t1"]
    with pytest.raises(UsageError, match="unknown scenario id"):
        select(suite, ids=["nope"])
    with pytest.raises(UsageError, match="no scenario matches"):
        select(suite, keyword="t9")
    with pytest.raises(UsageError, match="unexpected end"):
        keyword_matcher("(a or b")
    assert omit_reason(suite[2], ["SMR"], []) == "omit: actor Source is not declared (declared: SMR)"
    needs_option = Scenario(
        "x", "x", "SMR", 1, ("MA-API-010",), (), Path("/x"), 1, capabilities=("documents",)
    )
    assert omit_reason(needs_option, ["SMR"], []) == "omit: needs option(s) documents, not claimed"
    assert omit_reason(needs_option, ["SMR"], ["documents"]) is None
    assert missing_inputs(needs_option, []) == []
