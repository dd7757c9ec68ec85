"""The certifying agency's public material: its JWKS, revocation list and framework editions (spec §1, §9).

Read from the agency folder under ``profiles/`` (``agency.yaml`` names the other files). The testbed
edition ships a demonstration agency whose private key is public; :attr:`Agency.demonstration` says so
and every certificate and report signed with it says so too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from testbed.core.errors import InputError
from testbed.reporting._paths import AGENCY_FILE, agency_dir


@dataclass(frozen=True, slots=True)
class Revocation:
    """One revoked certificate."""

    id: str
    date: str
    reason: str


@dataclass(frozen=True, slots=True)
class Edition:
    """One framework edition and its status (``in-force``, ``superseded``, ``draft``)."""

    edition: str
    status: str
    title: str = ""
    superseded: str = ""


@dataclass(frozen=True, slots=True)
class Agency:
    """What the testbed knows of the certifying agency."""

    issuer: str
    certificate_id_prefix: str
    validity_months: int
    demonstration: bool
    jwks: dict[str, Any]
    revocations: Mapping[str, Revocation] = field(default_factory=dict)
    editions: Mapping[str, Edition] = field(default_factory=dict)
    in_force: str = ""
    folder: Path | None = None

    @classmethod
    def load(cls, folder: Path | None = None) -> Agency:
        """Read the agency folder (default: the one under ``profiles/``).

        Raises:
            InputError: a file is missing or malformed (names the file and the key).
        """
        folder = Path(folder) if folder is not None else agency_dir()
        settings = _yaml(folder / AGENCY_FILE)
        jwks = _json(folder / str(settings.get("jwks", "jwks.json")))
        try:
            KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{folder / 'jwks.json'}: not a usable JWK Set ({exc})") from None
        revocations = _revocations(folder / str(settings.get("revocations", "revocations.json")))
        editions_data = _yaml(folder / str(settings.get("editions", "editions.yaml")))
        editions = {
            str(e["edition"]): Edition(
                str(e["edition"]),
                str(e.get("status", "")),
                str(e.get("title", "")),
                str(e.get("superseded", "")),
            )
            for e in editions_data.get("editions") or []
            if isinstance(e, Mapping) and "edition" in e
        }
        months = settings.get("validity_months", 24)
        if not isinstance(months, int) or isinstance(months, bool) or months < 1:
            raise InputError(f"{folder / AGENCY_FILE}: validity_months must be a positive integer")
        return cls(
            issuer=str(settings.get("issuer", "")),
            certificate_id_prefix=str(settings.get("certificate_id_prefix", "CERT")),
            validity_months=months,
            demonstration=bool(settings.get("demonstration", False)),
            jwks={k: v for k, v in jwks.items() if k == "keys"},
            revocations=revocations,
            editions=editions,
            in_force=str(editions_data.get("in_force", "")),
            folder=folder,
        )

    def key_set(self) -> KeySet:
        """The agency's public keys."""
        return KeySet.import_key_set(self.jwks)  # type: ignore[arg-type]

    def edition_status(self, edition: str) -> str:
        """``in-force``, ``superseded`` (a newer edition is in force) or ``unknown``."""
        if edition and edition == self.in_force:
            return "in-force"
        known = self.editions.get(edition)
        if known is None:
            return "unknown"
        return known.status if known.status not in ("", "in-force") else "superseded"


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the agency file ({exc.strerror or exc})") from None


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(_read(path))
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a YAML mapping")
    return data


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(_read(path))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def _revocations(path: Path) -> dict[str, Revocation]:
    data = _json(path)
    entries = data.get("revoked") or []
    if not isinstance(entries, list):
        raise InputError(f"{path}: 'revoked' must be a list")
    out = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            raise InputError(f"{path}: revoked[{i}] needs an 'id'")
        out[entry["id"]] = Revocation(
            entry["id"], str(entry.get("revoked", "")), str(entry.get("reason", ""))
        )
    return out


__all__ = ["Agency", "Edition", "Revocation"]
