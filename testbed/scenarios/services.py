"""What a scenario needs from its run: the connection to the system under test, credentials, content.

A :class:`Services` object is built once per run by :mod:`testbed.scenarios.session` and shared by every
scenario; tests build one by hand around an ``httpx.MockTransport``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from testbed.scenarios.auth import TokenProvider
from testbed.scenarios.fixtures import FixtureFactory
from testbed.scenarios.inbound import SimulatorLink
from testbed.scenarios.results import IssueRecord
from testbed.scenarios.transport import ExchangeSink, HttpSession
from testbed.scenarios.trigger import TriggerRunner


@dataclass
class SimulatorInfo:
    """The testbed's own SMR as the vendor's client sees it (client actors)."""

    link: SimulatorLink
    base_url: str
    ca_file: str | None = None
    mllp: str | None = None
    client_id: str | None = None
    client_key_file: str | None = None
    organization_inpe: str | None = None


@dataclass
class Services:
    """Shared services of a run (see the module docstring).

    Attributes:
        validator: a :class:`testbed.api.Validator` (national profiles loaded).
        national: the national names (:class:`testbed.national.NationalContent`).
        sink: where every exchange is recorded.
        http: the session with the FHIR base of the system under test (SMR actor), if any.
        tokens: access tokens for ``http``, if the system under test needs them.
        mllp: ``host:port`` of the system under test's MLLP listener, if any.
        simulator: the testbed's SMR for client actors, if started.
        triggers: how to drive the vendor's client.
        user_inpe: the professional on whose behalf the testbed asks (X-User-INPE).
        seed: the run's seed.
        run_dir: where the run folder will be written (for reproduction lines).
        workdir: a scratch folder (trigger files).
        inputs: the names of the inputs this run provides (``target``, ``mllp``, ``other_client`` …).
        sim_http: the session with the testbed's simulator (to prepare data for client actors).
        sim_tokens: tokens of the testbed's own clients on the simulator.
        audit_wait: seconds an AuditEvent may take to appear after the action (a step's audit window).
    """

    validator: Any
    national: Any
    sink: ExchangeSink
    http: HttpSession | None = None
    tokens: TokenProvider | None = None
    mllp: str | None = None
    simulator: SimulatorInfo | None = None
    triggers: TriggerRunner = field(default_factory=lambda: TriggerRunner({}))
    user_inpe: str = ""
    seed: int | str = 0
    run_dir: Path | None = None
    workdir: Path | None = None
    inputs: frozenset[str] = frozenset()
    ca_file: str | None = None
    auth_required: bool = True
    sim_http: HttpSession | None = None
    sim_tokens: TokenProvider | None = None
    audit_wait: float = 3.0
    inbound_timeout: float = 30.0
    roles: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def fixtures(self) -> FixtureFactory:
        """Synthetic patient builder (renderers load on first use)."""
        return FixtureFactory(self.validator.context.registry, self.national)

    @cached_property
    def fhirpath(self) -> Any:
        """A FHIRPath engine for assertions and saved values."""
        from testbed.fhir.fhirpath import FhirPathEngine

        return FhirPathEngine()

    def profile_for(self, resource: dict[str, Any]) -> str | None:
        """The MA profile a resource must conform to: one it names, else the one for its type."""
        canonical = self.national.canonical + "/"
        for url in (resource.get("meta") or {}).get("profile") or []:
            if isinstance(url, str) and url.startswith(canonical):
                return url.split("|")[0]
        rtype = resource.get("resourceType")
        kind = rtype
        if rtype == "Observation":
            codes = {
                c.get("code")
                for cat in resource.get("category") or []
                if isinstance(cat, dict)
                for c in cat.get("coding") or []
                if isinstance(c, dict)
            }
            kind = (
                "ObservationLab"
                if "laboratory" in codes
                else "VitalSigns"
                if "vital-signs" in codes
                else None
            )
        if isinstance(kind, str) and kind in self.national.profiles:
            return str(self.national.profile_url(kind))
        return None

    def validate(self, resource: dict[str, Any], profile: str | None) -> list[IssueRecord]:
        """Validate against ``profile`` (default: :meth:`profile_for`); every issue, as records."""
        chosen = profile or self.profile_for(resource)
        outcome = self.validator.fhir.validate(
            resource,
            profiles=(chosen,) if chosen else (),
            label=str(resource.get("resourceType", "resource")),
        )
        return [
            IssueRecord(i.severity.value, i.code.value, i.location, i.message, i.rule) for i in outcome.issues
        ]

    def close(self) -> None:
        """Close the connections."""
        if self.http is not None:
            self.http.close()
        if self.sim_http is not None and self.sim_http is not self.http:
            self.sim_http.close()
