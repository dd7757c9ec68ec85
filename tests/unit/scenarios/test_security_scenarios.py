"""Proof of the security and privacy suite (label level 3): the reference SMR passes the whole suite
through ``testbed run`` without writing a secret anywhere, and each deliberately broken SMR fails exactly
the security scenarios (sec-*, t8-*, t9-*, t10-*) that test what it breaks.

Broken SMRs are the simulator's faults, and a few test-only patches applied inside the worker process
(a token endpoint that forgets the jti it saw, a JSON parser that overflows, an MLLP reader that takes
an unterminated frame, an audit without the system's network address). Runs are spread over two
worker processes, each loading the validator once.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import stat
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from testbed.scenarios.schema import content_dir

ROOT = Path(__file__).resolve().parents[3]
SEED = 20260102
PREFIXES = ("sec-", "t8-", "t9-", "t10-")

PROOF: dict[str, set[str]] = {
    "accept-alg-none": {"smr-t10-token-alg-none-refused", "smr-t10-alg-none-token-401"},
    "ignore-consent-include": {
        "smr-t8-objection-include",
        "smr-t8-objection-forward-include",
        "smr-t8-objection-document-paths",
    },
    "no-audit-search": {"smr-t9-audit-search"},
    "tls10": {"smr-sec-tls-versions"},
    "no-hsts": {"smr-sec-hsts"},
    "accept-any-token": {
        "smr-t10-malformed-token-401",
        "smr-t10-tampered-token-401",
        "smr-t10-expired-token-401",
        "smr-t10-other-audience-401",
        "smr-t10-alg-none-token-401",
    },
    "patch:jti-forgotten": {"smr-t10-assertion-replay-refused"},
    "patch:json-overflow": {"smr-sec-hostile-deep-json"},
    "patch:mllp-takes-unterminated-frame": {"smr-sec-hostile-mllp-framing"},
    "patch:audit-without-address": {"smr-t9-audit-five-ws"},
}
"""Broken SMR (a simulator fault, or ``patch:`` a test-only defect) → the security scenarios it fails.

