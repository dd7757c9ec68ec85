from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from testbed.core.issues import Severity
from testbed.fhir.context import FhirContext
from testbed.fhir.validator import FhirValidator
from testbed.identifiers import CHECK_DIGITS, IdentifierRules
from testbed.packages import PackageRegistry

BASE = "http://example.org/fhir/ids"
PATTERN_EXT = f"{BASE}/StructureDefinition/identifier-pattern"
CHECK_EXT = f"{BASE}/StructureDefinition/identifier-check-digit"


def naming_system(nid: str, pattern: str, check: str | None = None, oid: str | None = None) -> dict:
    ext = [{"url": PATTERN_EXT, "valueString": pattern}]
    if check:
        ext.append({"url": CHECK_EXT, "valueCode": check})
    unique = [{"type": "uri", "value": f"{BASE}/NamingSystem/{nid}", "preferred": True}]
    if oid:
        unique.append({"type": "oid", "value": oid})
    return {
        "resourceType": "NamingSystem",
        "id": nid,
        "name": nid.upper(),
        "status": "active",
        "kind": "identifier",
        "date": "2026-01-01",
        "usage": "Implements XX-ID-001.",
        "extension": ext,
        "uniqueId": unique,
    }


def make_package(path: Path, resources: list[dict], testbed: dict | None) -> Path:
    manifest = {
        "name": "example.ids",
        "version": "1.0.0",
        "fhirVersions": ["4.0.1"],
        "dependencies": {"hl7.fhir.r4.core": "4.0.1"},
        "canonical": BASE,
    }
    if testbed is not None:
        manifest["testbed"] = testbed
    with tarfile.open(path, "w:gz") as tar:
        for name, content in [("package/package.json", manifest)] + [
            (f"package/NamingSystem-{r['id']}.json", r) for r in resources
        ]:
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


DECLARED = {"identifierPatternExtension": PATTERN_EXT, "identifierCheckDigitExtension": CHECK_EXT}
NAMING = [
    naming_system("nhid", "^[0-9]{12}$", "mod97-2", oid="1.2.3.4"),
    naming_system("card", "^[A-Z]{1,2}[0-9]{5,6}$"),
]


@pytest.mark.parametrize(
    ("algorithm", "good", "bad"),
    [
        ("mod97-2", "123456789095", "123456789094"),
        ("luhn", "79927398713", "79927398710"),
        ("gs1-mod10", "09520123456788", "09520123456781"),
    ],
)
def test_check_digit_algorithms(algorithm: str, good: str, bad: str) -> None:
    assert CHECK_DIGITS[algorithm](good)
    assert not CHECK_DIGITS[algorithm](bad)
    assert not CHECK_DIGITS[algorithm]("12AB")


def test_rules_come_from_declared_extensions(tmp_path: Path) -> None:
    reg = PackageRegistry(cache_dir=tmp_path / "c")
    reg.load(make_package(tmp_path / "p.tgz", NAMING, DECLARED))
    rules = IdentifierRules.from_registry(reg)
    assert len(rules) == 3  # two uri systems and one oid
    by_oid, by_uri = rules.rule_for("urn:oid:1.2.3.4"), rules.rule_for(f"{BASE}/NamingSystem/nhid")
    assert (
        by_oid is not None and by_uri is not None and by_oid.naming_system == by_uri.naming_system == "nhid"
    )
    assert rules.check(f"{BASE}/NamingSystem/nhid", "123456789095", "X.value") == []
    [issue] = rules.check(f"{BASE}/NamingSystem/nhid", "123456789094", "X.value")
    assert (
        issue.rule == "nhid:check-digit"
        and issue.location == "X.value"
        and issue.requirements == ("XX-ID-001",)
    )
    [issue] = rules.check(f"{BASE}/NamingSystem/card", "bk123", "Y.value")
    assert issue.rule == "card:pattern" and issue.severity is Severity.ERROR
    assert rules.check("http://other.example/system", "anything", "Z") == []


def test_no_declaration_means_no_rules(tmp_path: Path) -> None:
    reg = PackageRegistry(cache_dir=tmp_path / "c")
    reg.load(make_package(tmp_path / "p.tgz", NAMING, None))
    assert len(IdentifierRules.from_registry(reg)) == 0


def test_unknown_algorithm_is_a_warning(tmp_path: Path) -> None:
    reg = PackageRegistry(cache_dir=tmp_path / "c")
    reg.load(make_package(tmp_path / "p.tgz", [naming_system("x", "^[0-9]+$", "mystery")], DECLARED))
    [issue] = IdentifierRules.from_registry(reg).check(f"{BASE}/NamingSystem/x", "12", "L")
    assert issue.severity is Severity.WARNING and "mystery" in issue.message


def test_fhir_validator_applies_rules_to_every_identifier(tmp_path: Path) -> None:
    ctx = FhirContext.create(
        [make_package(tmp_path / "p.tgz", NAMING, DECLARED)], cache_dir=tmp_path / "cache"
    )
    v = FhirValidator(ctx)
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {"system": f"{BASE}/NamingSystem/nhid", "value": "123456789095"},
            {"system": "urn:oid:1.2.3.4", "value": "123456789094"},
        ],
        "contact": [
            {"organization": {"identifier": {"system": f"{BASE}/NamingSystem/card", "value": "BK123456"}}}
        ],
    }
    out = v.validate(patient)
    assert [(i.location, i.rule) for i in out.errors()] == [
        ("Patient.identifier[1].value", "nhid:check-digit")
    ]
    patient["contact"][0]["organization"]["identifier"]["value"] = "BK1"
    locs = [i.location for i in v.validate(patient).errors()]
    assert "Patient.contact[0].organization.identifier.value" in locs
