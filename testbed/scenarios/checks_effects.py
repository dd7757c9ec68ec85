"""Checks that look beyond one reply: audit and consent effects, HL7 v2 ACKs, what a client sent.

``audit`` and ``consent_enforced`` make requests of their own (recorded with the step): the audit
trail is searched with ``GET AuditEvent?patient=``, and the objecting patient's data are asked for as
another organization. ``evidence`` and ``authorized`` judge the exchanges a client made with the
testbed's simulator.
"""

from __future__ import annotations

import re
import time
from typing import Any

from testbed.scenarios.checks import CheckContext, Detail, check, entry_resources
from testbed.scenarios.exchange import Exchange
from testbed.scenarios.results import StepError, StepFailure

_POLL_S = 0.1


def _tail(reference: str) -> str:
    parts = reference.split("/_history/")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])


def _codes(value: Any) -> set[str]:
    """Every ``code`` of a CodeableConcept, a Coding, or lists of them."""
    found: set[str] = set()
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("code"), str):
            found.add(item["code"])
        for coding in item.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                found.add(coding["code"])
    return found


def audit_matches(event: dict[str, Any], args: dict[str, Any]) -> bool:
    """Whether an AuditEvent records what ``args`` describes (action, entity, subtype, agent, purpose)."""
    if args.get("action") and event.get("action") not in args["action"]:
        return False
    if args.get("entity"):
        whats = [
            (e.get("what") or {}).get("reference", "")
            for e in event.get("entity") or []
            if isinstance(e, dict)
        ]
        if _tail(args["entity"]) not in {_tail(w) for w in whats if isinstance(w, str)}:
            return False
    if args.get("subtype") and args["subtype"] not in _codes(event.get("subtype")):
        return False
    agents = [a for a in event.get("agent") or [] if isinstance(a, dict)]
    if args.get("agent_inpe"):
        values = {((a.get("who") or {}).get("identifier") or {}).get("value") for a in agents}
        if args["agent_inpe"] not in values:
            return False
    if args.get("purpose"):
        purposes = _codes(event.get("purposeOfEvent"))
        for agent in agents:
            purposes |= _codes(agent.get("purposeOfUse"))
        if args["purpose"] == "*" and not purposes:
            return False
        if args["purpose"] != "*" and args["purpose"] not in purposes:
            return False
    return True


def _summary(event: dict[str, Any]) -> str:
    subtype = ",".join(sorted(_codes(event.get("subtype"))))
    whats = [
        (e.get("what") or {}).get("reference", "?") for e in event.get("entity") or [] if isinstance(e, dict)
    ]
    return f"action={event.get('action')} subtype={subtype or '-'} entity={','.join(whats) or '-'}"


@check("audit")
def audit_event_recorded(ctx: CheckContext, args: Any) -> Detail | None:
    """An AuditEvent for the patient records the action (searched with ``GET AuditEvent?patient=``)."""
    pid = _tail(str(args["patient"])).split("/")[-1]
    timeout = float(args.get("timeout", ctx.runtime.audit_wait))
    # every audit assertion of a step shares one window, counted from the step's start
    deadline = ctx.runtime.step_started + timeout
    made: list[str] = []
    while True:
        ex = ctx.runtime.fetch("GET", f"AuditEvent?patient=Patient/{pid}")
        made.append(ex.id)
        if ex.status != 200:
            raise StepFailure(
                f"GET AuditEvent?patient=Patient/{pid} answered HTTP {ex.status}",
                expected=200,
                received=ex.status,
            )
        body = ex.reply_json()
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise StepFailure("the audit search did not return a Bundle")
        events = [e for e in entry_resources(body, ("match",)) if e.get("resourceType") == "AuditEvent"]
        matched = [e for e in events if audit_matches(e, args)]
        if args.get("absent"):
            if matched:
                raise StepFailure(f"an AuditEvent records {_summary(matched[0])}, and none should")
            return Detail(exchanges=made)
        if matched:
            return Detail(message=f"{len(matched)} matching AuditEvent(s)", exchanges=made)
        if time.monotonic() >= deadline:
            wanted = {k: v for k, v in args.items() if k not in ("patient", "timeout")}
            seen = "; ".join(_summary(e) for e in events[:8]) or "none"
            raise StepFailure(
                f"no AuditEvent for Patient/{pid} matches {wanted} within {timeout:g} s\n"
                f"AuditEvents found: {seen}",
                expected=wanted,
                received=len(events),
            )
        time.sleep(_POLL_S)


def _mentions(value: Any, target: str) -> bool:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str) and _tail(ref) == target:
            return True
        return any(_mentions(v, target) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, target) for v in value)
    return False


def about_patient(resource: dict[str, Any], pid: str) -> bool:
    """Whether a resource holds the patient's data: it refers to Patient ``pid``.

    The Patient resource itself is identity, not clinical data: other organizations may read it (to
    learn that the patient objected), so it is not counted.
    """
    if resource.get("resourceType") == "Patient":
        return False
    return _mentions(resource, f"Patient/{pid}")


