"""The one benchmark entry point: prints one JSON line per figure (name, value, unit).

Usage: python benchmarks/run.py [--full]

Figures: warm validation throughput on one core (best of 10 batches) for profiled resources
(a Patient against a profile with slicing, an extension, bindings and invariants; a profiled and a
base Observation; a 50-entry transaction Bundle), cold start of `testbed validate one.json` (first
run with an empty cache, then with the cache), and peak RSS of a validate process with R4 core loaded.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TEST_IG = ROOT / "tests" / "fixtures" / "test-ig"
PARTS = [
    "synthetic_journeys",
    "synthetic_render",
    "hl7v2",
    "cda",
    "security",
    "simulator",
    "scenarios",
    "reporting",
    "fuzz",
]
"""Benchmark modules of the other parts; each has ``run(full: bool) -> list[dict(name, value, unit)]``."""


def emit(name: str, value: float, unit: str) -> None:
    print(json.dumps({"name": name, "value": round(value, 3), "unit": unit}), flush=True)


def build_ig(target: Path) -> Path:
    tgz = target / "example.testbed.ig-0.1.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(TEST_IG / "package", arcname="package")
    return tgz


def patient() -> dict:
    return json.loads((TEST_IG / "examples" / "valid-patient.json").read_text())


def observation(i: int, patient_ref: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"hr{i}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
        "subject": {"reference": patient_ref},
        "effectiveDateTime": "2026-03-01T10:15:00+01:00",
        "valueQuantity": {
            "value": 60 + i % 40,
            "unit": "beats/minute",
            "system": "http://unitsofmeasure.org",
            "code": "/min",
        },
        "referenceRange": [
            {
                "low": {"value": 50, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
                "high": {"value": 100, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
            }
        ],
    }


def transaction(n: int) -> dict:
    pid = f"urn:uuid:{uuid.UUID(int=1)}"
    p = patient()
    p.pop("id")
    entries = [{"fullUrl": pid, "resource": p, "request": {"method": "POST", "url": "Patient"}}]
    for i in range(n - 1):
        obs = observation(i, pid)
        obs.pop("id")
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.UUID(int=i + 2)}",
                "resource": obs,
                "request": {"method": "POST", "url": "Observation"},
            }
        )
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def throughput(validator: object, resource: dict, seconds: float, batches: int = 10) -> tuple[float, int]:
    """Best batch rate over `batches` batches filling `seconds` (the least disturbed one on a shared box)."""
    validate = validator.validate  # type: ignore[attr-defined]
    out = validate(copy.deepcopy(resource))
    errors = len(out.errors())
    start = time.perf_counter()
    validate(resource)
    per_call = max(time.perf_counter() - start, 1e-6)
    n = max(1, int(seconds / batches / per_call))
    best = 0.0
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(n):
            validate(resource)
        best = max(best, n / (time.perf_counter() - t0))
    return best, errors


def cold_start(one: Path, ig: Path, cache: Path) -> float:
    env = {**os.environ, "TESTBED_CACHE_DIR": str(cache), "TESTBED_PROFILES": ""}
    cmd = [sys.executable, "-m", "testbed.cli", "validate", "--ig", str(ig), str(one)]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def peak_rss(one: Path, ig: Path, cache: Path) -> float:
    code = (
        "import resource,sys,runpy;sys.argv=['testbed','validate','--ig',sys.argv[1],sys.argv[2]]\n"
        "try:\n runpy.run_module('testbed.cli.__main__',run_name='__main__')\nexcept SystemExit: pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    env = {**os.environ, "TESTBED_CACHE_DIR": str(cache), "TESTBED_PROFILES": ""}
    out = subprocess.run(
        [sys.executable, "-c", code, str(ig), str(one)], env=env, capture_output=True, text=True, check=False
    )
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--full", action="store_true", help="longer measurements (10 s per figure instead of 2 s)"
    )
    parser.add_argument("--only", nargs="*", default=None, help=f"run only these parts: {', '.join(PARTS)}")
    args = parser.parse_args()
    seconds = 10.0 if args.full else 2.0
    if args.only:
        for part in PARTS:
            if part in args.only:
                module = importlib.import_module(f"benchmarks.{part}")
                for figure in module.run(full=args.full):
                    emit(str(figure["name"]), float(figure["value"]), str(figure["unit"]))
        return
    os.environ.setdefault("TESTBED_PROFILES", "")
    from testbed.fhir.context import FhirContext
    from testbed.fhir.validator import FhirValidator

    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        ig = build_ig(tmpdir)
        t0 = time.perf_counter()
        ctx = FhirContext.create([ig])
        emit("context_load_warm_cache", time.perf_counter() - t0, "s")
        v = FhirValidator(ctx)
        hr = observation(1, "Patient/tb-ok")
        hr["meta"] = {"profile": ["http://example.org/fhir/testig/StructureDefinition/tb-heart-rate"]}
        cases = {
            "patient_profiled": patient(),
            "observation_profiled": hr,
            "observation_base": observation(2, "Patient/tb-ok"),
        }
        for name, res in cases.items():
            rate, errors = throughput(v, res, seconds)
            emit(f"throughput_{name}", rate, "resources/s")
            if errors:
                emit(f"errors_{name}", errors, "issues")
        ma = ROOT / "profiles" / "ma.smr.core"
        if (ma / "package" / "package.json").is_file():
            ma_validator = FhirValidator(FhirContext.create([ma]))
            expectations = json.loads((ma / "package" / "other" / "examples.json").read_text())
            for name, expect in sorted(expectations.items()):
                if expect["source"].endswith(("ma-patient-valid-full.yaml", "ma-observation-lab-valid.yaml")):
                    res = json.loads((ma / "package" / "example" / name).read_text())
                    rate, errors = throughput(ma_validator, res, seconds)
                    label = "ma_patient" if res["resourceType"] == "Patient" else "ma_observation_lab"
                    emit(f"throughput_{label}", rate, "resources/s")
                    if errors:
                        emit(f"errors_{label}", errors, "issues")
            sds = [
                json.loads(f.read_text()) for f in sorted((ma / "package").glob("StructureDefinition-*.json"))
            ]
            fresh = FhirContext.create([ma])
            t0 = time.perf_counter()
            for sd in sds:
                fresh.snapshots.ensure_snapshot(sd)
            emit("snapshot_generation_per_profile", (time.perf_counter() - t0) / len(sds) * 1000, "ms")
        example = json.loads(
            (ROOT.parent / "shared" / "fhir-r4-examples" / "patient-example.json").read_text()
        )
        xml = ctx.xml.to_xml(example)
        n = 300
        t0 = time.perf_counter()
        for _ in range(n):
            ctx.xml.to_json(xml)
        emit("xml_to_json_patient_example", n / (time.perf_counter() - t0), "resources/s")
        bundle = transaction(50)
        rate, errors = throughput(v, bundle, seconds)
        emit("throughput_transaction_bundle_50", rate * 50, "resources/s")
        emit("throughput_transaction_bundle_50_bundles", rate, "bundles/s")
        if errors:
            emit("errors_transaction_bundle_50", errors, "issues")
        one = tmpdir / "one.json"
        one.write_text(json.dumps(patient()))
        cache = tmpdir / "cache"
        emit("cold_start_first_run_empty_cache", cold_start(one, ig, cache), "s")
        emit("cold_start_validate_one", min(cold_start(one, ig, cache) for _ in range(3)), "s")
        emit("peak_rss_validate_one", peak_rss(one, ig, cache), "MB")
    os.environ.pop("TESTBED_PROFILES", None)
    for part in PARTS:
        module = importlib.import_module(f"benchmarks.{part}")
        for figure in module.run(full=args.full):
            emit(str(figure["name"]), float(figure["value"]), str(figure["unit"]))


if __name__ == "__main__":
    main()
