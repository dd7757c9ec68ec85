"""``testbed run`` (the scenario suite) and ``testbed replay`` (one recorded exchange again)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from testbed.core.errors import TestbedError, UsageError

ACTORS = ("SMR", "Source", "Consumer", "IdentitySource")


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _triggers(items: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for item in items:
        name, sep, command = item.partition("=")
        if not sep or not command.strip():
            raise click.UsageError(f"--trigger {item!r}: expected TRANSACTION=COMMAND")
        found[name.strip()] = command
    return found


def _expected(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"--expect {path}: cannot read ({exc})") from None
    if isinstance(data, dict) and data.get("format") == "testbed-run/1":
        return {s["id"]: s["result"] for s in data.get("scenarios") or []}
    if isinstance(data, dict) and isinstance(data.get("results"), dict):
        data = data["results"]
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise click.UsageError(f"--expect {path}: expected a run.json or a mapping scenario id -> result")
    return {str(k): str(v) for k, v in data.items()}


def compare(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Every difference between an expected result set and this run's, one line each."""
    lines = []
    for sid in sorted(set(expected) | set(actual)):
        if sid not in actual:
            lines.append(f"{sid}: expected {expected[sid]}, not run")
        elif sid not in expected:
            lines.append(f"{sid}: {actual[sid]}, not in the expected results")
        elif expected[sid] != actual[sid]:
            lines.append(f"{sid}: expected {expected[sid]}, got {actual[sid]}")
    return lines


_STYLE = {"pass": "green", "fail": "red", "error": "magenta", "skip": "yellow", "omit": "dim"}


@click.command("run")
@click.option(
    "--target", metavar="URL", help="FHIR base URL of the SMR under test (default: the embedded SMR)."
)
@click.option("--mllp", metavar="HOST:PORT", help="MLLP listener of the system under test.")
@click.option(
    "--actor",
    "actors",
    multiple=True,
    type=click.Choice(ACTORS),
    help="Actor(s) the product implements (repeatable; default: the vendor configuration, else SMR).",
)
@click.option(
    "--option", "options", multiple=True, metavar="TAG", help="Capability option claimed (repeatable)."
)
@click.option(
    "--vendor-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Vendor configuration YAML (see scenarios/schema/vendor-config.schema.json).",
)
@click.option("--client-id", metavar="ID", help="The testbed's client id registered on the SMR under test.")
@click.option(
    "--client-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Its private key (PEM or JWK JSON).",
)
@click.option(
    "--ca",
    "ca_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA bundle that signed the target's certificate.",
)
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default ./testbed-runs/<run-id>).")
@click.option(
    "--scenario", "scenario_ids", multiple=True, metavar="ID", help="Run only this scenario (repeatable)."
)
@click.option(
    "-k", "keyword", metavar="EXPR", help="Run scenarios matching a keyword expression (and/or/not)."
)
@click.option(
    "--rerun-failed",
    type=click.Path(exists=True, path_type=Path),
    metavar="RUN_DIR",
    help="Run again the scenarios that failed or errored in a previous run.",
)
@click.option(
    "--expect",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="RESULTS.json",
    help="Compare with a stored result set (a run.json or {id: result}); any change fails the run.",
)
@click.option("--seed", type=int, help="Seed of the synthetic patients (default: random, recorded).")
@click.option("--open", "open_mode", is_flag=True, help="The SMR under test asks for no authorization.")
@click.option(
    "--smr-db",
    metavar="URL",
    help="Database of the embedded reference SMR (default: SQLite in the run's work folder), "
    "e.g. postgresql+psycopg://user:password@127.0.0.1/testbed.",
)
@click.option("--manual", is_flag=True, help="Without a trigger command, wait for a person to act.")
@click.option(
    "--trigger",
    "triggers",
    multiple=True,
    metavar="TRANSACTION=COMMAND",
    help="Trigger command template for a transaction (repeatable).",
)
@click.option(
    "--scenarios",
    "scenario_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Scenario files or folders (default: the shipped suite).",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="NAME",
    hidden=True,
    help="Start the embedded SMR with a deliberate defect (to prove the suite fails it).",
)
def run_command(**kw: Any) -> None:
    r"""Run the scenario suite against an SMR, or drive a client product and judge what it sends.

    With no --target the embedded reference SMR is started (TLS, authorization on) and tested.

    Exit status: 0 every required scenario passed; 1 a required scenario failed (or, with --expect,
    a result changed); 2 usage error; 3 the testbed could not judge (error).

    \b
    Examples:
      testbed run
      testbed run --target https://smr.example/fhir --client-id tb --client-key tb.jwk
      testbed run --vendor-config vendor.yaml -k "t1 and not reject"
      testbed run --rerun-failed testbed-runs/20250101T000000Z-abc123
    """
    try:
        code = _run(**kw)
    except click.UsageError:
        raise
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except TestbedError as exc:
        _console(stderr=True).print(f"[magenta]error:[/] {exc}")
        code = 3
    sys.exit(code)


