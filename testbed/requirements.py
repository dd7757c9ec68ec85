"""The requirement catalogue: the framework's normative statements as reviewable data.

A catalogue is a UTF-8 CSV file (RFC 4180 quoting, one header row) with the columns
``id,area,text,strength,level,actors,section``. Ids read ``<PREFIX>-<AREA>-<NNN>``; ``actors`` is a
``;``-separated list. Every check and scenario cites ids from it, and an unknown id is an error.

The engine holds no national vocabulary: the id prefix, the areas, the actors and the label levels
come with the content as a :class:`Vocabulary` (for instance from the package's settings table).
Without one, only the shape of each value is checked and the prefix is taken from the first row.

Example:
    ```python
    vocab = Vocabulary(prefix="XX", areas=frozenset({"ID"}), actors=frozenset({"Server"}))
    catalogue = RequirementCatalogue.load(Path("requirements.csv"), vocabulary=vocab)
    errors = catalogue.check_ids(["XX-ID-001"], where="scenarios/a.scenario.yaml:12")
    ```
"""

from __future__ import annotations

import csv
import difflib
import enum
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.core.errors import TestbedError

COLUMNS = ("id", "area", "text", "strength", "level", "actors", "section")
_ID_RE = re.compile(r"^(?P<prefix>[A-Z][A-Z0-9]*)-(?P<area>[A-Z][A-Z0-9]*)-(?P<number>[0-9]{3})$")
_CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*$")
_ACTOR_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ANY_PREFIX = "[A-Z][A-Z0-9]*"


class Strength(enum.StrEnum):
    """RFC 2119 strength of a requirement."""

    SHALL = "SHALL"
    SHOULD = "SHOULD"
    MAY = "MAY"


@dataclass(frozen=True, slots=True)
class Requirement:
    """One normative statement of the framework."""

    id: str
    area: str
    text: str
    strength: Strength
    level: int
    actors: tuple[str, ...]
    section: str


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The closed lists a catalogue's values must come from; ``None`` leaves a list open."""

    prefix: str | None = None
    areas: frozenset[str] | None = None
    actors: frozenset[str] | None = None
    levels: frozenset[int] | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Vocabulary:
        """Build from a settings mapping with optional keys ``prefix``, ``areas``, ``actors``, ``levels``.

        Raises:
            RequirementError: a key is unknown or a value has the wrong shape.
        """
        unknown = sorted(set(data) - {"prefix", "areas", "actors", "levels"})
        if unknown:
            raise RequirementError([Problem(None, None, None, f"unknown vocabulary keys {unknown}")])
        try:
            prefix = data.get("prefix")
            if prefix is not None and not isinstance(prefix, str):
                raise TypeError("prefix must be a string")
            return cls(
                prefix=prefix,
                areas=_frozen(data.get("areas"), str),
                actors=_frozen(data.get("actors"), str),
                levels=_frozen(data.get("levels"), int),
            )
        except TypeError as exc:
            raise RequirementError([Problem(None, None, None, f"bad vocabulary: {exc}")]) from None