@check("consent_enforced")
def objection_is_enforced(ctx: CheckContext, args: Any) -> Detail | None:
    """Another organization gets nothing of the objecting patient: searches empty, reads 403.

    With ``allowed: true`` the opposite is asserted (break the glass, or the data's own organization).
    """
    pid = _tail(str(args.get("patient", ""))).split("/")[-1]
    if not pid:
        raise StepError("consent_enforced needs 'patient' (the objecting patient's id)")
    client = args.get("client", "other")
    headers = dict(args.get("headers") or {})
    allowed = bool(args.get("allowed", False))
    made: list[str] = []
    for path in args.get("search") or []:
        ex = ctx.runtime.fetch("GET", path, client=client, headers=headers)
        made.append(ex.id)
        body = ex.reply_json()
        leaked = (
            [r for r in entry_resources(body, ("match", "include")) if about_patient(r, pid)]
            if isinstance(body, dict)
            else []
        )
        if ex.status != 200:
            raise StepFailure(
                f"GET {path} answered HTTP {ex.status}; a search answers 200 "
                f"({'with the data' if allowed else 'with nothing of the patient'})",
                expected=200,
                received=ex.status,
            )
        if allowed and not leaked:
            raise StepFailure(f"GET {path} returned nothing of Patient/{pid}, and access is allowed here")
        if not allowed and leaked:
            names = ", ".join(f"{r.get('resourceType')}/{r.get('id')}" for r in leaked[:5])
            raise StepFailure(
                f"GET {path} as another organization returned the objecting patient's data: {names}",
                received=names,
            )
    for path in args.get("read") or []:
        ex = ctx.runtime.fetch("GET", path, client=client, headers=headers)
        made.append(ex.id)
        expected = 200 if allowed else 403
        if ex.status != expected:
            raise StepFailure(
                f"GET {path} as another organization answered HTTP {ex.status}; expected {expected}",
                expected=expected,
                received=ex.status,
            )
    return Detail(exchanges=made)


def ack_code(message: str) -> str | None:
    """MSA-1 of an HL7 v2 acknowledgement, or None."""
    for segment in re.split(r"[\r\n]+", message):
        if segment.startswith("MSA"):
            fields = segment.split(segment[3] if len(segment) > 3 else "|")
            return fields[1] if len(fields) > 1 else None
    return None


@check("ack")
def ack_code_is_expected(ctx: CheckContext, args: Any) -> Detail | None:
    """The HL7 v2 acknowledgement carries the expected MSA-1 code (AA, AE, AR…)."""
    ex = ctx.require_subject()
    expected = [args] if isinstance(args, str) else list(args)
    if ex.response is None:
        raise StepFailure(f"no acknowledgement: {ex.error}", expected=expected)
    code = ack_code(str(ex.response.get("message", "")))
    if code not in expected:
        raise StepFailure(
            f"Received: MSA-1 {code}\nExpected: {' or '.join(expected)}",
            expected=expected,
            received=code,
            location="MSA-1",
        )
    return None


def _matches(ex: Exchange, method: str | None, path: str | None) -> bool:
    if method and ex.request.get("method") != method:
        return False
    return not (path and re.fullmatch(path, str(ex.request.get("path", "")).split("?")[0]) is None)


@check("evidence")
def client_exchange_recorded(ctx: CheckContext, args: Any) -> Detail | None:
    """The client made (or did not make) a request of this method and path to the simulator."""
    inbound = ctx.runtime.inbound_evidence()
    subject = ctx.subject
    pool = inbound
    if args.get("before") and subject is not None:
        pool = inbound[: inbound.index(subject)] if subject in inbound else inbound
    found = [ex for ex in pool if _matches(ex, args.get("method"), args.get("path"))]
    if args.get("status"):
        found = [ex for ex in found if ex.status in args["status"]]
    what = f"{args.get('method', 'any method')} {args.get('path', 'any path')}"
    if args.get("status"):
        what += f" answered {' or '.join(map(str, args['status']))}"
    if args.get("absent"):
        if found:
            raise StepFailure(f"the client sent {what}, and must not")
        return None
    if not found:
        seen = (
            ", ".join(f"{e.request.get('method')} {e.request.get('path')}" for e in inbound[:10]) or "nothing"
        )
        raise StepFailure(
            f"the client never sent {what}{' before it' if args.get('before') else ''}\nReceived: {seen}",
            expected=what,
        )
    header = args.get("header")
    if header and not any(ex.header(header, direction="request") for ex in found):
        raise StepFailure(f"the client's {what} carried no {header} header", expected=header)
    return Detail(exchanges=[ex.id for ex in found[:5]])


@check("authorized")
def client_request_authorized(ctx: CheckContext, args: Any) -> Detail | None:
    """The client's request carried a bearer token that the simulator accepted."""
    ex = ctx.require_subject()
    authorization = ex.header("Authorization", direction="request") or ""
    if not authorization.lower().startswith("bearer "):
        raise StepFailure("the client's request carries no bearer token (Authorization: Bearer …)")
    if ex.status in (401, 403):
        raise StepFailure(f"the simulator refused the client's token (HTTP {ex.status})", received=ex.status)
    return None
