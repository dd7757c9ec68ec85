"""National checks on names and codes: name scripts, LOINC observation codes, UCUM units, values by type."""

from __future__ import annotations

import re

from testbed.core.issues import IssueCode, Severity
from testbed.hl7v2.checkctx import CheckContext, leaf, loc, rep_label, split_rep, triplets
from testbed.hl7v2.message import Segment
from testbed.hl7v2.profile_model import Rule
from testbed.identifiers import CHECK_DIGITS
from testbed.terminology import check_ucum as ucum_verdict

UCUM_URI = "http://unitsofmeasure.org"
_LOINC = re.compile(r"[0-9]{1,7}-[0-9]")
_NO_VALUE_STATUS = frozenset({"D", "X", "N", "I", "W"})
_ARABIC = "\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06fc\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
_LATIN = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff"
_TIFINAGH = "\u2d30-\u2d7f"
_SCRIPTS = (
    ("Latn", re.compile(f"[{_LATIN}]")),
    ("Arab", re.compile(f"[{_ARABIC}]")),
    ("Tfng", re.compile(f"[{_TIFINAGH}]")),
)
_KNOWN_LETTERS = re.compile(f"[{_LATIN}{_ARABIC}{_TIFINAGH}\u064b-\u065f\u0670]+")


def script_of(text: str) -> str:
    """ISO 15924 code of the letters of a name: ``Latn``, ``Arab``, ``Tfng``, ``mixed`` or ``none``."""
    found = [code for code, pattern in _SCRIPTS if pattern.search(text)]
    rest = _KNOWN_LETTERS.sub("", text)
    if any(ch.isalpha() for ch in rest):
        found.append("other")
    if not found:
        return "none"
    return found[0] if len(found) == 1 else "mixed"


_SCRIPT_NAMES = {"Latn": "Latin", "Arab": "Arabic", "Tfng": "Tifinagh", "mixed": "mixed", "other": "another"}


