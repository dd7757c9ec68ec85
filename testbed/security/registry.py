"""Registered backend clients: client id, public JWKS, organization INPE and pre-authorized scopes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from testbed.core.errors import InputError, UsageError
from testbed.security.keys import PrivateJwk, public_jwks
from testbed.security.scopes import parse_scope

_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


@dataclass(frozen=True)
class ClientRegistration:
    """One backend client registered with the SMR (SMART Backend Services registration).

    Args:
        client_id: the OAuth client id (the ``iss`` and ``sub`` of its assertions).
        jwks: the client's public JWK Set (``{"keys": [...]}``); private members are refused.
        organization_inpe: the INPE of the client's organization (spec §5 "Who is asking").
        scopes: the pre-authorized SMART v1 system scopes.
        name: a display name.

    Raises:
        InputError: an empty client id, a JWKS that cannot be used, or a scope that is not
            ``system/<Type>.read|write|*``.
    """

    client_id: str
    jwks: dict[str, Any]
    organization_inpe: str
    scopes: frozenset[str]
    name: str = ""
    keyset: KeySet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"client {self.client_id!r}"
        if not isinstance(self.client_id, str) or not self.client_id.strip():
            raise InputError("a client registration needs a non-empty client_id")
        keys = self.jwks.get("keys") if isinstance(self.jwks, Mapping) else None
        if not isinstance(keys, list) or not keys:
            raise InputError(f'{where}: jwks must be a JWK Set {{"keys": [...]}} with at least one key')
        for i, key in enumerate(keys):
            if not isinstance(key, Mapping) or "kty" not in key:
                raise InputError(f"{where}: jwks.keys[{i}] is not a JWK (no 'kty')")
            leaked = [m for m in _PRIVATE_MEMBERS if m in key]
            if leaked:
                raise InputError(
                    f"{where}: jwks.keys[{i}] holds private members {leaked}; register the PUBLIC key only"
                )
        try:
            keyset = KeySet.import_key_set(dict(self.jwks))  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError) as exc:
            raise InputError(f"{where}: jwks cannot be imported ({exc})") from None
        bad = sorted(s for s in self.scopes if parse_scope(s) is None)
        if bad:
            raise InputError(f"{where}: scopes {bad} are not SMART v1 system/<Type>.read|write|* scopes")
        object.__setattr__(self, "scopes", frozenset(self.scopes))
        object.__setattr__(self, "keyset", keyset)

    @classmethod
    def from_key(
        cls,
        client_id: str,
        key: PrivateJwk | Iterable[PrivateJwk],
        organization_inpe: str,
        scopes: Iterable[str],
        name: str = "",
    ) -> ClientRegistration:
        """Register a client from its key pair(s); only the public JWKS is kept."""
        return cls(client_id, public_jwks(key), organization_inpe, frozenset(scopes), name)

    def to_dict(self) -> dict[str, Any]:
        """The registration as it is written in a registry file (JWKS inline)."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "organization_inpe": self.organization_inpe,
            "scopes": sorted(self.scopes),
            "jwks": self.jwks,
        }


class ClientRegistry:
    """The set of registered clients, by client id (thread-safe)."""

    def __init__(self, clients: Iterable[ClientRegistration] = ()) -> None:
        self._clients: dict[str, ClientRegistration] = {}
        self._lock = threading.Lock()
        for client in clients:
            self.add(client)

    def add(self, client: ClientRegistration, *, replace: bool = False) -> None:
        """Register a client.

        Raises:
            UsageError: the client id is already registered and ``replace`` is false.
        """
        with self._lock:
            if client.client_id in self._clients and not replace:
                raise UsageError(f"client {client.client_id!r} is already registered")
            self._clients[client.client_id] = client

    def remove(self, client_id: str) -> None:
        """Unregister a client; its tokens stop working at once."""
        with self._lock:
            self._clients.pop(client_id, None)

    def get(self, client_id: str) -> ClientRegistration | None:
        """The registration of ``client_id``, or None."""
        return self._clients.get(client_id)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def __iter__(self) -> Iterator[ClientRegistration]:
        return iter(list(self._clients.values()))

    def __len__(self) -> int:
        return len(self._clients)

    def all_scopes(self) -> frozenset[str]:
        """The union of every registered client's scopes."""
        return frozenset(s for c in self for s in c.scopes)

    def to_dict(self) -> dict[str, Any]:
        """The registry as a file body (``{"clients": [...]}``)."""
        return {"clients": [c.to_dict() for c in sorted(self, key=lambda c: c.client_id)]}

    @classmethod
    def load(cls, path: str | Path) -> ClientRegistry:
        """Load a registry file (YAML or JSON).

        The file holds ``clients:``, a list of objects with ``client_id``, ``organization_inpe``,
        ``scopes`` (a list or a space-delimited string), an optional ``name``, and either ``jwks``
        inline or ``jwks_file`` (a path relative to the registry file).

        Raises:
            InputError: the file cannot be read or an entry is wrong (the message names the entry).
        """
        source = Path(path)
        try:
            body = yaml.safe_load(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{source}: cannot read the client registry ({exc.strerror or exc})") from None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: not valid YAML/JSON ({exc})") from None
        if not isinstance(body, dict) or not isinstance(body.get("clients"), list):
            raise InputError(f"{source}: expected an object with a 'clients' list")
        registry = cls()
        for i, entry in enumerate(body["clients"]):
            where = f"{source}: clients[{i}]"
            try:
                registry.add(_registration_from_entry(entry, source.parent, where))
            except (InputError, UsageError) as exc:
                message = str(exc)
                raise InputError(message if message.startswith(where) else f"{where}: {message}") from None
        return registry


def _registration_from_entry(entry: Any, folder: Path, where: str) -> ClientRegistration:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: expected an object")
    missing = [k for k in ("client_id", "organization_inpe", "scopes") if not entry.get(k)]
    if missing:
        raise InputError(f"{where}: missing {missing}")
    if ("jwks" in entry) == ("jwks_file" in entry):
        raise InputError(f"{where}: give exactly one of 'jwks' (inline) or 'jwks_file'")
    jwks = entry.get("jwks")
    if "jwks_file" in entry:
        jwks_path = folder / str(entry["jwks_file"])
        try:
            jwks = json.loads(jwks_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{where}: cannot read jwks_file {jwks_path} ({exc.strerror or exc})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: jwks_file {jwks_path} is not JSON ({exc})") from None
    scopes = entry["scopes"]
    if isinstance(scopes, str):
        scopes = scopes.split()
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise InputError(f"{where}: scopes must be a list of strings or a space-delimited string")
    if not isinstance(jwks, dict):
        raise InputError(f"{where}: jwks must be a JSON object")
    return ClientRegistration(
        client_id=str(entry["client_id"]),
        jwks=jwks,
        organization_inpe=str(entry["organization_inpe"]),
        scopes=frozenset(scopes),
        name=str(entry.get("name") or ""),
    )
