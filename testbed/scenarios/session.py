"""A run of the scenario suite: what is tested, the services scenarios share, results and the run folder.

With no target, the testbed starts its reference SMR (TLS, authorization on, two fresh client keys
registered for two organizations) and tests it. With a target, it tests the vendor's SMR with the
vendor's credentials. For client actors (Source, Consumer, IdentitySource) it starts its SMR simulator,
registers the vendor's client, drives the client with its trigger commands and judges what arrived.
Used by ``testbed run`` and by the pytest plugin.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from testbed.core.errors import UsageError
from testbed.scenarios.auth import ClientCredentials, TokenProvider
from testbed.scenarios.catalogue import framework_edition, load_catalogue
from testbed.scenarios.embedded import EmbeddedSmr, default_scopes, start_embedded
from testbed.scenarios.evidence import check_out_dir, exchange_index, write_run_folder
from testbed.scenarios.exchange import Exchange
from testbed.scenarios.model import CLIENT_ACTORS, Scenario, suite_digest
from testbed.scenarios.record import build_record
from testbed.scenarios.results import Result, ScenarioResult
from testbed.scenarios.runner import run_scenario
from testbed.scenarios.selection import missing_inputs, omit_reason
from testbed.scenarios.services import Services
from testbed.scenarios.transport import ExchangeSink, HttpSession, TlsSettings, now_iso
from testbed.scenarios.trigger import TriggerRunner
from testbed.scenarios.vendor import VendorConfig


@dataclass
class RunOptions:
    """How to run (every field optional; see ``testbed run --help`` for the command-line names)."""

    target: str | None = None
    mllp: str | None = None
    actors: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    vendor: VendorConfig | None = None
    client_id: str | None = None
    client_key: Path | None = None
    ca_file: Path | None = None
    triggers: dict[str, str] = field(default_factory=dict)
    manual: bool = False
    seed: int | None = None
    out: Path | None = None
    open_mode: bool = False
    faults: frozenset[str] = frozenset()
    smr_db_url: str | None = None
    timeout: float = 30.0
    inbound_timeout: float = 30.0
    trigger_timeout: float = 60.0
    audit_wait: float = 3.0
    announce: Callable[[str], None] | None = None
    command: list[str] | None = None
    validator: Any = None


@lru_cache(maxsize=1)
def shared_validator() -> Any:
    """One :class:`testbed.api.Validator` per process (loading it takes about a second)."""
    from testbed.api import Validator

    return Validator()


def new_run_id() -> str:
    """A run id: UTC time and 6 random hex digits."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


