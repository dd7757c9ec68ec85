"""The right to object (SMR-T8) and the merge table kept in step with Consent and Patient writes.

Written down:

- A Consent is an objection while its ``status`` is ``active`` and ``provision.type`` is ``deny``;
  updating it to another status (``inactive``) withdraws it. An objection on any Patient of a merge
  group covers the whole group.
- Protected data: Condition, Observation, AllergyIntolerance, Immunization, MedicationRequest,
  DocumentReference, Binary (through the DocumentReference that points at it, or its
  ``securityContext``) and Encounter. The Patient resource itself stays readable: it is identity, and
  other organizations need it to find out that the patient objected.
- "Another organization" is any organization other than the one whose client first created the
  resource. In open mode (no authorization) the caller has no organization, so every caller is
  another organization.
- Break the glass (``X-Purpose-Of-Use: BTG``) lifts the objection for that request; the AuditEvent
  records the purpose BTG.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from testbed.simulator._caller import Caller
from testbed.simulator._identity import merge_group, replaced_by
from testbed.simulator._index import PROTECTED_TYPES, parse_reference
from testbed.simulator._repository import Stored
from testbed.simulator._storage import merges, objections

_UNOBJECT = objections.delete().where(objections.c.consent_id == sa.bindparam("c"))
_OBJECT = objections.insert()
_UNMERGE = merges.delete().where(merges.c.patient_id == sa.bindparam("p"))
_MERGE = merges.insert()
_OBJECTING = sa.select(objections.c.patient_id).distinct()


def is_objection(consent: dict[str, Any]) -> bool:
    """Whether a Consent records an active objection to sharing."""
    provision = consent.get("provision")
    kind = provision.get("type") if isinstance(provision, dict) else None
    return consent.get("status") == "active" and kind == "deny"


def sync_consent(conn: Connection, stored: Stored, base_url: str) -> None:
    """Keep the objection table in step with a written Consent."""
    if stored.version > 1:
        conn.execute(_UNOBJECT, {"c": stored.id})
    content = stored.content or {}
    patient = content.get("patient")
    ref = (
        parse_reference(str(patient.get("reference") or ""), base_url) if isinstance(patient, dict) else None
    )
    if is_objection(content) and ref is not None and ref[0] == "Patient":
        conn.execute(_OBJECT, {"consent_id": stored.id, "patient_id": ref[1]})


def sync_merge(conn: Connection, stored: Stored, base_url: str) -> str | None:
    """Keep the merge table in step with a written Patient; the survivor's id when it is merged."""
    if stored.version > 1:
        conn.execute(_UNMERGE, {"p": stored.id})
    other = replaced_by(stored.content or {}, base_url)
    if other is not None and other != stored.id:
        conn.execute(_MERGE, {"patient_id": stored.id, "survivor_id": other})
    return other


class PolicyCache:
    """The set of objecting patients, recomputed only after a Consent or Patient write commits.

    One SMR process per database: the cache does not see writes made by another process.
    """

    def __init__(self) -> None:
        self.epoch = 0
        self._cached: tuple[int, frozenset[str]] = (-1, frozenset())

    def changed(self) -> None:
        """Forget the cached set (called after the commit that changed objections or merges)."""
        self.epoch += 1

    def denied(self, conn: Connection) -> frozenset[str]:
        """Every patient id covered by an objection, from the cache when still valid."""
        epoch = self.epoch
        cached_epoch, value = self._cached
        if cached_epoch == epoch:
            return value
        value = denied_patients(conn)
        if self.epoch == epoch:
            self._cached = (epoch, value)
        return value


def denied_patients(conn: Connection) -> frozenset[str]:
    """Every patient id covered by an objection (merge groups included)."""
    ids = {str(r) for r in conn.execute(_OBJECTING).scalars()}
    covered: set[str] = set()
    for pid in ids:
        covered |= merge_group(conn, pid)
    return frozenset(covered)


def protected(rtype: str) -> bool:
    """Whether a resource type is clinical data under the right to object."""
    return rtype in PROTECTED_TYPES


def may_see(stored: Stored, caller: Caller, denied: frozenset[str], *, enforce: bool) -> bool:
    """Whether ``caller`` may see this resource under the patient's objection (BTG lifts it)."""
    if not enforce or stored.type not in PROTECTED_TYPES or stored.patient_id is None:
        return True
    if stored.patient_id not in denied:
        return True
    if caller.organization is not None and stored.author_org == caller.organization:
        return True
    return caller.btg
