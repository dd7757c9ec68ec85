"""Synthetic population rendering: FHIR ndjson and all-format throughput on one core, peak RSS streamed.

Figures:
- ``synthetic_fhir_render_ndjson``: rendering alone (records already generated) as ndjson text.
- ``synthetic_fhir_ndjson_end_to_end``: ``write_population(..., ["fhir"], ndjson=True)``, generation included.
- ``synthetic_all_formats_end_to_end``: every available format (FHIR Bundles, HL7 v2, CDA) written.
- ``synthetic_peak_rss_<N>``: peak RSS of a child process streaming N patients as FHIR ndjson
  (1,000 and 10,000; with ``full``, also 1,000,000), to show memory stays flat with N.

Usage: ``python benchmarks/synthetic_render.py [--full]`` or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_CHILD = """
import sys, resource
from testbed.synthetic.writer import write_population
write_population(sys.argv[1], "rss", int(sys.argv[2]), ["fhir"], ndjson=True)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _records(count: int) -> list[Any]:
    from testbed.synthetic.journey import iter_population

    return list(iter_population("bench", count))


def _best_rate(func: Any, items: list[Any], rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            func(item)
        best = max(best, len(items) / (time.perf_counter() - started))
    return best


def _render_ndjson(count: int, rounds: int) -> tuple[float, float]:
    """(patients/s, resources per patient) of FHIR ndjson rendering, records generated beforehand."""
    from testbed.synthetic._content import load_content
    from testbed.synthetic._json import dumps
    from testbed.synthetic.fhir import FhirRenderer

    registry, national = load_content()
    renderer = FhirRenderer(national, registry)
    records = _records(count)

    def render(record: Any) -> None:
        "\n".join(dumps(r) for r in renderer.resources(record))

    size = sum(1 for record in records for _ in renderer.resources(record)) / len(records)
    return _best_rate(render, records, rounds), size


def _end_to_end(count: int, formats: tuple[str, ...], ndjson: bool) -> float:
    from testbed.synthetic.writer import write_population

    with tempfile.TemporaryDirectory() as tmp:
        write_population(Path(tmp) / "warm", "warm", 20, formats, ndjson=ndjson)
        started = time.perf_counter()
        write_population(Path(tmp) / "run", "bench", count, formats, ndjson=ndjson)
        return count / (time.perf_counter() - started)


def _peak_rss_mb(count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, tmp, str(count)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def run(full: bool = False) -> list[dict[str, Any]]:
    """The figures of this part (see the module docstring)."""
    from testbed.synthetic.writer import available_formats

    count = 5000 if full else 1000
    rate, size = _render_ndjson(count, 5 if full else 3)
    figures = [
        {"name": "synthetic_fhir_resources_per_patient", "value": size, "unit": "resources"},
        {
            "name": "synthetic_fhir_render_ndjson",
            "value": rate,
            "unit": "patients/s",
        },
        {
            "name": "synthetic_fhir_ndjson_end_to_end",
            "value": _end_to_end(count, ("fhir",), True),
            "unit": "patients/s",
        },
    ]
    formats = available_formats()
    if len(formats) > 1:
        figures.append(
            {
                "name": f"synthetic_all_formats_end_to_end[{'+'.join(formats)}]",
                "value": _end_to_end(count // 5, formats, False),
                "unit": "patients/s",
            }
        )
    for n in (1000, 10_000, *((1_000_000,) if full else ())):
        figures.append({"name": f"synthetic_peak_rss_{n}", "value": _peak_rss_mb(n), "unit": "MB"})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--full", action="store_true", help="more patients and rounds; also 1,000,000 streamed"
    )
    args = parser.parse_args()
    for figure in run(full=args.full):
        print(json.dumps({**figure, "value": round(float(figure["value"]), 1)}), flush=True)


if __name__ == "__main__":
    main()
