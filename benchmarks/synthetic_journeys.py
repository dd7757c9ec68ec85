"""Clinical journeys: generation throughput on one core, what a patient holds, model load, streamed memory.

Figures:
- ``synthetic_journeys_patients_per_s``: patients generated per second of CPU time, warm (caches built on
  10,000 patients first), best of 5 batches of 2,000 patients (``iter_population``, default options).
- ``synthetic_journeys_patients_per_s_wall``: the same batches measured on the wall clock (best batch).
- ``synthetic_journeys_us_per_patient``: CPU microseconds per patient of the best batch.
- ``synthetic_journeys_entries_per_patient``: encounters, observations, prescriptions, allergies,
  immunizations and documents per patient (mean over the measured batches), to read the rate against.
- ``synthetic_journeys_model_load``: loading the population and clinical models in a fresh process.
- ``synthetic_journeys_peak_rss_<N>``: peak RSS of a child process streaming N patients (10,000; with
  ``full``, also 200,000), to show memory stays flat with N.

Usage: ``python benchmarks/synthetic_journeys.py [--full]`` or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_STREAM = """
import sys, resource
from testbed.synthetic.journey import iter_population
n = 0
for record in iter_population("rss", int(sys.argv[1])):
    n += len(record.observations)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

_LOAD = """
import time
started = time.perf_counter()
from testbed.synthetic.journey import generate_patient
generate_patient(0, 0)
print(time.perf_counter() - started)
"""

BATCH = 2_000
ROUNDS = 5


def _entries(record: Any) -> int:
    return (
        len(record.encounters)
        + len(record.observations)
        + len(record.prescriptions)
        + len(record.allergies)
        + len(record.immunizations)
        + len(record.documents)
        + len(record.conditions)
    )


def _child(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    return result.stdout.strip().splitlines()[-1]


def run(full: bool = False) -> list[dict[str, Any]]:
    """The figures of this benchmark, as ``{"name", "value", "unit"}`` dicts."""
    from testbed.synthetic.journey import iter_population

    for _ in iter_population("bench-warm", 10_000):
        pass
    best_cpu = best_wall = float("inf")
    entries = patients = 0
    for round_ in range(ROUNDS):
        cpu, wall = time.process_time(), time.perf_counter()
        for record in iter_population("bench", BATCH, start=round_ * BATCH):
            entries += _entries(record)
            patients += record.duplicate_of is None
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    figures = [
        {"name": "synthetic_journeys_patients_per_s", "value": BATCH / best_cpu, "unit": "patients/s"},
        {"name": "synthetic_journeys_patients_per_s_wall", "value": BATCH / best_wall, "unit": "patients/s"},
        {"name": "synthetic_journeys_us_per_patient", "value": best_cpu / BATCH * 1e6, "unit": "us"},
        {"name": "synthetic_journeys_entries_per_patient", "value": entries / patients, "unit": "entries"},
        {"name": "synthetic_journeys_model_load", "value": float(_child(_LOAD)), "unit": "s"},
    ]
    for count in (10_000, 200_000) if full else (10_000,):
        rss_kib = int(_child(_STREAM, str(count)))
        figures.append(
            {"name": f"synthetic_journeys_peak_rss_{count}", "value": rss_kib / 1024, "unit": "MiB"}
        )
    for figure in figures:
        figure["value"] = round(float(figure["value"]), 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also stream 200,000 patients for peak RSS")
    args = parser.parse_args()
    for figure in run(args.full):
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
