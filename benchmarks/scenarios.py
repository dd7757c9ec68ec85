"""Scenario engine figures: suite loading, the full default run against the embedded SMR, the run folder.

Run alone: ``python benchmarks/scenarios.py [--full]`` (one JSON line per figure). ``--full`` also runs
the client-actor scenarios with the demo client.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _figure(name: str, value: float, unit: str) -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "unit": unit}


def run(full: bool = False) -> list[dict[str, Any]]:
    from testbed.scenarios import model
    from testbed.scenarios.catalogue import load_catalogue
    from testbed.scenarios.evidence import verify_run_folder
    from testbed.scenarios.schema import content_dir
    from testbed.scenarios.session import RunOptions, RunSession, shared_validator
    from testbed.scenarios.vendor import load_vendor_config

    figures = []
    catalogue = load_catalogue()
    files = model.scenario_files([content_dir()])
    t0 = time.perf_counter()
    for path in files:  # the schema check itself, without the proven-file cache
        model.check(model.load_yaml_file(path), model.SCENARIO_SCHEMA, source=str(path))
    figures.append(
        _figure("scenarios.schema_check_per_file", (time.perf_counter() - t0) / len(files) * 1000, "ms")
    )
    t0 = time.perf_counter()
    suite = model.load_suite([content_dir() / "smr"], catalogue=catalogue)
    figures.append(_figure("scenarios.load_suite_cached", time.perf_counter() - t0, "s"))

    work = Path(tempfile.mkdtemp(prefix="bench-scenarios-"))
    try:
        t0 = time.perf_counter()
        shared_validator()
        figures.append(_figure("scenarios.validator_load", time.perf_counter() - t0, "s"))
        t0 = time.perf_counter()
        with RunSession(RunOptions(seed=1, out=work / "smr")) as session:
            results = session.run(suite)
            ran = time.perf_counter() - t0
            t1 = time.perf_counter()
            folder, _, record = session.write()
            written = time.perf_counter() - t1
        figures.append(_figure("scenarios.smr_suite_in_process", time.perf_counter() - t0, "s"))
        figures.append(_figure("scenarios.smr_scenarios", len(results), "count"))
        figures.append(_figure("scenarios.smr_scenario_mean", ran / len(results) * 1000, "ms"))
        figures.append(
            _figure("scenarios.smr_failures", record["summary"]["fail"] + record["summary"]["error"], "count")
        )
        figures.append(_figure("scenarios.run_folder_write", written, "s"))
        figures.append(_figure("scenarios.exchanges_written", len(record["exchanges"]), "count"))
        t0 = time.perf_counter()
        verify_run_folder(folder)
        figures.append(_figure("scenarios.run_folder_verify", time.perf_counter() - t0, "s"))

        # the command a user types, from a fresh process (imports, validator, SMR start, all scenarios)
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from testbed.cli.run import run_command; run_command()",
                "--seed",
                "1",
                "--out",
                str(work / "cli"),
            ],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        figures.append(_figure("scenarios.testbed_run_default_wall", time.perf_counter() - t0, "s"))

        if full:
            vendor = load_vendor_config(ROOT / "examples" / "demo_client" / "vendor.yaml")
            clients = [s for s in model.load_suite([content_dir()], catalogue=catalogue) if s.actor != "SMR"]
            t0 = time.perf_counter()
            with RunSession(RunOptions(seed=1, out=work / "clients", vendor=vendor)) as session:
                session.run(clients)
            figures.append(_figure("scenarios.client_suite_demo_client", time.perf_counter() - t0, "s"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    for figure in run(full=parser.parse_args().full):
        print(json.dumps(figure), flush=True)
