"""pytest plugin: collects ``*.scenario.yaml`` files as test items and runs them against a target.

Registered with the ``pytest11`` entry point (``testbed.scenarios.plugin``). Each scenario file is one
item pointing at its YAML line. A schema error is a collection error naming the file, line and key.

Outcomes: pass → passed; fail (the system under test is wrong) → failed, with reproduction lines;
error (the testbed could not judge) → error (raised in the setup phase, so pytest and JUnit report it
apart from failures); skip → skipped; omit → skipped with the reason ``omit: …``.

Without ``--target`` the reference SMR is started in-process, as ``testbed run`` does. The run folder
(``--testbed-out``, default ``./testbed-runs/<run-id>``) is written at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.scenarios.model import SUFFIX, Scenario
from testbed.scenarios.results import Result, ScenarioResult

_STATE = pytest.StashKey["_PluginState"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``testbed`` option group."""
    group = parser.getgroup("testbed", "testbed scenarios (*.scenario.yaml)")
    group.addoption(
        "--target", metavar="URL", help="FHIR base URL of the SMR under test (default: embedded SMR)"
    )
    group.addoption("--mllp", metavar="HOST:PORT", help="MLLP address of the system under test")
    group.addoption(
        "--actor",
        action="append",
        default=[],
        metavar="ACTOR",
        help="actor(s) the product implements (repeatable; default SMR or the vendor configuration)",
    )
    group.addoption("--vendor-config", metavar="FILE", help="vendor configuration YAML")
    group.addoption("--client-id", metavar="ID", help="the testbed's client id on the SMR under test")
    group.addoption("--client-key", metavar="FILE", help="its private key (PEM or JWK)")
    group.addoption(
        "--trigger",
        action="append",
        default=[],
        metavar="TRANSACTION=COMMAND",
        help="trigger command template for a transaction (repeatable)",
    )
    group.addoption("--seed", type=int, metavar="N", help="seed of the synthetic patients (default random)")
    group.addoption("--testbed-out", metavar="DIR", help="run folder (default ./testbed-runs/<run-id>)")
    group.addoption(
        "--testbed-open", action="store_true", help="the SMR under test asks for no authorization"
    )


class _PluginState:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.scenarios: list[Scenario] = []
        self.session: Any = None
        self.folder: Path | None = None
        self.digest: str | None = None

    def run_session(self, selected: list[Scenario]) -> Any:
        if self.session is None:
            from testbed.scenarios.session import RunSession

            self.session = RunSession(self._options())
            self.session.prepare(selected or self.scenarios)
        return self.session

    def _options(self) -> Any:
        from testbed.core.errors import UsageError
        from testbed.scenarios.session import RunOptions, shared_validator
        from testbed.scenarios.vendor import load_vendor_config

        opt = self.config.getoption
        triggers = {}
        for item in opt("trigger") or []:
            name, sep, command = str(item).partition("=")
            if not sep or not command:
                raise UsageError(f"--trigger {item!r}: expected TRANSACTION=COMMAND")
            triggers[name.strip()] = command
        vendor_file = opt("vendor_config")
        key = opt("client_key")
        out = opt("testbed_out")
        return RunOptions(
            target=opt("target"),
            mllp=opt("mllp"),
            actors=tuple(opt("actor") or ()),
            vendor=load_vendor_config(Path(vendor_file)) if vendor_file else None,
            client_id=opt("client_id"),
            client_key=Path(key) if key else None,
            triggers=triggers,
            seed=opt("seed"),
            out=Path(out) if out else None,
            open_mode=bool(opt("testbed_open")),
            validator=shared_validator(),
        )


def pytest_configure(config: pytest.Config) -> None:
    """Keep the plugin's state in the config stash."""
    config.stash[_STATE] = _PluginState(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``*.scenario.yaml`` files (a narrow suffix: other YAML is never collected)."""
    if file_path.name.endswith(SUFFIX):
        collector: pytest.Collector = ScenarioFile.from_parent(parent, path=file_path)
        return collector
    return None


class ScenarioFile(pytest.File):
    """One scenario file."""

    def collect(self) -> Iterator[pytest.Item]:
        from testbed.core.errors import TestbedError
        from testbed.scenarios.catalogue import load_catalogue
        from testbed.scenarios.model import load_scenario

        try:
            scenario = load_scenario(self.path, catalogue=load_catalogue())
        except TestbedError as exc:
            raise self.CollectError(
                f"{exc}\nHint: see scenarios/schema/scenario.schema.json and scenarios/README.md"
            ) from None
        self.config.stash[_STATE].scenarios.append(scenario)
        yield ScenarioItem.from_parent(self, name=scenario.id, scenario=scenario)


class ScenarioFailed(AssertionError):
    """The system under test failed the scenario."""


class ScenarioItem(pytest.Item):
    """One scenario, run in the setup phase (so that an *error* is reported as a pytest error)."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.result: ScenarioResult | None = None
        words = [scenario.actor, scenario.transaction or "", *scenario.tags, f"level{scenario.level}"]
        self.extra_keyword_matches.update(w for w in words if w)

    def setup(self) -> None:
        state: _PluginState = self.config.stash[_STATE]
        selected = [i.scenario for i in self.session.items if isinstance(i, ScenarioItem)]
        self.result = state.run_session(selected).run_one(self.scenario)
        if self.result.result is Result.ERROR:
            # a failure of the setup phase is reported by pytest (and JUnit) as an error, not a failure
            pytest.fail(
                f"{self.scenario.location}: {self.scenario.title}\nERROR (the testbed could not judge)\n"
                f"{self.result.failure_text() or self.result.message}",
                pytrace=False,
            )

    def runtest(self) -> None:
        result = self.result
        assert result is not None
        if result.result is Result.FAIL:
            raise ScenarioFailed(result.failure_text())
        if result.result in (Result.SKIP, Result.OMIT):
            pytest.skip(result.message or result.result.value)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            head = f"{self.scenario.location}: {self.scenario.title}"
            return f"{head}\nFAIL (the system under test)\n{excinfo.value}"
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.scenario.line - 1, f"scenario {self.scenario.id}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the run folder and stop the embedded SMR."""
    state: _PluginState | None = session.config.stash.get(_STATE, None)
    if state is None or state.session is None:
        return
    try:
        if state.session.results:
            state.folder, state.digest, _ = state.session.write()
    finally:
        state.session.close()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say where the run folder is, its evidence digest and the seed."""
    state: _PluginState | None = config.stash.get(_STATE, None)
    if state is None or state.folder is None or state.session is None:
        return
    terminalreporter.write_sep("-", "testbed")
    terminalreporter.write_line(f"run folder: {state.folder}")
    terminalreporter.write_line(f"evidence digest: sha256:{state.digest}")
    terminalreporter.write_line(f"seed: {state.session.seed} (rerun with --seed {state.session.seed})")
