"""Running one scenario: fixtures, steps in order, assertions, saved values, results.

A step that fails (or errors) ends the scenario; the steps after it are listed as skipped ("not run").
Every failure gets reproduction lines: ``testbed replay <exchange file>`` and a curl command for the
last request the testbed sent, and the ``testbed run`` command line that reruns the scenario.
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any

from testbed.scenarios import checks_effects as _effects  # noqa: F401 - registers the effect checks
from testbed.scenarios import checks_security as _security  # noqa: F401 - registers the security checks
from testbed.scenarios import security_steps as _security_steps  # noqa: F401 - registers hostile and tls
from testbed.scenarios.checks import CHECKS, CheckContext
from testbed.scenarios.exchange import Exchange
from testbed.scenarios.fixtures import PatientFixture, build_fixtures, scenario_seed
from testbed.scenarios.model import AssertionSpec, Scenario, StepSpec
from testbed.scenarios.results import (
    AssertionResult,
    IssueRecord,
    Result,
    ScenarioResult,
    StepError,
    StepFailure,
    StepResult,
    StepSkipped,
)
from testbed.scenarios.services import Services
from testbed.scenarios.steps import EXECUTORS, send_http
from testbed.scenarios.templating import render
from testbed.scenarios.transport import TransportFailure, now_iso

log = logging.getLogger(__name__)


class _Smart:
    """``{{ smart.token_endpoint }}``: the discovered SMART configuration, discovered on first use."""

    def __init__(self, services: Services) -> None:
        self._services = services

    @property
    def token_endpoint(self) -> str:
        if self._services.tokens is None:
            raise StepSkipped("the system under test asks for no authorization (open mode)")
        return str(self._services.tokens.configuration().token_endpoint)


class ScenarioRuntime:
    """The state of one running scenario (implements the checks' ``Runtime`` protocol)."""

    def __init__(self, scenario: Scenario, services: Services, fixtures: dict[str, PatientFixture]) -> None:
        self.scenario = scenario
        self.services = services
        self.fixtures = fixtures
        self.saved: dict[str, Any] = {}
        self.sent_secrets: list[str] = []
        self.inbound: list[Exchange] = []
        self.inbound_mark: int | None = None
        self.last: Exchange | None = None
        self.step_started = time.monotonic()
        self.audit_wait = services.audit_wait

    # --- templates -------------------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        """The names templates can use."""
        s = self.services
        tokens = s.tokens
        primary = tokens.clients.get("primary") if tokens else None
        other = tokens.clients.get("other") if tokens else None
        sim = s.simulator
        ctx: dict[str, Any] = {
            "base": s.http.base_url if s.http else None,
            "saved": self.saved,
            "national": s.national,
            "run": {"seed": s.seed, "scenario": self.scenario.id},
            "smart": _Smart(s),
            "client": {"id": primary.client_id, "organization_inpe": primary.organization_inpe}
            if primary
            else None,
            "other_client": {"id": other.client_id, "organization_inpe": other.organization_inpe}
            if other
            else None,
            "user": {"inpe": s.user_inpe},
            "roles": s.roles,
            "simulator": {"base": sim.base_url, "mllp": sim.mllp} if sim else None,
            "reply": self.last.reply_json() if self.last else None,
            "inbound": self.last.request_json() if self.last and self.last.direction == "inbound" else None,
            "client_assertion": self.client_assertion,
        }
        ctx.update(self.fixtures)
        return ctx

    def client_assertion(self, client: str = "primary", alg: str | None = None) -> str:
        """A fresh client assertion for the discovered token endpoint (``alg='none'``: unsigned).

        Templates call it as ``{{ client_assertion() }}``.
        """
        from testbed.security.client import make_client_assertion
        from testbed.security.tampering import make_unsigned_assertion

        tokens = self.services.tokens
        if tokens is None:
            raise StepSkipped("the system under test asks for no authorization (open mode)")
        creds = tokens.client(client)
        url = tokens.configuration().token_endpoint
        if alg is not None and alg.lower() == "none":
            value = make_unsigned_assertion(creds.client_id, url)
        else:
            value = make_client_assertion(creds.client_id, url, creds.key, alg=alg)
        self.sent_secrets.append(value)
        return value

    # --- Runtime protocol ------------------------------------------------------------------------

    def evaluate_fhirpath(self, expression: str, resource: Any) -> list[Any]:
        from testbed.fhir.fhirpath import FhirPathError

        try:
            return list(
                self.services.fhirpath.evaluate(
                    expression,
                    resource,
                    type_name=resource.get("resourceType") if isinstance(resource, dict) else None,
                    resource=resource,
                    root_resource=resource,
                )
            )
        except FhirPathError as exc:
            raise StepError(f"FHIRPath {expression!r}: {exc}") from None

    def validate_resource(self, resource: dict[str, Any], profile: str | None) -> list[IssueRecord]:
        return self.services.validate(resource, profile)

    def fetch(
        self, method: str, path: str, *, client: str = "primary", headers: dict[str, str] | None = None
    ) -> Exchange:
        auth = "default" if client == "primary" else {"client": client}
        return send_http(
            self, method, path, headers=headers, params=None, content=None, content_type=None, auth=auth
        )

    def inbound_evidence(self) -> list[Exchange]:
        return list(self.inbound)

    def secrets(self) -> list[str]:
        return list(self.sent_secrets)

    # --- steps -----------------------------------------------------------------------------------

    def run_step(self, step: StepSpec) -> StepResult:
        """Run one step and judge its assertions."""
        result = StepResult(step.index, step.name, step.kind, step.line, requirements=step.requirements)
        where = f"{self.scenario.path}:{step.line}: "
        t0 = time.perf_counter()
        self.step_started = time.monotonic()
        with self.services.sink.collect() as bucket:
            try:
                args = render(dict(step.args), self.context(), where=where)
                subject = EXECUTORS[step.kind](self, args, result)
                if subject is not None:
                    self.last = subject
                for spec in step.expect:
                    result.assertions.append(self._judge(spec, subject, step.kind, where))
                failed = [a for a in result.assertions if a.result is Result.FAIL and not a.warning_only]
                errored = [a for a in result.assertions if a.result is Result.ERROR]
                if errored:
                    result.result = Result.ERROR
                elif failed:
                    result.result = Result.FAIL
                else:
                    self._save(step, subject, where)
            except TransportFailure as exc:
                result.result = Result.FAIL
                result.message = f"no reply from the system under test (level 1, transport): {exc}"
            except StepFailure as exc:
                result.result = Result.FAIL
                result.message = exc.message
            except StepSkipped as exc:
                result.result = Result.SKIP
                result.message = str(exc)
            except StepError as exc:
                result.result = Result.ERROR
                result.message = str(exc)
            except Exception as exc:  # noqa: BLE001 - the testbed broke: an error, never a fail
                log.debug("internal error in %s step %d", self.scenario.id, step.index, exc_info=True)
                result.result = Result.ERROR
                result.message = f"internal testbed error: {type(exc).__name__}: {exc}"
                result.note("debug", "".join(traceback.format_exception_only(type(exc), exc)).strip())
        result.duration_s = time.perf_counter() - t0
        result.exchanges = list(dict.fromkeys(ex.id for ex in bucket))
        if result.result in (Result.FAIL, Result.ERROR):
            result.reproduce = self._reproduce(bucket)
        return result

    def _judge(self, spec: AssertionSpec, subject: Exchange | None, kind: str, where: str) -> AssertionResult:
        res = AssertionResult(
            spec.kind,
            spec.title,
            Result.PASS,
            spec.line,
            requirements=spec.requirements,
            warning_only=spec.warning_only,
        )
        direction = spec.direction or ("request" if kind == "wait_inbound" else "response")
        try:
            args = render(spec.args, self.context(), where=f"{self.scenario.path}:{spec.line}: ")
            if not spec.label:
                res.title = AssertionSpec(spec.kind, args, spec.line).title
            detail = CHECKS[spec.kind](CheckContext(subject, direction, self, kind), args)
            if detail is not None:
                res.message, res.issues, res.exchanges = detail.message, detail.issues, detail.exchanges
        except StepFailure as exc:
            res.result = Result.FAIL
            res.message, res.expected, res.received = exc.message, exc.expected, exc.received
            res.location, res.issues = exc.location, exc.issues
        except TransportFailure as exc:
            res.result = Result.FAIL
            res.message = f"no reply from the system under test: {exc}"
        except StepSkipped:
            raise
        except StepError as exc:
            res.result = Result.ERROR
            res.message = str(exc)
        return res

    def _save(self, step: StepSpec, subject: Exchange | None, where: str) -> None:
        for name, spec in step.save.items():
            if isinstance(spec, dict) and "value" in spec:
                self.saved[name] = render(spec["value"], self.context(), where=where)
                continue
            if subject is None:
                raise StepError(f"{where}save {name}: the step made no exchange to read from")
            spec = {"fhirpath": spec} if isinstance(spec, str) else spec
            direction = spec.get("direction") or ("request" if step.kind == "wait_inbound" else "response")
            if "header" in spec:
                value = subject.header(spec["header"], direction=direction)
                if value is not None and spec.get("pattern"):
                    import re

                    match = re.search(spec["pattern"], value)
                    value = (match.group(1) if match.groups() else match.group(0)) if match else None
                if value is None:
                    raise StepFailure(
                        f"cannot save {name}: the {direction} has no header {spec['header']}"
                        f"{' matching ' + spec['pattern'] if spec.get('pattern') else ''}"
                    )
                self.saved[name] = value
                continue
            body = subject.request_json() if direction == "request" else subject.reply_json()
            if not isinstance(body, dict):
                raise StepFailure(f"cannot save {name}: the {direction} body is not a FHIR resource")
            expression = render(spec["fhirpath"], self.context(), where=where)
            found = self.evaluate_fhirpath(expression, body)
            if not found:
                raise StepFailure(f"cannot save {name}: {expression} gives nothing in the {direction}")
            self.saved[name] = found[0] if len(found) == 1 else found

    def _reproduce(self, bucket: list[Exchange]) -> list[str]:
        outbound = [ex for ex in bucket if ex.direction == "outbound" and ex.protocol == "http"]
        lines = []
        if outbound:
            ex = outbound[-1]
            run_dir = self.services.run_dir
            file = f"{run_dir}/exchanges/{ex.id}.json" if run_dir else None
            if file:
                lines.append(f"testbed replay {file}")
            lines.append(ex.curl(cacert=self.services.ca_file, exchange_file=file))
        return lines


def run_scenario(scenario: Scenario, services: Services) -> ScenarioResult:
    """Run ``scenario`` with ``services`` (omit and skip decisions are the caller's)."""
    started = now_iso()
    t0 = time.perf_counter()
    seed = scenario_seed(services.seed, scenario.id)
    outcome = ScenarioResult(scenario.id, Result.PASS, started=started, seed=str(seed))
    try:
        fixtures = build_fixtures(services.fixtures, scenario.fixtures, seed)
    except StepError as exc:
        outcome.result, outcome.message = Result.ERROR, str(exc)
        outcome.duration_s = time.perf_counter() - t0
        return outcome
    runtime = ScenarioRuntime(scenario, services, fixtures)
    stopped: StepResult | None = None
    for step in scenario.steps:
        if stopped is not None:
            outcome.steps.append(
                StepResult(
                    step.index,
                    step.name,
                    step.kind,
                    step.line,
                    Result.SKIP,
                    message=f"not run: step {stopped.index + 1} {stopped.result.value}ed"
                    if stopped.result is not Result.SKIP
                    else "not run",
                    requirements=step.requirements,
                )
            )
            continue
        result = runtime.run_step(step)
        outcome.steps.append(result)
        if result.result is not Result.PASS:
            stopped = result
    results = [s.result for s in outcome.steps]
    if Result.ERROR in results:
        outcome.result = Result.ERROR
    elif Result.FAIL in results:
        outcome.result = Result.FAIL
    elif stopped is not None and stopped.result is Result.SKIP:
        outcome.result, outcome.message = Result.SKIP, stopped.message
    outcome.duration_s = time.perf_counter() - t0
    return outcome


__all__ = ["ScenarioRuntime", "run_scenario"]