def _run(**kw: Any) -> int:
    from testbed.scenarios.catalogue import load_catalogue
    from testbed.scenarios.evidence import load_run_record
    from testbed.scenarios.model import load_suite
    from testbed.scenarios.record import results_map
    from testbed.scenarios.schema import content_dir
    from testbed.scenarios.selection import select
    from testbed.scenarios.session import RunOptions, RunSession
    from testbed.scenarios.vendor import load_vendor_config

    console = _console()
    vendor = load_vendor_config(kw["vendor_config"]) if kw["vendor_config"] else None
    suite = load_suite(list(kw["scenario_dirs"]) or [content_dir()], catalogue=load_catalogue())
    ids = list(kw["scenario_ids"])
    if kw["rerun_failed"]:
        previous = load_run_record(kw["rerun_failed"])
        failed = [s["id"] for s in previous["scenarios"] if s["result"] in ("fail", "error")]
        if not failed:
            console.print(f"nothing to rerun: no scenario failed in {kw['rerun_failed']}")
            return 0
        known = {s.id for s in suite}
        ids.extend(i for i in failed if i in known)
    chosen = select(suite, ids=ids, keyword=kw["keyword"])
    options = RunOptions(
        target=kw["target"],
        mllp=kw["mllp"],
        actors=tuple(kw["actors"]),
        options=tuple(kw["options"]),
        vendor=vendor,
        client_id=kw["client_id"],
        client_key=kw["client_key"],
        ca_file=kw["ca_file"],
        triggers=_triggers(kw["triggers"]),
        manual=kw["manual"],
        seed=kw["seed"],
        out=kw["out"],
        open_mode=kw["open_mode"],
        faults=frozenset(kw["faults"]),
        smr_db_url=kw["smr_db"],
        announce=lambda text: console.print(f"[bold yellow]Action needed:[/] {text}"),
        command=["testbed", "run", *sys.argv[2:]] if len(sys.argv) > 1 else None,
    )
    with RunSession(options) as session:
        _progress(console, session, chosen)
        folder, digest, record = session.write()
    _summary(console, record)
    console.print(f"run folder: {folder}")
    console.print(f"evidence digest: sha256:{digest}")
    console.print(f"seed: {record['seed']} (rerun with --seed {record['seed']})")
    if kw["expect"]:
        changes = compare(_expected(kw["expect"]), results_map(record))
        if changes:
            console.print(f"[red]{len(changes)} result(s) differ from {kw['expect']}:[/]")
            for line in changes:
                console.print(f"  {line}")
            return 1
        console.print(f"[green]results match {kw['expect']}[/]")
        return 0
    return int(record["summary"]["exit_code"])


def _progress(console: Any, session: Any, chosen: list[Any]) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=len(chosen))
        session.prepare(chosen)
        for scenario in chosen:
            progress.update(task, description=scenario.id)
            result = session.run_one(scenario)
            if result.result.value in ("fail", "error"):
                progress.console.print(
                    f"[{_STYLE[result.result.value]}]{result.result.value.upper()}[/] "
                    f"{scenario.id} ({scenario.location})"
                )
            progress.advance(task)


def _summary(console: Any, record: dict[str, Any]) -> None:
    from rich.table import Table

    summary = record["summary"]
    table = Table(title=f"testbed run {record['run_id']}", show_edge=False)
    for name in ("total", "pass", "fail", "error", "skip", "omit"):
        table.add_column(name, justify="right", style=_STYLE.get(name, ""))
    table.add_row(*(str(summary[n]) for n in ("total", "pass", "fail", "error", "skip", "omit")))
    console.print(table)
    for s in record["scenarios"]:
        if s["result"] not in ("fail", "error"):
            continue
        why = s["message"] or next(
            (
                st.get("message") or _first_failed(st)
                for st in s["steps"]
                if st["result"] in ("fail", "error")
            ),
            "",
        )
        console.print(f"[{_STYLE[s['result']]}]{s['result'].upper()}[/] {s['id']}  ({s['file']}:{s['line']})")
        for line in (why or "").splitlines()[:6]:
            console.print(f"    {line}", markup=False)
        for line in s["reproduce"][:1]:
            console.print(f"    reproduce: {line}", markup=False)
    cov = record["coverage"]["summary"]
    console.print(
        f"requirements ({', '.join(record['coverage']['actors'])}): {cov['pass']} pass, {cov['fail']} "
        f"fail, {cov['error']} error, {cov['untested']} untested of {cov['total']}"
    )


def _first_failed(step: dict[str, Any]) -> str:
    for a in step.get("assertions") or []:
        if a["result"] in ("fail", "error"):
            return f"{a['title']}: {a.get('message', '')}"
    return ""


