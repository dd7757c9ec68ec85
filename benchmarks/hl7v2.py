"""HL7 v2: parse and MA profile check throughput on one core, and MLLP round trips.

Figures (messages are distinct synthetic ADT/ORU messages, never the same text twice in a pass):
- ``hl7v2_parse``: ``parse_message`` alone.
- ``hl7v2_parse_profile_check_cold``: ``Hl7v2Validator.validate`` on messages it has never seen (a fresh
  validator per round: its per-value caches start empty).
- ``hl7v2_parse_profile_check_warm``: the same messages again (values already judged are not re-judged).
- ``hl7v2_mllp_round_trip``: one persistent MLLP connection on loopback, the server answering an ACK.
- ``hl7v2_mllp_round_trip_validated``: the same, the server validating each message before its ACK.

Issue 9 asks for at least 2,500 messages/s parse + profile check (aim 20,000). Parse and check rates are
messages per second of this process's CPU time (one core; other load on the machine does not count);
round trips are wall-clock rates.

Usage: ``python benchmarks/hl7v2.py [--full]`` or through ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
PROFILES = ROOT / "profiles"
V2_CONTENT = PROFILES / "ma.smr.v2"


def _messages(patients: int) -> tuple[Any, list[str]]:
    from testbed.synthetic._content import load_content
    from testbed.synthetic.hl7v2 import Hl7v2Renderer
    from testbed.synthetic.journey import iter_population

    registry, national = load_content(PROFILES)
    renderer = Hl7v2Renderer(national, content=V2_CONTENT)
    texts = [
        text for record in iter_population("bench-v2", patients) for _, text in renderer.messages(record)
    ]
    return registry, texts


def _rate(func: Any, items: list[Any], rounds: int, fresh: Any = None) -> float:
    best = 0.0
    for _ in range(rounds):
        target = fresh() if fresh is not None else func
        started = time.process_time()
        for item in items:
            target(item)
        best = max(best, len(items) / (time.process_time() - started))
    return best


async def _round_trips(registry: Any, texts: list[str], validate: bool) -> float:
    from testbed.hl7v2 import Hl7v2Validator
    from testbed.hl7v2.ack import make_ack
    from testbed.hl7v2.mllp import MLLPClient, MLLPServer

    validator = Hl7v2Validator.from_registry(registry, profiles_dir=V2_CONTENT) if validate else None

    async def handler(payload: bytes) -> str:
        if validator is None:
            return make_ack(payload, "AA", timestamp="20250101000000")
        outcome = validator.validate(payload)
        return make_ack(
            payload, "AA" if outcome.valid else "AE", outcome.errors(), timestamp="20250101000000"
        )

    async with MLLPServer(handler) as server, MLLPClient("127.0.0.1", server.port, timeout=10) as client:
        started = time.perf_counter()
        for text in texts:
            await client.asend(text)
        return len(texts) / (time.perf_counter() - started)


def run(full: bool = False) -> list[dict[str, Any]]:
    """The figures of this part (see the module docstring)."""
    from testbed.hl7v2 import Hl7v2Validator, parse_message

    registry, texts = _messages(3000 if full else 600)
    rounds = 5 if full else 3

    def fresh() -> Any:
        return Hl7v2Validator.from_registry(registry, profiles_dir=V2_CONTENT).validate

    warm = Hl7v2Validator.from_registry(registry, profiles_dir=V2_CONTENT)
    for text in texts:
        warm.validate(text)
    figures = [
        ("hl7v2_parse", _rate(parse_message, texts, rounds)),
        ("hl7v2_parse_profile_check_cold", _rate(None, texts, rounds, fresh)),
        ("hl7v2_parse_profile_check_warm", _rate(warm.validate, texts, rounds)),
        ("hl7v2_mllp_round_trip", asyncio.run(_round_trips(registry, texts, False))),
        ("hl7v2_mllp_round_trip_validated", asyncio.run(_round_trips(registry, texts, True))),
    ]
    return [{"name": name, "value": value, "unit": "messages/s"} for name, value in figures]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true")
    for figure in run(parser.parse_args().full):
        print(json.dumps({**figure, "value": round(figure["value"], 1)}))