class RunSession:
    """One run (context manager): builds the services on :meth:`prepare`, stops everything on exit."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.run_id = new_run_id()
        self.seed: int = options.seed if options.seed is not None else secrets.randbelow(2**31)
        vendor = options.vendor
        self.actors: tuple[str, ...] = options.actors or (vendor.actors if vendor else ("SMR",))
        self.product_options: tuple[str, ...] = options.options or (vendor.options if vendor else ())
        self.target = options.target or (vendor.fhir if vendor else None)
        self.out = options.out or Path("testbed-runs") / self.run_id
        self.embedded: EmbeddedSmr | None = None
        self.services: Services | None = None
        self.started = now_iso()
        self._t0 = time.perf_counter()
        self._workdir = Path(tempfile.mkdtemp(prefix="testbed-run-"))
        self._pairs: list[tuple[Scenario, ScenarioResult]] = []
        self._step_exchanges: list[tuple[str, int, Exchange]] = []
        self.catalogue = load_catalogue()
        self._registry: Any = None

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- setup -----------------------------------------------------------------------------------

    def prepare(self, scenarios: Sequence[Scenario]) -> Services:
        """Start what the selected scenarios need and build the shared services.

        Raises:
            UsageError: a needed input is missing (credentials for a vendor SMR, a bad option).
        """
        if self.services is not None:
            return self.services
        opts, vendor = self.options, self.options.vendor
        check_out_dir(self.out)
        validator = opts.validator if opts.validator is not None else shared_validator()
        from testbed.national import NationalContent

        self._registry = validator.context.registry
        national = NationalContent.from_registry(self._registry)
        applicable = [s for s in scenarios if omit_reason(s, self.actors, self.product_options) is None]
        need_smr = any(s.actor == "SMR" for s in applicable)
        need_sim = any(s.actor in CLIENT_ACTORS for s in applicable)
        if (need_smr and self.target is None) or need_sim:
            self.embedded = start_embedded(
                validator=validator,
                national=national,
                seed=self.seed,
                workdir=self._workdir,
                open_mode=opts.open_mode,
                faults=opts.faults,
                vendor=vendor if need_sim else None,
                db_url=opts.smr_db_url,
            )
        sink = ExchangeSink()
        http, tokens, ca = None, None, None
        if need_smr:
            http, tokens, ca = self._sut_connection(sink, national)
        sim = sim_http = sim_tokens = None
        if need_sim and self.embedded is not None:
            sim = self.embedded.simulator_info()
            if http is not None and self.target is None:
                sim_http, sim_tokens = http, tokens
            else:
                sim_http = HttpSession(
                    self.embedded.base_url,
                    tls=TlsSettings(ca_file=self.embedded.ca_file),
                    sink=sink,
                    timeout=opts.timeout,
                )
                sim_tokens = None if opts.open_mode else TokenProvider(sim_http, self.embedded.credentials)
        trig_timeout = (vendor.timeouts.get("trigger") if vendor else None) or opts.trigger_timeout
        triggers = TriggerRunner(
            {**(vendor.triggers if vendor else {}), **opts.triggers},
            manual=opts.manual or bool(vendor and vendor.manual),
            timeout=trig_timeout,
            cwd=vendor.cwd if vendor else None,
            announce=opts.announce,
        )
        inputs = {"target"} if http else set()
        if self.options.mllp or (vendor and vendor.mllp) or (self.embedded and self.target is None):
            inputs.add("mllp")
        if tokens is not None:
            inputs.add("credentials")
            if "other" in tokens.clients:
                inputs.add("other_client")
        if triggers.available:
            inputs.add("trigger")
        if sim is not None:
            inputs.add("simulator")
        mllp = opts.mllp or (vendor.mllp if vendor else None)
        if mllp is None and self.target is None and self.embedded is not None:
            mllp = self.embedded.mllp
        self.services = Services(
            validator=validator,
            national=national,
            sink=sink,
            http=http,
            tokens=tokens,
            mllp=mllp,
            simulator=sim,
            triggers=triggers,
            user_inpe=(vendor.user_inpe if vendor and vendor.user_inpe else self._user_inpe()),
            seed=self.seed,
            run_dir=self.out,
            workdir=self._workdir,
            inputs=frozenset(inputs),
            ca_file=str(ca) if ca else None,
            auth_required=tokens is not None,
            sim_http=sim_http,
            sim_tokens=sim_tokens,
            audit_wait=self._audit_wait(),
            inbound_timeout=(vendor.timeouts.get("inbound") if vendor else None) or opts.inbound_timeout,
        )
        return self.services

    def _audit_wait(self) -> float:
        # the reference SMR commits an AuditEvent with the request it records: no need to wait long
        vendor = self.options.vendor
        configured = vendor.timeouts.get("audit") if vendor else None
        if configured:
            return configured
        return self.options.audit_wait if self.target is not None else min(self.options.audit_wait, 0.3)

    def _user_inpe(self) -> str:
        return f"{200000000 + self.seed % 700000000:09d}"

    def _sut_connection(
        self, sink: ExchangeSink, national: Any
    ) -> tuple[HttpSession, TokenProvider | None, Path | None]:
        opts, vendor = self.options, self.options.vendor
        if self.target is None:
            assert self.embedded is not None
            tls = TlsSettings(ca_file=self.embedded.ca_file)
            http = HttpSession(self.embedded.base_url, tls=tls, sink=sink, timeout=opts.timeout)
            tokens = None if opts.open_mode else TokenProvider(http, self.embedded.credentials)
            if tokens is not None:
                from testbed.scenarios.security_steps import reference_token_minters

                tokens.minters.update(reference_token_minters(self.embedded.running.issuer))
            return http, tokens, self.embedded.ca_file
        ca = opts.ca_file or (vendor.ca_bundle if vendor else None)
        tls = TlsSettings(
            ca_file=ca,
            client_cert=vendor.client_cert if vendor else None,
            client_key=vendor.client_key if vendor else None,
        )
        timeout = (vendor.timeouts.get("request") if vendor else None) or opts.timeout
        http = HttpSession(self.target, tls=tls, sink=sink, timeout=timeout)
        clients = self._vendor_clients(national)
        if not clients and not opts.open_mode:
            raise UsageError(
                "testing an SMR needs the testbed's client credentials: give --client-id and "
                "--client-key, or 'credentials' in the vendor configuration (or --open for an "
                "SMR without authorization)"
            )
        return http, (TokenProvider(http, clients) if clients else None), ca

    def _vendor_clients(self, national: Any) -> dict[str, ClientCredentials]:
        from testbed.security.keys import load_private_key

        opts, vendor = self.options, self.options.vendor
        clients: dict[str, ClientCredentials] = {}
        base = vendor.credentials if vendor else None
        client_id = opts.client_id or (base.client_id if base else None)
        key_file = opts.client_key or (base.private_key if base else None)
        if client_id and key_file:
            scopes = (base.scopes if base and base.scopes else None) or default_scopes(
                self._registry, national
            )
            clients["primary"] = ClientCredentials(
                client_id,
                load_private_key(key_file),
                (base.organization_inpe if base else None) or "",
                tuple(scopes),
            )
        elif client_id or key_file:
            raise UsageError("--client-id and --client-key go together")
        other = vendor.other_credentials if vendor else None
        if other is not None and clients:
            clients["other"] = ClientCredentials(
                other.client_id,
                load_private_key(other.private_key),
                other.organization_inpe or "",
                tuple(other.scopes or default_scopes(self._registry, national)),
            )
        return clients

    # --- running ---------------------------------------------------------------------------------

    def run_one(self, scenario: Scenario) -> ScenarioResult:
        """Run one scenario (or decide it is omitted or skipped) and keep its result."""
        services = self.prepare([scenario])
        reason = omit_reason(scenario, self.actors, self.product_options)
        if reason is not None:
            result = ScenarioResult(scenario.id, Result.OMIT, message=reason, started=now_iso())
        else:
            missing = missing_inputs(scenario, services.inputs)
            if missing:
                result = ScenarioResult(
                    scenario.id,
                    Result.SKIP,
                    started=now_iso(),
                    message=f"Missing the following required inputs: {', '.join(missing)}",
                )
            else:
                result = run_scenario(scenario, services)
        self._pairs.append((scenario, result))
        by_id = {ex.id: ex for ex in services.sink.all}
        for step in result.steps:
            for ex_id in step.exchanges:
                if ex_id in by_id:
                    self._step_exchanges.append((scenario.id, step.index, by_id[ex_id]))
        return result

    def run(
        self,
        scenarios: Sequence[Scenario],
        progress: Callable[[Scenario, ScenarioResult], None] | None = None,
    ) -> list[tuple[Scenario, ScenarioResult]]:
        """Run scenarios in order; ``progress`` is called after each."""
        self.prepare(scenarios)
        for scenario in scenarios:
            result = self.run_one(scenario)
            if progress is not None:
                progress(scenario, result)
        return list(self._pairs)

    @property
    def results(self) -> list[tuple[Scenario, ScenarioResult]]:
        """Every (scenario, result) so far, in run order."""
        return list(self._pairs)

    # --- record ----------------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """The run record of what ran so far."""
        from testbed import __version__
        from testbed.core.settings import PROJECT_ROOT

        services = self.services
        vendor = self.options.vendor
        registry_versions = services.validator.context.registry.versions() if services else {}
        embedded = self.target is None
        sut = {
            "vendor": vendor.vendor if vendor else ("testbed" if embedded else None),
            "product": vendor.product if vendor else ("reference SMR (embedded)" if embedded else None),
            "version": vendor.version if vendor else (__version__ if embedded else None),
            "actors": list(self.actors),
            "options": list(self.product_options),
            "embedded": embedded,
            "fhir": services.http.base_url if services and services.http else None,
            "mllp": services.mllp if services else None,
            "auth": bool(services and services.auth_required),
        }
        simulator = None
        if services and services.simulator:
            sim = services.simulator
            simulator = {"fhir": sim.base_url, "mllp": sim.mllp, "client_id": sim.client_id}
        versions = {
            "testbed": __version__,
            "framework_edition": framework_edition(),
            "content": dict(registry_versions),
            "suite": {"digest": suite_digest([s for s, _ in self._pairs]), "scenarios": len(self._pairs)},
        }
        return build_record(
            run_id=self.run_id,
            started=self.started,
            finished=now_iso(),
            duration_s=time.perf_counter() - self._t0,
            seed=self.seed,
            sut=sut,
            simulator=simulator,
            versions=versions,
            pairs=self._pairs,
            catalogue=self.catalogue,
            actors=self.actors,
            exchanges=exchange_index(self._step_exchanges),
            root=str(PROJECT_ROOT),
            command=self.options.command,
        )

    def write(self) -> tuple[Path, str, dict[str, Any]]:
        """Write the run folder; returns (folder, evidence digest, record)."""
        record = self.record()
        folder = check_out_dir(self.out)
        digest = write_run_folder(folder, record, [ex for _, _, ex in self._step_exchanges])
        return folder, digest, record

    def close(self) -> None:
        """Stop the embedded SMR, close connections, remove the scratch folder."""
        if self.services is not None:
            self.services.close()
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None
        shutil.rmtree(self._workdir, ignore_errors=True)
