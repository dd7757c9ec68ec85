"""Message catalogues of the reports: ``reports/i18n/<lang>.yaml`` (French, Arabic, English).

Each catalogue is a flat mapping of keys to strings (``str.format`` placeholders allowed) plus
``lang`` and ``dir`` (``ltr`` or ``rtl``). Every catalogue has the same keys; a missing key is an
error, never a silent fallback to another language.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testbed.core.errors import InputError, UsageError
from testbed.reporting._paths import reports_dir

LANGUAGES = ("fr", "ar", "en")


@dataclass(frozen=True, slots=True)
class Messages:
    """One language's messages."""

    lang: str
    dir: str
    strings: dict[str, str]

    @classmethod
    def load(cls, lang: str, folder: Path | None = None) -> Messages:
        """Read ``<folder>/<lang>.yaml`` (default folder ``reports/i18n``).

        Raises:
            UsageError: a language the reports are not written in.
            InputError: the catalogue is missing or malformed.
        """
        if lang not in LANGUAGES:
            raise UsageError(f"no report language {lang!r}; use one of {', '.join(LANGUAGES)}")
        path = (folder or reports_dir() / "i18n") / f"{lang}.yaml"
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{path}: cannot read the message catalogue ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: not valid YAML ({exc})") from None
        if not isinstance(data, dict) or data.get("dir") not in ("ltr", "rtl"):
            raise InputError(f"{path}: a catalogue is a mapping with dir: ltr or rtl")
        bad = [k for k, v in data.items() if not isinstance(v, str)]
        if bad:
            raise InputError(f"{path}: {bad[0]}: every message is a string")
        strings = {k: v for k, v in data.items() if k not in ("lang", "dir")}
        return cls(lang=lang, dir=data["dir"], strings=strings)

    def __call__(self, key: str, **values: Any) -> str:
        """The message for ``key`` with ``values`` filled in.

        Raises:
            InputError: no such key in this catalogue.
        """
        try:
            text = self.strings[key]
        except KeyError:
            raise InputError(f"message catalogue {self.lang}: no message {key!r}") from None
        return text.format(**values) if values else text


__all__ = ["LANGUAGES", "Messages"]
