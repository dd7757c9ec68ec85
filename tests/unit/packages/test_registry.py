from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from testbed.core.errors import PackageError
from testbed.packages import CORE_SHA256, CORE_TGZ, PackageRegistry, version_key, version_matches


def _sd(url: str, version: str) -> dict:
    return {
        "resourceType": "StructureDefinition",
        "id": url.rsplit("/", 1)[-1],
        "url": url,
        "version": version,
        "name": "X",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient", "path": "Patient"}]},
    }


def make_tgz(path: Path, name: str, version: str, resources: list[dict], deps: dict | None = None) -> Path:
    manifest = {
        "name": name,
        "version": version,
        "fhirVersions": ["4.0.1"],
        "dependencies": deps if deps is not None else {"hl7.fhir.r4.core": "4.0.1"},
        "canonical": "http://example.org/fhir",
    }
    with tarfile.open(path, "w:gz") as tar:
        files = {"package/package.json": manifest}
        for r in resources:
            files[f"package/{r['resourceType']}-{r['id']}.json"] = r
        for name_, content in files.items():
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name_)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture()
def reg(tmp_path: Path) -> PackageRegistry:
    return PackageRegistry(cache_dir=tmp_path / "cache")


def test_core_package_is_pinned_and_loads(registry: PackageRegistry) -> None:
    import hashlib

    assert hashlib.sha256(CORE_TGZ.read_bytes()).hexdigest() == CORE_SHA256
    sd = registry.resolve("http://hl7.org/fhir/StructureDefinition/Patient")
    assert sd is not None and sd["snapshot"]["element"][0]["id"] == "Patient"
    assert registry.resolve("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1") is not None
    assert registry.resolve("http://hl7.org/fhir/ValueSet/administrative-gender|3.0.0") is None
    assert registry.versions()["hl7.fhir.r4.core"] == "4.0.1"


def test_damaged_core_is_refused(reg: PackageRegistry, tmp_path: Path) -> None:
    bad = tmp_path / "core.tgz"
    bad.write_bytes(b"not a tarball")
    with pytest.raises(PackageError, match="SHA-256"):
        reg._load_tgz(bad, expected_sha256=CORE_SHA256)


def test_tgz_package_with_versions(reg: PackageRegistry, tmp_path: Path) -> None:
    reg.load_core()
    url = "http://example.org/fhir/StructureDefinition/p"
    make_tgz(tmp_path / "a.tgz", "example.a", "1.0.0", [_sd(url, "1.0.0")])
    make_tgz(tmp_path / "b.tgz", "example.b", "1.2.0", [{**_sd(url, "1.2.0"), "id": "p2"}])
    reg.load(tmp_path / "a.tgz")
    reg.load(tmp_path / "b.tgz")
    assert reg.resolve(url)["version"] == "1.2.0"  # latest without a version
    assert reg.resolve(f"{url}|1.0.0")["version"] == "1.0.0"
    assert reg.resolve(f"{url}|1.2")["version"] == "1.2.0"
    assert reg.resolve(f"{url}|2.0") is None
    assert reg.package_of(url) in ("example.a#1.0.0", "example.b#1.2.0")


def test_missing_dependency_is_reported(reg: PackageRegistry, tmp_path: Path) -> None:
    make_tgz(
        tmp_path / "c.tgz", "example.c", "0.1.0", [], deps={"hl7.fhir.r4.core": "4.0.1", "other.pkg": "1.0.0"}
    )
    reg.load(tmp_path / "c.tgz")
    assert reg.has_package("hl7.fhir.r4.core")
    assert any("other.pkg#1.0.0" in p.message for p in reg.problems)


def test_dependency_found_beside_package(reg: PackageRegistry, tmp_path: Path) -> None:
    make_tgz(
        tmp_path / "dep.pkg-2.0.0.tgz",
        "dep.pkg",
        "2.0.0",
        [_sd("http://example.org/fhir/StructureDefinition/d", "2.0.0")],
    )
    make_tgz(
        tmp_path / "main.tgz", "main.pkg", "1.0.0", [], deps={"hl7.fhir.r4.core": "4.0.1", "dep.pkg": "2.0.0"}
    )
    reg.load(tmp_path / "main.tgz")
    assert reg.has_package("dep.pkg", "2.0.0")
    assert reg.resolve("http://example.org/fhir/StructureDefinition/d") is not None
    assert reg.problems == []


def test_folder_and_single_file(reg: PackageRegistry, tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "sd.json").write_text(json.dumps(_sd("http://example.org/sd/f", "0.1")))
    (folder / "patient.json").write_text(json.dumps({"resourceType": "Patient", "id": "x"}))
    reg.load(folder)
    assert reg.resolve("http://example.org/sd/f") is not None
    assert reg.get("Patient", "x") is None  # instances are not conformance resources
    single = tmp_path / "vs.json"
    single.write_text(
        json.dumps(
            {"resourceType": "ValueSet", "id": "v", "url": "http://example.org/vs/v", "status": "active"}
        )
    )
    reg.load(single)
    assert reg.resolve("http://example.org/vs/v", "ValueSet")["id"] == "v"
    assert reg.resolve("http://example.org/vs/v", "CodeSystem") is None


def test_package_folder_without_index(reg: PackageRegistry, tmp_path: Path) -> None:
    pkg = tmp_path / "unpacked" / "package"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text(
        json.dumps({"name": "x.y", "version": "3.0.0", "fhirVersions": ["4.0.1"], "dependencies": {}})
    )
    (pkg / "StructureDefinition-s.json").write_text(json.dumps(_sd("http://example.org/sd/s", "3.0.0")))
    [info] = reg.load(tmp_path / "unpacked")
    assert info.label == "x.y#3.0.0"
    assert reg.resolve("http://example.org/sd/s|3.0.0") is not None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no such file"),
        (b"\x1f\x8bnot really gzip", "Cannot read package archive"),
    ],
)
def test_bad_inputs_give_clear_errors(
    reg: PackageRegistry, tmp_path: Path, content: bytes | None, match: str
) -> None:
    path = tmp_path / "thing.tgz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(PackageError, match=match):
        reg.load(path)


def test_folder_without_resources_and_bad_json(reg: PackageRegistry, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageError, match="no FHIR conformance resource"):
        reg.load(tmp_path / "empty")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PackageError, match="not valid JSON"):
        reg.load(bad)


def test_tar_without_manifest_is_refused(reg: PackageRegistry, tmp_path: Path) -> None:
    path = tmp_path / "nomanifest.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("other/file.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(PackageError, match="no package/package.json"):
        reg.load(path)


@pytest.mark.parametrize(
    ("older", "newer"), [("1.0.0", "1.0.1"), ("1.0.0-ballot", "1.0.0"), ("0.9", "0.10"), (None, "0.0.1")]
)
def test_version_order(older: str | None, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_version_matches() -> None:
    assert version_matches("4.0", "4.0.1")
    assert version_matches("4.0.x", "4.0.1")
    assert not version_matches("4.0.1", "4.0.2")
    assert not version_matches("4.0.1.1", "4.0.1")
    assert not version_matches("1", None)
