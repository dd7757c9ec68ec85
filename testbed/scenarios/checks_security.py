"""Security assertions: hostile input, the server afterwards, TLS facts, the five Ws of an audit record.

``rejected`` (a hostile input got a client error), ``still_up`` (the server answers after it),
``tls_secure`` (judges the report of a ``tls`` step) and ``audit_trail`` (an AuditEvent naming who,
what, when, where from and why).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from testbed.scenarios.checks import CheckContext, Detail, check, entry_resources
from testbed.scenarios.checks_effects import ack_code, audit_matches
from testbed.scenarios.exchange import Exchange
from testbed.scenarios.results import StepError, StepFailure
from testbed.scenarios.security_steps import CANARY_NOTE, CLOSED_WHILE_SENDING
from testbed.scenarios.transport import TransportFailure

_POLL_S = 0.1
_ACCEPTED_ACKS = ("AA", "CA")


def _note(ex: Exchange, prefix: str) -> str | None:
    return next((n[len(prefix) :] for n in ex.notes if n.startswith(prefix)), None)


@check("rejected")
def hostile_input_rejected(ctx: CheckContext, args: Any) -> Detail | None:
    """A hostile input got a client error: HTTP 4xx (never 2xx, 3xx or 5xx), or an ACK that is not AA.

    A server may also close the connection while an oversized body is still being sent. A reply that
    holds what an external entity points at fails (the entity was resolved).
    """
    ex = ctx.require_subject()
    if ex.protocol == "mllp":
        if ex.response is None:
            return Detail(message="dropped without an acknowledgement")
        code = ack_code(str(ex.response.get("message", "")))
        if code in _ACCEPTED_ACKS:
            raise StepFailure(
                f"the receiver accepted the broken input (MSA-1 {code})", expected="AE or AR", received=code
            )
        return Detail(message=f"acknowledged with MSA-1 {code}")
    if ex.protocol != "http":
        raise StepError(f"'rejected' judges an HTTP reply or an HL7 v2 ACK, not a {ex.protocol} exchange")
    if ex.response is None:
        closed = _note(ex, CLOSED_WHILE_SENDING)
        if closed is not None:
            return Detail(message=f"refused by closing the connection{closed}")
        raise StepFailure(
            f"no reply to the hostile input: {ex.error} (the server hung or went down instead of refusing)"
        )
    status = int(ex.status or 0)
    canary = _note(ex, CANARY_NOTE)
    if canary and re.search(canary, ex.raw_reply.decode("utf-8", "replace")):
        raise StepFailure("the reply holds what the external entity points at: the entity was resolved (XXE)")
    if status >= 500:
        raise StepFailure(
            f"the server failed (HTTP {status}) instead of refusing the input with a clear 4xx error",
            expected="4xx",
            received=status,
        )
    if status < 400:
        raise StepFailure(
            f"the server accepted the hostile input (HTTP {status})", expected="4xx", received=status
        )
    return Detail(message=f"refused with HTTP {status}")


def _http_alive(ctx: CheckContext, deadline: float, made: list[str]) -> str:
    last = ""
    while True:
        try:
            ex = ctx.runtime.fetch("GET", "metadata")
            made.append(ex.id)
            body = ex.reply_json()
            if (
                ex.status == 200
                and isinstance(body, dict)
                and body.get("resourceType") == "CapabilityStatement"
            ):
                return "GET metadata answered 200"
            last = f"GET metadata answered HTTP {ex.status}"
        except TransportFailure as exc:
            made.append(exc.exchange.id)
            last = f"GET metadata got no reply: {exc}"
        if time.monotonic() >= deadline:
            raise StepFailure(f"the server is not up after the hostile input: {last}")
        time.sleep(_POLL_S)


def _mllp_alive(address: str, deadline: float) -> str:
    from testbed.hl7v2.mllp import MLLPClient, MLLPError
    from testbed.scenarios.hostile import minimal_message

    host, _, port = address.rpartition(":")
    last = ""
    while True:
        try:
            with MLLPClient(host, int(port), timeout=max(deadline - time.monotonic(), 1.0)) as client:
                reply = client.send(minimal_message("testbed-probe"))
            code = ack_code(reply)
            if code:
                return f"the MLLP listener acknowledged a new message (MSA-1 {code})"
            last = "the MLLP listener answered without an MSA segment"
        except (MLLPError, OSError) as exc:
            last = f"the MLLP listener did not answer: {exc}"
        if time.monotonic() >= deadline:
            raise StepFailure(f"the MLLP listener is not up after the hostile input: {last}")
        time.sleep(_POLL_S)


@check("still_up")
def server_still_up(ctx: CheckContext, args: Any) -> Detail | None:
    """After a hostile input the server still answers, within ``timeout`` seconds (default 5).

    ``GET metadata`` must answer 200 with a CapabilityStatement; after an MLLP input, a new MLLP message
    must also get an ACK.
    """
    timeout = float(args.get("timeout", 5)) if isinstance(args, dict) else 5.0
    deadline = time.monotonic() + timeout
    made: list[str] = []
    said = [_http_alive(ctx, deadline, made)]
    subject = ctx.subject
    if subject is not None and subject.protocol == "mllp":
        address = str(subject.request.get("address") or "")
        if not address:
            raise StepError("the MLLP exchange does not say which listener it went to")
        said.append(_mllp_alive(address, deadline))
    return Detail(message="; ".join(said), exchanges=made)


# --- TLS ---------------------------------------------------------------------------------------------

_ORDER = {"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}


@check("tls_secure")
def tls_is_secure(ctx: CheckContext, args: Any) -> Detail | None:
    """The ``tls`` step's report shows what is asked.

    ``chain`` trusted, ``hostname`` named by the certificate, protocol at least ``negotiated_min``,
    versions ``refuses``/``accepts``, ``plaintext_refused``, ``hsts`` (a sound Strict-Transport-Security
    header on an HTTPS reply), ``client_cert_required``.
    """
    ex = ctx.require_subject()
    report = ex.reply_json() if ex.protocol == "tls" else None
    if not isinstance(report, dict):
        raise StepError("'tls_secure' judges the report of a 'tls' step")
    if report.get("error"):
        raise StepFailure(str(report["error"]))
    said = _certificate(report, args)
    said += _versions(report, args)
    said += _plaintext(report, args)
    said += _hsts(report, args)
    said += _client_cert(report, args)
    return Detail(message="; ".join(said))


def _certificate(report: dict[str, Any], args: dict[str, Any]) -> list[str]:
    if not any(k in args for k in ("chain", "hostname", "negotiated_min")):
        return []
    cert = report.get("certificate")
    if not isinstance(cert, dict):
        raise StepError("the 'tls' step did not run the 'certificate' probe")
    if cert.get("protocol") is None:
        raise StepFailure(f"no TLS handshake: {cert.get('error')}")
    said = []
    if args.get("chain"):
        if not cert.get("chain_trusted"):
            raise StepFailure(
                f"the certificate chain is not trusted by {cert.get('ca_file')}: {cert.get('error')}",
                expected="a chain to the given CA",
            )
        said.append(f"chain trusted by {cert.get('ca_file')}")
    if args.get("hostname"):
        if not cert.get("hostname_matches"):
            raise StepFailure(f"the certificate does not name {report.get('host')}: {cert.get('error')}")
        said.append(f"the certificate names {report.get('host')}")
    if "negotiated_min" in args:
        wanted = "TLSv" + str(args["negotiated_min"]).replace("1.0", "1")
        if _ORDER.get(str(cert["protocol"]), 0) < _ORDER.get(wanted, 99):
            raise StepFailure(
                f"the handshake negotiated {cert['protocol']}; at least {wanted} is required",
                expected=wanted,
                received=cert["protocol"],
            )
        said.append(f"negotiated {cert['protocol']} ({cert.get('cipher')})")
    return said


def _versions(report: dict[str, Any], args: dict[str, Any]) -> list[str]:
    if not ("refuses" in args or "accepts" in args):
        return []
    versions = report.get("versions")
    if not isinstance(versions, dict):
        raise StepError("the 'tls' step did not run the 'versions' probe")
    accepted = [v for v in args.get("refuses") or [] if (versions.get(v) or {}).get("accepted")]
    if accepted:
        raise StepFailure(
            f"the server accepts TLS {', '.join(accepted)}; only TLS 1.2 or higher is allowed",
            expected="refused",
            received=accepted,
        )
    refused = [v for v in args.get("accepts") or [] if not (versions.get(v) or {}).get("accepted")]
    if refused:
        why = "; ".join(f"{v}: {(versions.get(v) or {}).get('error')}" for v in refused)
        raise StepFailure(f"the server refuses TLS {', '.join(refused)} ({why})", expected="accepted")
    return [f"TLS {', '.join(args.get('refuses') or [])} refused".strip()]


def _plaintext(report: dict[str, Any], args: dict[str, Any]) -> list[str]:
    if not args.get("plaintext_refused"):
        return []
    plain = report.get("plaintext")
    if not isinstance(plain, dict):
        raise StepError("the 'tls' step did not run the 'plaintext' probe")
    status = plain.get("status")
    if plain.get("answered_http") and status is not None and 300 <= status < 400:
        raise StepFailure(
            f"plain HTTP is redirected (HTTP {status} to {plain.get('location')}), not refused: "
            "the request (and its token) already crossed in clear"
        )
    if plain.get("answered_http") and status is not None and status < 300:
        raise StepFailure(f"plain HTTP is served (HTTP {status})")
    return ["plain HTTP refused" + (f" (HTTP {status})" if status else "")]


def _hsts(report: dict[str, Any], args: dict[str, Any]) -> list[str]:
    if not args.get("hsts"):
        return []
    found = report.get("hsts")
    if not isinstance(found, dict):
        raise StepError("the 'tls' step did not run the 'hsts' probe")
    if not found.get("answered"):
        raise StepFailure(f"no HTTPS reply to look for HSTS in: {found.get('error')}")
    if found.get("problems"):
        raise StepFailure("; ".join(found["problems"]), expected="Strict-Transport-Security: max-age>0")
    return [f"HSTS {found.get('value')}"]


def _client_cert(report: dict[str, Any], args: dict[str, Any]) -> list[str]:
    if not args.get("client_cert_required"):
        return []
    found = report.get("client_cert")
    if not isinstance(found, dict):
        raise StepError("the 'tls' step did not run the 'client_cert' probe")
    if not found.get("configured"):
        raise StepError("no client certificate is configured (tls.client_cert), so mTLS cannot be judged")
    status = found.get("status")
    if found.get("answered") and status is not None and status < 400:
        raise StepFailure(f"the server answered HTTP {status} to a client without a certificate")
    return ["a client without a certificate is refused"]


# --- audit -------------------------------------------------------------------------------------------


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _five_ws(event: dict[str, Any], args: dict[str, Any], since: datetime, until: datetime) -> list[str]:
    """What an AuditEvent fails to say of who, when, where from and why (empty: all said)."""
    missing = []
    agents = [a for a in event.get("agent") or [] if isinstance(a, dict)]
    named = {((a.get("who") or {}).get("identifier") or {}).get("value") for a in agents} - {None, ""}
    if "who" in args and not named:
        missing.append("who: no agent is identified (an INPE or a system id)")
    absent = [w for w in args.get("who") or [] if w and w not in named]  # "": an identity the run lacks
    if absent:
        missing.append(f"who: {', '.join(absent)} not named by any agent")
    if args.get("when"):
        recorded = _instant(event.get("recorded"))
        if recorded is None or not since <= recorded <= until:
            missing.append(f"when: recorded {event.get('recorded')!r} is not the time of the access")
    if args.get("where") and not any((a.get("network") or {}).get("address") for a in agents):
        missing.append("where from: no agent has a network address")
    if args.get("why"):
        purposes = [p for p in event.get("purposeOfEvent") or [] if p] + [
            p for a in agents for p in a.get("purposeOfUse") or [] if p
        ]
        if not purposes:
            missing.append("why: no purpose of use")
    return missing


@check("audit_trail")
def audit_names_five_ws(ctx: CheckContext, args: Any) -> Detail | None:
    """An AuditEvent for the patient records the access and names who, when, where from and why.

    Found with ``GET AuditEvent?patient=`` and matched on ``action`` and ``entity``: who (every INPE or
    system id of ``who`` named by an agent), when (``recorded`` at the time of the step, give or take
    ``clock_skew`` seconds), where from (an agent's network address), why (a purpose of use).
    """
    pid = str(args["patient"]).split("/_history/")[0].rstrip("/").split("/")[-1]
    timeout = float(args.get("timeout", ctx.runtime.audit_wait))
    skew = timedelta(seconds=float(args.get("clock_skew", 300)))
    started = datetime.now(UTC) - timedelta(seconds=time.monotonic() - ctx.runtime.step_started)
    deadline = ctx.runtime.step_started + timeout
    made: list[str] = []
    while True:
        ex = ctx.runtime.fetch("GET", f"AuditEvent?patient=Patient/{pid}")
        made.append(ex.id)
        body = ex.reply_json()
        if ex.status != 200 or not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise StepFailure(f"GET AuditEvent?patient=Patient/{pid} answered HTTP {ex.status}, not a Bundle")
        events = [e for e in entry_resources(body, ("match",)) if e.get("resourceType") == "AuditEvent"]
        matched = [e for e in events if audit_matches(e, args)]
        gaps = [_five_ws(e, args, started - skew, datetime.now(UTC) + skew) for e in matched]
        if any(not g for g in gaps):
            return Detail(
                message=f"{len(matched)} AuditEvent(s) for the access, one naming all", exchanges=made
            )
        if time.monotonic() >= deadline:
            if not matched:
                raise StepFailure(
                    f"no AuditEvent for Patient/{pid} records {args.get('action')} {args.get('entity', '')}"
                )
            raise StepFailure("the AuditEvent of the access does not say " + "; ".join(gaps[0]))
        time.sleep(_POLL_S)
