"""The resolved form of the MA message profiles: tables, field rules, segment definitions, structures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from testbed.hl7v2.datatypes import first_checked

PROFILE_FILE = "v2-profile.yaml"
USAGES = frozenset({"R", "RE", "O", "X", "C"})


@dataclass(frozen=True, slots=True)
class Table:
    """A table a field is bound to: HL7 codes, or a national value set checked by the terminology."""

    id: str
    title: str
    codes: frozenset[str] | None = None
    value_set: str | None = None
    coding_system: str | None = None
    strength: str = "required"
    requirements: tuple[str, ...] = ()


@dataclass(slots=True)
class Rule:
    """The constraints on one field (or one component of it)."""

    segment: str
    position: int
    name: str
    type: str
    usage: str = "O"
    min: int = 0
    max: int | None = 1
    length: int | None = None
    table: Table | None = None
    fixed: str | None = None
    check: str | None = None
    check_requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    requirements: tuple[str, ...] = ()
    components: dict[int, Rule] = field(default_factory=dict)
    required_components: tuple[int, ...] = ()
    coded: bool = False
    type_start: int | None = None
    trivial: bool = False
    plain: bool = False

    def finish(self) -> Rule:
        """Precompute what the checker asks of every field (called once the rule is complete).

        ``coded``: the values come from a small set (table, fixed value, coded components), so verdicts
        are worth keeping for the next message. ``type_start``: where format checks start in the data
        type (:func:`~testbed.hl7v2.datatypes.first_checked`). ``trivial``: nothing to check at all.
        ``plain``: only repetitions, length and format to check (no table, fixed value, components).
        """
        self.coded = self.table is not None or self.fixed is not None or bool(self.components)
        self.plain = not self.coded and self.usage != "X" and self.min <= 1
        self.type_start = first_checked(self.type)
        self.trivial = (
            self.usage != "X"
            and self.max is None
            and self.min <= 1
            and self.length is None
            and self.type_start is None
            and not self.coded
            and self.check is None
        )
        return self


@dataclass(slots=True)
class SegmentDef:
    """A segment's field rules by position (``count``: how many fields v2.5 defines)."""

    name: str
    fields: dict[int, Rule]
    count: int
    required: tuple[int, ...] = ()
    by_position: list[Rule | None] = field(default_factory=list)
    checked: tuple[Rule, ...] = ()

    def __post_init__(self) -> None:
        size = max(self.fields, default=0) + 1
        self.by_position = [self.fields.get(i) for i in range(size)]
        self.checked = tuple(r for _, r in sorted(self.fields.items()) if r.check is not None)


@dataclass(slots=True)
class Node:
    """A segment or a group in a message structure."""

    name: str
    usage: str
    min: int
    max: int | None
    children: list[Node] | None = None
    first: frozenset[str] = frozenset()

    @property
    def is_group(self) -> bool:
        return self.children is not None


@dataclass(slots=True)
class MessageProfile:
    """One MA message profile (``ADT^A04``)."""

    key: str
    structure: str
    title: str
    requirements: tuple[str, ...]
    nodes: list[Node]
    segments: dict[str, SegmentDef]
    checks: list[tuple[str, tuple[str, ...]]]
    source: str


@dataclass(slots=True)
class ProfileSet:
    """Every message profile of a folder, with its settings, tables and default citations."""

    id: str
    version: str
    title: str
    hl7_version: str
    settings: dict[str, str]
    requirements: dict[str, tuple[str, ...]]
    coding_systems: dict[str, str]
    messages: dict[str, MessageProfile]
    segments: dict[str, SegmentDef]
    folder: Path

    def cited(self) -> set[str]:
        """Every requirement ID the profiles cite."""
        out = {r for reqs in self.requirements.values() for r in reqs}
        for defs in [self.segments, *(m.segments for m in self.messages.values())]:
            for seg in defs.values():
                for rule in seg.fields.values():
                    for r in (rule, *rule.components.values()):
                        out.update(r.requirements)
                        out.update(x for reqs in r.check_requirements.values() for x in reqs)
                        if r.table:
                            out.update(r.table.requirements)
        for m in self.messages.values():
            out.update(m.requirements)
            out.update(x for _, reqs in m.checks for x in reqs)
        return out
