"""Fuzz benchmark: hostile inputs per standard, crashes found (must be 0) and the slowest input.

Usage: python benchmarks/fuzz.py [--count N] [--seed S]   (default 10,000 inputs per standard)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.api import Validator  # noqa: E402
from testbed.core.issues import IssueCode  # noqa: E402
from tests.unit.fuzz.inputs import fhir_input, fhir_pool  # noqa: E402


def fuzz(
    name: str, make: Callable[[random.Random], bytes], check: Callable[[bytes], bool], count: int, seed: int
) -> list[dict]:
    rng = random.Random(seed)
    crashes = 0
    slowest = 0.0
    start = time.perf_counter()
    for _ in range(count):
        data = make(rng)
        t0 = time.perf_counter()
        if not check(data):
            crashes += 1
        slowest = max(slowest, time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return [
        {"name": f"fuzz.{name}.inputs", "value": count, "unit": "inputs"},
        {"name": f"fuzz.{name}.crashes", "value": crashes, "unit": "crashes"},
        {"name": f"fuzz.{name}.rate", "value": round(count / elapsed, 1), "unit": "inputs/s"},
        {"name": f"fuzz.{name}.slowest", "value": round(slowest * 1000, 1), "unit": "ms"},
    ]


def run(full: bool = False, count: int | None = None, seed: int = 1) -> list[dict]:
    """Figures for every standard whose validator is available."""
    n = count or 10_000
    validator = Validator()
    pool = fhir_pool()

    def fhir_ok(data: bytes) -> bool:
        outcome = validator.validate_bytes(data, label="fuzz.json")
        return not any(i.code is IssueCode.EXCEPTION for i in outcome.issues)

    return fuzz("fhir", lambda rng: fhir_input(pool, rng), fhir_ok, n, seed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for figure in run(count=args.count, seed=args.seed):
        print(json.dumps(figure), flush=True)
