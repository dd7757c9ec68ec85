"""Reading the population tables of ``synthetic/``: CSV and YAML files that open with ``#`` comments."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

from testbed.core.errors import InputError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader is faster; same data


class SyntheticDataError(InputError):
    """A table of the synthetic population model is missing or malformed."""


class Row(dict[str, str]):
    """One CSV row, remembering where it came from for error messages."""

    where: str = ""

    def text(self, field: str) -> str:
        """A required non-empty text field."""
        value = (self.get(field) or "").strip()
        if not value:
            raise SyntheticDataError(f"{self.where}: the field '{field}' is empty or missing.")
        return value

    def number(self, field: str) -> float:
        """A required number field."""
        raw = self.text(field)
        try:
            return float(raw)
        except ValueError:
            raise SyntheticDataError(f"{self.where}: '{field}' = '{raw}' is not a number.") from None

    def integer(self, field: str) -> int:
        """A required integer field."""
        raw = self.text(field)
        if not raw.lstrip("-").isdigit():
            raise SyntheticDataError(f"{self.where}: '{field}' = '{raw}' is not an integer.")
        return int(raw)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SyntheticDataError(f"{path}: the table is missing.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyntheticDataError(f"{path}: the table cannot be read as UTF-8 text ({exc}).") from None


def read_csv(path: Path, required: tuple[str, ...]) -> list[Row]:
    """Rows of a CSV table whose leading ``#`` lines are comments; checks the header names ``required``."""
    lines = _read_text(path).splitlines()
    first = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    reader = csv.DictReader(io.StringIO("\n".join(lines[first:])))
    header = reader.fieldnames or []
    missing = [name for name in required if name not in header]
    if missing:
        raise SyntheticDataError(f"{path}: the header lacks the column(s) {', '.join(missing)}.")
    rows: list[Row] = []
    for offset, record in enumerate(reader):
        if None in record:
            raise SyntheticDataError(f"{path}:{first + offset + 2}: the row has more fields than the header.")
        row = Row({k: (v or "") for k, v in record.items()})
        row.where = f"{path}:{first + offset + 2}"
        rows.append(row)
    if not rows:
        raise SyntheticDataError(f"{path}: the table has no rows.")
    return rows


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping of a YAML table."""
    try:
        data = yaml.load(_read_text(path), Loader=_Loader)  # a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        raise SyntheticDataError(f"{path}: invalid YAML ({exc}).") from None
    if not isinstance(data, dict):
        raise SyntheticDataError(f"{path}: the table must be a YAML mapping.")
    return data


def mapping(value: Any, where: str) -> dict[str, Any]:
    """``value`` as a mapping with text keys, or a clear error."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise SyntheticDataError(f"{where}: expected a mapping with text keys, got {type(value).__name__}.")
    return value


def weights(value: Any, where: str, *, total: float | None = None) -> dict[str, float]:
    """A mapping of text keys to non-negative weights; with ``total``, they must sum to it (±0.001)."""
    out: dict[str, float] = {}
    for key, raw in mapping(value, where).items():
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
            raise SyntheticDataError(
                f"{where}: the weight of '{key}' must be a non-negative number, got {raw!r}."
            )
        out[key] = float(raw)
    if not out or sum(out.values()) <= 0:
        raise SyntheticDataError(f"{where}: the weights are empty or all zero.")
    if total is not None and abs(sum(out.values()) - total) > 1e-3:
        raise SyntheticDataError(f"{where}: the probabilities sum to {sum(out.values()):.4f}, not {total}.")
    return out
