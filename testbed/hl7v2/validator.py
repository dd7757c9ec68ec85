"""The HL7 v2 validator: MA message profiles applied to ER7 messages, one ValidationOutcome per input.

The message type and trigger (MSH-9) select the profile; the segments are matched against its
structure (order, groups, usage, cardinality); every field is checked for usage, repetitions, length,
data type, table and fixed value, and the national checks the profile names run (identifiers, names,
LOINC, UCUM, …). A message of a type the profiles do not cover is reported as such and its segments
are still checked against the national segment constraints. Every issue cites requirement IDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome
from testbed.hl7v2.authorities import Authorities
from testbed.hl7v2.checks import FIELD_CHECKS, MESSAGE_CHECKS, CheckContext
from testbed.hl7v2.fields import FieldChecker
from testbed.hl7v2.message import Batch, Hl7v2ParseError, Message, Segment, parse_batch
from testbed.hl7v2.profile import (
    MessageProfile,
    Node,
    ProfileSet,
    Rule,
    SegmentDef,
    base_segment_def,
    load_profiles,
)
from testbed.identifiers import IdentifierRules
from testbed.national import NationalContent
from testbed.packages import PackageRegistry

STANDARD = "hl7v2"


class Hl7v2Validator:
    """Validates HL7 v2 ER7 messages against the MA message profiles.

    Args:
        national: The national names (identifier authorities, value set URLs).
        identifiers: Identifier rules read from the NamingSystems.
        terminology: A :class:`~testbed.terminology.TerminologyService` for MA tables (None: MA tables
            are reported as not checked).
        profiles_dir: The v2 profile folder (default: found under ``profiles/``).

    Example:
        ```python
        v2 = Hl7v2Validator.from_registry(registry)
        outcome = v2.validate(er7_text, "adt.hl7")
        ```
    """

    def __init__(
        self,
        *,
        national: NationalContent,
        identifiers: IdentifierRules,
        terminology: Any = None,
        profiles_dir: Path | None = None,
    ) -> None:
        self.national = national
        self.identifiers = identifiers
        self.terminology = terminology
        self.authorities = Authorities(national)
        self.profiles: ProfileSet = load_profiles(
            national, profiles_dir, checks=set(FIELD_CHECKS) | set(MESSAGE_CHECKS)
        )
        self._structure_reqs = self.profiles.requirements["structure"]
        self._base_defs: dict[str, SegmentDef] = {}
        self._names = {key: _names(p.nodes) for key, p in self.profiles.messages.items()}
        self.fields = FieldChecker(terminology, self.profiles.coding_systems, self._structure_reqs)
        self.versions = {self.profiles.id: self.profiles.version}

    @classmethod
    def from_registry(
        cls, registry: PackageRegistry, *, terminology: Any = None, profiles_dir: Path | None = None
    ) -> Hl7v2Validator:
        """Build from loaded content packages (the national package must be among them).

        Raises:
            PackageError: no national package is loaded, or the v2 profiles cannot be read.
        """
        if terminology is None:
            from testbed.terminology import TerminologyService

            terminology = TerminologyService(registry)
        return cls(
            national=NationalContent.from_registry(registry),
            identifiers=IdentifierRules.from_registry(registry),
            terminology=terminology,
            profiles_dir=profiles_dir,
        )

    # ------------------------------------------------------------------ entry points

    def validate(self, data: str | bytes, label: str = "<message>") -> ValidationOutcome:
        """Validate one message or a batch given as ER7 text or bytes (decoded per MSH-18)."""
        outcome = ValidationOutcome(source=label, standard=STANDARD, versions=dict(self.versions))
        try:
            batch = parse_batch(data)
        except Hl7v2ParseError as exc:
            reqs = self.profiles.requirements.get("characterSet", ()) if "not valid" in exc.reason else ()
            where = f"line {exc.line}" if exc.line else ""
            outcome.issues.append(
                Issue(
                    Severity.FATAL,
                    IssueCode.STRUCTURE,
                    where,
                    f"Not readable as HL7 v2: {exc.reason}",
                    "er7:syntax",
                    reqs or self._structure_reqs,
                )
            )
            return outcome
        self._validate_batch(batch, outcome)
        return outcome

    def validate_message(self, message: Message, label: str = "<message>") -> ValidationOutcome:
        """Validate an already parsed message."""
        outcome = ValidationOutcome(source=label, standard=STANDARD, versions=dict(self.versions))
        outcome.issues.extend(self.message_issues(message))
        return outcome

    def check_ack(
        self, ack: str | bytes, sent: Message | str | bytes, *, expected: str | None = None
    ) -> list[Issue]:
        """Judge an ACK received for ``sent`` (:func:`testbed.hl7v2.ack.check_ack`), citing these profiles."""
        from testbed.hl7v2.ack import check_ack

        return check_ack(ack, sent, expected=expected, requirements=self.profiles.requirements)

    def profile_for(self, message: Message) -> MessageProfile | None:
        """The MA profile of a message's type and trigger (``ACK`` whatever its trigger), or None."""
        messages = self.profiles.messages
        return messages.get(message.type_code) or messages.get(message.header.value(9, 1, 1))

    def message_issues(self, message: Message) -> list[Issue]:
        """The issues of one parsed message."""
        issues: list[Issue] = []
        profile = self.profile_for(message)
        if profile is None:
            known = ", ".join(sorted(self.profiles.messages))
            issues.append(
                Issue(
                    Severity.ERROR,
                    IssueCode.NOT_SUPPORTED,
                    "MSH-9",
                    f"The message type {message.type_code or '(empty)'} is not one of the MA messages "
                    f"({known}); its segments were checked against the national segment constraints only.",
                    "msh-9:message-type",
                    self.profiles.requirements.get("unknownMessage", self._structure_reqs),
                )
            )
            matched = [(seg, self.profiles.segments.get(seg.name)) for seg in message.segments]
            reqs = self._structure_reqs
        else:
            reqs = profile.requirements
            structure = message.structure
            if structure and structure != profile.structure:
                issues.append(
                    Issue(
                        Severity.ERROR,
                        IssueCode.VALUE,
                        "MSH-9.3",
                        f"The message structure is {structure!r}; "
                        f"{profile.key} has the structure {profile.structure!r}.",
                        "msh-9:structure",
                        reqs,
                    )
                )
            matched = self._match(profile, message, issues)
        fields = self.fields
        e = message.encoding

        def check_type(raw: str, type_name: str, loc: str, rule: Rule) -> None:
            for suffix, sev, code, text, rid, creqs in fields.type_problems(raw, type_name, rule, e):
                issues.append(Issue(sev, code, loc + suffix, text, rid, creqs))

        ctx = CheckContext(
            self.authorities,
            self.identifiers,
            self.terminology,
            self.profiles.coding_systems,
            message,
            issues,
            check_type,
        )
        labels = _labels(message)
        for seg, sdef in matched:
            if sdef is not None:
                fields.segment(seg, labels[id(seg)], sdef, ctx)
        if profile is not None:
            for name, check_reqs in profile.checks:
                MESSAGE_CHECKS[name](ctx, check_reqs or reqs)
        return issues

    # ------------------------------------------------------------------ structure

    def _match(
        self, profile: MessageProfile, message: Message, issues: list[Issue]
    ) -> list[tuple[Segment, Any]]:
        segs = message.segments
        matched: list[tuple[Segment, SegmentDef | None]] = []
        reqs = profile.requirements
        known = self._names[profile.key]
        pending = [s for s in segs if s.name in known]
        for s in segs:
            if s.name not in known:
                if s.name.startswith("Z"):
                    issues.append(
                        Issue(
                            Severity.WARNING,
                            IssueCode.NOT_SUPPORTED,
                            _seg_loc(message, s),
                            f"The local segment {s.name} is not part of the {profile.key} profile; "
                            "it was not checked.",
                            "segment:z",
                            reqs,
                        )
                    )
                else:
                    issues.append(
                        Issue(
                            Severity.ERROR,
                            IssueCode.STRUCTURE,
                            _seg_loc(message, s),
                            f"The segment {s.name} is not part of the {profile.key} profile.",
                            "segment:unexpected",
                            reqs,
                        )
                    )
                    matched.append((s, self._base_def(s.name)))
        i = self._match_nodes(profile.nodes, pending, 0, profile, matched, issues, "")
        for s in pending[i:]:
            issues.append(
                Issue(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    _seg_loc(message, s),
                    f"The segment {s.name} (line {s.line}) is out of order or repeats more often than "
                    f"the {profile.key} profile allows.",
                    "segment:order",
                    reqs,
                )
            )
            matched.append((s, profile.segments.get(s.name) or self._base_def(s.name)))
        return matched

    def _match_nodes(
        self,
        nodes: Sequence[Node],
        segs: list[Segment],
        i: int,
        profile: MessageProfile,
        matched: list[tuple[Segment, SegmentDef | None]],
        issues: list[Issue],
        path: str,
    ) -> int:
        for node in nodes:
            count = 0
            while i < len(segs) and (node.max is None or count < node.max) and segs[i].name in node.first:
                if node.children is None:
                    seg = segs[i]
                    matched.append((seg, profile.segments.get(seg.name) or self._base_def(seg.name)))
                    i += 1
                else:
                    i = self._match_nodes(
                        node.children, segs, i, profile, matched, issues, f"{path}{node.name}."
                    )
                count += 1
            if node.usage == "X" and count:
                issues.append(
                    Issue(
                        Severity.ERROR,
                        IssueCode.STRUCTURE,
                        _anchor(node),
                        f"{node.name} is not supported (usage X) in {profile.key} but is present.",
                        "segment:usage",
                        profile.requirements,
                    )
                )
            elif count < node.min:
                kind = "group" if node.children is not None else "segment"
                issues.append(
                    Issue(
                        Severity.ERROR,
                        IssueCode.REQUIRED,
                        _anchor(node),
                        f"The {kind} {path}{node.name} is required "
                        f"in {profile.key}"
                        + (f" (at least {node.min})" if node.min > 1 else "")
                        + " but is missing.",
                        f"{kind}:usage",
                        profile.requirements,
                    )
                )
        return i

    def _base_def(self, name: str) -> SegmentDef:
        found = self._base_defs.get(name)
        if found is None:
            found = self._base_defs[name] = base_segment_def(name, self._structure_reqs)
        return found

    def _validate_batch(self, batch: Batch, outcome: ValidationOutcome) -> None:
        several = len(batch.messages) > 1 or bool(batch.headers)
        for n, msg in enumerate(batch.messages, start=1):
            for issue in self.message_issues(msg):
                if several:
                    issue = Issue(
                        issue.severity,
                        issue.code,
                        f"message {n}: {issue.location}".rstrip(": "),
                        issue.message,
                        issue.rule,
                        issue.requirements,
                    )
                outcome.issues.append(issue)
        for trailer in batch.trailers:
            if trailer.name == "BTS" and trailer.value(1):
                declared = trailer.value(1)
                if declared.isdigit() and int(declared) != len(batch.messages):
                    outcome.issues.append(
                        Issue(
                            Severity.ERROR,
                            IssueCode.STRUCTURE,
                            "BTS-1",
                            f"The batch trailer "
                            f"counts {declared} messages; the batch holds {len(batch.messages)}.",
                            "bts-1:count",
                            self._structure_reqs,
                        )
                    )
        if not batch.messages:
            outcome.issues.append(
                Issue(
                    Severity.WARNING,
                    IssueCode.INCOMPLETE,
                    "",
                    "The batch holds no message.",
                    "batch:empty",
                    self._structure_reqs,
                )
            )


def _names(nodes: Sequence[Node]) -> set[str]:
    out: set[str] = set()
    for n in nodes:
        out |= _names(n.children) if n.children is not None else {n.name}
    return out


def _anchor(node: Node) -> str:
    while node.children is not None:
        node = next((c for c in node.children if c.min > 0), node.children[0])
    return node.name


def _labels(message: Message) -> dict[int, str]:
    counts: dict[str, int] = {}
    for seg in message.segments:
        counts[seg.name] = counts.get(seg.name, 0) + 1
    seen: dict[str, int] = {}
    out = {}
    for seg in message.segments:
        n = seen[seg.name] = seen.get(seg.name, 0) + 1
        out[id(seg)] = seg.name if counts[seg.name] == 1 else f"{seg.name}[{n}]"
    return out


def _seg_loc(message: Message, seg: Segment) -> str:
    same = message.named(seg.name)
    return seg.name if len(same) == 1 else f"{seg.name}[{same.index(seg) + 1}]"
