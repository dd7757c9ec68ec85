"""The vendor configuration: who is tested, which actors and options, endpoints, credentials, triggers.

A YAML file checked against ``scenarios/schema/vendor-config.schema.json`` when loaded (errors name the
file, the line and the key). File paths in it are relative to its own folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testbed.core.errors import UsageError
from testbed.scenarios._yaml import load_yaml_file
from testbed.scenarios.schema import VENDOR_SCHEMA, require


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """A client the testbed authenticates as on the vendor's SMR."""

    client_id: str
    private_key: Path
    organization_inpe: str | None = None
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class SimulatorClient:
    """The vendor's client as registered with the testbed's simulator."""

    client_id: str | None = None
    jwks: Path | None = None
    organization_inpe: str | None = None
    scopes: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class VendorConfig:
    """A checked vendor configuration (see the module docstring)."""

    vendor: str
    product: str
    version: str
    actors: tuple[str, ...]
    options: tuple[str, ...] = ()
    user_inpe: str | None = None
    fhir: str | None = None
    mllp: str | None = None
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    credentials: ClientConfig | None = None
    other_credentials: ClientConfig | None = None
    simulator: SimulatorClient = field(default_factory=SimulatorClient)
    triggers: dict[str, str] = field(default_factory=dict)
    manual: bool = False
    timeouts: dict[str, float] = field(default_factory=dict)
    path: Path | None = None
    cwd: Path | None = None


def _path(base: Path, value: Any) -> Path | None:
    if value is None:
        return None
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base / p)


def _client(base: Path, data: Any) -> ClientConfig | None:
    if not isinstance(data, dict):
        return None
    key = _path(base, data["private_key"])
    assert key is not None
    scopes = data.get("scopes")
    return ClientConfig(
        str(data["client_id"]),
        key,
        data.get("organization_inpe"),
        tuple(scopes) if scopes is not None else None,
    )


def load_vendor_config(path: Path) -> VendorConfig:
    """Read and check a vendor configuration.

    Raises:
        InputError: the file cannot be read or is not YAML.
        ScenarioSchemaError: it breaks the schema (every problem listed with its line).
        UsageError: a file it names does not exist.
    """
    document = load_yaml_file(path)
    require(document, VENDOR_SCHEMA, source=str(path))
    base = path.resolve().parent
    endpoints = document.get("endpoints") or {}
    tls = document.get("tls") or {}
    sim = document.get("simulator") or {}
    sim_scopes = sim.get("scopes")
    config = VendorConfig(
        vendor=document["vendor"],
        product=document["product"],
        version=str(document["version"]),
        actors=tuple(document["actors"]),
        options=tuple(document.get("options") or ()),
        user_inpe=(document.get("roles") or {}).get("user_inpe"),
        fhir=endpoints.get("fhir"),
        mllp=endpoints.get("mllp"),
        ca_bundle=_path(base, tls.get("ca_bundle")),
        client_cert=_path(base, tls.get("client_cert")),
        client_key=_path(base, tls.get("client_key")),
        credentials=_client(base, document.get("credentials")),
        other_credentials=_client(base, document.get("other_credentials")),
        simulator=SimulatorClient(
            sim.get("client_id"),
            _path(base, sim.get("jwks")),
            sim.get("organization_inpe"),
            tuple(sim_scopes) if sim_scopes is not None else None,
        ),
        triggers=dict(document.get("triggers") or {}),
        manual=bool(document.get("manual", False)),
        timeouts={k: float(v) for k, v in (document.get("timeouts") or {}).items()},
        path=path,
        cwd=_path(base, document.get("cwd")) or base,
    )
    files = [
        ("tls.ca_bundle", config.ca_bundle),
        ("tls.client_cert", config.client_cert),
        ("tls.client_key", config.client_key),
        ("simulator.jwks", config.simulator.jwks),
    ]
    for label, creds in (
        ("credentials", config.credentials),
        ("other_credentials", config.other_credentials),
    ):
        if creds is not None:
            files.append((f"{label}.private_key", creds.private_key))
    missing = [f"{label}: {p}" for label, p in files if p is not None and not p.is_file()]
    if missing:
        raise UsageError(f"{path}: file(s) not found: " + "; ".join(missing))
    return config
