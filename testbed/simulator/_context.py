"""What every interaction of the simulated SMR shares: the request, parsing, scopes, replies, audit."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from sqlalchemy.engine import Connection

from testbed.national import NationalContent
from testbed.simulator._audit import Auditor, Entity
from testbed.simulator._caller import Caller
from testbed.simulator._identity import IdentityService
from testbed.simulator._outcome import FhirError, Reply, invalid, issue, operation_outcome
from testbed.simulator._policy import PolicyCache
from testbed.simulator._repository import Stored
from testbed.simulator._search import PageTokens
from testbed.simulator._storage import Storage
from testbed.simulator._validation import WriteValidator

MAX_DEPTH = 64
"""Deepest JSON nesting accepted (FHIR resources need far less; deeper is refused with 400)."""


@dataclass(slots=True)
class FhirRequest:
    """One FHIR request under the base URL, as the app layer read it."""

    method: str
    parts: list[str]
    params: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes = b""
    url: str = ""
    prefer: dict[str, str] = field(default_factory=dict)
    pending: list[Future[Any]] = field(default_factory=list)
    """AuditEvents being committed: the app waits for them before it replies."""


@dataclass(slots=True)
class Ctx:
    """The parts of one simulated SMR the interactions work with."""

    storage: Storage
    checker: WriteValidator
    national: NationalContent
    identity: IdentityService
    auditor: Auditor
    tokens: PageTokens
    faults: frozenset[str]
    base_url: str
    policy: PolicyCache = field(default_factory=PolicyCache)

    @property
    def enforce_consent(self) -> bool:
        """The right to object is enforced on reads and matches (fault ``ignore-consent`` turns it off)."""
        return "ignore-consent" not in self.faults

    @property
    def enforce_consent_on_includes(self) -> bool:
        """The right to object is enforced on included resources too."""
        return self.enforce_consent and "ignore-consent-include" not in self.faults

    def denied(self, conn: Connection) -> frozenset[str]:
        """The patients whose objection is in force (cached between Consent/Patient writes)."""
        return self.policy.denied(conn)

    def policy_changed(self, rtype: str) -> None:
        """From inside a write job: objections or merges may change with this write of ``rtype``."""
        if rtype in ("Consent", "Patient"):
            self.storage.writer.after_commit(self.policy.changed)

    def need(self, caller: Caller, rtype: str, mode: str) -> None:
        """Refuse with 403 when the token's scopes do not allow ``mode`` on ``rtype``."""
        if not caller.allows(rtype, mode):
            raise FhirError(
                403,
                "forbidden",
                f"The access token does not allow {mode} on {rtype} (a scope such as "
                f"system/{rtype}.{mode} is needed).",
                rtype,
            )

    def parse_body(self, req: FhirRequest, expected: str | None) -> dict[str, Any]:
        """The request body as a FHIR JSON resource.

        Raises:
            FhirError: 400 when it is not JSON, has a duplicate property, is nested too deeply, is not
                a resource, or is not of the type the URL names.
        """
        where = expected or "Resource"
        if not req.body.strip():
            raise invalid("The request has no body; a FHIR JSON resource is expected.", where)
        try:
            data = json.loads(req.body, object_pairs_hook=_no_duplicates)
        except _Duplicate as exc:
            raise invalid(f"The JSON has the property '{exc.key}' twice in one object.", where) from None
        except RecursionError:
            raise invalid(f"The JSON is nested more than {MAX_DEPTH} levels deep.", where) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid(f"The body is not valid JSON: {exc}.", where) from None
        if _too_deep(data):
            raise invalid(f"The JSON is nested more than {MAX_DEPTH} levels deep.", where)
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise invalid(
                "The body is not a FHIR resource: a JSON object with 'resourceType' is expected.", where
            )
        if expected and data["resourceType"] != expected:
            raise invalid(
                f"The body is a {data['resourceType']} but the URL names {expected}.",
                f"{expected}.resourceType",
            )
        return data

    def audit(
        self,
        caller: Caller,
        interaction: str,
        entities: Iterable[Entity],
        status: int,
        detail: str | None = None,
        *,
        defer: list[Future[Any]] | None = None,
    ) -> None:
        """Record an AuditEvent; wait until it is committed, or leave that to the app (``defer``).

        Either way the reply waits for the commit: the audit trail is never behind what was served.
        """
        if not self.auditor.wanted(interaction):
            return
        event = self.auditor.event(caller, interaction, list(entities), status=status, detail=detail)
        future = self.storage.writer.submit(lambda conn: self.auditor.store(conn, [event], self.base_url))
        if defer is not None:
            defer.append(future)
        else:
            future.result(60)

    def audit_in(
        self, conn: Connection, caller: Caller, interaction: str, entities: Iterable[Entity], status: int
    ) -> None:
        """Record an AuditEvent inside a write job (it commits, or not, with the write)."""
        if self.auditor.wanted(interaction):
            event = self.auditor.event(caller, interaction, list(entities), status=status)
            self.auditor.store(conn, [event], self.base_url)

    def location(self, stored: Stored) -> str:
        """The versioned URL of a stored resource."""
        return f"{self.base_url}/{stored.type}/{stored.id}/_history/{stored.version}"

    def version_headers(self, stored: Stored) -> dict[str, str]:
        """ETag and Last-Modified of a stored version."""
        return {"ETag": stored.etag, "Last-Modified": http_date(stored.last_updated)}

    def write_reply(
        self, req: FhirRequest, stored: Stored, status: int, notes: list[dict[str, Any]] | None = None
    ) -> Reply:
        """The reply to a create or update, shaped by ``Prefer: return=``."""
        headers = self.version_headers(stored)
        if status == 201:
            headers["Location"] = self.location(stored)
        wanted = req.prefer.get("return", "representation")
        if wanted == "minimal":
            return Reply(status, None, headers)
        if wanted == "OperationOutcome":
            found = notes or [
                issue("information", "informational", "The interaction succeeded.", stored.type)
            ]
            return Reply(status, operation_outcome(found), headers)
        return Reply(status, stored.content, headers)


def http_date(instant: str) -> str:
    """An HTTP date (RFC 9110) from a FHIR instant."""
    moment = datetime.fromisoformat(instant.replace("Z", "+00:00"))
    return format_datetime(moment, usegmt=True)


def patient_entities(stored: Stored) -> list[Entity]:
    """Audit entities of a resource: itself, and the patient it is about."""
    found = [Entity(f"{stored.type}/{stored.id}")]
    if stored.type == "Patient":
        return found
    if stored.patient_id:
        found.append(Entity(f"Patient/{stored.patient_id}"))
    return found


class _Duplicate(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _too_deep(data: Any) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, dict | list))
    return False
