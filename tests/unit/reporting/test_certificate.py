"""Certificates: build, sign (Ed25519 JWS), verify offline; every tampering is detected and named."""

from __future__ import annotations

import base64
import json
import os
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest

from testbed.core.errors import InputError, UsageError
from testbed.reporting.agency import Agency
from testbed.reporting.certificate import add_months, read_certificate_file, serialise
from testbed.reporting.outputs import EvidenceError, certify_run, verify_file
from testbed.reporting.signing import init_keys, load_trusted_keys
from tests.unit.reporting.conftest import DEMO_KEY, ISSUED, ROOT

AT = date(2027, 1, 1)
AGENCY = ROOT / "profiles" / "ma.smr.agency"


@pytest.fixture()
def cert(run_dir: Path) -> Path:
    path = run_dir.parent / "cert.json"
    certify_run(run_dir, DEMO_KEY, issued=ISSUED).write(path)
    return path


def problems(cert: Path, **kwargs: object) -> list[str]:
    result = verify_file(cert, at=AT, **kwargs)  # type: ignore[arg-type]
    return result.problems


def test_the_certificate_names_what_the_spec_asks(cert: Path, run_dir: Path) -> None:
    data, _ = read_certificate_file(cert)
    doc = data["certificate"]
    assert (doc["vendor"], doc["product"], doc["version"]) == (
        "Atlas Santé Systèmes (fictional)",
        "AtlasHIS",
        "4.2.0",
    )
    assert doc["actors"] == [
        {"actor": "Source", "level": 0, "level_key": "none"},
        {"actor": "Consumer", "level": 0, "level_key": "none"},
    ]
    assert (doc["framework_edition"], doc["testbed_version"]) == ("0.1", "0.1.0")
    assert doc["content_versions"]["ma.smr.core"] == "0.1.0"
    assert (doc["issued"], doc["valid_until"]) == ("2026-11-24", "2028-11-24")  # 24 months
    assert doc["evidence"]["digest"] == (run_dir / "evidence-digest.txt").read_text().strip()
    assert doc["demonstration"] is True
    header = json.loads(base64.urlsafe_b64decode(data["jws"].split(".")[0] + "=="))
    assert header["alg"] == "Ed25519"  # RFC 9864, not the deprecated EdDSA


def test_a_fresh_certificate_verifies_with_its_evidence(cert: Path, run_dir: Path) -> None:
    result = verify_file(cert, evidence=run_dir, at=AT)
    assert result.valid, result.problems
    assert result.status == "valid"
    assert any("DEMONSTRATION" in n for n in result.notes)


def test_editing_a_result_in_the_run_record_is_named(cert: Path, run_dir: Path) -> None:
    record = run_dir / "run.json"
    record.write_text(
        record.read_text(encoding="utf-8").replace('"result": "fail"', '"result": "pass"', 1),
        encoding="utf-8",
    )
    found = "\n".join(problems(cert, evidence=run_dir))
    assert "run.json: SHA-256" in found
    assert "results of Source are" in found


def test_rewriting_the_manifest_after_an_edit_is_still_caught(cert: Path, run_dir: Path) -> None:
    from testbed.scenarios.evidence import DIGEST_FILE, MANIFEST_FILE, build_manifest
    from testbed.scenarios.exchange import canonical, sha256_hex

    record = run_dir / "run.json"
    record.write_text(
        record.read_text(encoding="utf-8").replace('"result": "fail"', '"result": "pass"', 1),
        encoding="utf-8",
    )
    manifest = canonical(build_manifest(run_dir, "20261123T101500Z-atlas"))
    (run_dir / MANIFEST_FILE).write_bytes(manifest)
    (run_dir / DIGEST_FILE).write_text(sha256_hex(manifest) + "\n")
    found = "\n".join(problems(cert, evidence=run_dir))
    assert "manifest.json: digest" in found and "rewritten after certification" in found
    assert "run.json: the manifest lists SHA-256" in found


def test_dropping_an_exchange_is_named(cert: Path, run_dir: Path) -> None:
    victim = sorted((run_dir / "exchanges").iterdir())[0]
    victim.unlink()
    found = "\n".join(problems(cert, evidence=run_dir))
    assert f"exchanges/{victim.name}: listed in the manifest but missing" in found


def test_changing_the_validity_date_is_named(cert: Path) -> None:
    text = cert.read_text(encoding="utf-8")
    cert.write_text(
        text.replace('"valid_until": "2028-11-24"', '"valid_until": "2030-11-24"'), encoding="utf-8"
    )
    found = problems(cert)
    assert found == ['field valid_until: the file says "2030-11-24", the signature covers "2028-11-24"']


def test_changing_the_signed_payload_breaks_the_signature(cert: Path) -> None:
    data, _ = read_certificate_file(cert)
    head, payload, sig = data["jws"].split(".")
    signed = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    signed["valid_until"] = "2030-11-24"
    forged = base64.urlsafe_b64encode(json.dumps(signed, separators=(",", ":"), sort_keys=True).encode())
    data["jws"] = f"{head}.{forged.rstrip(b'=').decode()}.{sig}"
    data["certificate"]["valid_until"] = "2030-11-24"
    cert.write_bytes(serialise(data))
    found = "\n".join(problems(cert))
    assert "signature does not match the signed content" in found


