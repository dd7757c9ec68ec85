from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import yaml

from testbed.core.errors import PackageError
from testbed.igtools.build import build_package, render_text
from testbed.igtools.check import check_package
from testbed.igtools.pack import pack_package
from testbed.packages import PackageRegistry

IG_YAML = {
    "package": {
        "name": "example.small",
        "version": "1.0.0",
        "fhirVersion": "4.0.1",
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
    },
    "settings": {"canonical": "http://example.org/small", "date": "2026-01-01", "mrn_pattern": "^[0-9]{4}$"},
    "requirements": {
        "file": "requirements.csv",
        "prefix": "EX",
        "areas": ["PAT", "SEC"],
        "actors": ["Server"],
        "levels": [1, 2, 3],
        "pending": {"EX-SEC-*": "scenarios come later"},
    },
}
REQUIREMENTS = """id,area,text,strength,level,actors,section
EX-PAT-001,PAT,A patient has a birth date.,SHALL,2,Server,§1
EX-PAT-002,PAT,An MRN is four digits.,SHALL,2,Server,§1
EX-SEC-001,SEC,TLS is used.,SHALL,3,Server,§2
"""
PROFILE = """# Invented for tests
resourceType: StructureDefinition
id: small-patient
url: "{{ canonical }}/StructureDefinition/small-patient"
version: "{{ version }}"
name: SmallPatient
status: active
kind: resource
abstract: false
type: Patient
baseDefinition: http://hl7.org/fhir/StructureDefinition/Patient
derivation: constraint
differential:
  element:
    - id: Patient
      path: Patient
    - id: Patient.identifier
      path: Patient.identifier
      constraint:
        - key: small-1
          severity: error
          human: An MRN is four digits
          expression: "value.matches('{{ mrn_pattern }}')"
          requirements: EX-PAT-002
    - id: Patient.birthDate
      path: Patient.birthDate
      min: 1
      requirements: EX-PAT-001
"""


def example(valid: bool, rule: str | None, patient: dict) -> str:
    expect: dict = {"valid": valid}
    if rule:
        expect["rule"] = rule
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": ["{{ canonical }}/StructureDefinition/small-patient"]},
        **patient,
    }
    return yaml.safe_dump({"expect": expect, "resource": patient}, allow_unicode=True)


@pytest.fixture()
def ig(tmp_path: Path) -> Path:
    root = tmp_path / "small"
    (root / "input").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "ig.yaml").write_text(yaml.safe_dump(IG_YAML))
    (root / "requirements.csv").write_text(REQUIREMENTS)
    (root / "input" / "StructureDefinition-small-patient.yaml").write_text(PROFILE)
    (root / "examples" / "ok.yaml").write_text(
        example(True, None, {"id": "ok", "birthDate": "2000-01-01", "identifier": [{"value": "1234"}]})
    )
    (root / "examples" / "no-birth.yaml").write_text(example(False, "Patient.birthDate", {"id": "nobirth"}))
    (root / "examples" / "bad-mrn.yaml").write_text(
        example(
            False, "small-1", {"id": "badmrn", "birthDate": "2000-01-01", "identifier": [{"value": "12"}]}
        )
    )
    build_package(root)
    return root


def test_build_and_check_a_sound_package(ig: Path) -> None:
    manifest = json.loads((ig / "package" / "package.json").read_text())
    assert manifest["name"] == "example.small" and manifest["canonical"] == "http://example.org/small"
    report = check_package(ig)
    assert report.problems == []
    assert report.examples == report.examples_ok == 3
    assert set(report.cited) == {"EX-PAT-001", "EX-PAT-002"} and set(report.pending) == {"EX-SEC-001"}
    assert report.by_area["PAT"] == (2, 2, 0)


def test_changing_the_canonical_rebuilds_consistently(ig: Path) -> None:
    data = yaml.safe_load((ig / "ig.yaml").read_text())
    data["settings"]["canonical"] = "https://other.example/fhir"
    (ig / "ig.yaml").write_text(yaml.safe_dump(data))
    stale = check_package(ig)
    assert any("out of date" in p for p in stale.problems)
    build_package(ig)
    sd = json.loads((ig / "package" / "StructureDefinition-small-patient.json").read_text())
    assert sd["url"] == "https://other.example/fhir/StructureDefinition/small-patient"
    assert check_package(ig).problems == []


