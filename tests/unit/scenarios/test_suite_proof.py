"""The suite's own proof: the reference SMR passes it, each deliberately broken SMR fails exactly the
scenarios that test what it breaks, and the demo client passes the client-actor scenarios.

The runs are spread over two worker processes (each loads the validator once).
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import pytest

from testbed.scenarios.schema import content_dir

from .test_v2_scenarios import SKIP_VALIDATION_FAILS

ROOT = Path(__file__).resolve().parents[3]
SEED = 20260101

REJECTIONS = {
    "smr-t1-reject-cnie-pattern",
    "smr-t1-reject-country",
    "smr-t1-reject-ins-key",
    "smr-t1-reject-ins-pattern",
    "smr-t1-reject-no-birthdate",
    "smr-t1-reject-no-family",
    "smr-t1-reject-no-gender",
    "smr-t1-reject-no-national-id",
    "smr-t1-reject-phone",
    "smr-t1-reject-postal-code",
    "smr-t1-reject-region",
    "smr-t1-reject-script",
    "smr-t1-reject-two-ins",
    "smr-t1-reject-unknown-identifier-system",
    "smr-t4-reject-invalid-document-reference",
    "smr-t6-reject-condition-no-icd10",
    "smr-t6-reject-lab-unit-not-ucum",
    "smr-t6-reject-medication-no-dosage",
    "smr-t6-reject-medication-no-gtin",
    "smr-t6-reject-no-profile-type-default",
    "smr-t6-reject-vital-code",
    "smr-t8-reject-consent-no-organization",
    "smr-t8-reject-consent-no-patient",
}
REJECTIONS |= SKIP_VALIDATION_FAILS | {"smr-sec-hostile-xxe-cda", "smr-sec-hostile-billion-laughs-cda"}
NEEDS_OPTION = {"smr-sec-mtls-required"}
"""Omitted against the reference SMR: they need an option it does not claim by default (mTLS)."""
AUDITS = {
    "smr-t9-audit-break-the-glass",
    "smr-t9-audit-consent",
    "smr-t9-audit-create",
    "smr-t9-audit-immutable",
    "smr-t9-audit-merge",
    "smr-t9-audit-read",
    "smr-t9-audit-search",
}
FAULTS: dict[str, set[str]] = {
    "skip-validation": REJECTIONS,
    "ignore-consent": {
        "smr-t8-objection-documents",
        "smr-t8-objection-include",
        "smr-t8-objection-read",
        "smr-t8-objection-search",
        "smr-t8-objection-forward-include",
        "smr-t8-objection-document-paths",
    },
    "ignore-consent-include": {
        "smr-t8-objection-include",
        "smr-t8-objection-forward-include",
        "smr-t8-objection-document-paths",
    },
    "no-audit": AUDITS | {"smr-t9-audit-five-ws"},
    "no-audit-search": {"smr-t9-audit-search"},
    "accept-any-token": {
        "smr-t10-malformed-token-401",
        "smr-t10-tampered-token-401",
        "smr-t10-expired-token-401",
        "smr-t10-other-audience-401",
        "smr-t10-alg-none-token-401",
    },
    "accept-alg-none": {"smr-t10-token-alg-none-refused", "smr-t10-alg-none-token-401"},
    "no-hsts": {"smr-sec-hsts"},
    "tls10": {"smr-sec-tls-versions"},
}
"""Fault of the reference SMR → the scenarios that must fail against it (and no other)."""


BAD_CLIENT = """
import json, sys
import httpx
smr, patient, ca = sys.argv[1:4]
body = json.load(open(patient))
body.pop("birthDate")
httpx.post(smr + "/Patient", json=body, verify=ca)  # no discovery, no token, no birth date
"""


def run_suite(
    folder: str, fault: str | None, vendor: str | None, out: str, triggers: dict[str, str] | None = None
) -> dict[str, list[str]]:
    """Run the scenarios of ``folder`` against the embedded SMR (with ``fault``) or with a vendor config."""
    sys.path.insert(0, str(ROOT))
    from testbed.scenarios.catalogue import load_catalogue
    from testbed.scenarios.model import load_suite
    from testbed.scenarios.session import RunOptions, RunSession
    from testbed.scenarios.vendor import load_vendor_config

    suite = load_suite([Path(folder)], catalogue=load_catalogue())
    options = RunOptions(
        seed=SEED,
        out=Path(out),
        faults=frozenset([fault] if fault else []),
        vendor=load_vendor_config(Path(vendor)) if vendor else None,
        triggers=triggers or {},
        inbound_timeout=5,
    )
    found: dict[str, list[str]] = {}
    with RunSession(options) as session:
        for scenario, result in session.run(suite):
            found.setdefault(result.result.value, []).append(scenario.id)
            if result.result.value in ("fail", "error"):
                found.setdefault("why", []).append(f"{scenario.id}: {result.failure_text()[:600]}")
        session.write()
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[dict[str, list[str]]]]]:
    out = tmp_path_factory.mktemp("proof")
    smr = str(content_dir() / "smr")
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    jobs = {"reference": pool.submit(run_suite, smr, None, None, str(out / "reference"))}
    jobs["clients"] = pool.submit(
        run_suite,
        str(content_dir()),
        None,
        str(ROOT / "examples" / "demo_client" / "vendor.yaml"),
        str(out / "clients"),
    )
    for fault in FAULTS:
        jobs[fault] = pool.submit(run_suite, smr, fault, None, str(out / fault))
    script = out / "bad_client.py"
    script.write_text(BAD_CLIENT)
    jobs["bad-client"] = pool.submit(
        run_suite,
        str(content_dir() / "source" / "t1-send-patient.scenario.yaml"),
        None,
        str(ROOT / "examples" / "demo_client" / "vendor.yaml"),
        str(out / "bad-client"),
        {"SMR-T1": f"{{python}} {script} {{smr_url}} {{patient_file}} {{ca_file}}"},
    )
    yield jobs
    pool.shutdown(wait=True)


def test_the_reference_smr_passes_the_whole_suite(runs: dict[str, Future[dict[str, list[str]]]]) -> None:
    found = runs["reference"].result()
    assert found.get("fail", []) + found.get("error", []) == [], "\n".join(found.get("why", []))
    assert len(found["pass"]) >= 65 and not found.get("skip")
    assert set(found.get("omit", [])) == NEEDS_OPTION


def test_the_demo_client_passes_the_client_scenarios(runs: dict[str, Future[dict[str, list[str]]]]) -> None:
    found = runs["clients"].result()
    assert found.get("fail", []) + found.get("error", []) == [], "\n".join(found.get("why", []))
    assert {s.split("-")[0] for s in found["pass"]} == {"source", "consumer", "identitysource"}
    assert all(s.startswith("smr-") for s in found["omit"])  # the demo client claims no SMR actor


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_broken_smr_fails_exactly_the_matching_scenarios(
    fault: str, runs: dict[str, Future[dict[str, list[str]]]]
) -> None:
    found = runs[fault].result()
    assert found.get("error", []) == [], "\n".join(found.get("why", []))
    assert set(found.get("fail", [])) == FAULTS[fault], "\n".join(found.get("why", []))


def test_a_broken_client_fails_the_source_scenario(runs: dict[str, Future[dict[str, list[str]]]]) -> None:
    found = runs["bad-client"].result()
    assert found.get("fail") == ["source-t1-send-patient"], found
    why = "\n".join(found["why"])
    assert "Received: HTTP 401" in why or "carries no bearer token" in why, why
