"""MA message profiles read from content: the YAML files of a v2 profile folder under ``profiles/``.

A profile folder holds ``v2-profile.yaml`` (identity, settings, tables, default citations),
``segments.yaml`` (national constraints on segment fields) and ``messages/*.yaml`` (one message
profile each: segment structure with groups, usage, cardinality, field overrides, message checks).
Field definitions start from the HL7 v2.5 base (:func:`testbed.hl7v2.datatypes.base_segment`) and
the content narrows them. Every table, named check and requirement the files name is resolved here,
so a mistake in the content is a :class:`PackageError` at load time, never a wrong verdict later.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from testbed.core.errors import PackageError
from testbed.core.settings import load_settings
from testbed.hl7v2.datatypes import base_segment, components, hl7_table
from testbed.hl7v2.profile_model import (
    PROFILE_FILE,
    USAGES,
    MessageProfile,
    Node,
    ProfileSet,
    Rule,
    SegmentDef,
    Table,
)
from testbed.national import NationalContent
from testbed.requirements import RequirementCatalogue, RequirementError

__all__ = [
    "PROFILE_FILE",
    "MessageProfile",
    "Node",
    "ProfileSet",
    "Rule",
    "SegmentDef",
    "Table",
    "base_segment_def",
    "find_profile_folder",
    "load_profiles",
    "profile_requirements",
]

_CARD = re.compile(r"(\d+)\.\.(\d+|\*)")
_FIELD_KEY = re.compile(r"([A-Z][A-Z0-9]{2})-(\d+)")


def find_profile_folder(explicit: Path | None = None) -> Path:
    """The v2 profile folder: ``explicit``, else the first folder of ``profiles/`` with ``v2-profile.yaml``.

    Raises:
        PackageError: none is found.
    """
    if explicit is not None:
        if not (explicit / PROFILE_FILE).is_file():
            raise PackageError(f"{explicit}: no {PROFILE_FILE}; this is not an HL7 v2 profile folder.")
        return explicit
    root = load_settings().profiles_dir
    if root is not None and root.is_dir():
        for child in sorted(root.iterdir()):
            if (child / PROFILE_FILE).is_file():
                return child
    raise PackageError(
        f"No HL7 v2 profile folder (a folder with {PROFILE_FILE}) under the profiles folder {root}; "
        "set TESTBED_PROFILES or pass the folder explicitly."
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PackageError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise PackageError(f"{path}: expected a mapping at the top level.")
    return data


def _card(text: Any, where: str) -> tuple[int, int | None]:
    m = _CARD.fullmatch(str(text))
    if m is None:
        raise PackageError(f"{where}: card {text!r} is not 'min..max' (max a number or *).")
    return int(m[1]), None if m[2] == "*" else int(m[2])


def _reqs(value: Any, where: str, known: set[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PackageError(f"{where}: requirements must be a list of requirement IDs.")
    if known is not None:
        unknown = [v for v in value if v not in known]
        if unknown:
            raise PackageError(f"{where}: unknown requirement IDs {unknown}.")
    return tuple(value)


class _Loader:
    def __init__(
        self, folder: Path, national: NationalContent, known: set[str] | None, checks: set[str]
    ) -> None:
        self.folder = folder
        self.national = national
        self.known = known
        self.checks = checks
        self.tables: dict[str, Table] = {}
        self.coding_systems: dict[str, str] = {}

    def load(self) -> ProfileSet:
        top_path = self.folder / PROFILE_FILE
        top = _read(top_path)
        where = str(top_path)
        if self.known is None and top.get("requirementsFile"):
            self.known = _catalogue_ids(self.folder.parent / str(top["requirementsFile"]), where)
        self.coding_systems = {str(k): str(v) for k, v in dict(top.get("codingSystems") or {}).items()}
        for tid, spec in dict(top.get("tables") or {}).items():
            self.tables[str(tid)] = self._table(str(tid), spec, f"{where}: tables.{tid}")
        requirements = {
            str(k): _reqs(v, f"{where}: requirements.{k}", self.known)
            for k, v in dict(top.get("requirements") or {}).items()
        }
        if "structure" not in requirements:
            raise PackageError(f"{where}: requirements.structure (what structural rules cite) is missing.")
        seg_path = self.folder / "segments.yaml"
        segments = {
            str(name): self._segment(str(name), spec, f"{seg_path}: {name}", requirements["structure"])
            for name, spec in _read(seg_path).items()
        }
        messages: dict[str, MessageProfile] = {}
        for path in sorted((self.folder / "messages").glob("*.yaml")):
            prof = self._message(path, segments, requirements["structure"])
            if prof.key in messages:
                raise PackageError(
                    f"{path}: message {prof.key} is already defined in {messages[prof.key].source}."
                )
            messages[prof.key] = prof
        if not messages:
            raise PackageError(f"{self.folder}: no message profile under messages/.")
        return ProfileSet(
            id=str(top.get("id") or self.folder.name),
            version=str(top.get("version") or ""),
            title=str(top.get("title") or ""),
            hl7_version=str(top.get("hl7Version") or "2.5"),
            settings={str(k): str(v) for k, v in dict(top.get("settings") or {}).items()},
            requirements=requirements,
            coding_systems=self.coding_systems,
            messages=messages,
            segments=segments,
            folder=self.folder,
        )

    def _table(self, tid: str, spec: Any, where: str) -> Table:
        if not isinstance(spec, dict):
            raise PackageError(f"{where}: expected a mapping.")
        reqs = _reqs(spec.get("requirements"), where, self.known)
        strength = str(spec.get("strength") or "required")
        if strength not in ("required", "extensible"):
            raise PackageError(f"{where}: strength must be required or extensible, not {strength!r}.")
        title = str(spec.get("title") or tid)
        coding = spec.get("codingSystem")
        if coding is not None and str(coding) not in self.coding_systems:
            raise PackageError(f"{where}: codingSystem {coding!r} is not declared under codingSystems.")
        if "codes" in spec:
            return Table(tid, title, frozenset(str(c) for c in spec["codes"]), None, None, strength, reqs)
        vs = spec.get("valueSet")
        if isinstance(vs, dict):
            try:
                if "role" in vs:
                    url = self.national.value_set_url(str(vs["role"]))
                elif "id" in vs:
                    url = f"{self.national.canonical}/ValueSet/{vs['id']}"
                else:
                    raise PackageError(f"{where}: valueSet needs a role or an id.")
            except PackageError as exc:
                raise PackageError(f"{where}: {exc}") from None
            return Table(tid, title, None, url, str(coding) if coding else None, strength, reqs)
        hl7 = spec.get("hl7") or tid
        codes = hl7_table(str(hl7))
        if codes is None:
            raise PackageError(f"{where}: HL7 v2.5 has no table {hl7!r}.")
        return Table(tid, title, codes, None, None, strength, reqs)

    def table(self, tid: Any, where: str) -> Table:
        key = str(tid)
        if key not in self.tables:
            if not key.startswith("HL7"):
                raise PackageError(
                    f"{where}: table {key!r} is neither an HL7 table nor declared in {PROFILE_FILE}."
                )
            self.tables[key] = self._table(key, {}, where)
        return self.tables[key]

    def _rule(self, base: Rule, spec: Any, where: str, structure_reqs: tuple[str, ...]) -> Rule:
        if not isinstance(spec, dict):
            raise PackageError(f"{where}: expected a mapping of constraints.")
        unknown = set(spec) - {
            "usage",
            "card",
            "length",
            "type",
            "table",
            "fixed",
            "check",
            "checkRequirements",
            "requirements",
            "components",
            "name",
        }
        if unknown:
            raise PackageError(f"{where}: unknown keys {sorted(unknown)}.")
        rule = replace(
            base, components=dict(base.components), check_requirements=dict(base.check_requirements)
        )
        if "usage" in spec:
            usage = str(spec["usage"])
            if usage not in USAGES:
                raise PackageError(f"{where}: usage {usage!r} is not one of {sorted(USAGES)}.")
            rule.usage = usage
            rule.min = 1 if usage == "R" else 0
            if usage == "X":
                rule.max = 0
        if "card" in spec:
            rule.min, rule.max = _card(spec["card"], where)
        if "length" in spec:
            rule.length = int(spec["length"])
        if "type" in spec:
            rule.type = str(spec["type"])
        if "name" in spec:
            rule.name = str(spec["name"])
        if "table" in spec:
            rule.table = self.table(spec["table"], where)
        if "fixed" in spec:
            rule.fixed = str(spec["fixed"])
        if "requirements" in spec:
            rule.requirements = _reqs(spec["requirements"], where, self.known)
        elif not rule.requirements:
            rule.requirements = structure_reqs
        if "check" in spec and spec["check"] is None:
            rule.check = None
            rule.check_requirements = {}
        elif "check" in spec:
            name = str(spec["check"])
            if name not in self.checks:
                raise PackageError(f"{where}: unknown check {name!r} (known: {sorted(self.checks)}).")
            rule.check = name
        if "checkRequirements" in spec:
            rule.check_requirements = {
                str(k): _reqs(v, f"{where}: checkRequirements.{k}", self.known)
                for k, v in dict(spec["checkRequirements"]).items()
            }
        comps = components(rule.type) or ()
        for pos, cspec in dict(spec.get("components") or {}).items():
            p = int(pos)
            cbase = rule.components.get(p)
            if cbase is None:
                ctype, cname = comps[p - 1] if p <= len(comps) else ("ST", f"component {p}")
                cbase = Rule(rule.segment, p, cname, ctype, requirements=rule.requirements)
            rule.components[p] = self._rule(cbase, cspec, f"{where}.{p}", rule.requirements)
        rule.required_components = tuple(sorted(p for p, c in rule.components.items() if c.usage == "R"))
        return rule

    def _segment(
        self,
        name: str,
        spec: Any,
        where: str,
        structure_reqs: tuple[str, ...],
        base: SegmentDef | None = None,
    ) -> SegmentDef:
        if base is None:
            base = _base_def(name, structure_reqs)
        fields = dict(base.fields)
        for pos, fspec in dict(spec or {}).items():
            p = int(pos)
            fbase = fields.get(p) or Rule(name, p, f"field {p}", "ST", requirements=structure_reqs)
            fields[p] = self._rule(fbase, fspec, f"{where}-{p}", structure_reqs)
        for rule in fields.values():
            rule.finish()
        required = tuple(sorted(p for p, r in fields.items() if r.usage == "R" or r.min > 0))
        return SegmentDef(name, fields, max(base.count, max(fields, default=0)), required)

    def _message(
        self, path: Path, segments: dict[str, SegmentDef], structure_reqs: tuple[str, ...]
    ) -> MessageProfile:
        data = _read(path)
        where = str(path)
        for key in ("message", "structure", "segments"):
            if key not in data:
                raise PackageError(f"{where}: '{key}' is missing.")
        reqs = _reqs(data.get("requirements"), f"{where}: requirements", self.known) or structure_reqs
        if not isinstance(data["segments"], list) or not data["segments"]:
            raise PackageError(f"{where}: 'segments' must be a non-empty list of segments and groups.")
        nodes = [self._node(n, f"{where}: segments[{i}]") for i, n in enumerate(data["segments"])]
        own = dict(segments)
        overrides: dict[str, dict[int, Any]] = {}
        for key, fspec in dict(data.get("fields") or {}).items():
            m = _FIELD_KEY.fullmatch(str(key))
            if m is None:
                raise PackageError(f"{where}: fields key {key!r} is not SEG-n (e.g. PV1-3).")
            overrides.setdefault(m[1], {})[int(m[2])] = fspec
        for seg, spec in overrides.items():
            own[seg] = self._segment(seg, spec, f"{where}: {seg}", reqs, own.get(seg))
        checks = []
        for i, chk in enumerate(data.get("checks") or []):
            name = str(chk.get("check"))
            if name not in self.checks:
                raise PackageError(f"{where}: checks[{i}]: unknown check {name!r}.")
            checks.append((name, _reqs(chk.get("requirements"), f"{where}: checks[{i}]", self.known)))
        return MessageProfile(
            str(data["message"]),
            str(data["structure"]),
            str(data.get("title") or ""),
            reqs,
            nodes,
            own,
            checks,
            where,
        )

    def _node(self, spec: Any, where: str) -> Node:
        if not isinstance(spec, dict) or not ("segment" in spec or "group" in spec):
            raise PackageError(f"{where}: expected a mapping with 'segment' or 'group'.")
        usage = str(spec.get("usage") or "O")
        if usage not in USAGES:
            raise PackageError(f"{where}: usage {usage!r} is not one of {sorted(USAGES)}.")
        lo, hi = (1 if usage == "R" else 0), (0 if usage == "X" else 1)
        if "card" in spec:
            lo, hi_card = _card(spec["card"], where)
            hi = hi_card  # type: ignore[assignment]
        if "segment" in spec:
            return Node(str(spec["segment"]), usage, lo, hi, None, frozenset({str(spec["segment"])}))
        children = [self._node(c, f"{where}.{i}") for i, c in enumerate(spec.get("segments") or [])]
        if not children:
            raise PackageError(f"{where}: group {spec['group']} has no segments.")
        first: set[str] = set()
        for child in children:
            first |= child.first
            if child.min > 0:
                break
        return Node(str(spec["group"]), usage, lo, hi, children, frozenset(first))


def _catalogue_ids(path: Path, where: str) -> set[str]:
    try:
        return {r.id for r in RequirementCatalogue.load(path)}
    except RequirementError as exc:
        raise PackageError(f"{where}: requirementsFile {path}: {exc}") from None


def _base_def(name: str, structure_reqs: tuple[str, ...]) -> SegmentDef:
    base = base_segment(name) or ()
    fields = {}
    for bf in base:
        table = None
        fields[bf.position] = Rule(
            name,
            bf.position,
            bf.name,
            bf.type,
            "R" if bf.min > 0 else "O",
            bf.min,
            bf.max,
            None,
            table,
            requirements=structure_reqs,
        )
    for rule in fields.values():
        rule.finish()
    required = tuple(p for p, r in fields.items() if r.min > 0)
    return SegmentDef(name, fields, len(base), required)


@lru_cache(maxsize=8)
def profile_requirements(folder: Path | None = None) -> dict[str, tuple[str, ...]]:
    """The ``requirements`` section of a profile folder (what ACK and MLLP checks cite), read once.

    Raises:
        PackageError: the folder or its file cannot be read.
    """
    path = find_profile_folder(folder) / PROFILE_FILE
    data = _read(path)
    return {
        str(k): _reqs(v, f"{path}: requirements.{k}", None)
        for k, v in dict(data.get("requirements") or {}).items()
    }


def load_profiles(
    national: NationalContent,
    folder: Path | None = None,
    *,
    known_requirements: set[str] | None = None,
    checks: set[str],
) -> ProfileSet:
    """Load and resolve the message profiles of a folder (see the module docstring).

    Args:
        national: The national names (value set URLs of MA tables).
        folder: The profile folder; found under ``profiles/`` when None.
        known_requirements: Requirement IDs that exist; any other cited ID is a load error.
        checks: Names of the national checks the engine implements.

    Raises:
        PackageError: a file is missing, malformed or names something unknown.
    """
    return _Loader(find_profile_folder(folder), national, known_requirements, checks).load()


def base_segment_def(name: str, structure_reqs: tuple[str, ...]) -> SegmentDef:
    """The v2.5 base definition of a segment, for segments the profiles do not constrain."""
    return _base_def(name, structure_reqs)