def test_wrong_declared_verdict_is_a_problem(ig: Path) -> None:
    (ig / "examples" / "liar.yaml").write_text(example(True, None, {"id": "liar"}))
    build_package(ig)
    problems = check_package(ig).problems
    assert any("liar.yaml: declared valid" in p for p in problems)


def test_uncovered_requirement_is_a_problem(ig: Path) -> None:
    (ig / "requirements.csv").write_text(REQUIREMENTS + "EX-PAT-003,PAT,Uncited.,SHALL,2,Server,§1\n")
    build_package(ig)
    problems = check_package(ig).problems
    assert any("EX-PAT-003 is neither cited" in p for p in problems)


def test_unknown_requirement_id_stops_the_build(ig: Path) -> None:
    source = ig / "input" / "StructureDefinition-small-patient.yaml"
    source.write_text(source.read_text().replace("EX-PAT-001", "EX-PAT-009"))
    with pytest.raises(
        PackageError, match=r"unknown requirement ID 'EX-PAT-009'.*StructureDefinition-small-patient"
    ):
        build_package(ig)


def test_build_errors_are_clear_and_keep_the_old_package(ig: Path) -> None:
    before = (ig / "package" / "package.json").read_text()
    (ig / "input" / "bad.yaml").write_text("resourceType: ValueSet\nid: x\nurl: '{{ nowhere }}/x'\n")
    with pytest.raises(PackageError, match="'nowhere' is undefined; define it under 'settings'"):
        build_package(ig)
    assert (ig / "package" / "package.json").read_text() == before
    (ig / "input" / "bad.yaml").write_text("just: [unclosed\n")
    with pytest.raises(PackageError, match="not valid YAML"):
        build_package(ig)
    (ig / "input" / "bad.yaml").write_text("- a list\n")
    with pytest.raises(PackageError, match="must hold one FHIR resource"):
        build_package(ig)


def test_not_an_ig_folder(tmp_path: Path) -> None:
    with pytest.raises(PackageError, match="no ig.yaml"):
        build_package(tmp_path)
    (tmp_path / "ig.yaml").write_text("package: {name: x}\n")
    with pytest.raises(PackageError, match="'package' must give string 'name' and 'version'"):
        build_package(tmp_path)


def test_pack_writes_a_standard_package_with_snapshots(ig: Path, tmp_path: Path) -> None:
    tgz = pack_package(ig, tmp_path / "out")
    assert tgz.name == "example.small-1.0.0.tgz"
    with tarfile.open(tgz) as tar:
        sd = json.load(tar.extractfile("package/StructureDefinition-small-patient.json"))  # type: ignore[arg-type]
    assert sd["snapshot"]["element"][0]["id"] == "Patient"
    reg = PackageRegistry(cache_dir=tmp_path / "cache")
    reg.load(tgz)
    assert reg.resolve("http://example.org/small/StructureDefinition/small-patient|1.0.0") is not None


def test_invalid_example_must_cite_its_declared_requirements(ig: Path) -> None:
    doc = yaml.safe_load((ig / "examples" / "bad-mrn.yaml").read_text())
    doc["expect"]["requirements"] = ["EX-PAT-002"]
    (ig / "examples" / "bad-mrn.yaml").write_text(yaml.safe_dump(doc))
    build_package(ig)
    assert check_package(ig).problems == []
    doc["expect"]["requirements"] = ["EX-PAT-001"]
    (ig / "examples" / "bad-mrn.yaml").write_text(yaml.safe_dump(doc))
    build_package(ig)
    assert any("does not cite EX-PAT-001" in p for p in check_package(ig).problems)


def test_a_key_given_twice_is_refused_not_silently_overwritten() -> None:
    text = "element:\n  requirements: MA-PAT-017\n  min: 1\n  requirements: MA-PAT-019\n"
    with pytest.raises(PackageError, match="key 'requirements' is given twice"):
        render_text(text, {}, label="sd.yaml")
    assert render_text("element:\n  requirements: MA-PAT-017\n", {}, label="sd.yaml") == {
        "element": {"requirements": "MA-PAT-017"}
    }
