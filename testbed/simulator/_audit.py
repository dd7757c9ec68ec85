"""MAAuditEvent records (SMR-T9): who (user INPE, organization INPE), what, why, with what outcome."""

from __future__ import annotations

import base64
import ipaddress
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from testbed.national import NationalContent
from testbed.simulator._caller import Caller
from testbed.simulator._index import now_instant
from testbed.simulator._repository import write

_ACTION = {
    "create": "C",
    "update": "U",
    "delete": "D",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "search-type": "E",
    "transaction": "E",
    "batch": "E",
    "merge": "U",
}
_SUBTYPE_SYSTEM = "http://hl7.org/fhir/restful-interaction"
_LIFECYCLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
_OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
_SYSTEM_ID = "urn:ietf:rfc:3986"


@dataclass(frozen=True, slots=True)
class Entity:
    """What an event touched: a ``Type/id`` reference, or a search query."""

    reference: str | None = None
    query: str | None = None
    label: str | None = None


class Auditor:
    """Builds and stores AuditEvents; ``enabled``/``searches`` follow the fault switches."""

    def __init__(self, national: NationalContent, observer: str, *, enabled: bool, searches: bool) -> None:
        self.inpe_system = national.identifier("inpe").uri
        self.observer = observer
        self.enabled = enabled
        self.searches = searches

    def wanted(self, interaction: str) -> bool:
        """Whether this interaction is audited under the current faults."""
        if not self.enabled:
            return False
        return self.searches or interaction != "search-type"

    def event(
        self,
        caller: Caller,
        interaction: str,
        entities: Iterable[Entity],
        *,
        status: int,
        detail: str | None = None,
    ) -> dict[str, Any]:
        """An MAAuditEvent for one interaction and its HTTP status."""
        subtype = [{"system": _SUBTYPE_SYSTEM, "code": interaction, "display": interaction}]
        if interaction == "merge":
            subtype = [
                {"system": _SUBTYPE_SYSTEM, "code": "update", "display": "update"},
                {"system": _LIFECYCLE_SYSTEM, "code": "merge", "display": "Merge Record Lifecycle Event"},
            ]
        event: dict[str, Any] = {
            "resourceType": "AuditEvent",
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
                "code": "rest",
                "display": "RESTful Operation",
            },
            "subtype": subtype,
            "action": _ACTION.get(interaction, "E"),
            "recorded": now_instant(),
            "outcome": "0" if status < 400 else ("4" if status < 500 else "8"),
            "purposeOfEvent": [{"coding": [{"system": _ACT_REASON, "code": caller.purpose}]}],
            "agent": self._agents(caller),
            "source": {
                "observer": {"display": self.observer},
                "type": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                        "code": "4",
                        "display": "Application Server",
                    }
                ],
            },
            "entity": [self._entity(e) for e in entities] or [self._entity(Entity(label=interaction))],
        }
        if status >= 400 or detail:
            event["outcomeDesc"] = detail or f"HTTP {status}"
        return event

    def store(self, conn: Connection, events: Iterable[dict[str, Any]], base_url: str) -> None:
        """Write AuditEvents (inside the caller's job, so they commit with what they record)."""
        for event in events:
            write(
                conn,
                event,
                rid=str(uuid.uuid4()),
                method="POST",
                base_url=base_url,
                author_org=None,
                patient_id=None,
                previous=None,
            )

    def _agents(self, caller: Caller) -> list[dict[str, Any]]:
        agents: list[dict[str, Any]] = []
        if caller.user_inpe:
            agents.append(
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                                "code": "humanuser",
                                "display": "human user",
                            }
                        ]
                    },
                    "who": {"identifier": {"system": self.inpe_system, "value": caller.user_inpe}},
                    "requestor": True,
                    "network": {"address": caller.address, "type": "2"},
                }
            )
        if caller.organization:
            who: dict[str, Any] = {"identifier": {"system": self.inpe_system, "value": caller.organization}}
        else:
            who = {
                "identifier": {
                    "system": _SYSTEM_ID,
                    "value": f"urn:testbed:client:{caller.client_id or 'open-mode'}",
                }
            }
        if caller.client_id:
            who["display"] = caller.client_id
        application: dict[str, Any] = {
            "type": {
                "coding": [
                    {
                        "system": "http://dicom.nema.org/resources/ontology/DCM",
                        "code": "110150",
                        "display": "Application",
                    }
                ]
            },
            "who": who,
            "requestor": not caller.user_inpe,
        }
        if not caller.user_inpe and _is_ip(caller.address):  # where a system's own request came from
            application["network"] = {"address": caller.address, "type": "2"}
        agents.append(application)
        return agents

    @staticmethod
    def _entity(entity: Entity) -> dict[str, Any]:
        if entity.query is not None:
            return {
                "what": {"display": entity.label or "search"},
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
                "role": {"system": _OBJECT_ROLE, "code": "24", "display": "Query"},
                "query": base64.b64encode(entity.query.encode("utf-8")).decode("ascii"),
            }
        if entity.reference is None:
            return {
                "what": {"display": entity.label or "request"},
                "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            }
        if entity.reference.startswith("Patient/"):
            return {
                "what": {"reference": entity.reference},
                "type": {"system": _ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": _OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        return {
            "what": {"reference": entity.reference},
            "type": {"system": _ENTITY_TYPE, "code": "2", "display": "System Object"},
            "role": {"system": _OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
        }


def _is_ip(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
