"""Transaction and batch Bundles (SMR-T4 document submission and any other transaction).

A transaction is all or nothing: every entry is checked and the whole Bundle validated first, then one
write job runs the entries (DELETE, then POST, then PUT, as R4 orders them), resolves conditional
creates (``ifNoneExist``), gives new ids, rewrites every reference to an entry's ``fullUrl`` (a
``reference`` becomes ``Type/id``, any other element the absolute URL) and commits once. Any failure
rolls everything back and the reply is the OperationOutcome of the failing entry
(``Bundle.entry[n]...``). A batch runs each entry alone, as a separate interaction.
"""

from __future__ import annotations

import http
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.engine import Connection

from testbed.simulator._caller import Caller
from testbed.simulator._context import Ctx, FhirRequest, patient_entities
from testbed.simulator._index import PARAMS, now_instant
from testbed.simulator._outcome import FhirError, Reply, invalid, issues_from
from testbed.simulator._repository import Stored, current, delete
from testbed.simulator._writes import Prepared, Writes

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2}


@dataclass(slots=True)
class Step:
    """One entry of a transaction."""

    index: int
    method: str
    rtype: str
    rid: str | None
    full_url: str | None
    prepared: Prepared | None
    condition: str | None
    if_match: str | None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


class Transactions:
    """POST [base] with a transaction or batch Bundle."""

    def __init__(self, ctx: Ctx, writes: Writes, dispatch: Callable[[FhirRequest, Caller], Reply]) -> None:
        self.ctx = ctx
        self.writes = writes
        self.dispatch = dispatch

    def handle(self, req: FhirRequest, caller: Caller) -> Reply:
        """Process a transaction or a batch."""
        bundle = self.ctx.parse_body(req, "Bundle")
        kind = bundle.get("type")
        entries = bundle.get("entry") or []
        if not isinstance(entries, list):
            raise invalid("Bundle.entry must be an array.", "Bundle.entry")
        if kind == "batch":
            return self._batch(req, entries, caller)
        if kind != "transaction":
            raise invalid(
                f"POST to the base URL takes a transaction or batch Bundle, not '{kind}'.", "Bundle.type"
            )
        steps = [self._step(n, entry, caller) for n, entry in enumerate(entries)]
        self._unique_full_urls(steps)
        probe = dict(bundle)
        probe["entry"] = [
            {**entry, "resource": step.prepared.resource} if step.prepared is not None else entry
            for entry, step in zip(entries, steps, strict=True)
        ]
        outcome = self.ctx.checker.check_bundle(probe)
        if not outcome.valid:
            raise FhirError(
                422,
                "processing",
                f"The transaction does not conform ({len(outcome.errors())} error(s)); nothing was stored.",
                "Bundle",
                issues=issues_from(outcome.issues, "Bundle"),
            )
        results = self.ctx.storage.writer.run(lambda conn: self._run(conn, steps, caller))
        return Reply(200, self._response(req, steps, results))

    # ------------------------------------------------------------------ transaction

    def _step(self, n: int, entry: Any, caller: Caller) -> Step:
        where = f"Bundle.entry[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
            raise invalid("Every transaction entry needs a request (method and url).", f"{where}.request")
        request = entry["request"]
        method, url = str(request.get("method") or ""), str(request.get("url") or "")
        if method not in _ORDER:
            raise FhirError(
                400,
                "not-supported",
                f"Transaction entries may be POST, PUT or DELETE, not '{method}'.",
                f"{where}.request.method",
            )
        path = url.split("?", 1)[0].strip("/")
        if path.startswith(self.ctx.base_url.strip("/")):
            path = path[len(self.ctx.base_url.strip("/")) :].strip("/")
        parts = path.split("/") if path else []
        rtype = parts[0] if parts else ""
        if rtype not in PARAMS:
            raise FhirError(
                400,
                "not-supported",
                f"'{url}' does not name a resource type this SMR stores.",
                f"{where}.request.url",
            )
        self.ctx.need(caller, rtype, "write")
        expected = 1 if method == "POST" else 2
        if len(parts) != expected or "?" in url:
            form = "[type]" if method == "POST" else "[type]/[id]"
            raise invalid(
                f"A {method} entry's request.url must be {form}, not '{url}'.", f"{where}.request.url"
            )
        rid = parts[1] if method != "POST" else None
        prepared = None
        if method != "DELETE":
            resource = entry.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
                raise invalid(f"The entry's resource must be a {rtype}.", f"{where}.resource")
            if method == "PUT" and resource.get("id") != rid:
                raise invalid(
                    f"The resource id must equal the id in request.url ({rid}).", f"{where}.resource.id"
                )
            resource = {k: v for k, v in resource.items() if not (method == "POST" and k == "id")}
            previous = None
            if method == "PUT" and rtype == "Patient" and rid is not None:
                previous = self.ctx.storage.read(lambda conn: current(conn, rtype, rid))
            try:
                prepared = self.writes.with_identity(resource, previous=previous)
            except FhirError as err:
                raise _reroot(err, n) from None
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        return Step(
            n, method, rtype, rid, full_url, prepared, request.get("ifNoneExist"), request.get("ifMatch")
        )

    @staticmethod
    def _unique_full_urls(steps: list[Step]) -> None:
        seen: set[str] = set()
        for step in steps:
            if step.full_url and step.full_url in seen:
                raise invalid(f"The fullUrl {step.full_url} appears twice.", f"{step.where}.fullUrl")
            if step.full_url:
                seen.add(step.full_url)

    def _run(self, conn: Connection, steps: list[Step], caller: Caller) -> dict[int, tuple[int, Stored]]:
        results: dict[int, tuple[int, Stored]] = {}
        targets: dict[str, tuple[str, str]] = {}
        for step in sorted(steps, key=lambda s: _ORDER[s.method]):
            try:
                if step.method == "POST" and step.condition:
                    found = self.writes.matches(conn, step.rtype, str(step.condition))
                    if len(found) > 1:
                        raise FhirError(
                            412,
                            "multiple-matches",
                            f"ifNoneExist matches {len(found)} resources.",
                            step.rtype,
                        )
                    if found:
                        results[step.index] = (200, found[0])
                        step.rid = found[0].id
                if step.method == "POST" and step.rid is None:
                    step.rid = str(uuid.uuid4())
            except FhirError as err:
                raise _reroot(err, step.index) from None
            if step.full_url and step.rid:
                targets[step.full_url] = (step.rtype, step.rid)
        for step in steps:
            if step.prepared is not None and step.index not in results:
                step.prepared.resource = _rewrite(step.prepared.resource, targets, self.ctx.base_url)
        for step in sorted(steps, key=lambda s: _ORDER[s.method]):
            if step.index in results:
                continue
            try:
                results[step.index] = self._apply(conn, step, caller)
            except FhirError as err:
                raise _reroot(err, step.index) from None
        for status, stored in results.values():
            if stored.type == "DocumentReference" and status == 201:
                self.writes.link_binaries(conn, stored)
        return results

    def _apply(self, conn: Connection, step: Step, caller: Caller) -> tuple[int, Stored]:
        assert step.rid is not None
        if step.method == "DELETE":
            previous = current(conn, step.rtype, step.rid)
            if previous is None:
                raise FhirError(
                    404, "not-found", f"{step.rtype}/{step.rid} is not known.", f"{step.rtype}.id"
                )
            if previous.deleted:
                return 204, previous
            self.ctx.audit_in(conn, caller, "delete", patient_entities(previous), 204)
            self.ctx.policy_changed(step.rtype)
            return 204, delete(conn, previous)
        assert step.prepared is not None
        if step.method == "POST":
            status, stored = self.writes.apply_create(
                conn, step.prepared, caller, condition=None, rid=step.rid
            )
            self.ctx.audit_in(conn, caller, "create", patient_entities(stored), status)
            return status, stored
        status, stored, interaction, entities = self.writes.apply_update(
            conn, step.prepared, caller, step.rid, step.if_match
        )
        self.ctx.audit_in(conn, caller, interaction, entities, status)
        return status, stored

    def _response(
        self, req: FhirRequest, steps: list[Step], results: dict[int, tuple[int, Stored]]
    ) -> dict[str, Any]:
        minimal = req.prefer.get("return") == "minimal"
        entries = []
        for step in steps:
            status, stored = results[step.index]
            entry: dict[str, Any] = {}
            if status != 204:
                entry["fullUrl"] = f"{self.ctx.base_url}/{stored.type}/{stored.id}"
                if not minimal:
                    entry["resource"] = stored.content
            response: dict[str, Any] = {"status": f"{status} {http.HTTPStatus(status).phrase}"}
            if status != 204:
                response["location"] = f"{stored.type}/{stored.id}/_history/{stored.version}"
                response["etag"] = stored.etag
                response["lastModified"] = stored.last_updated
            entry["response"] = response
            entries.append(entry)
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": now_instant()},
            "type": "transaction-response",
            "entry": entries,
        }

    # ------------------------------------------------------------------ batch

    def _batch(self, req: FhirRequest, entries: list[Any], caller: Caller) -> Reply:
        out = []
        for n, entry in enumerate(entries):
            reply = self._batch_entry(req, n, entry, caller)
            response: dict[str, Any] = {"status": f"{reply.status} {http.HTTPStatus(reply.status).phrase}"}
            for header, key in (
                ("Location", "location"),
                ("ETag", "etag"),
                ("Last-Modified", "lastModified"),
            ):
                if header in reply.headers:
                    response[key] = reply.headers[header]
            item: dict[str, Any] = {}
            if isinstance(reply.body, dict) and reply.status >= 400:
                response["outcome"] = reply.body
            elif isinstance(reply.body, dict):
                item["resource"] = reply.body
            item["response"] = response
            out.append(item)
        bundle = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": now_instant()},
            "type": "batch-response",
            "entry": out,
        }
        return Reply(200, bundle)

    def _batch_entry(self, req: FhirRequest, n: int, entry: Any, caller: Caller) -> Reply:
        where = f"Bundle.entry[{n}]"
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            return invalid("Every batch entry needs a request (method and url).", f"{where}.request").reply()
        url = str(request["url"])
        path, _, query = url.partition("?")
        headers = {k: v for k, v in req.headers.items() if k in ("accept",)}
        if request.get("ifNoneExist"):
            headers["if-none-exist"] = str(request["ifNoneExist"])
        if request.get("ifMatch"):
            headers["if-match"] = str(request["ifMatch"])
        headers["content-type"] = "application/fhir+json"
        resource = entry.get("resource")
        body = json.dumps(resource).encode("utf-8") if isinstance(resource, dict) else b""
        sub = FhirRequest(
            str(request["method"]).upper(),
            [p for p in path.strip("/").split("/") if p],
            parse_qsl(query, keep_blank_values=True),
            headers,
            body,
            f"{self.ctx.base_url}/{url}",
            dict(req.prefer),
        )
        if not sub.parts:
            return invalid("A batch entry cannot address the base URL.", f"{where}.request.url").reply()
        reply = self.dispatch(sub, caller)
        for future in sub.pending:
            future.result(60)  # the entry's AuditEvent is committed before the batch replies
        return reply


def _rewrite(value: Any, targets: dict[str, tuple[str, str]], base_url: str, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _rewrite(v, targets, base_url, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, targets, base_url, key) for v in value]
    if isinstance(value, str) and value in targets:
        rtype, rid = targets[value]
        return f"{rtype}/{rid}" if key == "reference" else f"{base_url}/{rtype}/{rid}"
    return value


def _reroot(err: FhirError, index: int) -> FhirError:
    prefix = f"Bundle.entry[{index}]"
    for found in err.issues:
        rerooted = []
        for expression in found.get("expression") or []:
            head, dot, rest = str(expression).partition(".")
            if expression.startswith("Bundle."):
                rerooted.append(expression)
            elif head and head[0].isupper():
                rerooted.append(f"{prefix}.resource{dot}{rest}" if rest else f"{prefix}.resource")
            else:
                rerooted.append(f"{prefix}.{expression}")
        found["expression"] = rerooted or [prefix]
    return err
