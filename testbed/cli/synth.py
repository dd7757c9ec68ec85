"""``testbed synth``: write a seeded synthetic Moroccan population in FHIR, HL7 v2 and CDA."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import click

from testbed.core.errors import TestbedError, UsageError

FORMAT_CHOICES = ("fhir", "hl7v2", "cda", "all")


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        rate = float(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a number; give a share between 0 and 1 (e.g. 0.1)."
        ) from None
    if not 0.0 <= rate <= 1.0:
        raise click.BadParameter(f"{value} is not between 0 and 1 (it is the share of artefacts to break).")
    return rate


@click.command("synth")
@click.option("--patients", "-n", type=click.IntRange(min=1), required=True, help="Number of patients.")
@click.option("--seed", "-s", required=True, help="Seed: the same seed gives the same files.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMAT_CHOICES),
    default="all",
    show_default=True,
    help="Standard to write; 'all' writes every one this version can render.",
)
@click.option("--out", "-o", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--invalid",
    "rate",
    metavar="RATE",
    callback=_rate,
    help="Share (0..1) of artefacts replaced by a broken variant, listed in manifest.json.",
)
@click.option("--region", metavar="CODE", help="Put every patient in this region (ma-region code 01-12).")
@click.option(
    "--ndjson", is_flag=True, help="Write FHIR as one fhir/patients.ndjson instead of one Bundle per patient."
)
def synth_command(
    patients: int, seed: str, fmt: str, out: Path, rate: float, region: str | None, ndjson: bool
) -> None:
    r"""Write a synthetic Moroccan population: the same people in FHIR, HL7 v2 and CDA.

    Files: OUT/fhir/<patient-id>.json (or OUT/fhir/patients.ndjson), OUT/hl7v2/<patient-id>.hl7,
    OUT/cda/<patient-id>-<doc-type>.xml and OUT/manifest.json (seed, versions, counts and every
    deliberate error: file, location, requirement). No real person's data is used.

    Exit status: 0 on success, 2 on a usage error, 1 on any other error.

    \b
    Examples:
      testbed synth --patients 100 --seed 42 --out population/
      testbed synth -n 1000 -s 7 --format fhir --ndjson --invalid 0.1 --out bulk/
    """
    from testbed.synthetic.writer import available_formats, write_population

    if fmt == "all":
        formats = available_formats()
        missing = [f for f in FORMAT_CHOICES[:-1] if f not in formats]
        if missing:
            click.echo(
                f"warning: the {', '.join(missing)} renderer(s) are not available in this version; "
                f"writing {', '.join(formats)} only.",
                err=True,
            )
    else:
        formats = (fmt,)
    started = time.perf_counter()
    try:
        with _Progress(patients) as advance:
            manifest = write_population(
                out,
                seed,
                patients,
                formats,
                invalid_rate=rate,
                ndjson=ndjson,
                region=region,
                progress=advance,
            )
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from None
    elapsed = max(time.perf_counter() - started, 1e-9)
    counts = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in manifest.counts.items() if k != "patients")
    click.echo(
        f"wrote {manifest.patients} patients ({counts}) to {out} in {elapsed:.1f} s "
        f"({manifest.patients / elapsed:.0f} patients/s)"
    )
    if rate > 0:
        click.echo(f"{manifest.mutated} artefact(s) deliberately broken, listed in {manifest.path}")
    else:
        click.echo(f"manifest: {manifest.path}")


class _Progress:
    """A rich progress bar on stderr when it is a terminal; a no-op otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("patients"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task("synth", total=self.total)
        bar = self._bar

        def advance(done: int) -> None:
            bar.update(task, completed=done)  # cheap: rich redraws from its own thread

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


__all__ = ["synth_command"]
