"""The run folder: run record, exchange files, manifest and evidence digest; and its verification.

Layout (default ``./testbed-runs/<run-id>/``)::

    run.json                 the run record (checked against run-record.schema.json before writing)
    exchanges/<sha256>.json  one request/reply pair each, RFC 8785 canonical JSON, named by its SHA-256
    manifest.json            every other file with its SHA-256 and size, itself RFC 8785 canonical JSON
    evidence-digest.txt      the evidence digest: SHA-256 (hex) of manifest.json

The digest cannot be inside ``run.json`` (the manifest hashes ``run.json``); a certificate names it, and
:func:`verify_run_folder` recomputes everything and names each difference.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from testbed.core.errors import TestbedError, UsageError
from testbed.core.settings import PACKAGE_ROOT
from testbed.scenarios.exchange import Exchange, canonical, sha256_hex
from testbed.scenarios.schema import RUN_SCHEMA, check

RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.json"
DIGEST_FILE = "evidence-digest.txt"
EXCHANGES_DIR = "exchanges"
MANIFEST_FORMAT = "testbed-manifest/1"


class EvidenceError(TestbedError):
    """A run folder cannot be written or read."""


def check_out_dir(path: Path) -> Path:
    """Refuse a run folder inside the installed package or a non-empty existing folder.

    Raises:
        UsageError: the folder is inside ``testbed/`` or already holds files.
    """
    resolved = path.resolve()
    package = PACKAGE_ROOT.resolve()
    if resolved == package or package in resolved.parents:
        raise UsageError(f"--out {path}: a run folder cannot be inside the testbed package ({package})")
    if resolved.exists() and (not resolved.is_dir() or any(resolved.iterdir())):
        raise UsageError(f"--out {path}: exists and is not an empty folder; give a new folder")
    return resolved


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_run_folder(folder: Path, record: Mapping[str, Any], exchanges: Iterable[Exchange]) -> str:
    """Write a run folder and return its evidence digest.

    Raises:
        EvidenceError: the record breaks its schema (a testbed bug) or the folder cannot be written.
    """
    problems = check(dict(record), RUN_SCHEMA, source=str(folder / RUN_FILE))
    if problems:
        raise EvidenceError(
            "the run record breaks run-record.schema.json (a testbed bug):\n"
            + "\n".join(str(p) for p in problems[:20])
        )
    try:
        (folder / EXCHANGES_DIR).mkdir(parents=True, exist_ok=True)
        for ex in exchanges:
            target = folder / EXCHANGES_DIR / f"{ex.id}.json"
            if not target.exists():
                _write(target, canonical(ex.to_json()))
        text = json.dumps(record, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
        _write(folder / RUN_FILE, text.encode("utf-8"))
        manifest = build_manifest(folder, str(record.get("run_id", "")))
        data = canonical(manifest)
        _write(folder / MANIFEST_FILE, data)
        digest = sha256_hex(data)
        _write(folder / DIGEST_FILE, f"{digest}\n".encode())
    except OSError as exc:
        raise EvidenceError(f"cannot write the run folder {folder}: {exc}") from None
    return digest


def _files(folder: Path) -> list[Path]:
    skip = {MANIFEST_FILE, DIGEST_FILE}
    return sorted(p for p in folder.rglob("*") if p.is_file() and not (p.parent == folder and p.name in skip))


def build_manifest(folder: Path, run_id: str) -> dict[str, Any]:
    """The manifest of a run folder: every file but the manifest and digest, with SHA-256 and size."""
    entries = []
    for path in _files(folder):
        data = path.read_bytes()
        entries.append(
            {"path": path.relative_to(folder).as_posix(), "sha256": sha256_hex(data), "size": len(data)}
        )
    return {"format": MANIFEST_FORMAT, "run_id": run_id, "files": entries}


def evidence_digest(folder: Path) -> str:
    """The evidence digest of a run folder: SHA-256 of the canonical manifest (recomputed from the files)."""
    manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    return sha256_hex(canonical(build_manifest(folder, str(manifest.get("run_id", "")))))


def verify_run_folder(folder: Path, *, expected_digest: str | None = None) -> list[str]:
    """Recompute a run folder's evidence; one message per difference (empty when intact).

    Checks: every listed file exists with its size and SHA-256, no file is unlisted, each exchange file
    is named by its own SHA-256, every exchange the record references exists, ``manifest.json`` is the
    canonical form of the manifest, and its SHA-256 equals ``evidence-digest.txt`` (and
    ``expected_digest`` when given, e.g. from a certificate).
    """
    problems: list[str] = []
    try:
        raw = (folder / MANIFEST_FILE).read_bytes()
        manifest = json.loads(raw)
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST_FILE}: cannot be read ({exc})"]
    if raw != canonical(manifest):
        problems.append(f"{MANIFEST_FILE}: not in RFC 8785 canonical form (edited by hand?)")
    listed: dict[str, dict[str, Any]] = {
        str(e.get("path")): e for e in manifest.get("files") or [] if isinstance(e, dict)
    }
    present = {p.relative_to(folder).as_posix(): p for p in _files(folder)}
    for name in sorted(set(listed) - set(present)):
        problems.append(f"{name}: listed in the manifest but missing")
    for name in sorted(set(present) - set(listed)):
        problems.append(f"{name}: present but not listed in the manifest")
    for name in sorted(set(listed) & set(present)):
        data = present[name].read_bytes()
        entry = listed[name]
        if sha256_hex(data) != entry.get("sha256"):
            problems.append(
                f"{name}: SHA-256 {sha256_hex(data)} differs from the manifest's {entry.get('sha256')}"
            )
        elif len(data) != entry.get("size"):
            problems.append(f"{name}: size {len(data)} differs from the manifest's {entry.get('size')}")
        if name.startswith(f"{EXCHANGES_DIR}/") and name != f"{EXCHANGES_DIR}/{sha256_hex(data)}.json":
            problems.append(f"{name}: its content's SHA-256 is {sha256_hex(data)}, not its name")
    problems.extend(_record_references(folder, present))
    digest = sha256_hex(raw)
    try:
        written = (folder / DIGEST_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        written = None
        problems.append(f"{DIGEST_FILE}: missing")
    if written is not None and written != digest:
        problems.append(f"{DIGEST_FILE}: says {written}, the manifest's SHA-256 is {digest}")
    if expected_digest is not None and expected_digest != digest:
        problems.append(f"evidence digest {digest} differs from the expected {expected_digest}")
    return problems


def _record_references(folder: Path, present: Mapping[str, Path]) -> list[str]:
    try:
        record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{RUN_FILE}: cannot be read ({exc})"]
    problems = []
    for entry in record.get("exchanges") or []:
        file = entry.get("file") if isinstance(entry, dict) else None
        if file and file not in present:
            problems.append(f"{RUN_FILE} references {file}, which is missing")
    return problems


def exchange_index(pairs: Sequence[tuple[str, int, Exchange]]) -> list[dict[str, Any]]:
    """The record's ``exchanges`` list: each exchange once, with the scenario and step that made it."""
    seen: set[str] = set()
    rows = []
    for scenario_id, step, ex in pairs:
        if ex.id in seen:
            continue
        seen.add(ex.id)
        rows.append(
            {
                "id": ex.id,
                "file": f"{EXCHANGES_DIR}/{ex.id}.json",
                "protocol": ex.protocol,
                "direction": ex.direction,
                "scenario": scenario_id,
                "step": step,
            }
        )
    return rows


def load_run_record(folder: Path) -> dict[str, Any]:
    """Read ``run.json`` of a run folder (or a run.json path).

    Raises:
        UsageError: not a run folder.
    """
    path = folder / RUN_FILE if folder.is_dir() else folder
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable run record ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "testbed-run/1":
        raise UsageError(f"{path}: not a testbed run record (format testbed-run/1)")
    return data
