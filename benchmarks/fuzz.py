"""Fuzz benchmark: hostile inputs per standard, crashes found (must be 0) and the slowest input.

Standards: ``fhir`` (the FHIR validator), ``hl7v2`` (the HL7 v2 validator), ``cda`` (the CDA validator
through ``Validator.validate_bytes``) and ``simulator`` (hostile HTTP requests to an in-process reference
SMR). A crash is an exception out of a validator (for FHIR and CDA: an internal-error issue), and for the
simulator a 5xx reply, no reply, or a server that no longer answers ``GET metadata`` at the end.

Usage: python benchmarks/fuzz.py [--count N] [--seed S] [--only fhir,hl7v2,cda,simulator]
(default 10,000 inputs per standard; each standard prints "inputs tried" and "crashes found").
"""

from __future__ import annotations

import argparse
import json
import random
import ssl
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.api import Validator  # noqa: E402
from testbed.core.issues import IssueCode  # noqa: E402
from tests.unit.fuzz.inputs import (  # noqa: E402
    cda_input,
    cda_pool,
    fhir_input,
    fhir_pool,
    hl7v2_input,
    hl7v2_pool,
    http_request,
)

STANDARDS = ("fhir", "hl7v2", "cda", "simulator")


def fuzz(
    name: str,
    make: Callable[[random.Random], Any],
    check: Callable[[Any], bool],
    count: int,
    seed: int,
    after: Callable[[], bool] | None = None,
) -> list[dict]:
    """Feed ``count`` inputs of ``make`` to ``check`` (False: a crash); ``after`` is a last health check."""
    rng = random.Random(f"{name}-{seed}")
    crashes = 0
    slowest = 0.0
    start = time.perf_counter()
    for _ in range(count):
        data = make(rng)
        t0 = time.perf_counter()
        if not check(data):
            crashes += 1
        slowest = max(slowest, time.perf_counter() - t0)
    if after is not None and not after():
        crashes += 1
    elapsed = time.perf_counter() - start
    return [
        {"name": f"fuzz.{name}.inputs", "value": count, "unit": "inputs"},
        {"name": f"fuzz.{name}.crashes", "value": crashes, "unit": "crashes"},
        {"name": f"fuzz.{name}.rate", "value": round(count / elapsed, 1), "unit": "inputs/s"},
        {"name": f"fuzz.{name}.slowest", "value": round(slowest * 1000, 1), "unit": "ms"},
    ]


def _judged(validate: Callable[[], Any], label: str, data: bytes) -> bool:
    try:
        outcome = validate()
    except Exception as exc:  # noqa: BLE001 - a crash is what this benchmark counts
        print(f"crash in {label}: {type(exc).__name__}: {exc}; input {data[:200]!r}", file=sys.stderr)
        return False
    internal = [i for i in outcome.issues if i.code is IssueCode.EXCEPTION]
    if internal:
        print(f"crash in {label}: {internal[0].message}; input {data[:200]!r}", file=sys.stderr)
    return not internal


def _simulator(validator: Validator, count: int, seed: int) -> list[dict]:
    import httpx

    from testbed.security.client import discover, request_token
    from testbed.security.keys import generate_client_key
    from testbed.security.registry import ClientRegistration
    from testbed.simulator import start_smr

    pool = fhir_pool()
    key = generate_client_key("ES384")
    scopes = ["system/*.read", "system/*.write"]
    registration = ClientRegistration.from_key("fuzz", key, "100000017", scopes, name="fuzz")
    with tempfile.TemporaryDirectory() as tmp:
        smr = start_smr(data_dir=Path(tmp), clients=(registration,), validator=validator, mllp_port=None)
        try:
            context = ssl.create_default_context(cafile=str(smr.ca_file))
            with httpx.Client(verify=context, timeout=30) as client:
                token = request_token(
                    client, discover(smr.base_url, client), "fuzz", key, scopes
                ).access_token

                def make(rng: random.Random) -> tuple[str, str, Any, dict[str, str], bytes]:
                    method, path, query, headers, body = http_request(pool, rng)
                    if rng.random() < 0.85:
                        headers["Authorization"] = f"Bearer {token}"
                    return method, f"{smr.base_url}/{path}", query, headers, body

                def check(request: tuple[str, str, Any, dict[str, str], bytes]) -> bool:
                    method, url, query, headers, body = request
                    try:
                        response = client.request(
                            method, url, params=query, headers=headers, content=body or None
                        )
                    except httpx.HTTPError as exc:
                        print(f"no reply to {method} {url}: {exc}", file=sys.stderr)
                        return False
                    if response.status_code >= 500:
                        print(
                            f"HTTP {response.status_code} to {method} {url}: {response.text[:300]}",
                            file=sys.stderr,
                        )
                    return response.status_code < 500

                def alive() -> bool:
                    return client.get(f"{smr.base_url}/metadata").status_code == 200

                return fuzz("simulator", make, check, count, seed, after=alive)
        finally:
            smr.stop()


def run(
    full: bool = False, count: int | None = None, seed: int = 1, only: tuple[str, ...] = STANDARDS
) -> list[dict]:
    """Figures for every standard: inputs tried, crashes found (must be 0), rate, slowest input."""
    n = count or 10_000
    validator = Validator()
    figures: list[dict] = []
    if "fhir" in only:
        fhir = fhir_pool()
        figures += fuzz(
            "fhir",
            lambda rng: fhir_input(fhir, rng),
            lambda data: _judged(lambda: validator.validate_bytes(data, label="fuzz.json"), "fhir", data),
            n,
            seed,
        )
    if "hl7v2" in only:
        v2, messages = validator.hl7v2, hl7v2_pool()
        figures += fuzz(
            "hl7v2",
            lambda rng: hl7v2_input(messages, rng),
            lambda data: _judged(lambda: v2.validate(data, "fuzz.hl7"), "hl7v2", data),
            n,
            seed,
        )
    if "cda" in only:
        docs = cda_pool()
        figures += fuzz(
            "cda",
            lambda rng: cda_input(docs, rng),
            lambda data: _judged(lambda: validator.validate_bytes(data, label="fuzz.xml"), "cda", data),
            n,
            seed,
        )
    if "simulator" in only:
        figures += _simulator(validator, n, seed)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=",".join(STANDARDS), help="comma-separated standards")
    args = parser.parse_args()
    for figure in run(count=args.count, seed=args.seed, only=tuple(args.only.split(","))):
        print(json.dumps(figure), flush=True)
