"""The national package passes `testbed ig check`, and `testbed validate` loads it by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from testbed.cli import main
from testbed.igtools.check import check_package

MA = Path(__file__).resolve().parents[3] / "profiles" / "ma.smr.core"
EXAMPLES = MA / "package" / "example"


def test_ig_check_passes_on_the_national_package() -> None:
    report = check_package(MA)
    assert report.problems == []
    assert report.examples == report.examples_ok >= 90
    assert all(total == cited + pending for total, cited, pending in report.by_area.values())


def example_named(source_stem: str) -> Path:
    expectations = json.loads((MA / "package" / "other" / "examples.json").read_text(encoding="utf-8"))
    for name, expect in expectations.items():
        if Path(expect["source"]).stem == source_stem:
            return EXAMPLES / name
    raise AssertionError(f"no example {source_stem}")


@pytest.mark.parametrize(
    ("example", "location", "rule"),
    [
        ("ma-patient-invalid-ins-key", "Patient.identifier[0].value", "ins:check-digit"),
        ("ma-patient-invalid-no-national-id", None, "ma-pat-1"),
        ("ma-patient-invalid-postal-code", None, "ma-pat-5"),
        ("ma-patient-invalid-region-13", "Patient.address[0].extension[0].value.ofType(Coding)", None),
    ],
)
def test_validate_uses_the_national_package_by_default(
    monkeypatch: pytest.MonkeyPatch, example: str, location: str | None, rule: str | None
) -> None:
    monkeypatch.delenv("TESTBED_PROFILES", raising=False)
    result = CliRunner().invoke(main, ["validate", "--format", "json", str(example_named(example))])
    assert result.exit_code == 1
    [outcome] = json.loads(result.output)
    errors = [i for i in outcome["issues"] if i["severity"] == "error"]
    assert any(
        (location is None or i["location"] == location) and (rule is None or i["rule"] == rule)
        for i in errors
    ), errors


def test_valid_national_examples_pass_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TESTBED_PROFILES", raising=False)
    valid = [example_named(s) for s in ("ma-patient-valid-cnie-only", "ma-patient-valid-arabic-name")]
    result = CliRunner().invoke(main, ["validate", *map(str, valid)])
    assert result.exit_code == 0, result.output
