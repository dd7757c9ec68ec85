"""``testbed ig``: build, check and pack a content package (IG source folder with ig.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from testbed.core.errors import TestbedError

FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group("ig")
def ig_group() -> None:
    """Author content packages: build from sources, check, pack for other FHIR tools."""


@ig_group.command("build")
@click.argument("folder", type=FOLDER)
def build_command(folder: Path) -> None:
    """Render FOLDER's ig.yaml, input/ and examples/ into FOLDER/package."""
    from testbed.igtools.build import build_package

    try:
        result = build_package(folder)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"built {result.folder}: {len(result.resources)} resources, {len(result.examples)} examples")


@ig_group.command("check")
@click.argument("folder", type=FOLDER)
def check_command(folder: Path) -> None:
    """Check FOLDER's package: up to date, resources valid, examples as declared, requirements covered.

    Exit status: 0 when sound, 1 when a problem is found, 2 on a usage error.
    """
    from testbed.igtools.check import check_package

    try:
        report = check_package(folder)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    click.echo(f"resources: {report.resources}; examples: {report.examples_ok}/{report.examples} as declared")
    if report.by_area:
        click.echo("requirements by area (total / cited by a rule / pending):")
        for area, (total, cited, pending) in sorted(report.by_area.items()):
            click.echo(f"  {area:<5} {total:>4} {cited:>5} {pending:>5}")
    click.echo("OK" if report.ok else f"{len(report.problems)} problem(s)")
    sys.exit(0 if report.ok else 1)


@ig_group.command("pack")
@click.argument("folder", type=FOLDER)
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for the .tgz (default FOLDER)."
)
def pack_command(folder: Path, out: Path | None) -> None:
    """Write FOLDER's package as a standard package .tgz (with snapshots) for other FHIR tools."""
    from testbed.igtools.pack import pack_package

    try:
        path = pack_package(folder, out)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path}")
