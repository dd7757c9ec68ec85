"""Resource rows: versioned writes (current row, history row, index rows) and reads, on one connection.

The statements are built once with bound parameters: building SQLAlchemy expressions per call costs
several times more than running them, and these run on every request. The ``resources`` row is the
current version; ``history`` keeps the versions it replaced (so a create writes its JSON once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from testbed.simulator._index import index_rows, now_instant
from testbed.simulator._storage import history, merges, objections, resources, search_index

_T: sa.BindParameter[str] = sa.bindparam("t")
_I: sa.BindParameter[str] = sa.bindparam("i")
_CURRENT = sa.select(resources).where(resources.c.type == _T, resources.c.id == _I)
_VERSION = sa.select(history).where(
    history.c.type == _T, history.c.id == _I, history.c.version == sa.bindparam("v")
)
_VERSIONS = (
    sa.select(history).where(history.c.type == _T, history.c.id == _I).order_by(history.c.version.desc())
)
_LOAD = sa.select(resources).where(
    resources.c.type == _T, resources.c.id.in_(sa.bindparam("ids", expanding=True)), ~resources.c.deleted
)
_MAX_SEQ = sa.select(sa.func.coalesce(sa.func.max(resources.c.seq), 0))
_INSERT = resources.insert()
_UPDATE = (
    resources.update()
    .where(resources.c.type == sa.bindparam("t_"), resources.c.id == sa.bindparam("i_"))
    .values(
        version=sa.bindparam("version"),
        last_updated=sa.bindparam("last_updated"),
        deleted=sa.bindparam("deleted"),
        method=sa.bindparam("method"),
        author_org=sa.bindparam("author_org"),
        patient_id=sa.bindparam("patient_id"),
        content=sa.bindparam("content"),
    )
)
_HISTORY = history.insert()
_UNINDEX = search_index.delete().where(search_index.c.type == _T, search_index.c.id == _I)
_INDEX = search_index.insert()
_UNOBJECT = objections.delete().where(objections.c.consent_id == _I)
_UNMERGE = merges.delete().where(merges.c.patient_id == _I)


@dataclass(frozen=True, slots=True)
class Stored:
    """One stored version of a resource."""

    type: str
    id: str
    version: int
    last_updated: str
    deleted: bool
    content: dict[str, Any] | None
    author_org: str | None = None
    patient_id: str | None = None
    method: str = "POST"

    @property
    def etag(self) -> str:
        """The weak ETag of this version."""
        return f'W/"{self.version}"'


def current(conn: Connection, rtype: str, rid: str) -> Stored | None:
    """The current version of ``rtype/rid`` (deleted or not), or None when it never existed."""
    row = conn.execute(_CURRENT, {"t": rtype, "i": rid}).mappings().first()
    return _stored(row) if row is not None else None


def version(conn: Connection, rtype: str, rid: str, vid: int) -> Stored | None:
    """One past or current version."""
    now = current(conn, rtype, rid)
    if now is not None and now.version == vid:
        return now
    row = conn.execute(_VERSION, {"t": rtype, "i": rid, "v": vid}).mappings().first()
    if row is None:
        return None
    return Stored(rtype, rid, row["version"], row["last_updated"], row["deleted"], row["content"])


def versions(conn: Connection, rtype: str, rid: str) -> list[tuple[Stored, str]]:
    """Every version, newest first, with the method that made it."""
    now = conn.execute(_CURRENT, {"t": rtype, "i": rid}).mappings().first()
    if now is None:
        return []
    rows = conn.execute(_VERSIONS, {"t": rtype, "i": rid}).mappings()
    older = [
        (Stored(rtype, rid, r["version"], r["last_updated"], r["deleted"], r["content"]), r["method"])
        for r in rows
    ]
    return [(_stored(now), str(now["method"])), *older]


def load(conn: Connection, keys: list[tuple[str, str]]) -> list[Stored]:
    """The current, not deleted, versions of several resources (missing ones are left out)."""
    found: list[Stored] = []
    by_type: dict[str, list[str]] = {}
    for rtype, rid in keys:
        by_type.setdefault(rtype, []).append(rid)
    for rtype, ids in by_type.items():
        for start in range(0, len(ids), 500):
            rows = conn.execute(_LOAD, {"t": rtype, "ids": ids[start : start + 500]}).mappings()
            found.extend(_stored(r) for r in rows)
    order = {key: n for n, key in enumerate(keys)}
    return sorted(found, key=lambda s: order.get((s.type, s.id), 0))


def write(
    conn: Connection,
    resource: dict[str, Any],
    *,
    rid: str,
    method: str,
    base_url: str,
    author_org: str | None,
    patient_id: str | None,
    previous: Stored | None,
) -> Stored:
    """Store a new version of ``resource`` (create when ``previous`` is None), with its index rows.

    The stored JSON carries ``id``, ``meta.versionId`` and ``meta.lastUpdated``; the creator's
    organization is kept from the first version (the author/custodian of SMR-T8).
    """
    rtype = str(resource["resourceType"])
    number = 1 if previous is None else previous.version + 1
    stamp = now_instant()
    body = dict(resource)  # shallow: only id and meta change; nested values are never mutated after this
    body["id"] = rid
    meta = dict(body.get("meta") or {})
    meta["versionId"] = str(number)
    meta["lastUpdated"] = stamp
    body["meta"] = meta
    body = {"resourceType": rtype, **{k: v for k, v in body.items() if k != "resourceType"}}
    org = previous.author_org if previous is not None and previous.author_org else author_org
    values = {
        "version": number,
        "last_updated": stamp,
        "deleted": False,
        "method": method,
        "author_org": org,
        "patient_id": patient_id,
        "content": body,
    }
    if previous is None:
        conn.execute(_INSERT, {"type": rtype, "id": rid, "seq": _next_seq(conn), **values})
    else:
        _supersede(conn, previous)
        conn.execute(_UPDATE, {"t_": rtype, "i_": rid, **values})
    _reindex(conn, rtype, rid, index_rows(body, base_url), fresh=previous is None)
    return Stored(rtype, rid, number, stamp, False, body, org, patient_id, method)


def delete(conn: Connection, previous: Stored) -> Stored:
    """Mark a resource deleted (a new version without content); its index rows go."""
    number = previous.version + 1
    stamp = now_instant()
    values = {
        "version": number,
        "last_updated": stamp,
        "deleted": True,
        "method": "DELETE",
        "author_org": previous.author_org,
        "patient_id": previous.patient_id,
        "content": None,
    }
    _supersede(conn, previous)
    conn.execute(_UPDATE, {"t_": previous.type, "i_": previous.id, **values})
    _reindex(conn, previous.type, previous.id, [], fresh=False)
    if previous.type == "Consent":
        conn.execute(_UNOBJECT, {"i": previous.id})
    if previous.type == "Patient":
        conn.execute(_UNMERGE, {"i": previous.id})
    return Stored(
        previous.type,
        previous.id,
        number,
        stamp,
        True,
        None,
        previous.author_org,
        previous.patient_id,
        "DELETE",
    )


def _supersede(conn: Connection, previous: Stored) -> None:
    """Move the version being replaced to the history."""
    row = {
        "type": previous.type,
        "id": previous.id,
        "version": previous.version,
        "last_updated": previous.last_updated,
        "deleted": previous.deleted,
        "method": previous.method,
        "content": previous.content,
    }
    conn.execute(_HISTORY, row)


def _next_seq(conn: Connection) -> int:
    """The next creation number; kept on the (single) writer connection after one query."""
    seq = conn.info.get("testbed-seq")
    if seq is None:
        seq = int(conn.execute(_MAX_SEQ).scalar_one())
    conn.info["testbed-seq"] = seq + 1
    return int(seq) + 1


def _reindex(conn: Connection, rtype: str, rid: str, rows: list[tuple[Any, ...]], *, fresh: bool) -> None:
    if not fresh:
        conn.execute(_UNINDEX, {"t": rtype, "i": rid})
    if rows:
        sql, positional = _index_sql(conn)
        if positional:
            params: list[Any] = [(rtype, rid, p, s, v, lo, hi) for p, s, v, lo, hi in rows]
        else:
            names = ("param", "system", "value", "lo", "hi")
            params = [{"type": rtype, "id": rid, **dict(zip(names, row, strict=True))} for row in rows]
        conn.exec_driver_sql(sql, params)  # plain text columns: no per-row SQLAlchemy processing needed


_INDEX_SQL: dict[str, tuple[str, bool]] = {}


def _index_sql(conn: Connection) -> tuple[str, bool]:
    dialect = conn.dialect
    found = _INDEX_SQL.get(dialect.name)
    if found is None:
        compiled = _INDEX.compile(dialect=dialect)
        order = compiled.positiontup
        if dialect.positional and order != ["type", "id", "param", "system", "value", "lo", "hi"]:
            raise RuntimeError(f"unexpected column order for the search index: {order}")
        found = _INDEX_SQL[dialect.name] = (str(compiled), bool(dialect.positional))
    return found


def _stored(row: Any) -> Stored:
    return Stored(
        row["type"],
        row["id"],
        row["version"],
        row["last_updated"],
        row["deleted"],
        row["content"],
        row["author_org"],
        row["patient_id"],
        row["method"],
    )
