"""Acknowledgements: building an ACK for a received message, and judging an ACK received for a sent one.

An ACK swaps sender and receiver, echoes the control ID (MSA-2 = MSH-10) and, for AE/AR, carries one ERR
per issue: ERR-2 the location (ERL), ERR-3 the HL7 error code (table 0357), ERR-4 the severity
(table 0516: E, W, I), ERR-7 the requirement IDs and rule, ERR-8 the message for a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2.escape import DEFAULT_ENCODING, Encoding, escape
from testbed.hl7v2.message import Hl7v2ParseError, Message, parse_location, parse_message
from testbed.hl7v2.profile import profile_requirements

ACK_CODES = ("AA", "AE", "AR")
_ERR_USER_MESSAGE_MAX = 250
_ERR_DIAGNOSTIC_MAX = 2048
_SEVERITY = {Severity.FATAL: "E", Severity.ERROR: "E", Severity.WARNING: "W", Severity.INFORMATION: "I"}
_CONDITION = {  # HL7 table 0357 (message error condition codes)
    IssueCode.STRUCTURE: ("100", "Segment sequence error"),
    IssueCode.REQUIRED: ("101", "Required field missing"),
    IssueCode.VALUE: ("102", "Data type error"),
    IssueCode.TOO_LONG: ("102", "Data type error"),
    IssueCode.CODE_INVALID: ("103", "Table value not found"),
    IssueCode.NOT_SUPPORTED: ("200", "Unsupported message type"),
    IssueCode.NOT_FOUND: ("204", "Unknown key identifier"),
    IssueCode.DUPLICATE: ("205", "Duplicate key identifier"),
}
_DEFAULT_CONDITION = ("207", "Application internal error")
_RULE_CONDITION = {
    "msh-9:message-type": ("200", "Unsupported message type"),
    "MSH-12:fixed": ("203", "Unsupported version id"),
    "MSH-12.1:fixed": ("203", "Unsupported version id"),
    "cx:authority": ("204", "Unknown key identifier"),
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")


def make_ack(
    message: Message | str | bytes,
    code: str,
    issues: Iterable[Issue] = (),
    *,
    control_id: str | None = None,
    timestamp: str | None = None,
    text: str | None = None,
) -> str:
    """Build the ACK (ER7, CR-terminated) answering ``message``.

    Args:
        message: The received message (parsed, or its text/bytes).
        code: ``AA`` (accepted), ``AE`` (error) or ``AR`` (rejected).
        issues: One ERR segment is written per issue.
        control_id: MSH-10 of the ACK (default ``A`` + the received MSH-10, cut to 20 characters).
        timestamp: MSH-7 (default: now, UTC).
        text: MSA-3, a short text (optional).

    Raises:
        ValueError: ``code`` is not AA, AE or AR.
        Hl7v2ParseError: ``message`` is not HL7 v2 text.
    """
    if code not in ACK_CODES:
        raise ValueError(f"ACK code {code!r} is not one of {', '.join(ACK_CODES)}.")
    msg = message if isinstance(message, Message) else parse_message(message)
    h = msg.header
    e = DEFAULT_ENCODING
    src_e = msg.encoding

    def raw(field: int) -> str:
        # re-encode with the ACK's delimiters (the received message may use others)
        return _recode(h.raw(field), src_e, e)

    received_id = h.value(10)
    trigger = h.value(9, 1, 2)
    msh = [
        "MSH",
        e.msh2,
        raw(5),
        raw(6),
        raw(3),
        raw(4),
        timestamp or _now(),
        "",
        f"ACK^{escape(trigger, e)}^ACK" if trigger else "ACK^^ACK",
        escape(control_id or ("A" + received_id)[:20], e),
        raw(11) or "P",
        raw(12) or "2.5",
        "",
        "",
        "",
        "",
        raw(17),
        "UNICODE UTF-8",
    ]
    lines = [
        e.field.join(msh),
        e.field.join(["MSA", code, escape(received_id, e)] + ([escape(text, e)] if text else [])),
    ]
    lines.extend(_err(issue, e) for issue in issues)
    return "\r".join(lines) + "\r"


def _recode(raw: str, src: Encoding, dst: Encoding) -> str:
    if src == dst or not raw:
        return raw
    table = {
        src.component: dst.component,
        src.repetition: dst.repetition,
        src.subcomponent: dst.subcomponent,
        src.escape: dst.escape,
    }
    return "".join(table.get(ch, ch) for ch in raw)


def _err(issue: Issue, e: Encoding) -> str:
    erl = ""
    if issue.location:
        try:
            loc = parse_location(issue.location.split(": ")[-1])
            erl = e.component.join(escape(p, e) for p in loc.erl())
        except ValueError:
            erl = ""
    cond, cond_text = _RULE_CONDITION.get(issue.rule or "") or _CONDITION.get(issue.code, _DEFAULT_CONDITION)
    diagnostic = " ".join(
        filter(None, (f"rule {issue.rule}" if issue.rule else "", " ".join(issue.requirements)))
    )
    fields = [
        "ERR",
        "",
        erl,
        f"{cond}^{escape(cond_text, e)}^HL70357",
        _SEVERITY[issue.severity],
        "",
        "",
        escape(diagnostic[:_ERR_DIAGNOSTIC_MAX], e),
        escape(_shorten(issue.message, _ERR_USER_MESSAGE_MAX), e),
    ]
    return e.field.join(fields).rstrip(e.field)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_ack(
    ack_text: str | bytes,
    sent_message: Message | str | bytes,
    *,
    expected: str | None = None,
    requirements: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Issue]:
    """Judge an ACK received for a sent message.

    Checks that it parses, is an ACK (MSH-9), has an MSA whose MSA-1 is AA/AE/AR and whose MSA-2 echoes
    the sent MSH-10, and carries ERR segments when MSA-1 is AE or AR. With ``expected`` (``AA`` for a
    conforming message, ``AE`` for one in error: AE and AR then both pass) the code is judged too.
    Issues cite the requirements of the v2 profile folder (``requirements`` section: ``ack``,
    ``ackError``, ``ackError.<message code>``), or ``requirements`` when given.

    Raises:
        Hl7v2ParseError: ``sent_message`` is not HL7 v2 text.
        PackageError: no requirements given and no v2 profile folder found.
    """
    reqs = requirements if requirements is not None else profile_requirements()
    sent = sent_message if isinstance(sent_message, Message) else parse_message(sent_message)
    kind = sent.header.value(9, 1, 1)
    ack_reqs = reqs.get("ack", ())
    context = reqs.get(f"ackError.{kind}") or reqs.get("ackError", ())
    issues: list[Issue] = []
    try:
        ack = parse_message(ack_text)
    except Hl7v2ParseError as exc:
        return [
            Issue(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                "",
                f"The reply is not an HL7 v2 message: {exc}",
                "ack:syntax",
                ack_reqs,
            )
        ]
    if ack.header.value(9, 1, 1) != "ACK":
        issues.append(
            Issue(
                Severity.ERROR,
                IssueCode.VALUE,
                "MSH-9.1",
                f"The reply's message type is {ack.type_code!r}; an acknowledgement is ACK.",
                "ack:type",
                ack_reqs,
            )
        )
    msa = ack.segment("MSA")
    if msa is None:
        issues.append(
            Issue(
                Severity.ERROR, IssueCode.REQUIRED, "MSA", "The ACK has no MSA segment.", "ack:msa", ack_reqs
            )
        )
        return issues
    code, echoed = msa.value(1), msa.value(2)
    if code not in ACK_CODES:
        issues.append(
            Issue(
                Severity.ERROR,
                IssueCode.CODE_INVALID,
                "MSA-1",
                f"The acknowledgement code is {code!r}; original mode uses AA, AE or AR.",
                "ack:code",
                tuple(dict.fromkeys((*ack_reqs, *context))),
            )
        )
    if echoed != sent.control_id:
        issues.append(
            Issue(
                Severity.ERROR,
                IssueCode.VALUE,
                "MSA-2",
                f"MSA-2 is {echoed!r}; it must echo the "
                f"control ID of the acknowledged message ({sent.control_id!r}).",
                "ack:echo",
                ack_reqs,
            )
        )
    if code in ("AE", "AR") and not ack.named("ERR"):
        issues.append(
            Issue(
                Severity.ERROR,
                IssueCode.REQUIRED,
                "ERR",
                f"The ACK says {code} but carries no ERR segment telling what is wrong.",
                "ack:err",
                context,
            )
        )
    if expected is not None and code in ACK_CODES:
        rejected = code in ("AE", "AR")
        if expected == "AA" and rejected:
            issues.append(
                Issue(
                    Severity.ERROR,
                    IssueCode.BUSINESS_RULE,
                    "MSA-1",
                    f"A conforming message was answered {code}; AA was expected.",
                    "ack:expected",
                    ack_reqs,
                )
            )
        elif expected in ("AE", "AR") and not rejected:
            issues.append(
                Issue(
                    Severity.ERROR,
                    IssueCode.BUSINESS_RULE,
                    "MSA-1",
                    f"A message in error was accepted ({code}); AE or AR with ERR was expected.",
                    "ack:expected",
                    context,
                )
            )
    return issues