``ignore-consent``, ``no-audit`` (every objection path, every audit scenario) and ``skip-validation`` (the
rejections, and the XXE and billion-laughs documents it stores) are proven over the whole suite by
``test_suite_proof``.
"""
INPUT_VARIANTS = {"patch:json-overflow", "patch:mllp-takes-unterminated-frame"}


# --- test-only defects (applied in the worker process) ---------------------------------------------


def _jti_forgotten() -> Callable[[], None]:
    from testbed.security.server import TokenIssuer

    original = TokenIssuer._check_assertion_claims

    def forgetful(self: Any, *args: Any, **kwargs: Any) -> None:
        self._seen_jti.clear()
        self._jti_expiry.clear()
        original(self, *args, **kwargs)

    TokenIssuer._check_assertion_claims = forgetful  # type: ignore[method-assign]
    return lambda: setattr(TokenIssuer, "_check_assertion_claims", original)


def _json_overflow() -> Callable[[], None]:
    from testbed.simulator._context import Ctx

    original = Ctx.parse_body

    def fragile(self: Any, req: Any, expected: Any) -> Any:
        if req.body.count(b"[") > 1000:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return original(self, req, expected)

    Ctx.parse_body = fragile  # type: ignore[method-assign]
    return lambda: setattr(Ctx, "parse_body", original)


def _mllp_takes_unterminated_frame() -> Callable[[], None]:
    from testbed.hl7v2.framing import FrameDecoder

    original = FrameDecoder.close

    def lenient(self: Any) -> list[Any]:
        if self._state == "in":
            payload = bytes(self._buf)
            self._buf.clear()
            self._state = "out"
            return [payload, *original(self)]
        return list(original(self))

    FrameDecoder.close = lenient  # type: ignore[method-assign]
    return lambda: setattr(FrameDecoder, "close", original)


def _audit_without_address() -> Callable[[], None]:
    from testbed.simulator import _audit

    original = _audit._is_ip
    _audit._is_ip = lambda address: False
    return lambda: setattr(_audit, "_is_ip", original)


PATCHES: dict[str, Callable[[], Callable[[], None]]] = {
    "patch:jti-forgotten": _jti_forgotten,
    "patch:json-overflow": _json_overflow,
    "patch:mllp-takes-unterminated-frame": _mllp_takes_unterminated_frame,
    "patch:audit-without-address": _audit_without_address,
}


def security_files(*, hostile: bool = True) -> list[Path]:
    """The security scenario files (``hostile``: with the robustness ones, tagged hostile)."""
    found = sorted(p for p in (content_dir() / "smr").glob("*.scenario.yaml") if p.name.startswith(PREFIXES))
    return found if hostile else [p for p in found if not p.name.startswith("sec-hostile-")]


def run_broken(variant: str, out: str) -> dict[str, list[str]]:
    """Run the security scenarios against the embedded SMR broken by ``variant``.

    Only the variants that touch input handling run the (slower) hostile-input scenarios: a token or
    consent defect cannot change how a body is parsed.
    """
    sys.path.insert(0, str(ROOT))
    from testbed.scenarios.catalogue import load_catalogue
    from testbed.scenarios.model import load_suite
    from testbed.scenarios.session import RunOptions, RunSession

    undo = PATCHES[variant]() if variant in PATCHES else None
    fault = None if undo else variant
    logging.getLogger("testbed").setLevel(logging.ERROR)  # the broken SMRs log what they break
    try:
        files = security_files(hostile=variant in INPUT_VARIANTS)
        suite = load_suite(files, catalogue=load_catalogue())
        options = RunOptions(seed=SEED, out=Path(out), faults=frozenset([fault] if fault else []))
        found: dict[str, list[str]] = {}
        with RunSession(options) as session:
            for scenario, result in session.run(suite):
                found.setdefault(result.result.value, []).append(scenario.id)
                if result.result.value in ("fail", "error"):
                    found.setdefault("why", []).append(f"{scenario.id}: {result.failure_text()[:600]}")
    finally:
        if undo is not None:
            undo()  # the worker process runs other variants next
    return found


# --- the reference SMR through `testbed run`, secrets captured as they are made ---------------------


def _capture() -> tuple[set[str], list[Any]]:
    """Wrap the places secrets are made; returns (secrets seen, embedded SMRs started)."""
    from testbed.scenarios import embedded
    from testbed.scenarios.auth import TokenProvider
    from testbed.security import client, tampering

    seen: set[str] = set()
    started: list[Any] = []

    def keep(func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = func(*args, **kwargs)
            seen.add(str(value))
            return value

        return wrapper

    client.make_client_assertion = keep(client.make_client_assertion)
    tampering.make_unsigned_assertion = keep(tampering.make_unsigned_assertion)
    authorization = TokenProvider.authorization

    def presented(self: Any, choice: Any) -> Any:
        value, info, raw = authorization(self, choice)
        if raw:
            seen.add(raw)
        return value, info, raw

    TokenProvider.authorization = presented  # type: ignore[method-assign]
    start = embedded.start_embedded

    def start_and_keep(**kwargs: Any) -> Any:
        smr = start(**kwargs)
        started.append((smr, kwargs["workdir"]))
        return smr

    embedded.start_embedded = start_and_keep
    import testbed.scenarios.session as session_module

    session_module.start_embedded = start_and_keep
    return seen, started


def _key_material(started: list[Any]) -> tuple[set[str], dict[str, int], str]:
    """Private key values of the run (client keys, token signing key, TLS keys), key file modes, and the
    reference SMR's own evidence log (MA-SEC-015: no secret in the SMR's logs either)."""
    found: set[str] = set()
    modes: dict[str, int] = {}
    logs = ""
    for smr, workdir in started:
        logs += "".join(p.read_text(errors="replace") for p in Path(workdir).rglob("*.jsonl"))
        for creds in smr.credentials.values():
            found.add(str(creds.key.as_dict(private=True)["d"]))
        found.add(str(smr.running.issuer.signing_key.as_dict(private=True)["d"]))
        for path in Path(workdir).rglob("*"):
            if path.is_file() and "key" in path.name:
                modes[str(path.relative_to(workdir))] = stat.S_IMODE(path.stat().st_mode)
                text = path.read_text(errors="replace")
                found.update(line for line in text.splitlines() if len(line) >= 40 and "-----" not in line)
    return found, modes, logs


def run_reference(out: str) -> dict[str, Any]:
    """``testbed run`` (the whole suite) against the reference SMR, then every secret it used."""
    sys.path.insert(0, str(ROOT))
    from click.testing import CliRunner

    from testbed.cli import main

    seen, started = _capture()
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    keys: set[str] = set()
    modes: dict[str, int] = {}
    smr_logs: list[str] = []

    from testbed.scenarios.session import RunSession

    close = RunSession.close

    def close_after_looking(self: Any) -> None:
        found, kept, logs = _key_material(started)
        keys.update(found)
        modes.update(kept)
        smr_logs.append(logs)
        close(self)

    RunSession.close = close_after_looking  # type: ignore[method-assign]
    result = CliRunner().invoke(main, ["run", "--seed", str(SEED), "--out", out], catch_exceptions=False)
    record = json.loads((Path(out) / "run.json").read_text())
    report = Path(out).with_suffix(".html")
    rendered = CliRunner().invoke(main, ["report", out, "--out", str(report)], catch_exceptions=False)
    return {
        "exit_code": result.exit_code,
        "output": result.output + log.getvalue(),
        "results": {s["id"]: s["result"] for s in record["scenarios"]},
        "folder": out,
        "report": report.read_text() if rendered.exit_code == 0 else f"report failed: {rendered.output}",
        "why": [
            f"{s['id']}: {json.dumps(s)[:800]}"
            for s in record["scenarios"]
            if s["result"] in ("fail", "error")
        ],
        "secrets": sorted(seen),
        "keys": sorted(keys),
        "modes": modes,
        "smr_log": "".join(smr_logs),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Any]]]:
    out = tmp_path_factory.mktemp("security-proof")
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"))
    jobs: dict[str, Future[Any]] = {"reference": pool.submit(run_reference, str(out / "reference"))}
    for variant in PROOF:
        jobs[variant] = pool.submit(run_broken, variant, str(out / variant.replace(":", "-")))
    yield jobs
    pool.shutdown(wait=True)


def test_the_reference_smr_reaches_level_3(runs: dict[str, Future[Any]]) -> None:
    found = runs["reference"].result()
    results = found["results"]
    assert found["exit_code"] == 0, "\n".join(found["why"]) or found["output"][-3000:]
    smr = {sid: r for sid, r in results.items() if sid.startswith("smr-")}
    assert smr and all(r == "pass" for sid, r in smr.items() if sid != "smr-sec-mtls-required"), smr
    security = {p.name for p in security_files()}
    assert len(security) >= 40
    assert results["smr-sec-mtls-required"] == "omit"  # mTLS is not claimed by the embedded SMR


def test_a_run_folder_holds_no_secret(runs: dict[str, Future[Any]]) -> None:
    found = runs["reference"].result()
    secrets = [s for s in found["secrets"] if len(s) >= 16]
    assert len(secrets) >= 8, "the capture saw too few tokens and assertions to prove anything"
    assert any(s.count(".") == 2 for s in secrets)
    needles = set(secrets) | {
        s.rsplit(".", 1)[-1] for s in secrets if s.count(".") == 2 and len(s.rsplit(".", 1)[-1]) >= 16
    }
    needles |= set(found["keys"])
    assert len(found["keys"]) >= 4
    folder = Path(found["folder"])
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) > 50
    leaks = [
        f"{p.relative_to(folder)} holds {needle[:12]}…"
        for p in files
        for needle in needles
        if needle.encode() in p.read_bytes()
    ]
    leaks += [f"the console or log holds {n[:12]}…" for n in needles if n in found["output"]]
    assert len(found["smr_log"]) > 100_000, "the reference SMR kept no evidence log"
    assert len(found["report"]) > 100_000, found["report"][:2000]
    leaks += [f"the HTML report holds {n[:12]}…" for n in needles if n in found["report"]]
    leaks += [f"the reference SMR's evidence log holds {n[:12]}…" for n in needles if n in found["smr_log"]]
    assert leaks == []


def test_key_files_made_by_the_run_are_owner_only(runs: dict[str, Future[Any]]) -> None:
    modes = runs["reference"].result()["modes"]
    assert modes, "the run made no key file"
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}


@pytest.mark.parametrize("variant", sorted(PROOF))
def test_a_broken_smr_fails_exactly_the_matching_security_scenarios(
    variant: str, runs: dict[str, Future[Any]]
) -> None:
    found = runs[variant].result()
    assert found.get("error", []) == [], "\n".join(found.get("why", []))
    assert set(found.get("fail", [])) == PROOF[variant], "\n".join(found.get("why", []))
