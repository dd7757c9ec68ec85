"""The ``testbed`` command line."""

from __future__ import annotations

import click

from testbed import __version__
from testbed.cli.ig import ig_group
from testbed.cli.validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="testbed")
def main() -> None:
    """Conformance testbed for Morocco's Shared Medical Record (SMR).

    Validates FHIR resources against the R4 specification and the national profiles, offline.
    """


main.add_command(validate_command)
main.add_command(ig_group)

__all__ = ["main"]
