"""The ``testbed`` command line."""

from __future__ import annotations

import click

from testbed import __version__
from testbed.cli.ig import ig_group
from testbed.cli.report import certify_command, keys_group, report_command, verify_command
from testbed.cli.run import replay_command, run_command
from testbed.cli.smr import smr_group
from testbed.cli.synth import synth_command
from testbed.cli.validate import validate_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="testbed")
def main() -> None:
    """Conformance testbed for Morocco's Shared Medical Record (SMR).

    Runs the exchange scenarios against an SMR or a client product (the embedded reference SMR by
    default), validates FHIR, HL7 v2 and CDA offline against the national profiles, generates synthetic
    patients, and renders and signs labelling reports.
    """


for _command in (
    run_command,
    validate_command,
    synth_command,
    smr_group,
    report_command,
    certify_command,
    verify_command,
    keys_group,
    replay_command,
    ig_group,
):
    main.add_command(_command)

__all__ = ["main"]
