"""What the national checks share: the context they report into and helpers to read CX/XPN/CE parts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2.authorities import Authorities
from testbed.hl7v2.escape import unescape
from testbed.hl7v2.message import Message, Segment
from testbed.hl7v2.profile_model import Rule
from testbed.identifiers import IdentifierRules


@dataclass(slots=True)
class CheckContext:
    """What a check may read, and where it reports."""

    authorities: Authorities
    identifiers: IdentifierRules
    terminology: Any
    coding_systems: dict[str, str]
    message: Message
    issues: list[Issue]
    check_type: Callable[[str, str, str, Rule], None]

    def report(
        self,
        severity: Severity,
        code: IssueCode,
        location: str,
        text: str,
        rule: Rule | None,
        part: str,
        rule_id: str,
        keys: tuple[str, ...] = (),
    ) -> None:
        """Add an issue citing the requirements the rule gives for ``part`` (or ``part.<key>``)."""
        reqs: tuple[str, ...] = ()
        if rule is not None:
            found = next(
                (
                    rule.check_requirements[k]
                    for k in (*(f"{part}.{k}" for k in keys), part)
                    if k in rule.check_requirements
                ),
                None,
            )
            reqs = found if found is not None else rule.requirements
        self.issues.append(Issue(severity, code, location, text, rule_id, reqs))


def loc(label: str, pos: int, rep: int | None, comp: int | None = None, sub: int | None = None) -> str:
    out = f"{label}-{pos}" + (f"[{rep}]" if rep else "")
    if comp is not None:
        out += f".{comp}" + (f".{sub}" if sub is not None else "")
    return out


def split_rep(seg: Segment, rep: str) -> list[list[str]]:
    e = seg.encoding
    return [c.split(e.subcomponent) for c in rep.split(e.component)]


def leaf(parts: list[list[str]], comp: int, sub: int, seg: Segment) -> str:
    if comp > len(parts) or sub > len(parts[comp - 1]):
        return ""
    return unescape(parts[comp - 1][sub - 1], seg.encoding)


def rep_label(rule: Rule, r: int) -> int | None:
    return r if rule.max is None or rule.max > 1 else None


def value_issues(ctx: CheckContext, system: str, value: str, location: str, rule: Rule) -> None:
    extra = rule.check_requirements.get("value", ())
    for issue in ctx.identifiers.check(system, value, location):
        reqs = tuple(dict.fromkeys((*issue.requirements, *extra)))
        ctx.issues.append(Issue(issue.severity, issue.code, issue.location, issue.message, issue.rule, reqs))


def triplets(parts: list[list[str]], seg: Segment) -> list[tuple[int, str, str]]:
    out = []
    for first in (1, 4):
        code = leaf(parts, first, 1, seg)
        if code:
            out.append((first, code, leaf(parts, first + 2, 1, seg)))
    return out