def check_person_names(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """XPN names: family^given, type L, repetition 1 in Latin script, repetition 2 in Arabic script."""
    for r, rep in enumerate(seg.repetitions(rule.position), start=1):
        parts = split_rep(seg, rep)
        rl = rep_label(rule, r)
        family, given, more = leaf(parts, 1, 1, seg), leaf(parts, 2, 1, seg), leaf(parts, 3, 1, seg)
        for comp, value, what in ((1, family, "family name (XPN-1)"), (2, given, "given name (XPN-2)")):
            if not value:
                ctx.report(
                    Severity.ERROR,
                    IssueCode.REQUIRED,
                    loc(label, rule.position, rl, comp),
                    f"The {what} is missing: a name is family^given.",
                    rule,
                    "parts",
                    "xpn:parts",
                )
        name_type = leaf(parts, 7, 1, seg)
        if name_type != "L":
            ctx.report(
                Severity.ERROR,
                IssueCode.VALUE,
                loc(label, rule.position, rl, 7),
                f"The name type code (XPN-7) is {name_type!r}; MA names are 'L' (legal).",
                rule,
                "name-type",
                "xpn:name-type",
            )
        script = script_of(" ".join((family, given, more)))
        if script == "none":
            continue
        wanted, part = ("Latn", "latin") if r == 1 else ("Arab", "arabic")
        if script != wanted:
            ctx.report(
                Severity.ERROR,
                IssueCode.VALUE,
                loc(label, rule.position, rl),
                f"Name repetition {r} is written in {_SCRIPT_NAMES[script]} script; repetition 1 is the "
                "Latin-script name and repetition 2 the Arabic-script name.",
                rule,
                part,
                f"xpn:{part}",
            )


def check_loinc(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """CE with a LOINC code (coding system of the bound table): format, check digit, value set."""
    table = rule.table
    system_name = (table.coding_system if table else None) or "LN"
    raw = seg.raw(rule.position)
    if not raw:
        return
    parts = split_rep(seg, seg.repetitions(rule.position)[0])
    found = [t for t in triplets(parts, seg) if t[2] == system_name]
    where = loc(label, rule.position, None)
    if not found:
        given = ", ".join(f"{c!r} ({s or 'no coding system'})" for _, c, s in triplets(parts, seg)) or "none"
        ctx.report(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            f"{where}.3",
            f"The observation identifier is not a "
            f"LOINC code: no code has the coding system {system_name!r} (given: {given}).",
            rule,
            "system",
            "obx-3:loinc",
        )
        return
    first, code, _ = found[0]
    if _LOINC.fullmatch(code) is None or not CHECK_DIGITS["luhn"](code.replace("-", "")):
        ctx.report(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            f"{where}.{first}",
            f"{code!r} is not a LOINC code: a LOINC code is digits, a hyphen and a mod-10 check digit.",
            rule,
            "format",
            "obx-3:loinc-format",
        )
        return
    if table is None or table.value_set is None or ctx.terminology is None:
        return
    system = ctx.coding_systems.get(system_name)
    check = ctx.terminology.validate_code(table.value_set, system=system, code=code)
    if check.valid is True:
        return
    if check.valid is None:
        severity = Severity.WARNING
    else:
        severity = Severity.ERROR if table.strength == "required" else Severity.WARNING
    ctx.report(
        severity,
        IssueCode.CODE_INVALID if check.valid is False else IssueCode.NOT_SUPPORTED,
        f"{where}.{first}",
        f"{check.message} (binding {table.strength}, table {table.id}).",
        rule,
        "valueSet",
        "obx-3:value-set",
    )


def check_ucum(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """CE units in UCUM, required for a numeric observation (OBX-2 NM)."""
    where = loc(label, rule.position, None)
    raw = seg.raw(rule.position)
    if not raw:
        if seg.value(2) in ("NM", "SN") and seg.raw(5):
            ctx.report(
                Severity.ERROR,
                IssueCode.REQUIRED,
                where,
                "A numeric result has no units (OBX-6); units are UCUM codes.",
                rule,
                "required",
                "obx-6:ucum",
            )
        return
    names = [k for k, v in ctx.coding_systems.items() if v == UCUM_URI] or ["UCUM"]
    parts = split_rep(seg, seg.repetitions(rule.position)[0])
    found = [t for t in triplets(parts, seg) if t[2] in names]
    if not found:
        given = ", ".join(f"{c!r} ({s or 'no coding system'})" for _, c, s in triplets(parts, seg))
        ctx.report(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            f"{where}.3",
            f"The units are not coded in UCUM: no code has the coding system {names[0]!r} (given: {given}).",
            rule,
            "system",
            "obx-6:ucum",
        )
        return
    first, unit, _ = found[0]
    verdict = ucum_verdict(unit)
    if verdict.valid is False:
        ctx.report(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            f"{where}.{first}",
            verdict.message,
            rule,
            "unit",
            "obx-6:ucum",
        )
    elif verdict.valid is None:
        ctx.report(
            Severity.WARNING,
            IssueCode.NOT_SUPPORTED,
            f"{where}.{first}",
            verdict.message,
            rule,
            "unit",
            "obx-6:ucum",
        )


def check_observation_value(ctx: CheckContext, seg: Segment, label: str, rule: Rule) -> None:
    """OBX-5 has the data type OBX-2 names, and is present unless OBX-11 says there is no value."""
    value_type = seg.value(2)
    reps = seg.repetitions(rule.position)
    if not reps:
        status = seg.value(11)
        if status and status not in _NO_VALUE_STATUS:
            ctx.report(
                Severity.ERROR,
                IssueCode.REQUIRED,
                loc(label, rule.position, None),
                f"The observation has no value (OBX-5) although its status (OBX-11) is {status!r}.",
                rule,
                "required",
                "obx-5:value",
            )
        return
    if not value_type:
        ctx.report(
            Severity.ERROR,
            IssueCode.REQUIRED,
            f"{label}-2",
            "OBX-5 holds a value but OBX-2 (value type) is empty.",
            rule,
            "required",
            "obx-5:value",
        )
        return
    for r, rep in enumerate(reps, start=1):
        if rep:
            ctx.check_type(rep, value_type, loc(label, rule.position, r if len(reps) > 1 else None), rule)