def test_any_single_byte_change_is_detected(cert: Path, tmp_path: Path) -> None:
    original = cert.read_bytes()
    for position in range(0, len(original), 17):
        changed = bytearray(original)
        changed[position] = ord("#") if changed[position] != ord("#") else ord("%")
        path = tmp_path / "flip.json"
        path.write_bytes(bytes(changed))
        try:
            result = verify_file(path, at=AT)
        except InputError:
            continue  # no longer a certificate file at all: invalid too
        assert not result.valid, f"byte {position} changed and still valid"


def test_a_certificate_from_another_key_is_refused(run_dir: Path, tmp_path: Path) -> None:
    made = init_keys(tmp_path / "keys")
    path = tmp_path / "other.json"
    certify_run(run_dir, made.private, issued=ISSUED).write(path)
    assert any("no trusted key verifies it" in p for p in problems(path))
    result = verify_file(path, public_key=made.jwks, at=AT)
    assert result.valid, result.problems
    assert not any("DEMONSTRATION" in n for n in result.notes)  # not the agency's keys


def _agency_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "agency"
    shutil.copytree(AGENCY, folder)
    return folder


def test_revoked_expired_and_superseded(cert: Path, tmp_path: Path) -> None:
    folder = _agency_copy(tmp_path)
    cert_id = read_certificate_file(cert)[0]["certificate"]["id"]
    revocations = json.loads((folder / "revocations.json").read_text(encoding="utf-8"))
    revocations["revoked"].append({"id": cert_id, "revoked": "2026-12-01", "reason": "vendor withdrew"})
    (folder / "revocations.json").write_text(json.dumps(revocations), encoding="utf-8")
    (folder / "editions.yaml").write_text(
        'in_force: "0.2"\neditions:\n  - {edition: "0.1", status: superseded}\n'
        '  - {edition: "0.2", status: in-force}\n',
        encoding="utf-8",
    )
    result = verify_file(cert, agency=Agency.load(folder), at=AT)
    assert result.status == "revoked"
    assert any("revoked on 2026-12-01: vendor withdrew" in p for p in result.problems)
    assert any("superseded" in p and "edition 0.2 is in force" in p for p in result.problems)
    expired = verify_file(cert, at=date(2029, 1, 1))
    assert expired.status == "expired" and not expired.valid
    early = verify_file(cert, at=date(2026, 1, 1))
    assert early.status == "not-yet-valid"


def test_tampered_evidence_is_not_certified(run_dir: Path) -> None:
    (run_dir / "run.json").write_text(
        (run_dir / "run.json").read_text(encoding="utf-8") + " ", encoding="utf-8"
    )
    with pytest.raises(EvidenceError, match="run.json: SHA-256"):
        certify_run(run_dir, DEMO_KEY, issued=ISSUED)


def test_keys_init_writes_a_private_file_0600_and_a_public_jwks(tmp_path: Path) -> None:
    made = init_keys(tmp_path / "k")
    assert stat.S_IMODE(os.stat(made.private).st_mode) == 0o600
    jwks = json.loads(made.jwks.read_text(encoding="utf-8"))
    assert [k["crv"] for k in jwks["keys"]] == ["Ed25519"] and "d" not in jwks["keys"][0]
    assert len(load_trusted_keys(made.private).keys) == 1  # a private key file gives its public half
    with pytest.raises(UsageError, match="already exists"):
        init_keys(tmp_path / "k")


def test_trusted_keys_refuse_non_ed25519(tmp_path: Path) -> None:
    path = tmp_path / "rsa.json"
    path.write_text(json.dumps({"kty": "RSA", "n": "AQAB", "e": "AQAB"}), encoding="utf-8")
    with pytest.raises(InputError, match="only Ed25519"):
        load_trusted_keys(path)


def test_the_shipped_agency_is_a_demonstration() -> None:
    agency = Agency.load(AGENCY)
    assert agency.demonstration and agency.validity_months == 24 and agency.in_force == "0.1"
    jwks = json.loads((AGENCY / "jwks.json").read_text(encoding="utf-8"))
    assert "DEMONSTRATION" in jwks["x-testbed-demonstration"]
    assert all("d" not in k for k in jwks["keys"])
    demo = json.loads(DEMO_KEY.read_text(encoding="utf-8"))
    assert demo["kid"] == jwks["keys"][0]["kid"]  # the published private key is the demo key's


def test_add_months() -> None:
    assert add_months(date(2026, 11, 24), 24) == date(2028, 11, 24)
    assert add_months(date(2028, 2, 29), 24) == date(2030, 2, 28)
    assert add_months(date(2026, 12, 31), 2) == date(2027, 2, 28)
