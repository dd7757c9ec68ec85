"""Field-level checks of a segment: usage, repetitions, length, data type, fixed value, tables, components.

The verdict on a field depends only on its rule and its raw text, so it is computed once per (rule, text)
and kept (bounded cache): streams of messages repeat most values (MSH, EVN, codes, units, a patient's
PID in each of its messages). National checks whose verdict depends on the field alone are cached the
same way; those that read other fields (units and values of an OBX) run every time.
"""

from __future__ import annotations

from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2.checks import FIELD_CHECKS, CheckContext
from testbed.hl7v2.datatypes import PRIMITIVE_CHECKS, components
from testbed.hl7v2.escape import Encoding, unescape
from testbed.hl7v2.message import Segment
from testbed.hl7v2.profile import Rule, SegmentDef

Problem = tuple[str, Severity, IssueCode, str, str, tuple[str, ...]]
"""An issue relative to its field: (location suffix, severity, code, message, rule, requirements)."""

_CACHE_MAX = 100_000
_PLACEHOLDER = "\x00"
_CACHEABLE_CHECKS = frozenset(
    {"patient-identifiers", "person-names", "facility-inpe", "practitioner-inpe", "loinc"}
)
_HEADERS = frozenset({"MSH", "FHS", "BHS"})


class FieldChecker:
    """Checks the fields of segments against their rules, reporting into a :class:`CheckContext`."""

    def __init__(
        self, terminology: Any, coding_systems: dict[str, str], structure_reqs: tuple[str, ...]
    ) -> None:
        self.terminology = terminology
        self.coding_systems = coding_systems
        self.structure_reqs = structure_reqs
        self._generic: dict[tuple[int, str, str], Any] = {}
        self._national: dict[tuple[int, str, str], tuple[Issue, ...]] = {}
        self._types: dict[tuple[str, str, str], tuple[tuple[int | None, int | None, str], ...]] = {}

    def segment(self, seg: Segment, label: str, sdef: SegmentDef, ctx: CheckContext) -> None:
        """Check every field of one segment."""
        issues = ctx.issues
        fields = seg.fields
        n = len(fields)
        for pos in sdef.required:
            if pos >= n or not fields[pos] or fields[pos] == '""':
                req_rule = sdef.fields[pos]
                state = "null" if pos < n and fields[pos] else "empty"
                issues.append(
                    Issue(
                        Severity.ERROR,
                        IssueCode.REQUIRED,
                        f"{label}-{pos}",
                        f"{seg.name}-{pos} ({req_rule.name}) is required but is {state}.",
                        f"{seg.name}-{pos}:usage",
                        req_rule.requirements,
                    )
                )
        e = seg.encoding
        ekey = e.component + e.repetition + e.subcomponent + e.escape
        rules = sdef.by_position
        generic = self._generic
        count = sdef.count
        header = seg.name in _HEADERS
        for pos, raw, rule in zip(range(len(fields)), fields, rules, strict=False):
            if not raw or pos == 0:
                continue
            if rule is None:
                if count and pos > count:
                    issues.append(self._extra_field(seg, label, pos, count))
                continue
            if rule.trivial or (header and pos <= 2):
                continue
            if rule.coded:
                key = (id(rule), raw, ekey)
                found = generic.get(key)
                if found is None:
                    found = self._store(generic, key, tuple(self._field_problems(rule, raw, e)))
            else:
                found = self._field_problems(rule, raw, e)
            if found:
                loc = f"{label}-{pos}"
                issues.extend(
                    Issue(sev, code, loc + suffix, msg, rid, reqs)
                    for suffix, sev, code, msg, rid, reqs in found
                )
            if rule.check in _CACHEABLE_CHECKS and raw != '""':
                self._cached_check(rule, seg, label, raw, ekey, ctx)
        for pos in range(len(rules), len(fields)):
            if fields[pos] and count and pos > count:
                issues.append(self._extra_field(seg, label, pos, count))
        for rule in sdef.checked:
            if rule.check not in _CACHEABLE_CHECKS:
                FIELD_CHECKS[rule.check or ""](ctx, seg, label, rule)

    def _extra_field(self, seg: Segment, label: str, pos: int, count: int) -> Issue:
        return Issue(
            Severity.WARNING,
            IssueCode.STRUCTURE,
            f"{label}-{pos}",
            f"{seg.name} has {count} fields in HL7 v2.5; field {pos} was ignored.",
            f"{seg.name}:fields",
            self.structure_reqs,
        )

    def _cached_check(
        self, rule: Rule, seg: Segment, label: str, raw: str, ekey: str, ctx: CheckContext
    ) -> None:
        check = FIELD_CHECKS[rule.check or ""]
        key = (id(rule), raw, ekey)
        found = self._national.get(key)
        if found is None:
            kept = ctx.issues
            ctx.issues = []
            try:
                check(ctx, seg, _PLACEHOLDER, rule)
                found = self._store(self._national, key, tuple(ctx.issues))
            finally:
                ctx.issues = kept
        for i in found:
            ctx.issues.append(
                Issue(
                    i.severity,
                    i.code,
                    i.location.replace(_PLACEHOLDER, label, 1),
                    i.message,
                    i.rule,
                    i.requirements,
                )
            )

    def _store(self, cache: dict[Any, Any], key: Any, value: Any) -> Any:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = value
        return value

    def _field_problems(self, rule: Rule, raw: str, e: Encoding) -> list[Problem]:
        if rule.plain and e.repetition not in raw and (rule.length is None or len(raw) <= rule.length):
            start = rule.type_start
            if start is None or (start > 0 and raw.count(e.component) + 1 < start):
                return []  # one value, short enough, no format to check in the parts it has
        name = f"{rule.segment}-{rule.position}"
        reqs = rule.requirements
        if rule.usage == "X":
            return [
                (
                    "",
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    f"{name} ({rule.name}) is not supported (usage X) but is present.",
                    f"{name}:usage",
                    reqs,
                )
            ]
        if raw == '""':
            return []
        out: list[Problem] = []
        reps = raw.split(e.repetition) if e.repetition in raw else [raw]
        if rule.max is not None and len(reps) > rule.max:
            out.append(
                (
                    "",
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    f"{name} ({rule.name}) repeats {len(reps)} times; at most {rule.max} allowed.",
                    f"{name}:cardinality",
                    reqs,
                )
            )
        elif len(reps) < rule.min:
            out.append(
                (
                    "",
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    f"{name} ({rule.name}) has {len(reps)} repetition(s); at least {rule.min} required.",
                    f"{name}:cardinality",
                    reqs,
                )
            )
        repeating = rule.max is None or rule.max > 1
        for r, rep in enumerate(reps, start=1):
            if not rep:
                continue
            suffix = f"[{r}]" if repeating else ""
            if rule.length is not None and len(rep) > rule.length:
                size = len(unescape(rep, e))
                if size > rule.length:
                    out.append(
                        (
                            suffix,
                            Severity.ERROR,
                            IssueCode.TOO_LONG,
                            f"{name} is {size} characters long; at most {rule.length} allowed.",
                            f"{name}:length",
                            reqs,
                        )
                    )
            start = rule.type_start
            if start is not None and (start == 0 or rep.count(e.component) + 1 >= start):
                out.extend(self.type_problems(rep, rule.type, rule, e, suffix))
            if rule.fixed is not None:
                value = unescape(rep, e)
                if value != rule.fixed:
                    out.append(
                        (
                            suffix,
                            Severity.ERROR,
                            IssueCode.VALUE,
                            f"{name} ({rule.name}) is {value!r}; the MA profile requires {rule.fixed!r}.",
                            f"{name}:fixed",
                            reqs,
                        )
                    )
            if rule.table is not None and rule.check is None and not rule.components:
                leaf = unescape(rep.split(e.component)[0].split(e.subcomponent)[0], e)
                out.extend(self._table_problems(leaf, rule, suffix, name))
            if rule.components:
                out.extend(self._component_problems(rep, rule, suffix, e))
        return out

    def _component_problems(self, rep: str, rule: Rule, suffix: str, e: Encoding) -> list[Problem]:
        out: list[Problem] = []
        comps = rep.split(e.component)
        name = f"{rule.segment}-{rule.position}"
        for p in rule.required_components:
            if p > len(comps) or not comps[p - 1]:
                c = rule.components[p]
                out.append(
                    (
                        f"{suffix}.{p}",
                        Severity.ERROR,
                        IssueCode.REQUIRED,
                        f"{name}.{p} ({c.name}) is required but is empty.",
                        f"{name}.{p}:usage",
                        c.requirements,
                    )
                )
        for p, c in rule.components.items():
            if p > len(comps) or not comps[p - 1]:
                continue
            value = comps[p - 1]
            where = f"{suffix}.{p}"
            if c.length is not None and len(value) > c.length:
                out.append(
                    (
                        where,
                        Severity.ERROR,
                        IssueCode.TOO_LONG,
                        f"{name}.{p} is longer than {c.length} characters.",
                        f"{name}.{p}:length",
                        c.requirements,
                    )
                )
            decoded = unescape(value.split(e.subcomponent)[0], e)
            if c.fixed is not None and decoded != c.fixed:
                out.append(
                    (
                        where,
                        Severity.ERROR,
                        IssueCode.VALUE,
                        f"{name}.{p} ({c.name}) is {decoded!r}; the MA profile requires {c.fixed!r}.",
                        f"{name}.{p}:fixed",
                        c.requirements,
                    )
                )
            if c.table is not None:
                out.extend(self._table_problems(decoded, c, where, f"{name}.{p}"))
        return out

    def _table_problems(self, value: str, rule: Rule, suffix: str, name: str) -> list[Problem]:
        table = rule.table
        if table is None or not value or value == '""':
            return []
        reqs = tuple(dict.fromkeys((*rule.requirements, *table.requirements)))
        rid = f"{name}:table"
        if table.codes is not None:
            if value in table.codes:
                return []
            shown = ", ".join(sorted(table.codes)[:15]) + (", …" if len(table.codes) > 15 else "")
            return [
                (
                    suffix,
                    Severity.ERROR,
                    IssueCode.CODE_INVALID,
                    f"{value!r} is not a code of table {table.id} ({table.title}): {shown}.",
                    rid,
                    reqs,
                )
            ]
        if self.terminology is None or table.value_set is None:
            return [
                (
                    suffix,
                    Severity.WARNING,
                    IssueCode.NOT_SUPPORTED,
                    f"{value!r} could not be checked against {table.title}: no terminology service.",
                    rid,
                    reqs,
                )
            ]
        system = self.coding_systems.get(table.coding_system or "")
        check = self.terminology.validate_code(table.value_set, system=system, code=value)
        if check.valid is True:
            return []
        severity = (
            Severity.ERROR if check.valid is False and table.strength == "required" else Severity.WARNING
        )
        code = IssueCode.CODE_INVALID if check.valid is False else IssueCode.NOT_SUPPORTED
        return [
            (
                suffix,
                severity,
                code,
                f"{check.message} (table {table.id}, binding {table.strength}).",
                rid,
                reqs,
            )
        ]

    def type_problems(
        self, raw: str, type_name: str, rule: Rule, e: Encoding, suffix: str = ""
    ) -> list[Problem]:
        """Format problems of one repetition of a value of ``type_name``."""
        key = (type_name, raw, e.component + e.subcomponent + e.escape)
        found = self._types.get(key)
        if found is None:
            found = self._store(self._types, key, tuple(_type_problems(raw, type_name, e)))
        name = f"{rule.segment}-{rule.position}"
        return [
            (
                suffix + (f".{c}" if c is not None else "") + (f".{s}" if s is not None else ""),
                Severity.ERROR,
                IssueCode.VALUE,
                f"Not a valid {type_name} value: {reason}.",
                f"{name}:type",
                rule.requirements,
            )
            for c, s, reason in found
        ]


def _type_problems(raw: str, type_name: str, e: Encoding) -> list[tuple[int | None, int | None, str]]:
    comps = components(type_name)
    if comps is None:
        check = PRIMITIVE_CHECKS.get(type_name)
        reason = check(unescape(raw, e)) if check is not None else None
        return [(None, None, reason)] if reason else []
    out: list[tuple[int | None, int | None, str]] = []
    for p, value in enumerate(raw.split(e.component), start=1):
        if not value or p > len(comps):
            continue
        ctype = comps[p - 1][0]
        subs = components(ctype)
        if subs is None:
            check = PRIMITIVE_CHECKS.get(ctype)
            reason = check(unescape(value, e)) if check is not None else None
            if reason:
                out.append((p, None, reason))
            continue
        for s, sub in enumerate(value.split(e.subcomponent), start=1):
            if not sub or s > len(subs):
                continue
            check = PRIMITIVE_CHECKS.get(subs[s - 1][0])
            reason = check(unescape(sub, e)) if check is not None else None
            if reason:
                out.append((p, s, reason))
    return out
