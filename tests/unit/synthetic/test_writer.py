"""The population writer: layout, reproducibility, the manifest and its mutations, clear errors."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import pytest

from testbed.core.errors import UsageError
from testbed.synthetic.journey import iter_population
from testbed.synthetic.record import PatientRecord
from testbed.synthetic.writer import available_formats, load_manifest, write_population

if TYPE_CHECKING:
    from testbed.api import Validator


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def errors_of(outcome: Any) -> list[Any]:
    return [i for i in outcome.issues if i.severity.value in ("error", "fatal")]


def cites(entry: dict[str, Any], outcome: Any, prefix: str) -> bool:
    return any(
        set(entry["requirements"]) <= set(i.requirements)
        and (entry["rule"] is None or i.rule == entry["rule"])
        and i.location.startswith(prefix)
        for i in errors_of(outcome)
    )


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        write_population(tmp_path / name, seed, 12, ["fhir"], invalid_rate=0.4)
    a, b, c = (files(tmp_path / n) for n in "abc")
    assert a == b and len(a) >= 13
    assert a != c
    nd = [tmp_path / "n1", tmp_path / "n2"]
    for folder in nd:
        write_population(folder, "x", 12, ["fhir"], invalid_rate=0.4, ndjson=True)
    assert files(nd[0]) == files(nd[1]) and sorted(files(nd[0])) == ["fhir/patients.ndjson", "manifest.json"]


def test_clean_population_validates(tmp_path: Path, ma_validator: Validator) -> None:
    calls: list[int] = []
    manifest = write_population(tmp_path, 3, 8, ["fhir"], progress=calls.append)
    assert calls == list(range(1, 9))
    data = load_manifest(tmp_path / "manifest.json")
    assert data["seed"] == "3" and data["patients"] == 8 and data["mutations"] == [] and data["mutated"] == 0
    assert data["packages"]["ma.smr.core"] and data["testbed"] and data["counts"] == manifest.counts
    bundles = sorted((tmp_path / "fhir").glob("*.json"))
    assert len(bundles) == 8
    for path in bundles:
        assert errors_of(ma_validator.validate(path)) == [], path.name


def test_manifest_lists_every_mutation_and_each_fails(tmp_path: Path, ma_validator: Validator) -> None:
    manifest = write_population(tmp_path, 5, 16, ["fhir"], invalid_rate=1.0)
    data = load_manifest(manifest.path)
    entries = data["mutations"]
    assert len(entries) == data["mutated"] == manifest.mutated == sum(data["mutations_by_id"].values()) > 8
    assert len({e["file"] for e in entries}) == len(entries)
    for entry in entries:
        assert re.fullmatch(r"fhir/[^/]+\.json", entry["file"]) and entry["mutation"].startswith("fhir.")
        outcome = ma_validator.validate(tmp_path / entry["file"])
        prefix = re.match(r"Bundle\.entry\[\d+\]", entry["location"])
        assert prefix and cites(entry, outcome, prefix.group(0)), entry


def test_ndjson_lines_and_mutations(tmp_path: Path, ma_validator: Validator) -> None:
    manifest = write_population(tmp_path, 9, 16, ["fhir"], invalid_rate=0.5, ndjson=True)
    lines = (tmp_path / "fhir" / "patients.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(lines) == manifest.counts["fhir_resources"]
    entries = load_manifest(manifest.path)["mutations"]
    assert entries and {e["file"] for e in entries} == {"fhir/patients.ndjson"}
    broken = {e["line"]: e for e in entries}
    shared: set[str] = set()
    for n, line in enumerate(lines, start=1):
        resource = json.loads(line)
        assert "urn:uuid" not in line
        outcome = ma_validator.validate(resource)
        if n in broken:
            entry = broken[n]
            assert entry["location"].split(".")[0] == resource["resourceType"]
            assert cites(entry, outcome, resource["resourceType"]), entry
            continue
        assert errors_of(outcome) == [], (n, [i.message for i in errors_of(outcome)])
        if resource["resourceType"] in ("Organization", "Practitioner"):
            key = f"{resource['resourceType']}/{resource['id']}"
            assert key not in shared, "a shared resource was written twice"
            shared.add(key)


def test_other_formats_through_their_renderers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Hl7v2Renderer:
        def __init__(self, national: Any) -> None:
            self.national = national

        def messages(self, record: PatientRecord) -> list[tuple[str, str]]:
            return [("A04", f"MSH|^~\\&|T|||||||ADT^A04|{record.id}|P|2.5\rPID|1||{record.id}")]

        def merge_message(self, duplicate: PatientRecord, survivor: PatientRecord) -> tuple[str, str]:
            return ("ADT^A40", f"MSH|^~\\&|T|||||||ADT^A40|{duplicate.id}|P|2.5\rMRG|{duplicate.id}")

    class CdaRenderer:
        def __init__(self, national: Any) -> None:
            self.national = national

        def documents(self, record: PatientRecord) -> list[tuple[Any, bytes]]:
            return [(d, f"<ClinicalDocument id='{d.id}'/>".encode()) for d in record.documents]

    for name, cls in (("hl7v2", Hl7v2Renderer), ("cda", CdaRenderer)):
        module = types.ModuleType(f"testbed.synthetic.{name}")
        setattr(module, cls.__name__, cls)
        monkeypatch.setitem(sys.modules, f"testbed.synthetic.{name}", module)
    assert available_formats() == ("fhir", "hl7v2", "cda")
    records = [r for r in iter_population("f", 4) if r.duplicate_of is None]
    manifest = write_population(tmp_path, "f", 4, ["cda", "hl7v2", "fhir"])
    assert manifest.formats == ("fhir", "hl7v2", "cda")
    written = files(tmp_path)
    expected_cda = []
    for record in records:
        assert written[f"hl7v2/{record.id}.hl7"] == (
            f"MSH|^~\\&|T|||||||ADT^A04|{record.id}|P|2.5\rPID|1||{record.id}\r\n".encode()
        )
        names: list[str] = []
        kinds: list[str] = []
        for doc in record.documents:
            kinds.append(doc.type)
            n = kinds.count(doc.type)
            names.append(f"{record.id}-{doc.type}" + (f"-{n}" if n > 1 else ""))
        expected_cda += [f"cda/{n}.xml" for n in names]
        bundle = json.loads(written[f"fhir/{record.id}.json"])
        binaries = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Binary"]
        assert len(binaries) == len(record.documents)
    assert expected_cda and sorted(k for k in written if k.startswith("cda/")) == sorted(expected_cda)
    assert manifest.counts["hl7v2_messages"] == 4 and manifest.counts["cda_documents"] == len(expected_cda)


def test_real_renderers_write_well_formed_files(tmp_path: Path) -> None:
    """HL7 v2 and CDA are checked for well-formedness only until their validators judge them (issue 9)."""
    if available_formats() == ("fhir",):
        pytest.skip("the HL7 v2 and CDA renderers have not landed yet")
    manifest = write_population(tmp_path, 21, 6, available_formats())
    for path in (tmp_path / "hl7v2").glob("*.hl7"):
        assert path.read_text(encoding="utf-8").startswith("MSH|")
    for path in (tmp_path / "cda").glob("*.xml"):
        ET.fromstring(path.read_bytes())
    assert manifest.patients == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"count": 0}, "whole number >= 1"),
        ({"invalid_rate": 1.5}, "between 0 and 1"),
        ({"formats": ["pdf"]}, "Unknown output format"),
        ({"formats": []}, "Unknown output format"),
        ({"region": "13"}, "Unknown region code '13'"),
    ],
)
def test_bad_arguments(tmp_path: Path, args: dict[str, Any], message: str) -> None:
    call: dict[str, Any] = {"count": 2, "formats": ["fhir"], **args}
    count, formats = call.pop("count"), call.pop("formats")
    with pytest.raises(UsageError, match=message):
        write_population(tmp_path, 1, count, formats, **call)


def test_missing_renderer_and_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "testbed.synthetic.hl7v2", None)
    with pytest.raises(UsageError, match="hl7v2 renderer is not available"):
        write_population(tmp_path, 1, 2, ["hl7v2"])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        write_population(blocker, 1, 2, ["fhir"])
    with pytest.raises(UsageError, match="Cannot write"):
        write_population(blocker / "below", 1, 2, ["fhir"])


def test_region_option_reaches_the_journey(tmp_path: Path) -> None:
    write_population(tmp_path, 4, 4, ["fhir"], region="09")
    for path in (tmp_path / "fhir").glob("*.json"):
        patient = json.loads(path.read_text(encoding="utf-8"))["entry"][0]["resource"]
        assert patient["address"][0]["extension"][0]["valueCoding"]["code"] == "09"


def test_duplicates_are_merged(tmp_path: Path, ma_validator: Validator) -> None:
    """Seed 11 has a duplicate identity among its first 12 patients (journey duplicate_rate 0.02)."""
    manifest = write_population(tmp_path / "files", 11, 12, ["fhir"])
    merges = sorted((tmp_path / "files" / "fhir").glob("*-merge.json"))
    assert manifest.counts["merges"] == len(merges) >= 1
    assert manifest.counts["records"] == manifest.patients + len(merges) and manifest.patients == 12
    for path in merges:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        assert bundle["entry"][1]["resource"]["link"][0]["type"] == "replaced-by"
        assert errors_of(ma_validator.validate(path)) == [], path.name
    write_population(tmp_path / "nd", 11, 12, ["fhir"], ndjson=True)
    lines = (tmp_path / "nd" / "fhir" / "patients.ndjson").read_text(encoding="utf-8").splitlines()
    merged = [json.loads(x) for x in lines if '"replaced-by"' in x]
    assert len(merged) == len(merges)
    for patient in merged:
        assert patient["active"] is False and patient["link"][0]["other"]["reference"].startswith("Patient/")
        assert errors_of(ma_validator.validate(patient)) == []
