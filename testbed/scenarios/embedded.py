"""The testbed's own SMR for a run: the default system under test, and the SMR clients talk to.

Started in-process (TLS with the testbed's local CA, authorization on unless ``--open``) with two fresh
client keys registered for two organizations (the second one is "another organization" for the
consent scenarios), and, for client actors, the vendor's client (its public JWKS from the vendor
configuration, or a key generated for the run and handed to the trigger command as ``{client_key}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.scenarios.auth import ClientCredentials
from testbed.scenarios.inbound import SimulatorLink
from testbed.scenarios.services import SimulatorInfo
from testbed.scenarios.vendor import VendorConfig

PRIMARY_CLIENT = "testbed-primary"
OTHER_CLIENT = "testbed-other-organization"
VENDOR_CLIENT = "vendor-client"


def default_scopes(registry: Any, national: Any) -> list[str]:
    """``system/<Type>.read`` and ``.write`` for every resource type of the national CapabilityStatement."""
    types: list[str] = []
    for cs in registry.iter_resources("CapabilityStatement"):
        if not str(cs.get("url", "")).startswith(national.canonical):
            continue
        for rest in cs.get("rest") or []:
            for res in rest.get("resource") or []:
                if isinstance(res.get("type"), str) and res["type"] not in types:
                    types.append(res["type"])
    return [f"system/{t}.{mode}" for t in types for mode in ("read", "write")]


def _inpe(seed: int, n: int) -> str:
    return f"{100000000 + (seed * 7 + n * 104729) % 800000000:09d}"


@dataclass
class EmbeddedSmr:
    """A running reference SMR and the credentials registered on it."""

    running: Any
    credentials: dict[str, ClientCredentials]
    vendor_client_id: str | None = None
    vendor_key_file: Path | None = None
    vendor_inpe: str | None = None

    @property
    def base_url(self) -> str:
        return str(self.running.base_url)

    @property
    def ca_file(self) -> Path | None:
        ca = getattr(self.running, "ca_file", None)
        return Path(ca) if ca else None

    @property
    def mllp(self) -> str | None:
        address = getattr(self.running, "mllp_address", None)
        if not address:
            return None
        if isinstance(address, tuple):
            return f"{address[0]}:{address[1]}"
        return str(address)

    def simulator_info(self) -> SimulatorInfo:
        """The simulator as the vendor's client sees it."""
        return SimulatorInfo(
            link=SimulatorLink(self.running.evidence, self.base_url),
            base_url=self.base_url,
            ca_file=str(self.ca_file) if self.ca_file else None,
            mllp=self.mllp,
            client_id=self.vendor_client_id,
            client_key_file=str(self.vendor_key_file) if self.vendor_key_file else None,
            organization_inpe=self.vendor_inpe,
        )

    def stop(self) -> None:
        self.running.stop()


def start_embedded(
    *,
    validator: Any,
    national: Any,
    seed: int,
    workdir: Path,
    open_mode: bool = False,
    faults: frozenset[str] = frozenset(),
    vendor: VendorConfig | None = None,
    db_url: str | None = None,
) -> EmbeddedSmr:
    """Start the reference SMR with the testbed's clients (and the vendor's client, when given)."""
    from testbed.security.keys import generate_client_key, load_private_key, save_private_key
    from testbed.security.registry import ClientRegistration
    from testbed.simulator import start_smr

    scopes = default_scopes(validator.context.registry, national)
    creds: dict[str, ClientCredentials] = {}
    registrations = []
    for name, client_id, n in (("primary", PRIMARY_CLIENT, 1), ("other", OTHER_CLIENT, 2)):
        key = generate_client_key("ES384")
        inpe = _inpe(seed, n)
        creds[name] = ClientCredentials(client_id, key, inpe, tuple(scopes))
        registrations.append(
            ClientRegistration.from_key(client_id, key, inpe, scopes, name=f"testbed {name}")
        )
    vendor_id = vendor_file = vendor_inpe = None
    if vendor is not None:
        sim = vendor.simulator
        vendor_id = sim.client_id or VENDOR_CLIENT
        vendor_inpe = sim.organization_inpe or _inpe(seed, 3)
        vendor_scopes = list(sim.scopes or scopes)
        if sim.jwks is not None:
            jwks = json.loads(sim.jwks.read_text(encoding="utf-8"))
            registrations.append(
                ClientRegistration(
                    vendor_id,
                    jwks,
                    vendor_inpe,
                    frozenset(vendor_scopes),
                    name=f"{vendor.product} (vendor client)",
                )
            )
        else:
            key = generate_client_key("ES384")
            vendor_file = save_private_key(key, workdir / "vendor-client-key.json")
            registrations.append(
                ClientRegistration.from_key(
                    vendor_id, key, vendor_inpe, vendor_scopes, name=f"{vendor.product} (vendor client)"
                )
            )
            load_private_key(vendor_file)  # proves the written key reads back before a client needs it
    running = start_smr(
        data_dir=workdir / "smr",
        tls=True,
        mllp_port=0,
        open_mode=open_mode,
        clients=tuple(registrations),
        faults=frozenset(faults),
        validator=validator,
        db_url=db_url,
    )
    return EmbeddedSmr(running, creds, vendor_id, vendor_file, vendor_inpe)
