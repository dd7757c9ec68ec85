"""National checks on identifiers: CX against the national scheme, facility and practitioner INPE, merges."""

from __future__ import annotations

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2.authorities import Authority
from testbed.hl7v2.checkctx import CheckContext, leaf, loc, rep_label, split_rep, value_issues
from testbed.hl7v2.message import Segment
from testbed.hl7v2.profile_model import Rule


def identifier_key(ctx: CheckContext, seg: Segment, rep: str) -> str | None:
    """The national key (``ins``, …) of one CX repetition, from its authority OID."""
    oid = leaf(split_rep(seg, rep), 4, 2, seg)
    auth = ctx.authorities.resolve(oid) if oid else None
    return auth.key if auth else None


def check_patient_identifiers(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """CX identifiers: authority of the national scheme, type code, value format and check digit."""
    ins_seen: list[int] = []
    for r, rep in enumerate(seg.repetitions(rule.position), start=1):
        parts = split_rep(seg, rep)
        value = leaf(parts, 1, 1, seg)
        rl = rep_label(rule, r)
        if not value:
            continue
        auth = _authority(ctx, seg, parts, label, rule, rl, "CX-4", 4, "cx")
        if auth is None:
            continue
        id_type = leaf(parts, 5, 1, seg)
        if auth.types and id_type not in auth.types:
            ctx.report(
                Severity.ERROR,
                IssueCode.VALUE,
                loc(label, rule.position, rl, 5),
                f"The identifier type code (CX-5) of a {auth.key} identifier is {id_type!r}; "
                f"the national scheme gives {' or '.join(repr(t) for t in auth.types)}.",
                rule,
                "type",
                "cx:type",
                (auth.key,),
            )
        if auth.key == "ins":
            ins_seen.append(r)
        if auth.system is not None:
            value_issues(ctx, auth.system, value, loc(label, rule.position, rl, 1), rule)
    if len(ins_seen) > 1:
        ctx.report(
            Severity.ERROR,
            IssueCode.BUSINESS_RULE,
            loc(label, rule.position, ins_seen[1]),
            f"The patient carries {len(ins_seen)} INS (repetitions {', '.join(map(str, ins_seen))}); "
            "a patient has at most one.",
            rule,
            "single-ins",
            "cx:single-ins",
        )


def _authority(
    ctx: CheckContext,
    seg: Segment,
    parts: list[list[str]],
    label: str,
    rule: Rule,
    rl: int | None,
    what: str,
    comp: int,
    prefix: str,
) -> Authority | None:
    namespace, oid, oid_type = (leaf(parts, comp, i, seg) for i in (1, 2, 3))
    where = loc(label, rule.position, rl, comp)
    if not oid:
        ctx.report(
            Severity.ERROR,
            IssueCode.REQUIRED if not namespace else IssueCode.VALUE,
            where,
            f"The assigning authority ({what}) must name the OID of a national identifier as "
            f"namespace&OID&ISO (one of {ctx.authorities.known_forms()}); "
            + (f"it holds only the namespace {namespace!r}." if namespace else "it is empty."),
            rule,
            "authority",
            f"{prefix}:authority",
        )
        return None
    auth = ctx.authorities.resolve(oid)
    if auth is None:
        ctx.report(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            f"{where}.2",
            f"The assigning authority OID {oid!r} ({what}) is not a national identifier, a facility arc or a "
            f"passport arc; known authorities: {ctx.authorities.known_forms()}.",
            rule,
            "authority",
            f"{prefix}:authority",
        )
        return None
    if oid_type != "ISO":
        ctx.report(
            Severity.ERROR,
            IssueCode.VALUE,
            f"{where}.3",
            f"The universal ID type of the assigning authority is {oid_type!r}; an OID is typed 'ISO'.",
            rule,
            "authority",
            f"{prefix}:authority",
            (auth.key,),
        )
    if auth.problem:
        ctx.report(
            Severity.ERROR,
            IssueCode.VALUE,
            f"{where}.2",
            f"The assigning authority OID {oid!r}: {auth.problem}.",
            rule,
            "authority",
            f"{prefix}:authority",
            (auth.key,),
        )
    elif auth.key == "local":
        facility = ctx.authorities.local_facility(oid) or ""
        if ctx.authorities.inpe_system and ctx.identifiers.check(
            ctx.authorities.inpe_system, facility, where
        ):
            ctx.report(
                Severity.ERROR,
                IssueCode.VALUE,
                f"{where}.2",
                f"The local arc {oid!r} does not end with a valid facility INPE ({facility!r}).",
                rule,
                "authority",
                f"{prefix}:authority",
                ("local",),
            )
    if auth.namespace and namespace and namespace != auth.namespace:
        ctx.report(
            Severity.ERROR,
            IssueCode.VALUE,
            f"{where}.1",
            f"The assigning authority namespace {namespace!r} does not match its OID {oid!r} "
            f"({auth.key}: expected {auth.namespace!r}).",
            rule,
            "authority",
            f"{prefix}:authority",
            (auth.key,),
        )
    return auth


def check_facility_inpe(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """HD-1 of the sending facility is the facility's INPE."""
    value = seg.value(rule.position, 1, 1)
    if value and ctx.authorities.inpe_system:
        value_issues(ctx, ctx.authorities.inpe_system, value, loc(label, rule.position, None, 1), rule)


def check_practitioner_inpe(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """XCN: the practitioner is identified by an INPE (XCN-1 with the INPE authority in XCN-9)."""
    inpe = ctx.authorities.inpe
    for r, rep in enumerate(seg.repetitions(rule.position), start=1):
        parts = split_rep(seg, rep)
        rl = rep_label(rule, r)
        value = leaf(parts, 1, 1, seg)
        if not value:
            ctx.report(
                Severity.ERROR,
                IssueCode.REQUIRED,
                loc(label, rule.position, rl, 1),
                "The practitioner has no identifier (XCN-1): professionals are identified by their INPE.",
                rule,
                "authority",
                "xcn:inpe",
            )
            continue
        oid = leaf(parts, 9, 2, seg)
        if inpe is not None and oid and oid != inpe.oid:
            ctx.report(
                Severity.ERROR,
                IssueCode.VALUE,
                loc(label, rule.position, rl, 9, 2),
                f"The practitioner's assigning authority is {oid!r}; an INPE is assigned by {inpe.v2_hd}.",
                rule,
                "authority",
                "xcn:inpe",
            )
            continue
        if ctx.authorities.inpe_system:
            value_issues(ctx, ctx.authorities.inpe_system, value, loc(label, rule.position, rl, 1), rule)


def check_merge_keeps_ins(ctx: CheckContext, requirements: tuple[str, ...]) -> None:
    """ADT^A40: when the merged identifiers (MRG-1) hold an INS, the surviving patient (PID-3) holds one."""
    pids, mrgs = ctx.message.named("PID"), ctx.message.named("MRG")
    for i, (pid, mrg) in enumerate(zip(pids, mrgs, strict=False), start=1):
        merged = [rep for rep in mrg.repetitions(1) if identifier_key(ctx, mrg, rep) == "ins"]
        kept = [rep for rep in pid.repetitions(3) if identifier_key(ctx, pid, rep) == "ins"]
        if merged and not kept:
            label = "PID" if len(pids) == 1 else f"PID[{i}]"
            ctx.issues.append(
                Issue(
                    Severity.ERROR,
                    IssueCode.BUSINESS_RULE,
                    f"{label}-3",
                    "The merge would lose the INS: MRG-1 carries an INS but the surviving patient (PID-3) "
                    "has none; a merge keeps the surviving INS.",
                    "a40:keeps-ins",
                    requirements,
                )
            )
