"""Read, vread, history and search, with the right to object and the audit trail."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from testbed.simulator._audit import Entity
from testbed.simulator._caller import Caller
from testbed.simulator._context import Ctx, FhirRequest, http_date, patient_entities
from testbed.simulator._index import PROTECTED_TYPES, now_instant
from testbed.simulator._outcome import FhirError, Reply, issue, not_found
from testbed.simulator._policy import may_see
from testbed.simulator._repository import Stored, current, load, version, versions
from testbed.simulator._search import (
    Plan,
    control_value,
    page_link,
    parse,
    self_link,
    where_clauses,
)
from testbed.simulator._storage import resources, search_index

_MAX_AUDITED_PATIENTS = 50


def _gone(rtype: str, rid: str) -> FhirError:
    return FhirError(410, "deleted", f"{rtype}/{rid} was deleted.", f"{rtype}.id")


def _objection(ctx: Ctx, req: FhirRequest, caller: Caller, stored: Stored) -> FhirError:
    header = ctx.national.headers["purposeOfUse"]  # checked when the SMR starts
    btg = ctx.national.headers["breakTheGlass"]
    err = FhirError(
        403,
        "suppressed",
        f"The patient has objected to sharing their data in the SMR (right to object); organizations other "
        f"than the author cannot read {stored.type}/{stored.id}. In an emergency, ask again with the header "
        f"'{header}: {btg}' (break the glass), which is audited.",
        f"{stored.type}.id",
    )
    ctx.audit(
        caller,
        "read",
        patient_entities(stored),
        403,
        "refused: the patient objected (SMR-T8)",
        defer=req.pending,
    )
    err.audited = True
    return err


def read(ctx: Ctx, req: FhirRequest, caller: Caller, rtype: str, rid: str) -> Reply:
    """GET [type]/[id]."""
    ctx.need(caller, rtype, "read")

    def query(conn: Connection) -> tuple[Stored | None, frozenset[str]]:
        stored = current(conn, rtype, rid)
        denied = ctx.denied(conn) if rtype in PROTECTED_TYPES else frozenset()
        return stored, denied

    stored, denied = ctx.storage.query(query)
    if stored is None:
        raise not_found(rtype, rid)
    if stored.deleted:
        raise _gone(rtype, rid)
    if not may_see(stored, caller, denied, enforce=ctx.enforce_consent):
        raise _objection(ctx, req, caller, stored)
    ctx.audit(caller, "read", patient_entities(stored), 200, defer=req.pending)
    if rtype == "Binary" and _wants_raw(req, stored):
        return _raw_binary(ctx, stored)
    return Reply(200, stored.content, ctx.version_headers(stored))


def vread(ctx: Ctx, req: FhirRequest, caller: Caller, rtype: str, rid: str, vid: str) -> Reply:
    """GET [type]/[id]/_history/[vid]."""
    ctx.need(caller, rtype, "read")
    if not vid.isdigit():
        raise FhirError(
            404, "not-found", f"'{vid}' is not a version of {rtype}/{rid}.", f"{rtype}.meta.versionId"
        )

    def query(conn: Connection) -> tuple[Stored | None, Stored | None, frozenset[str]]:
        denied = ctx.denied(conn) if rtype in PROTECTED_TYPES else frozenset()
        return current(conn, rtype, rid), version(conn, rtype, rid, int(vid)), denied

    now, old, denied = ctx.storage.read(query)
    if now is None:
        raise not_found(rtype, rid)
    if old is None:
        raise FhirError(404, "not-found", f"{rtype}/{rid} has no version {vid}.", f"{rtype}.meta.versionId")
    if not may_see(now, caller, denied, enforce=ctx.enforce_consent):
        raise _objection(ctx, req, caller, now)
    if old.deleted:
        raise _gone(rtype, rid)
    ctx.audit(caller, "vread", patient_entities(now), 200, defer=req.pending)
    return Reply(200, old.content, ctx.version_headers(old))


def history(ctx: Ctx, req: FhirRequest, caller: Caller, rtype: str, rid: str) -> Reply:
    """GET [type]/[id]/_history: every version, newest first."""
    ctx.need(caller, rtype, "read")

    def query(conn: Connection) -> tuple[Stored | None, list[tuple[Stored, str]], frozenset[str]]:
        denied = ctx.denied(conn) if rtype in PROTECTED_TYPES else frozenset()
        return current(conn, rtype, rid), versions(conn, rtype, rid), denied

    now, found, denied = ctx.storage.read(query)
    if now is None:
        raise not_found(rtype, rid)
    if not may_see(now, caller, denied, enforce=ctx.enforce_consent):
        raise _objection(ctx, req, caller, now)
    entries = []
    for stored, method in found:
        entry: dict[str, Any] = {"fullUrl": f"{ctx.base_url}/{rtype}/{rid}"}
        if stored.content is not None:
            entry["resource"] = stored.content
        entry["request"] = {"method": method, "url": f"{rtype}/{rid}" if method != "POST" else rtype}
        code = "201 Created" if stored.version == 1 else ("204 No Content" if stored.deleted else "200 OK")
        entry["response"] = {"status": code, "etag": stored.etag, "lastModified": stored.last_updated}
        entries.append(entry)
    ctx.audit(caller, "history-instance", patient_entities(now), 200, defer=req.pending)
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": now_instant()},
        "type": "history",
        "total": len(entries),
        "link": [{"relation": "self", "url": f"{ctx.base_url}/{rtype}/{rid}/_history"}],
        "entry": entries,
    }
    return Reply(200, bundle)


def search(ctx: Ctx, req: FhirRequest, caller: Caller, rtype: str, params: list[tuple[str, str]]) -> Reply:
    """GET [type]?... and POST [type]/_search: a searchset Bundle with total, paging and includes."""
    ctx.need(caller, rtype, "read")
    token = control_value(params, "_page_token")
    strict = req.prefer.get("handling") == "strict"
    if token is not None:
        query, offset, snapshot = ctx.tokens.read(token, rtype)
        plan = parse(rtype, query, strict=False)
        plan.offset, plan.snapshot = offset, snapshot
    else:
        plan = parse(rtype, params, strict=strict)
    result = ctx.storage.read(lambda conn: _run(ctx, conn, plan, caller))
    matches, included, total, patients = result
    bundle = _bundle(ctx, plan, matches, included, total, token)
    entities = [Entity(query=self_link(ctx.base_url, plan), label=f"search {rtype}")]
    if (
        rtype != "AuditEvent"
    ):  # so that reading the audit trail does not change what AuditEvent?patient= finds
        entities += [Entity(f"Patient/{p}") for p in sorted(patients)[:_MAX_AUDITED_PATIENTS]]
    ctx.audit(caller, "search-type", entities, 200, defer=req.pending)
    return Reply(200, bundle)


def _run(
    ctx: Ctx, conn: Connection, plan: Plan, caller: Caller
) -> tuple[list[Stored], list[Stored], int | None, set[str]]:
    r = resources
    if plan.snapshot is None:
        plan.snapshot = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(r.c.seq), 0))).scalar_one())
    denied = ctx.denied(conn)
    clauses: list[ColumnElement[bool]] = [
        r.c.type == plan.rtype,
        ~r.c.deleted,
        r.c.seq <= plan.snapshot,
        *where_clauses(conn, plan, ctx.base_url),
    ]
    if plan.rtype in PROTECTED_TYPES and ctx.enforce_consent and denied and not caller.btg:
        visible: list[ColumnElement[bool]] = [r.c.patient_id.is_(None), r.c.patient_id.not_in(sorted(denied))]
        if caller.organization is not None:
            visible.append(r.c.author_org == caller.organization)
        clauses.append(sa.or_(*visible))
    total = None
    if plan.total != "none" or plan.summary_count:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(r).where(*clauses)).scalar_one())
    matches: list[Stored] = []
    if not plan.summary_count and plan.count > 0:
        rows = conn.execute(
            sa.select(r.c.type, r.c.id)
            .where(*clauses)
            .order_by(r.c.seq)
            .limit(plan.count)
            .offset(plan.offset)
        )
        matches = load(conn, [(t, i) for t, i in rows])
    included = _includes(ctx, conn, plan, matches, caller, denied) if matches else []
    patients = {m.id for m in matches if m.type == "Patient"} | {
        m.patient_id for m in matches if m.patient_id
    }
    for c in plan.criteria:
        if c.name == "patient" or (c.definition is not None and c.definition.targets == ("Patient",)):
            patients.update(v.rsplit("/", 1)[-1] for v in c.values)
    return matches, included, total, patients


def _includes(
    ctx: Ctx, conn: Connection, plan: Plan, matches: list[Stored], caller: Caller, denied: frozenset[str]
) -> list[Stored]:
    si = search_index
    ids = [m.id for m in matches]
    keys: list[tuple[str, str]] = []
    for _source, name, target in plan.includes:
        query = sa.select(si.c.system, si.c.value).where(
            si.c.type == plan.rtype, si.c.param == name, si.c.id.in_(ids)
        )
        if target:
            query = query.where(si.c.system == target)
        keys.extend((str(t), str(i)) for t, i in conn.execute(query))
    for source, name in plan.revincludes:
        rows = conn.execute(
            sa.select(si.c.id).where(
                si.c.type == source, si.c.param == name, si.c.system == plan.rtype, si.c.value.in_(ids)
            )
        )
        keys.extend((source, str(i)) for (i,) in rows)
    seen = {(m.type, m.id) for m in matches}
    unique = [k for k in dict.fromkeys(keys) if k not in seen]
    found = load(conn, unique)
    enforce = ctx.enforce_consent_on_includes
    return [s for s in found if caller.allows(s.type, "read") and may_see(s, caller, denied, enforce=enforce)]


def _bundle(
    ctx: Ctx, plan: Plan, matches: list[Stored], included: list[Stored], total: int | None, token: str | None
) -> dict[str, Any]:
    base = ctx.base_url
    links = [
        {"relation": "self", "url": page_link(base, plan.rtype, token) if token else self_link(base, plan)}
    ]
    if plan.offset > 0:
        links.append({"relation": "first", "url": page_link(base, plan.rtype, ctx.tokens.make(plan, 0))})
    more = len(matches) == plan.count and (total is None or plan.offset + plan.count < total)
    if more and plan.count > 0:
        links.append(
            {
                "relation": "next",
                "url": page_link(base, plan.rtype, ctx.tokens.make(plan, plan.offset + plan.count)),
            }
        )
    if plan.offset > 0:
        back = max(0, plan.offset - plan.count)
        links.append(
            {"relation": "previous", "url": page_link(base, plan.rtype, ctx.tokens.make(plan, back))}
        )
    entries: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/{s.type}/{s.id}", "resource": s.content, "search": {"mode": "match"}}
        for s in matches
    ]
    entries += [
        {"fullUrl": f"{base}/{s.type}/{s.id}", "resource": s.content, "search": {"mode": "include"}}
        for s in included
    ]
    if plan.ignored:
        notes = [
            issue(
                "warning",
                "not-supported",
                f"The search parameter '{name}' is not supported and was ignored.",
                plan.rtype,
            )
            for name in plan.ignored
        ]
        entries.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {"resourceType": "OperationOutcome", "issue": notes},
                "search": {"mode": "outcome"},
            }
        )
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": now_instant()},
        "type": "searchset",
    }
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle


def form_params(req: FhirRequest) -> list[tuple[str, str]]:
    """Parameters of ``POST [type]/_search``: the form body, then the URL's."""
    content_type = str(req.headers.get("content-type", "")).split(";")[0].strip().lower()
    if req.body.strip() and content_type != "application/x-www-form-urlencoded":
        raise FhirError(
            415,
            "not-supported",
            "POST _search takes a form (application/x-www-form-urlencoded) body.",
            req.parts[0] if req.parts else "Resource",
        )
    try:
        body = parse_qsl(req.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise FhirError(400, "invalid", "The form body is not UTF-8.", req.parts[0]) from None
    return [*body, *req.params]


def _wants_raw(req: FhirRequest, stored: Stored) -> bool:
    fmt = control_value(req.params, "_format")
    if fmt is not None:
        return False
    accept = str(req.headers.get("accept", "")).lower()
    if not accept or "json" in accept:
        return False
    content_type = str((stored.content or {}).get("contentType") or "").lower()
    return "*/*" in accept or (bool(content_type) and content_type in accept)


def _raw_binary(ctx: Ctx, stored: Stored) -> Reply:
    content = stored.content or {}
    try:
        data = base64.b64decode(str(content.get("data") or ""), validate=True)
    except (binascii.Error, ValueError):
        data = b""
    headers = ctx.version_headers(stored)
    headers["Content-Security-Policy"] = "default-src 'none'"
    headers["Last-Modified"] = http_date(stored.last_updated)
    return Reply(200, data, headers, str(content.get("contentType") or "application/octet-stream"))
