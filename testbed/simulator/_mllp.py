"""HL7 v2 over MLLP (SMR-T1, T2, T7): ADT feed, A40 merge and ORU^R01 results, stored as MA FHIR resources.

Every message is validated against the MA v2 profiles and answered: ``AR`` when it cannot be processed
at all (not readable, unsupported type or version), ``AE`` with one ERR per problem when its content
is wrong (profile errors, an unknown patient, a mapped resource that breaks its MA profile), ``AA``
once its data are stored. ADT A01/A03/A04/A08/A28/A31 create the Patient or update the one found by a
PID-3 identifier (identifiers are merged, the INS kept); A40 marks the Patient found by MRG-1
``replaced-by`` the one found by PID-3; ORU^R01 stores every OBX as an MAObservationLab of the Patient
found by PID-3, all or none. The sending facility (MSH-4, an INPE) is the author organization.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import weakref
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2 import Hl7v2ParseError, Hl7v2Validator, Message, parse_message
from testbed.hl7v2.ack import make_ack
from testbed.hl7v2.mllp import FramingProblem, MLLPServer
from testbed.simulator._caller import Caller
from testbed.simulator._context import Ctx, patient_entities
from testbed.simulator._evidence import EvidenceLog, body_text
from testbed.simulator._outcome import FhirError
from testbed.simulator._repository import Stored
from testbed.simulator._service import FhirService
from testbed.simulator._v2map import V2Mapper, v2_location
from testbed.simulator._writes import Prepared

log = logging.getLogger(__name__)

IDENTITY_EVENTS = frozenset({"ADT^A01", "ADT^A03", "ADT^A04", "ADT^A08", "ADT^A28", "ADT^A31"})
_REJECT_RULES = frozenset({"msh-9:message-type", "MSH-12:fixed", "MSH-12.1:fixed"})


class _Refused(Exception):
    def __init__(self, code: str, issues: list[Issue]) -> None:
        super().__init__(code)
        self.code = code
        self.issues = issues


class V2Processor:
    """Turns one v2 message into stored FHIR resources and an ACK (see the module docstring)."""

    def __init__(self, ctx: Ctx, service: FhirService, validator: Hl7v2Validator) -> None:
        self.ctx = ctx
        self.writes = service.writes
        self.validator = validator
        self.mapper = V2Mapper(ctx.national)

    def handle(self, payload: bytes) -> tuple[str | None, Message | None]:
        """The ACK for a message (None when it is not HL7 v2 at all), and the parsed message."""
        try:
            message = parse_message(payload)
        except Hl7v2ParseError as exc:
            log.warning("MLLP: a message that is not HL7 v2 was refused: %s", exc)
            return None, None
        try:
            # the skip-validation fault skips the v2 profiles too (the suite's proof needs it)
            errors = [] if self.ctx.checker.skip else self.validator.validate(payload, "mllp").errors()
            if errors:
                code = "AR" if any(i.rule in _REJECT_RULES for i in errors) else "AE"
                return make_ack(message, code, errors), message
            self._store(message)
        except _Refused as refused:
            return make_ack(message, refused.code, refused.issues), message
        return make_ack(message, "AA"), message

    def _store(self, message: Message) -> None:
        kind = message.type_code
        pid = message.segment("PID")
        if pid is None:
            raise _Refused("AE", [_issue(IssueCode.REQUIRED, "PID", "The message has no PID segment.")])
        caller = self._caller(message)
        if kind in IDENTITY_EVENTS:
            self._identity(pid, caller)
        elif kind == "ADT^A40":
            self._merge(message, pid, caller)
        elif kind == "ORU^R01":
            self._results(message, pid, caller)
        else:
            text = f"{kind} is not a message this SMR processes (ADT A01/A03/A04/A08/A28/A31/A40, ORU^R01)."
            raise _Refused("AR", [_issue(IssueCode.NOT_SUPPORTED, "MSH-9", text, "msh-9:message-type")])

    def _caller(self, message: Message) -> Caller:
        facility = message.header.value(4)
        organization = facility if facility.isdigit() else None
        return Caller(f"mllp:{message.header.value(3)}", organization, None, "TREAT", False, None, "mllp")

    # ------------------------------------------------------------------ ADT

    def _identity(self, pid: Any, caller: Caller) -> None:
        mapped = self.mapper.patient(pid)
        existing = self._find(mapped["identifier"])
        if existing is not None:
            mapped = _merged(existing, mapped)
        prepared = self._prepare(mapped, existing, None)

        def job(conn: Connection) -> None:
            if existing is None:
                status, stored = self.writes.apply_create(conn, prepared, caller, condition=None)
                self.ctx.audit_in(conn, caller, "create", patient_entities(stored), status)
            else:
                status, stored, interaction, entities = self.writes.apply_update(
                    conn, prepared, caller, existing.id, None
                )
                self.ctx.audit_in(conn, caller, interaction, entities, status)

        self._write(job, "PID")

    def _merge(self, message: Message, pid: Any, caller: Caller) -> None:
        mrg = message.segment("MRG")
        if mrg is None:
            raise _Refused("AE", [_issue(IssueCode.REQUIRED, "MRG", "ADT^A40 needs an MRG segment.")])
        survivor = self._find(self.mapper.identifiers(pid, 3))
        old = self._find(self.mapper.identifiers(mrg, 1))
        if survivor is None or old is None:
            where = "PID-3" if survivor is None else "MRG-1"
            raise _Refused(
                "AE",
                [_issue(IssueCode.NOT_FOUND, where, "No Patient of this SMR carries these identifiers.")],
            )
        if survivor.id == old.id:
            raise _Refused(
                "AE", [_issue(IssueCode.BUSINESS_RULE, "MRG-1", "MRG-1 and PID-3 name the same Patient.")]
            )
        content = dict(old.content or {})
        content["active"] = False
        content["link"] = [{"other": {"reference": f"Patient/{survivor.id}"}, "type": "replaced-by"}]
        prepared = self._prepare(content, old, None)

        def job(conn: Connection) -> None:
            status, _, interaction, entities = self.writes.apply_update(conn, prepared, caller, old.id, None)
            self.ctx.audit_in(conn, caller, interaction, entities, status)

        self._write(job, "MRG-1")

    # ------------------------------------------------------------------ ORU

    def _results(self, message: Message, pid: Any, caller: Caller) -> None:
        patient = self._find(self.mapper.identifiers(pid, 3))
        if patient is None:
            text = "No Patient of this SMR carries the PID-3 identifiers; send its identity (ADT) first."
            raise _Refused("AE", [_issue(IssueCode.NOT_FOUND, "PID-3", text)])
        observations = self.mapper.observations(message, patient.id)
        if not observations:
            raise _Refused("AE", [_issue(IssueCode.REQUIRED, "OBX", "The ORU^R01 carries no OBX result.")])
        prepared: list[Prepared] = []
        problems: list[Issue] = []
        for occurrence, obs in observations:
            try:
                prepared.append(self._prepare(obs, None, occurrence))
            except _Refused as refused:
                problems.extend(refused.issues)
        if problems:
            raise _Refused("AE", problems)

        def job(conn: Connection) -> None:
            for item in prepared:
                status, stored = self.writes.apply_create(conn, item, caller, condition=None)
                self.ctx.audit_in(conn, caller, "create", patient_entities(stored), status)

        self._write(job, "OBX")

    # ------------------------------------------------------------------ helpers

    def _find(self, identifiers: list[dict[str, Any]]) -> Stored | None:
        for ident in identifiers:
            condition = f"identifier={ident['system']}|{ident['value']}"
            found = self.ctx.storage.read(partial(self.writes.matches, rtype="Patient", condition=condition))
            alive = [s for s in found if (s.content or {}).get("active") is not False]
            if alive:
                return alive[0]
        return None

    def _prepare(self, resource: dict[str, Any], previous: Stored | None, occurrence: int | None) -> Prepared:
        try:
            return self.writes.prepare(resource, previous=previous)
        except FhirError as err:
            raise _Refused("AE", _v2_issues(err, occurrence)) from None

    def _write(self, job: Any, where: str) -> None:
        try:
            self.ctx.storage.writer.run(job)
        except FhirError as err:
            raise _Refused("AE", _v2_issues(err, None, where)) from None


def _merged(existing: Stored, mapped: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in (existing.content or {}).items() if k != "meta"}
    out.update({k: v for k, v in mapped.items() if k not in ("identifier", "meta")})
    out["meta"] = mapped.get("meta", {})
    seen = {(i.get("system"), i.get("value")) for i in mapped["identifier"]}
    kept = [
        i
        for i in (existing.content or {}).get("identifier") or []
        if (i.get("system"), i.get("value")) not in seen
    ]
    out["identifier"] = [*mapped["identifier"], *kept]
    out["id"] = existing.id
    return out


def _issue(code: IssueCode, location: str, message: str, rule: str | None = None) -> Issue:
    return Issue(Severity.ERROR, code, location, message, rule)


def _v2_issues(err: FhirError, occurrence: int | None, where: str | None = None) -> list[Issue]:
    out = []
    for found in err.issues:
        if found.get("severity") not in ("error", "fatal"):
            continue
        expression = (found.get("expression") or [""])[0]
        try:
            code = IssueCode(found.get("code"))
        except ValueError:
            code = IssueCode.PROCESSING
        location = where or v2_location(expression, occurrence)
        out.append(Issue(Severity.ERROR, code, location, f"{expression}: {found.get('diagnostics')}"))
    return out or [_issue(IssueCode.PROCESSING, where or "MSH", err.message)]


class _RecordingServer(MLLPServer):
    """The hl7v2 MLLP server, recording framing problems as evidence too."""

    def __init__(self, evidence: EvidenceLog, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.evidence = evidence

    def _record(self, peer: str, problem: FramingProblem) -> None:
        super()._record(peer, problem)
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.evidence.record(
            {
                "id": str(uuid.uuid4()),
                "protocol": "mllp",
                "started": now,
                "finished": now,
                "duration_ms": 0,
                "client": peer,
                "request": {
                    "method": "MLLP",
                    "url": f"mllp://{self.host}:{self.port}",
                    "headers": {},
                    **body_text(problem.head),
                },
                "response": {
                    "status": f"framing:{problem.kind}",
                    "headers": {},
                    "body": problem.detail,
                    "body_size": 0,
                },
            }
        )


class MllpListener:
    """An MLLP server on its own event loop thread."""

    def __init__(self, processor: V2Processor, evidence: EvidenceLog, host: str, port: int) -> None:
        self.processor = processor
        self.evidence = evidence
        self.loop = asyncio.new_event_loop()
        self.server = _RecordingServer(evidence, self._handle, host, port)
        self._thread = threading.Thread(target=self.loop.run_forever, name="smr-mllp", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(30)
        self.address = (host, self.server.port)

    async def _handle(self, payload: bytes) -> str | None:
        started, clock = datetime.now(UTC), time.perf_counter()
        ack, message = await self.loop.run_in_executor(None, self.processor.handle, payload)
        self.evidence.record(
            {
                "id": str(uuid.uuid4()),
                "protocol": "mllp",
                "started": started.isoformat(timespec="milliseconds"),
                "finished": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "duration_ms": round((time.perf_counter() - clock) * 1000, 3),
                "client": "mllp",
                "message_type": message.type_code if message is not None else None,
                "control_id": message.control_id if message is not None else None,
                "request": {
                    "method": "MLLP",
                    "url": f"mllp://{self.address[0]}:{self.address[1]}",
                    "headers": {},
                    **body_text(payload),
                },
                "response": {
                    "status": _ack_code(ack),
                    "headers": {},
                    **body_text(ack.encode("utf-8") if ack else None),
                },
            }
        )
        return ack

    def stop(self) -> None:
        """Close the listener and its loop."""
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=30)
        self.loop.close()


def _ack_code(ack: str | None) -> str | None:
    if not ack:
        return None
    for line in ack.split("\r"):
        if line.startswith("MSA"):
            return line.split(line[3], 2)[1] if len(line) > 4 else None
    return None


_V2: weakref.WeakKeyDictionary[Any, Hl7v2Validator] = weakref.WeakKeyDictionary()
_V2_LOCK = threading.Lock()


def start_mllp(ctx: Ctx, service: FhirService, evidence: EvidenceLog, host: str, port: int) -> MllpListener:
    """Start the MLLP listener of an SMR (the v2 validator is built once per FHIR validator)."""
    owner = ctx.checker.validator
    with _V2_LOCK:
        validator = _V2.get(owner)
        if validator is None:
            validator = _V2[owner] = Hl7v2Validator.from_registry(owner.context.registry)
    return MllpListener(V2Processor(ctx, service, validator), evidence, host, port)
