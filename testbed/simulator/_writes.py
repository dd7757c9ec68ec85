"""Create, update and delete (SMR-T1, T2, T6, T8): validation, INS, duplicates, merges, consent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from testbed.core.issues import Severity
from testbed.simulator._audit import Entity
from testbed.simulator._caller import Caller
from testbed.simulator._context import Ctx, FhirRequest, patient_entities
from testbed.simulator._identity import replaced_by
from testbed.simulator._index import READ_ONLY, parse_reference, patient_of
from testbed.simulator._outcome import FhirError, Reply, invalid, issue, issues_from, not_found
from testbed.simulator._policy import sync_consent, sync_merge
from testbed.simulator._repository import Stored, current, delete, load, write
from testbed.simulator._search import parse, where_clauses
from testbed.simulator._storage import resources


@dataclass(slots=True)
class Prepared:
    """A resource ready to be written: validated, with its INS when one was assigned."""

    resource: dict[str, Any]
    notes: list[dict[str, Any]] = field(default_factory=list)
    assigned_ins: str | None = None


class Writes:
    """The write interactions of the simulated SMR."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------------ interactions

    def create(self, req: FhirRequest, caller: Caller, rtype: str) -> Reply:
        """POST [type] (``If-None-Exist`` for conditional create)."""
        self.ctx.need(caller, rtype, "write")
        resource = self.ctx.parse_body(req, rtype)
        resource.pop("id", None)
        prepared = self.prepare(resource, previous=None)
        condition = req.headers.get("if-none-exist")

        def job(conn: Connection) -> tuple[int, Stored]:
            status, stored = self.apply_create(conn, prepared, caller, condition=condition)
            if status == 201:
                self.ctx.audit_in(conn, caller, "create", patient_entities(stored), 201)
            return status, stored

        status, stored = self.ctx.storage.writer.run(job)
        if status == 200:
            self.ctx.audit(caller, "read", patient_entities(stored), 200, "conditional create matched")
            headers = self.ctx.version_headers(stored)
            headers["Location"] = f"{self.ctx.base_url}/{stored.type}/{stored.id}"
            return Reply(200, stored.content if req.prefer.get("return") != "minimal" else None, headers)
        return self.ctx.write_reply(req, stored, 201, prepared.notes)

    def update(self, req: FhirRequest, caller: Caller, rtype: str, rid: str) -> Reply:
        """PUT [type]/[id] (``If-Match`` for version-aware update; update-as-create allowed)."""
        self.ctx.need(caller, rtype, "write")
        resource = self.ctx.parse_body(req, rtype)
        if resource.get("id") != rid:
            raise invalid(
                f"The resource id ({resource.get('id')!r}) must equal the id in the URL ({rid!r}).",
                f"{rtype}.id",
            )
        before = self.ctx.storage.read(lambda conn: current(conn, rtype, rid)) if rtype == "Patient" else None
        prepared = self.prepare(resource, previous=before)
        if_match = req.headers.get("if-match")

        def job(conn: Connection) -> tuple[int, Stored, str, list[Entity]]:
            status, stored, interaction, entities = self.apply_update(conn, prepared, caller, rid, if_match)
            self.ctx.audit_in(conn, caller, interaction, entities, status)
            return status, stored, interaction, entities

        status, stored, _, _ = self.ctx.storage.writer.run(job)
        return self.ctx.write_reply(req, stored, status, prepared.notes)

    def delete(self, req: FhirRequest, caller: Caller, rtype: str, rid: str) -> Reply:
        """DELETE [type]/[id]: 204, also when already deleted; 404 when it never existed."""
        self.ctx.need(caller, rtype, "write")

        def job(conn: Connection) -> Stored:
            previous = current(conn, rtype, rid)
            if previous is None:
                raise not_found(rtype, rid)
            if previous.deleted:
                return previous
            gone = delete(conn, previous)
            self.ctx.policy_changed(rtype)
            self.ctx.audit_in(conn, caller, "delete", patient_entities(previous), 204)
            return gone

        stored = self.ctx.storage.writer.run(job)
        return Reply(204, None, {"ETag": stored.etag})

    # ------------------------------------------------------------------ shared with transactions

    def prepare(self, resource: dict[str, Any], *, previous: Stored | None) -> Prepared:
        """INS (Patient), then validation against the MA profile; 422 on error."""
        prepared = self.with_identity(resource, previous=previous)
        rtype = str(resource.get("resourceType"))
        outcome = self.ctx.checker.check(prepared.resource)
        if not outcome.valid:
            raise FhirError(
                422,
                "processing",
                f"The {rtype} does not conform to its MA profile ({len(outcome.errors())} error(s)).",
                rtype,
                issues=issues_from(outcome.issues, rtype),
            )
        prepared.notes = issues_from(
            [i for i in outcome.issues if i.severity is not Severity.INFORMATION], rtype
        )
        if prepared.assigned_ins:
            note = f"The SMR assigned the INS {prepared.assigned_ins}."
            prepared.notes.insert(0, issue("information", "informational", note, f"{rtype}.identifier[0]"))
        return prepared

    def with_identity(self, resource: dict[str, Any], *, previous: Stored | None) -> Prepared:
        """Refuse read-only types; give a Patient its INS (kept from ``previous``, or assigned)."""
        rtype = str(resource.get("resourceType"))
        if rtype in READ_ONLY:
            raise FhirError(
                405, "not-supported", f"{rtype} resources cannot be written through the API.", rtype
            )
        prepared = Prepared(resource)
        identity = self.ctx.identity
        if rtype != "Patient" or identity.has_ins(resource):
            return prepared
        old = previous.content if previous is not None and previous.content else None
        carried = _ins_of(old, identity.ins_system)
        if carried is not None:
            prepared.resource = identity.with_ins(resource, carried)
        elif (
            identity.sufficient(resource)
            and identity.can_assign
            and replaced_by(resource, self.ctx.base_url) is None
        ):
            value = identity.new_ins()
            prepared.resource = identity.with_ins(resource, value)
            prepared.assigned_ins = value
        return prepared

    def apply_create(
        self,
        conn: Connection,
        prepared: Prepared,
        caller: Caller,
        *,
        condition: str | None,
        rid: str | None = None,
    ) -> tuple[int, Stored]:
        """Create inside a write job: 200 with the match of a conditional create, else 201."""
        resource = prepared.resource
        rtype = str(resource["resourceType"])
        if condition:
            found = self.matches(conn, rtype, condition)
            if len(found) == 1:
                return 200, found[0]
            if len(found) > 1:
                raise FhirError(
                    412,
                    "multiple-matches",
                    f"The condition '{condition}' matches {len(found)} {rtype} resources; it must match one "
                    "at most.",
                    rtype,
                )
        self._identity_checks(conn, prepared, None)
        stored = write(
            conn,
            prepared.resource,
            rid=rid or str(uuid.uuid4()),
            method="POST",
            base_url=self.ctx.base_url,
            author_org=caller.organization,
            patient_id=self.patient_of(conn, prepared.resource),
            previous=None,
        )
        self.after_write(conn, stored)
        return 201, stored

    def apply_update(
        self, conn: Connection, prepared: Prepared, caller: Caller, rid: str, if_match: str | None
    ) -> tuple[int, Stored, str, list[Entity]]:
        """Update inside a write job: (status, stored, audited interaction, audit entities)."""
        rtype = str(prepared.resource["resourceType"])
        previous = current(conn, rtype, rid)
        if if_match is not None:
            expected = if_match.strip().removeprefix("W/").strip('"')
            if previous is None or previous.deleted or str(previous.version) != expected:
                have = "none" if previous is None or previous.deleted else f'W/"{previous.version}"'
                raise FhirError(
                    412,
                    "conflict",
                    f"If-Match {if_match} does not match the current version of {rtype}/{rid} ({have}).",
                    f"{rtype}.meta.versionId",
                )
        survivor = replaced_by(prepared.resource, self.ctx.base_url) if rtype == "Patient" else None
        if survivor is not None:
            self._check_survivor(conn, rid, survivor)
        else:
            self._identity_checks(conn, prepared, rid)
        alive = previous if previous is not None and not previous.deleted else None
        stored = write(
            conn,
            prepared.resource,
            rid=rid,
            method="PUT",
            base_url=self.ctx.base_url,
            author_org=caller.organization,
            patient_id=self.patient_of(conn, prepared.resource),
            previous=previous,
        )
        self.after_write(conn, stored)
        status = 200 if alive is not None else 201
        if survivor is not None:
            return status, stored, "merge", [Entity(f"Patient/{rid}"), Entity(f"Patient/{survivor}")]
        return status, stored, "update" if alive is not None else "create", patient_entities(stored)

    def after_write(self, conn: Connection, stored: Stored) -> None:
        """Keep objections, merges and Binary links in step with a write."""
        self.ctx.policy_changed(stored.type)
        if stored.type == "Consent":
            sync_consent(conn, stored, self.ctx.base_url)
        elif stored.type == "Patient":
            sync_merge(conn, stored, self.ctx.base_url)
        elif stored.type == "DocumentReference":
            self.link_binaries(conn, stored)

    def link_binaries(self, conn: Connection, document: Stored) -> None:
        """A Binary a DocumentReference points at is about the same patient (right to object)."""
        for content in (document.content or {}).get("content") or []:
            attachment = content.get("attachment") if isinstance(content, dict) else None
            url = attachment.get("url") if isinstance(attachment, dict) else None
            ref = parse_reference(str(url or ""), self.ctx.base_url)
            if ref is not None and ref[0] == "Binary":
                conn.execute(
                    resources.update()
                    .where(resources.c.type == "Binary", resources.c.id == ref[1])
                    .values(patient_id=document.patient_id)
                )

    def patient_of(self, conn: Connection, resource: dict[str, Any]) -> str | None:
        """The patient a resource is about (its ``patient`` parameter), or None.

        Kept for every type (audit entities name it); the right to object only uses it for protected types.
        """
        rtype = resource.get("resourceType")
        if rtype == "Binary":
            context = resource.get("securityContext")
            ref = (
                parse_reference(str(context.get("reference") or ""), self.ctx.base_url)
                if isinstance(context, dict)
                else None
            )
            if ref is None:
                return None
            if ref[0] == "Patient":
                return ref[1]
            target = current(conn, ref[0], ref[1])
            return target.patient_id if target is not None else None
        return patient_of(resource, self.ctx.base_url)

    def matches(self, conn: Connection, rtype: str, condition: str) -> list[Stored]:
        """Resources matching a conditional-create search (``identifier=...``, ``Patient?identifier=...``)."""
        query = condition.split("?", 1)[1] if "?" in condition else condition
        params = parse_qsl(query, keep_blank_values=True)
        if not params:
            raise invalid(f"The condition '{condition}' has no search parameter.", rtype)
        plan = parse(rtype, params, strict=True)
        r = resources
        rows = conn.execute(
            sa.select(r.c.type, r.c.id)
            .where(r.c.type == rtype, ~r.c.deleted, *where_clauses(conn, plan, self.ctx.base_url))
            .limit(2)
        )
        return load(conn, [(t, i) for t, i in rows])

    # ------------------------------------------------------------------ identity rules

    def _identity_checks(self, conn: Connection, prepared: Prepared, rid: str | None) -> None:
        resource = prepared.resource
        if resource.get("resourceType") != "Patient":
            return
        identity = self.ctx.identity
        while prepared.assigned_ins and identity.ins_taken(conn, prepared.assigned_ins):
            fresh = identity.new_ins()
            for ident in resource.get("identifier") or []:
                if ident.get("system") == identity.ins_system and ident.get("value") == prepared.assigned_ins:
                    ident["value"] = fresh
            prepared.assigned_ins = fresh
        for dup in identity.duplicates(conn, resource, rid):
            raise FhirError(
                409,
                "duplicate",
                f"Patient/{dup.other_id} already carries the identifier {dup.system}|{dup.value}: this would "
                f"be a duplicate patient. Update Patient/{dup.other_id} instead, use If-None-Exist, or merge "
                "the records (SMR-T2).",
                f"Patient.identifier[{dup.index}]",
            )

    def _check_survivor(self, conn: Connection, rid: str, survivor: str) -> None:
        where = "Patient.link"
        if survivor == rid:
            raise FhirError(422, "business-rule", "A Patient cannot be replaced by itself.", where)
        target = current(conn, "Patient", survivor)
        if target is None or target.deleted:
            raise FhirError(422, "business-rule", f"The surviving Patient/{survivor} does not exist.", where)
        if replaced_by(target.content or {}, self.ctx.base_url) is not None:
            raise FhirError(
                422,
                "business-rule",
                f"Patient/{survivor} is itself merged away; link to its survivor instead.",
                where,
            )


def _ins_of(patient: dict[str, Any] | None, system: str) -> str | None:
    for ident in (patient or {}).get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == system and isinstance(ident.get("value"), str):
            return str(ident["value"])
    return None