def _frozen(value: object, kind: type) -> frozenset[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of {kind.__name__}, got {value!r}")
    items = list(value)
    bad = [v for v in items if not isinstance(v, kind) or isinstance(v, bool)]
    if bad:
        raise TypeError(f"expected a list of {kind.__name__}, got {bad[0]!r}")
    return frozenset(items)


@dataclass(frozen=True, slots=True)
class Problem:
    """One defect of a catalogue file; line and column are 1-based (column = CSV field)."""

    path: Path | None
    line: int | None
    column: int | None
    message: str

    def __str__(self) -> str:
        where = str(self.path) if self.path is not None else "<catalogue>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class RequirementError(TestbedError):
    """A requirement catalogue cannot be loaded; lists every defect found, with file, line and column."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class RequirementCatalogue:
    """The requirements of one framework edition, in file order, looked up by id."""

    def __init__(self, requirements: Iterable[Requirement], *, prefix: str | None = None) -> None:
        """Hold ``requirements``; use :meth:`load` to read and check a file.

        Raises:
            RequirementError: two requirements share an id.
        """
        self._by_id: dict[str, Requirement] = {}
        dupes = []
        for req in requirements:
            if req.id in self._by_id:
                dupes.append(Problem(None, None, None, f"duplicate requirement id {req.id!r}"))
            self._by_id[req.id] = req
        if dupes:
            raise RequirementError(dupes)
        if prefix is None and self._by_id:
            prefix = next(iter(self._by_id)).split("-", 1)[0]
        self.prefix = prefix
        self._token_re = re.compile(
            rf"(?<![A-Za-z0-9-])(?:{re.escape(prefix) if prefix else _ANY_PREFIX})-[A-Z][A-Z0-9]*-[0-9]{{3}}"
            r"(?![A-Za-z0-9-])"
        )

    @classmethod
    def load(cls, path: Path, *, vocabulary: Vocabulary | None = None) -> RequirementCatalogue:
        """Read and check a catalogue CSV.

        Args:
            path: the ``requirements.csv`` file.
            vocabulary: the allowed prefix, areas, actors and levels; open when not given.

        Returns:
            The catalogue, requirements in file order.

        Raises:
            RequirementError: the file cannot be read, or any row is wrong (all defects are listed).
        """
        return _Loader(Path(path), vocabulary or Vocabulary()).load()

    def get(self, requirement_id: str) -> Requirement | None:
        """The requirement with this id, or ``None``."""
        return self._by_id.get(requirement_id)

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def by_area(self) -> dict[str, tuple[Requirement, ...]]:
        """The requirements grouped by area, areas in order of first appearance."""
        groups: dict[str, list[Requirement]] = {}
        for req in self:
            groups.setdefault(req.area, []).append(req)
        return {area: tuple(reqs) for area, reqs in groups.items()}

    def unknown(self, ids: Iterable[str]) -> list[str]:
        """The ids not in the catalogue, in order, without repeats."""
        return [i for i in dict.fromkeys(ids) if i not in self._by_id]

    def check_ids(self, ids: Iterable[str], where: str) -> list[str]:
        """One error message per unknown id cited at ``where`` (empty when all are known).

        Args:
            ids: the requirement ids some content cites.
            where: where they are cited (file and line, check name), put at the start of each message.
        """
        messages = []
        for rid in self.unknown(ids):
            close = difflib.get_close_matches(rid, self._by_id, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            messages.append(f"{where}: unknown requirement ID {rid!r}{hint}")
        return messages

    def ids_in_text(self, text: str) -> list[str]:
        """The requirement-id tokens (``<PREFIX>-<AREA>-<NNN>``) found in ``text``, in order, no repeats.

        Tokens are returned whether or not the catalogue knows them; pass them to :meth:`check_ids`.
        """
        return list(dict.fromkeys(self._token_re.findall(text)))


class _Loader:
    def __init__(self, path: Path, vocabulary: Vocabulary) -> None:
        self.path = path
        self.vocab = vocabulary
        self.problems: list[Problem] = []
        self.prefix = vocabulary.prefix

    def problem(self, line: int | None, column: int | None, message: str) -> None:
        self.problems.append(Problem(self.path, line, column, message))

    def load(self) -> RequirementCatalogue:
        text = self._read()
        reqs = list(self._rows(text)) if text is not None else []
        if self.problems:
            raise RequirementError(self.problems)
        return RequirementCatalogue(reqs, prefix=self.prefix)

    def _read(self) -> str | None:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self.problem(None, None, f"cannot read the requirement catalogue: {exc.strerror or exc}")
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            self.problem(line, column, f"not UTF-8 (byte {data[exc.start]:#04x} at byte offset {exc.start})")
            return None

    def _rows(self, text: str) -> Iterator[Requirement]:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            header = next(reader, None)
            if header is None:
                self.problem(1, None, f"empty file: expected the header row {','.join(COLUMNS)}")
                return
            index = self._header(header)
            seen: dict[str, int] = {}
            start = reader.line_num + 1
            for fields in reader:
                line, start = start, reader.line_num + 1
                if not fields:
                    continue
                if index is not None:
                    req = self._row(fields, line, index, len(header), seen)
                    if req is not None:
                        yield req
        except csv.Error as exc:
            self.problem(reader.line_num, None, f"malformed CSV: {exc}")

    def _header(self, header: list[str]) -> dict[str, int] | None:
        index: dict[str, int] = {}
        ok = True
        for col, name in enumerate(header, start=1):
            if name not in COLUMNS or name in index:
                why = "duplicate" if name in index else "unknown"
                self.problem(1, col, f"{why} column {name!r}; expected exactly {', '.join(COLUMNS)}")
                ok = False
            else:
                index[name] = col - 1
        missing = [c for c in COLUMNS if c not in index]
        if missing:
            self.problem(1, len(header) + 1, f"missing column(s) {', '.join(missing)}")
            ok = False
        return index if ok else None

    def _row(
        self, fields: list[str], line: int, index: dict[str, int], width: int, seen: dict[str, int]
    ) -> Requirement | None:
        if len(fields) != width:
            expected = f"{len(fields)} fields, expected {width} ({', '.join(COLUMNS)})"
            self.problem(line, min(len(fields), width) + 1, expected)
            return None
        before = len(self.problems)
        value = {name: fields[i] for name, i in index.items()}
        cols = {name: i + 1 for name, i in index.items()}
        rid, area = value["id"], value["area"]

        match = _ID_RE.match(rid)
        if match is None:
            self.problem(line, cols["id"], f"bad id {rid!r}: expected <PREFIX>-<AREA>-<NNN>, e.g. XX-ABC-001")
        elif match["number"] == "000":
            self.problem(line, cols["id"], f"bad id {rid!r}: numbers start at 001")
        elif self.prefix is None:
            self.prefix = match["prefix"]
        elif match["prefix"] != self.prefix:
            self.problem(line, cols["id"], f"id {rid!r} does not start with the prefix {self.prefix!r}")
        if rid in seen:
            self.problem(line, cols["id"], f"duplicate id {rid!r} (first on line {seen[rid]})")
        else:
            seen[rid] = line

        areas = self.vocab.areas
        if not _CODE_RE.match(area):
            self.problem(line, cols["area"], f"bad area {area!r}: expected upper-case letters and digits")
        elif areas is not None and area not in areas:
            self.problem(line, cols["area"], f"unknown area {area!r}; known: {', '.join(sorted(areas))}")
        elif match is not None and match["area"] != area:
            self.problem(line, cols["area"], f"area {area!r} does not match the id {rid!r}")

        text = value["text"].strip()
        if not text:
            self.problem(line, cols["text"], "empty text")

        strength = value["strength"]
        if strength not in Strength.__members__:
            self.problem(line, cols["strength"], f"bad strength {strength!r}; expected SHALL, SHOULD or MAY")

        level = self._level(value["level"], line, cols["level"])
        actors = self._actors(value["actors"], line, cols["actors"])

        section = value["section"].strip()
        if not section:
            self.problem(line, cols["section"], "empty section")

        if len(self.problems) > before or level is None:
            return None
        return Requirement(rid, area, text, Strength(strength), level, actors, section)

    def _level(self, raw: str, line: int, column: int) -> int | None:
        levels = self.vocab.levels
        if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
            self.problem(line, column, f"bad level {raw!r}; expected a positive integer")
            return None
        if levels is not None and int(raw) not in levels:
            self.problem(line, column, f"bad level {raw!r}; expected one of {sorted(levels)}")
            return None
        return int(raw)

    def _actors(self, raw: str, line: int, column: int) -> tuple[str, ...]:
        actors = tuple(a.strip() for a in raw.split(";"))
        known = self.vocab.actors
        if not raw.strip():
            self.problem(line, column, "no actor")
            return ()
        for actor in actors:
            if not _ACTOR_RE.match(actor):
                self.problem(line, column, f"bad actor {actor!r} in {raw!r}")
            elif known is not None and actor not in known:
                self.problem(line, column, f"unknown actor {actor!r}; known: {', '.join(sorted(known))}")
        if len(set(actors)) != len(actors):
            self.problem(line, column, f"repeated actor in {raw!r}")
        return actors


__all__ = [
    "COLUMNS",
    "Problem",
    "Requirement",
    "RequirementCatalogue",
    "RequirementError",
    "Strength",
    "Vocabulary",
]
