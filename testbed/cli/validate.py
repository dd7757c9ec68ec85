"""``testbed validate``: validate FHIR files and folders offline."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from testbed.cli._formats import RENDERERS, render_text
from testbed.core.errors import TestbedError


@click.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--ig",
    "igs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="An IG package (.tgz or folder), a folder of conformance resources or one file. Repeatable.",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="CANONICAL",
    help="Also validate every FHIR resource against this profile. Repeatable.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(sorted(RENDERERS)),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--no-default-ig", is_flag=True, help="Do not load the national packages found in profiles/.")
@click.option("--show-info", is_flag=True, help="Also print information-level issues (text format).")
def validate_command(
    paths: tuple[Path, ...],
    igs: tuple[Path, ...],
    profiles: tuple[str, ...],
    fmt: str,
    no_default_ig: bool,
    show_info: bool,
) -> None:
    r"""Validate FHIR resources (JSON, XML, NDJSON); folders are searched recursively.

    Exit status: 0 when no input has an error, 1 when one has, 2 on a usage error.

    \b
    Examples:
      testbed validate patient.json
      testbed validate --ig my-ig.tgz --profile https://fhir.smr.ma/StructureDefinition/ma-patient data/
      testbed validate --format json bundle.xml
    """
    from testbed.api import Validator

    try:
        validator = Validator(igs=igs, default_ig=not no_default_ig, profiles=profiles)
    except TestbedError as exc:
        raise click.UsageError(str(exc)) from exc
    for problem in validator.load_problems:
        click.echo(f"warning: {problem.message}", err=True)
    missing = [p for p in profiles if validator.context.structure(p) is None]
    if missing:
        raise click.UsageError(
            f"--profile {missing[0]} is not defined by any loaded package; load it with --ig."
        )
    outcomes = validator.validate_paths(paths)
    if not outcomes:
        raise click.UsageError("No input files found (looked for .json, .xml, .ndjson, .hl7, .er7).")
    text = render_text(outcomes, show_info=show_info) if fmt == "text" else RENDERERS[fmt](outcomes)
    click.echo(text)
    sys.exit(0 if all(o.valid for o in outcomes) else 1)
