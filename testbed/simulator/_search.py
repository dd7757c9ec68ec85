"""Search (SMR-T3, T5, T9): parameters to SQL over the index, paging tokens, ``_include``/``_revinclude``.

Paging, written down: results are ordered by creation; the first page fixes a snapshot (the highest
creation number at that moment), and ``next``/``previous`` links carry an opaque, signed page token
holding the query, the offset and the snapshot, so the same link always gives the same page and
resources created meanwhile never shift pages. Unknown parameters are ignored and reported in an
OperationOutcome entry (``search.mode`` = ``outcome``), or refused with 400 under
``Prefer: handling=strict``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from testbed.simulator._identity import merge_group
from testbed.simulator._index import COMMON, PARAMS, SearchParam, date_range, fold, param, parse_reference
from testbed.simulator._outcome import FhirError, invalid
from testbed.simulator._storage import resources, search_index

DEFAULT_COUNT = 20
MAX_COUNT = 500
_CONTROL = {"_count", "_total", "_include", "_revinclude", "_summary", "_format", "_page_token", "_pretty"}
_IGNORED_CONTROL = {"_sort", "_elements", "_contained", "_containedType"}
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_MODIFIERS = {
    "token": {"missing", "not"},
    "string": {"missing", "exact", "contains"},
    "date": {"missing"},
    "reference": {"missing"},
}


@dataclass(slots=True)
class Criterion:
    """One ``name[:modifier]=v1,v2`` parameter (values OR-ed; criteria AND-ed)."""

    name: str
    modifier: str | None
    values: list[str]
    definition: SearchParam | None


@dataclass(slots=True)
class Plan:
    """A parsed search."""

    rtype: str
    criteria: list[Criterion] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    total: str = "accurate"
    summary_count: bool = False
    includes: list[tuple[str, str, str | None]] = field(default_factory=list)
    revincludes: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    canonical: list[tuple[str, str]] = field(default_factory=list)
    offset: int = 0
    snapshot: int | None = None


def parse(rtype: str, params: list[tuple[str, str]], *, strict: bool) -> Plan:
    """Parse search parameters of ``rtype``.

    Raises:
        FhirError: a malformed value, an unknown modifier, or (strict) an unknown parameter.
    """
    plan = Plan(rtype)
    for raw_name, value in params:
        name, _, modifier = raw_name.partition(":")
        if name in _CONTROL:
            _control(plan, name, modifier, value)
            continue
        if name in _IGNORED_CONTROL:
            plan.ignored.append(raw_name)
            continue
        definition = param(rtype, name)
        if definition is None and name not in COMMON:
            if strict:
                raise invalid(
                    f"The search parameter '{raw_name}' is not supported for {rtype}.", f"{rtype}.{name}"
                )
            plan.ignored.append(raw_name)
            continue
        kind = definition.kind if definition else ("date" if name == "_lastUpdated" else "token")
        if modifier and modifier not in _MODIFIERS[kind] and not (kind == "reference" and modifier in PARAMS):
            raise invalid(
                f"The modifier ':{modifier}' is not supported on '{name}' ({kind}).", f"{rtype}.{name}"
            )
        values = _split(value)
        if not values or any(v == "" for v in values):
            raise invalid(f"The search parameter '{raw_name}' has an empty value.", f"{rtype}.{name}")
        for v in values:
            _check_value(rtype, name, kind, modifier, v)
        plan.criteria.append(Criterion(name, modifier or None, values, definition))
        plan.canonical.append((raw_name, value))
    return plan


def _control(plan: Plan, name: str, modifier: str, value: str) -> None:
    rtype = plan.rtype
    if name == "_count":
        if not value.isdigit():
            raise invalid(f"_count must be a non-negative integer, not '{value}'.", f"{rtype}._count")
        plan.count = min(int(value), MAX_COUNT)
        plan.canonical.append((name, str(plan.count)))
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise invalid("_total must be none, estimate or accurate.", f"{rtype}._total")
        plan.total = value
        plan.canonical.append((name, value))
    elif name == "_summary":
        if value == "count":
            plan.summary_count = True
            plan.canonical.append((name, value))
        else:
            plan.ignored.append(f"_summary={value}")
    elif name == "_include":
        parts = value.split(":")
        definition = param(parts[0], parts[1]) if len(parts) in (2, 3) else None
        if definition is None or definition.kind != "reference" or parts[0] != rtype:
            plan.ignored.append(f"_include={value}")
            return
        plan.includes.append((parts[0], parts[1], parts[2] if len(parts) == 3 else None))
        plan.canonical.append((f"_include{':' + modifier if modifier else ''}", value))
    elif name == "_revinclude":
        parts = value.split(":")
        definition = param(parts[0], parts[1]) if len(parts) >= 2 else None
        if definition is None or definition.kind != "reference":
            plan.ignored.append(f"_revinclude={value}")
            return
        plan.revincludes.append((parts[0], parts[1]))
        plan.canonical.append((f"_revinclude{':' + modifier if modifier else ''}", value))


def _split(value: str) -> list[str]:
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",").replace("\\|", "\x00").replace("\\$", "$") for p in parts]


def _check_value(rtype: str, name: str, kind: str, modifier: str, value: str) -> None:
    where = f"{rtype}.{name}"
    if modifier == "missing" and value not in ("true", "false"):
        raise invalid(f"':missing' takes true or false, not '{value}'.", where)
    if kind == "date" and modifier != "missing":
        _, text = _prefixed(value)
        if date_range(text) is None:
            raise invalid(
                f"'{value}' is not a FHIR date for '{name}' (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime).", where
            )


def _prefixed(value: str) -> tuple[str, str]:
    if value[:2] in _PREFIXES and len(value) > 2 and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def where_clauses(conn: Connection, plan: Plan, base_url: str) -> list[ColumnElement[bool]]:
    """The SQL conditions of a plan on the ``resources`` table."""
    r, si = resources, search_index
    clauses: list[ColumnElement[bool]] = []
    for c in plan.criteria:
        if c.name == "_id":
            clauses.append(r.c.id.in_(c.values) if c.modifier != "not" else r.c.id.not_in(c.values))
            continue
        owners = sa.select(si.c.id).where(si.c.type == plan.rtype, si.c.param == c.name)
        if c.modifier == "missing":
            clauses.append(r.c.id.not_in(owners) if c.values[0] == "true" else r.c.id.in_(owners))
            continue
        kind = c.definition.kind if c.definition else "date"
        options = [_value_clause(conn, kind, c, v, base_url) for v in c.values]
        matching = owners.where(sa.or_(*options))
        clauses.append(r.c.id.not_in(matching) if c.modifier == "not" else r.c.id.in_(matching))
    return clauses


def _value_clause(
    conn: Connection, kind: str, c: Criterion, value: str, base_url: str
) -> ColumnElement[bool]:
    si = search_index
    if kind == "token":
        if "|" in value:
            system, code = value.split("|", 1)
            code = code.replace("\x00", "|")
            if system == "":
                return sa.and_(si.c.system.is_(None), si.c.value == code)
            if code == "":
                return si.c.system == system
            return sa.and_(si.c.system == system, si.c.value == code)
        return si.c.value == value.replace("\x00", "|")
    if kind == "string":
        text = value.replace("\x00", "|")
        if c.modifier == "exact":
            return si.c.system == text
        folded = fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{folded}%" if c.modifier == "contains" else f"{folded}%"
        return si.c.value.like(pattern, escape="\\")
    if kind == "date":
        prefix, text = _prefixed(value)
        lo, hi = date_range(text) or ("", "")
        return _date_clause(prefix, lo, hi)
    target_type: str | None = c.modifier if c.modifier and c.modifier[0].isupper() else None
    if "/" in value:
        ref = parse_reference(value, base_url)
        if ref is None:
            return sa.false()
        target_type, rid = ref
    else:
        rid = value
    patient_target = target_type == "Patient" or (
        c.definition is not None and c.definition.targets == ("Patient",)
    )
    ids = sorted(merge_group(conn, rid)) if patient_target else [rid]
    clause: ColumnElement[bool] = si.c.value.in_(ids)
    if target_type:
        clause = sa.and_(si.c.system == target_type, clause)
    return clause


def _date_clause(prefix: str, lo: str, hi: str) -> ColumnElement[bool]:
    si = search_index
    within = sa.and_(si.c.lo >= lo, si.c.hi <= hi)
    if prefix == "eq":
        return within
    if prefix == "ne":
        return sa.not_(within)
    if prefix == "gt":
        return si.c.hi > hi
    if prefix == "lt":
        return si.c.lo < lo
    if prefix == "ge":
        return sa.or_(si.c.hi > hi, within)
    if prefix == "le":
        return sa.or_(si.c.lo < lo, within)
    if prefix == "sa":
        return si.c.lo >= hi
    if prefix == "eb":
        return si.c.hi <= lo
    return sa.and_(si.c.lo < hi, si.c.hi > lo)  # ap: overlaps


class PageTokens:
    """Opaque, signed page tokens (see the module docstring)."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def make(self, plan: Plan, offset: int) -> str:
        """A token for the page at ``offset`` of this plan's snapshot."""
        payload = json.dumps(
            {"t": plan.rtype, "q": plan.canonical, "o": offset, "s": plan.snapshot}, separators=(",", ":")
        ).encode("utf-8")
        body = base64.urlsafe_b64encode(payload).decode("ascii").rstrip("=")
        return f"{body}.{self._sign(body)}"

    def read(self, token: str, rtype: str) -> tuple[list[tuple[str, str]], int, int]:
        """The query, offset and snapshot of a token.

        Raises:
            FhirError: the token was not made by this SMR for this resource type.
        """
        body, _, signature = token.partition(".")
        if not (body.isascii() and signature.isascii()) or not hmac.compare_digest(
            signature, self._sign(body)
        ):
            raise FhirError(
                400, "invalid", "The page token is not valid for this SMR.", f"{rtype}._page_token"
            )
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if data.get("t") != rtype:
            raise FhirError(400, "invalid", f"The page token belongs to a search of {data.get('t')}.", rtype)
        return [(str(k), str(v)) for k, v in data["q"]], int(data["o"]), int(data["s"])

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def self_link(base_url: str, plan: Plan) -> str:
    """The ``self`` link: the query the SMR understood."""
    query = urlencode(plan.canonical)
    return f"{base_url}/{plan.rtype}" + (f"?{query}" if query else "")


def page_link(base_url: str, rtype: str, token: str) -> str:
    """A paging link holding a page token."""
    return f"{base_url}/{rtype}?{urlencode({'_page_token': token})}"


def control_value(params: list[tuple[str, str]], name: str) -> str | None:
    """The last value of a control parameter, if given."""
    found = None
    for key, value in params:
        if key == name:
            found = value
    return found


def json_ready(row: Any) -> dict[str, Any]:
    """The stored JSON of a row (SQLAlchemy returns it parsed already)."""
    content = row["content"]
    return content if isinstance(content, dict) else json.loads(content)
