"""``testbed report``, ``testbed certify``, ``testbed verify`` and ``testbed keys``: reports and certificates.

Everything works from a stored run folder, offline, without re-running anything.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from testbed.core.errors import InputError, TestbedError, UsageError

RUN_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


@click.command("report")
@click.argument("run_dir", type=RUN_DIR)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "pdf", "junit", "json", "testreport"]),
    default="html",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--lang",
    type=click.Choice(["fr", "ar", "en"]),
    default="fr",
    show_default=True,
    help="Language of the HTML and PDF reports (ar is right to left).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (default: standard output; for pdf, RUN_DIR's name + .LANG.pdf here).",
)
@click.option(
    "--certificate", type=FILE, help="Certificate to show (default: RUN_DIR.certificate.json if present)."
)
def report_command(run_dir: Path, fmt: str, lang: str, out: Path | None, certificate: Path | None) -> None:
    r"""Render the report of a stored run (RUN_DIR holds run.json, exchanges/ and manifest.json).

    Nothing is re-run. Secrets in recorded exchanges are redacted in every format.

    \b
    Examples:
      testbed report testbed-runs/20261123T101500Z --lang ar --out report-ar.html
      testbed report testbed-runs/20261123T101500Z --format pdf --lang fr
      testbed report testbed-runs/20261123T101500Z --format junit > results.xml
    """
    from testbed.reporting.outputs import render_report

    if fmt == "pdf" and out is None:
        out = Path(f"{run_dir.resolve().name}.{lang}.pdf")
    if out is not None and _inside(out, run_dir):
        raise click.UsageError(f"--out {out} lies inside the run folder: it would alter the evidence")
    try:
        data = render_report(run_dir, fmt, lang=lang, certificate=certificate)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    click.echo(f"wrote {out} ({fmt}, {len(data)} bytes)", err=True)


@click.command("certify")
@click.argument("run_dir", type=RUN_DIR)
@click.option("--key", "key", type=FILE, required=True, help="The agency's Ed25519 private key (JWK or PEM).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Certificate file (default: RUN_DIR.certificate.json beside the run folder).",
)
@click.option("--date", "issued", callback=_date, metavar="YYYY-MM-DD", help="Date of issue (default today).")
def certify_command(run_dir: Path, key: Path, out: Path | None, issued: date | None) -> None:
    """Decide the label of each declared actor of a stored run and sign the certificate (JWS, Ed25519).

    The run folder must match its manifest byte for byte; any mismatch is named and nothing is signed.
    Exit status: 0 signed, 1 the evidence does not match, 2 on a usage error.
    """
    from testbed.reporting.outputs import EvidenceError, certify_run
    from testbed.reporting.view import default_certificate_path

    out = out or default_certificate_path(run_dir)
    if _inside(out, run_dir):
        raise click.UsageError(f"--out {out} lies inside the run folder: it would alter the evidence")
    try:
        signed = certify_run(run_dir, key, issued=issued)
    except EvidenceError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    signed.write(out)
    cert = signed.certificate
    click.echo(f"certificate {cert['id']} written to {out}")
    for entry in cert["actors"]:
        click.echo(f"  {entry['actor']}: level {entry['level']} ({entry['level_key']})")
    click.echo(
        f"  valid {cert['valid_from']} .. {cert['valid_until']}; evidence sha256 {cert['evidence']['digest']}"
    )
    if cert.get("demonstration"):
        click.echo("  note: the agency is a DEMONSTRATION agency; this certificate proves nothing", err=True)


@click.command("verify")
@click.argument("certificate", type=FILE)
@click.option("--evidence", type=RUN_DIR, help="The run folder the certificate was decided on: check it too.")
@click.option(
    "--public-key",
    type=FILE,
    help="Trust this key (JWKS, JWK or PEM) instead of the agency's JWKS in profiles/.",
)
@click.option(
    "--at", "at", callback=_date, metavar="YYYY-MM-DD", help="Check validity on this date (default today)."
)
def verify_command(
    certificate: Path, evidence: Path | None, public_key: Path | None, at: date | None
) -> None:
    """Verify a certificate offline: signature, every field, revocation, validity, edition, evidence.

    Exit status: 0 valid, 1 invalid (each mismatch is named), 2 on a usage error.
    """
    from testbed.reporting.outputs import verify_file

    try:
        result = verify_file(certificate, evidence=evidence, public_key=public_key, at=at)
    except InputError as exc:
        click.echo(f"INVALID: {exc}")
        sys.exit(1)
    except TestbedError as exc:
        raise click.UsageError(str(exc)) from exc
    cert = result.certificate
    click.echo(
        f"certificate {cert.get('id', '?')}: {cert.get('product', '?')} {cert.get('version', '?')} "
        f"({cert.get('vendor', '?')}), key {result.kid or '?'}"
    )
    for problem in result.problems:
        click.echo(f"  problem: {problem}")
    for note in result.notes:
        click.echo(f"  note: {note}")
    click.echo("VALID" if result.valid else f"INVALID ({result.status}, {len(result.problems)} problem(s))")
    sys.exit(0 if result.valid else 1)


@click.group("keys")
def keys_group() -> None:
    """Certificate signing keys (Ed25519)."""


@keys_group.command("init")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for agency-private.jwk (mode 0600) and agency-jwks.json.",
)
@click.option("--force", is_flag=True, help="Replace existing key files.")
def keys_init_command(out: Path, force: bool) -> None:
    """Make an Ed25519 key pair for signing certificates: a private JWK (0600) and its public JWKS."""
    from testbed.reporting.signing import init_keys

    try:
        made = init_keys(out, force=force)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"private key: {made.private} (mode 0600; keep it offline)")
    click.echo(f"public JWKS: {made.jwks} (kid {made.kid}; publish it)")


__all__ = ["certify_command", "keys_group", "report_command", "verify_command"]
