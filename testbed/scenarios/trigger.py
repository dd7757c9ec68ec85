"""Driving a vendor's client: run its trigger command template, or ask a person to act.

A vendor configuration gives one command template per transaction, e.g.
``acme-cli send-patient --smr {smr_url} --patient {patient_file} --ca {ca_file}``. The template is split
like a shell command line first and each word is then filled in, so a value with spaces or quotes
stays one argument and nothing is ever run through a shell.
"""

from __future__ import annotations

import json
import shlex
import string
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.scenarios.results import StepError, StepSkipped
from testbed.security.redact import redact_text

_TAIL = 2000


@dataclass(frozen=True, slots=True)
class TriggerOutcome:
    """What running a trigger did."""

    command: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    manual: bool = False


def placeholders(template: str) -> list[str]:
    """The ``{name}`` placeholders of a template."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def fill(template: str, values: Mapping[str, str]) -> list[str]:
    """Split ``template`` into words and fill each word's placeholders.

    Raises:
        StepError: a placeholder has no value (the message lists the available names).
    """
    missing = [p for p in placeholders(template) if p not in values]
    if missing:
        raise StepError(
            f"the trigger template {template!r} uses {', '.join('{' + m + '}' for m in missing)}, "
            f"which this scenario does not provide; available: "
            f"{', '.join('{' + k + '}' for k in sorted(values))}"
        )
    try:
        words = shlex.split(template)
    except ValueError as exc:
        raise StepError(f"the trigger template {template!r} cannot be split into words: {exc}") from None
    return [word.format_map(dict(values)) for word in words]


def write_files(folder: Path, files: Mapping[str, Any]) -> dict[str, str]:
    """Write the step's files (JSON for objects, text otherwise); returns ``{name: path}``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, content in files.items():
        if isinstance(content, dict | list):
            path = folder / f"{name}.json"
            path.write_text(json.dumps(content, ensure_ascii=False, indent=2), encoding="utf-8")
        else:
            suffix = ".xml" if str(content).lstrip().startswith("<") else ".txt"
            path = folder / f"{name}{suffix}"
            path.write_text(str(content), encoding="utf-8")
        paths[name] = str(path)
    return paths


class TriggerRunner:
    """Runs trigger commands (or announces what a person must do).

    Args:
        templates: command templates by transaction (``SMR-T1`` …).
        manual: without a template, ask a person (the following wait step waits) instead of skipping.
        timeout: default seconds a command may run.
        cwd: the folder commands run in (the vendor configuration's folder).
        announce: how to show instructions to a person.
    """

    def __init__(
        self,
        templates: Mapping[str, str],
        *,
        manual: bool = False,
        timeout: float = 60.0,
        cwd: Path | None = None,
        announce: Callable[[str], None] | None = None,
    ) -> None:
        self.templates = dict(templates)
        self.manual = manual
        self.timeout = timeout
        self.cwd = cwd
        self.announce = announce or (lambda text: None)

    @property
    def available(self) -> bool:
        """Whether any client can be driven (a template, or a person)."""
        return bool(self.templates) or self.manual

    def run(
        self,
        transaction: str,
        values: Mapping[str, str],
        *,
        instructions: str | None = None,
        timeout: float | None = None,
    ) -> TriggerOutcome:
        """Run the template of ``transaction`` with ``values``, or announce ``instructions`` to a person.

        Raises:
            StepSkipped: no template and no person to act.
            StepError: the template cannot be filled or its program cannot be started.
        """
        template = self.templates.get(transaction)
        if template is None:
            if not self.manual:
                raise StepSkipped(
                    f"Missing the following required inputs: a trigger command for {transaction} "
                    "(vendor configuration 'triggers') or a person to act (--manual)"
                )
            text = (instructions or f"Make the system under test perform {transaction}.").format_map(
                _Lenient(values)
            )
            self.announce(text)
            return TriggerOutcome([], None, "", "", 0.0, manual=True)
        command = fill(template, values)
        limit = timeout or self.timeout
        t0 = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=limit,
                cwd=self.cwd,  # noqa: S603
                check=False,
            )
        except FileNotFoundError:
            raise StepError(
                f"the trigger command for {transaction} cannot be started: {command[0]!r} not found"
            ) from None
        except subprocess.TimeoutExpired as exc:
            return TriggerOutcome(
                command, None, _tail(exc.stdout), _tail(exc.stderr), time.perf_counter() - t0, timed_out=True
            )
        except OSError as exc:
            raise StepError(f"the trigger command for {transaction} cannot be started: {exc}") from None
        return TriggerOutcome(
            command, done.returncode, _tail(done.stdout), _tail(done.stderr), time.perf_counter() - t0
        )


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _tail(text: str | bytes | None) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return redact_text(text[-_TAIL:], ())