@click.command("replay")
@click.argument("exchange", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", metavar="URL", help="Base URL to send it to (default: the recorded base).")
@click.option(
    "--vendor-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Vendor configuration (credentials, CA bundle).",
)
@click.option("--client-id", metavar="ID", help="Client id for a fresh token.")
@click.option(
    "--client-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Its private key."
)
@click.option(
    "--ca", "ca_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CA bundle."
)
@click.option(
    "--embedded",
    is_flag=True,
    help="Send it to a freshly started embedded SMR (the default when the recorded base was embedded).",
)
def replay_command(**kw: Any) -> None:
    r"""Re-send a recorded exchange (exchanges/<sha256>.json of a run folder) and show both replies.

    A fresh token is obtained for the same client and scopes. Exit status: 0 the same HTTP status came
    back, 1 a different one (or none), 2 usage error, 3 the testbed could not replay.
    """
    try:
        code = _replay(**kw)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except TestbedError as exc:
        _console(stderr=True).print(f"[magenta]error:[/] {exc}")
        code = 3
    sys.exit(code)


def _replay(**kw: Any) -> int:
    from testbed.scenarios.replay import load_exchange

    recorded = load_exchange(kw["exchange"])
    record = _run_record_near(kw["exchange"])
    embedded = kw["embedded"] or (
        not kw["target"]
        and not kw["vendor_config"]
        and bool(record)
        and bool(record.get("sut", {}).get("embedded"))
    )
    if embedded:
        return _replay_embedded(recorded)
    return _replay_to(recorded, **kw)


def _run_record_near(exchange: Path) -> dict[str, Any]:
    candidate = exchange.resolve().parent.parent / "run.json"
    try:
        data = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _replay_embedded(recorded: Any) -> int:
    import tempfile

    from testbed.scenarios.auth import TokenProvider
    from testbed.scenarios.embedded import start_embedded
    from testbed.scenarios.session import shared_validator
    from testbed.scenarios.transport import HttpSession, TlsSettings

    validator = shared_validator()
    from testbed.national import NationalContent

    national = NationalContent.from_registry(validator.context.registry)
    with tempfile.TemporaryDirectory(prefix="testbed-replay-") as tmp:
        smr = start_embedded(validator=validator, national=national, seed=0, workdir=Path(tmp))
        http = HttpSession(smr.base_url, tls=TlsSettings(ca_file=smr.ca_file))
        try:
            tokens = TokenProvider(http, smr.credentials)
            _console().print(
                f"replaying against a fresh embedded SMR at {smr.base_url} "
                "(it holds none of the original run's data)"
            )
            return _show(recorded, http, tokens)
        finally:
            http.close()
            smr.stop()


def _replay_to(recorded: Any, **kw: Any) -> int:
    from testbed.scenarios.transport import HttpSession, TlsSettings
    from testbed.scenarios.vendor import load_vendor_config

    vendor = load_vendor_config(kw["vendor_config"]) if kw["vendor_config"] else None
    base = kw["target"] or (vendor.fhir if vendor else None) or recorded.request.get("base")
    if not base:
        raise UsageError("give --target: the exchange does not record its base URL")
    tls = TlsSettings(
        ca_file=kw["ca_file"] or (vendor.ca_bundle if vendor else None),
        client_cert=vendor.client_cert if vendor else None,
        client_key=vendor.client_key if vendor else None,
    )
    http = HttpSession(str(base), tls=tls)
    try:
        return _show(recorded, http, _replay_tokens(recorded, http, vendor, **kw))
    finally:
        http.close()


def _replay_tokens(recorded: Any, http: Any, vendor: Any, **kw: Any) -> Any:
    from testbed.scenarios.auth import ClientCredentials, TokenProvider
    from testbed.security.keys import load_private_key

    creds = vendor.credentials if vendor else None
    client_id = kw["client_id"] or (creds.client_id if creds else None)
    key = kw["client_key"] or (creds.private_key if creds else None)
    tokens = None
    if client_id and key:
        scopes = (
            tuple(creds.scopes or ())
            if creds and creds.scopes
            else tuple((recorded.auth or {}).get("scopes") or ())
        )
        tokens = TokenProvider(
            http, {"primary": ClientCredentials(client_id, load_private_key(key), "", scopes)}
        )
    return tokens


def _head(text: str, lines: int = 40) -> str:
    kept = text.splitlines()
    return "\n".join(kept[:lines]) + (f"\n… ({len(kept) - lines} more lines)" if len(kept) > lines else "")


def _show(recorded: Any, http: Any, tokens: Any) -> int:
    from rich.columns import Columns
    from rich.panel import Panel

    from testbed.scenarios.replay import body_text, diff, replay

    console = _console()
    result = replay(recorded, http, tokens)
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    old = (
        f"HTTP {recorded.status}\n\n{_head(body_text(recorded))}"
        if recorded.response
        else f"no reply: {recorded.error}"
    )
    new = (
        f"HTTP {result.replayed.status}\n\n{_head(body_text(result.replayed))}"
        if result.replayed is not None and result.replayed.response
        else f"no reply: {result.error}"
    )
    console.print(
        Columns([Panel(old, title="recorded"), Panel(new, title="replayed")], equal=True, expand=True)
    )
    changes = diff(result)
    if changes:
        console.print(changes, markup=False)
    same = result.same_status
    console.print("[green]same status[/]" if same else "[red]the status differs[/]")
    return 0 if same else 1


__all__ = ["compare", "replay_command", "run_command"]
