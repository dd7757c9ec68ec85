"""The evidence of a run folder as the reports and certificates use it.

The run folder's layout and its integrity check belong to the scenario engine
(:mod:`testbed.scenarios.evidence`): ``manifest.json`` lists every file with its SHA-256 and size in
RFC 8785 canonical form, and the **evidence digest** is the SHA-256 of ``manifest.json``.
:func:`check_evidence` gathers the digest, the listed files and every difference that check names
(a changed, dropped or added file, an exchange that no longer hashes to its name, a record citing a
missing exchange, a manifest edited by hand).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.core.errors import InputError
from testbed.scenarios.evidence import MANIFEST_FILE, verify_run_folder
from testbed.scenarios.exchange import canonical


@dataclass(slots=True)
class EvidenceCheck:
    """A run folder's evidence digest (of ``manifest.json`` as found), its files, and every mismatch."""

    run_dir: Path
    digest: str
    files: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """True when every file matches the manifest and every cited exchange is there."""
        return not self.findings


def exchange_key(reference: str) -> str:
    """The bare hash of an exchange reference (``exchanges/<sha>.json``, ``<sha>.json`` or ``<sha>``)."""
    return reference.rsplit("/", 1)[-1].removesuffix(".json")


def check_evidence(run_dir: Path) -> EvidenceCheck:
    """Recompute every hash of a run folder and name each file that does not match.

    Raises:
        InputError: the folder has no readable manifest (nothing to check against).
    """
    root = Path(run_dir)
    path = root / MANIFEST_FILE
    try:
        raw = path.read_bytes()
        manifest: Any = json.loads(raw)
    except FileNotFoundError:
        raise InputError(f"{path}: no manifest; is {root} a complete run folder?") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: the manifest cannot be read ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise InputError(f"{path}: the manifest has no 'files' list")
    files = {
        str(e["path"]): str(e.get("sha256", ""))
        for e in manifest["files"]
        if isinstance(e, dict) and "path" in e
    }
    return EvidenceCheck(root, hashlib.sha256(raw).hexdigest(), files, verify_run_folder(root))


__all__ = ["EvidenceCheck", "canonical", "check_evidence", "exchange_key"]
