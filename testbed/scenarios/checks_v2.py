"""HL7 v2 acknowledgements and cross-standard agreement, as scenario assertions.

``acknowledgement`` judges the ACK an ``mllp`` step received with :func:`testbed.hl7v2.ack.check_ack`: it
is an ACK, MSA-1 is the expected code, MSA-2 echoes the MSH-10 of the message sent, AE/AR carry an ERR
segment, and (``error_at``) one ERR-2 points at the field in error.

``agree`` compares what the system under test gave back (the step's reply: a FHIR resource, a searchset,
or a Binary holding a CDA document) with the HL7 v2 message and the CDA document the testbed sent
(``v2``, ``cda``, or other FHIR content ``fhir``), on the aspects listed in ``compare``:

==================  ===============================================================================
``identifiers``     every identifier of the source is in the reply; national identifiers (INS, CNIE …)
                    have exactly the same values (MA-XSTD-003)
``names``           for each script of the source's names, the same family and first given name
``birth_date``      the same birth date
``sex``             the same sex (v2 ``M``/``F``, CDA ``M``/``F``, FHIR ``male``/``female``)
``codes``           every clinical code of the reply (Condition.code, Observation.code, …) is in the
                    source (MA-XSTD-004)
``results``         every numeric result of the source (code, value, unit) is in the reply (MA-XSTD-002)
``document_type``   the reply's document type has the source document's code (MA-XSTD-005)
``bytes``           the reply's document is byte-identical to the one sent
==================  ===============================================================================
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from testbed.scenarios.checks import CheckContext, Detail, check
from testbed.scenarios.results import StepError, StepFailure
from testbed.scenarios.xstd import Facts, FactsError, Reader

ASPECTS = ("identifiers", "names", "birth_date", "sex", "codes", "results", "document_type", "bytes")
_READERS: dict[int, Reader] = {}
_LOCK = threading.Lock()


def _reader(ctx: CheckContext) -> Reader:
    services = getattr(ctx.runtime, "services", None)
    national = getattr(services, "national", None)
    if national is None:
        raise StepError("this assertion needs the national content (the runtime has none)")
    with _LOCK:
        found = _READERS.get(id(national))
        if found is None or found.national is not national:
            if len(_READERS) > 4:
                _READERS.clear()
            found = _READERS[id(national)] = Reader(national)
    return found


# --- acknowledgements ---------------------------------------------------------------------------


@check("acknowledgement")
def acknowledgement_is_correct(ctx: CheckContext, args: Any) -> Detail | None:
    """The ACK is an ACK with the expected MSA-1, MSA-2 = the sent MSH-10, and ERR on AE/AR."""
    from testbed.hl7v2 import Hl7v2ParseError
    from testbed.hl7v2.ack import check_ack

    spec = {"code": args} if isinstance(args, str | list) else dict(args)
    given = spec.get("code")
    codes = [str(given)] if isinstance(given, str) else [str(c) for c in given or []]
    ex = ctx.require_subject()
    sent = str(ex.request.get("message") or "")
    if ex.response is None:
        raise StepFailure(f"no acknowledgement: {ex.error}", expected=codes)
    ack = str(ex.response.get("message") or "")
    expected = "AA" if codes == ["AA"] else "AE" if codes and set(codes) <= {"AE", "AR"} else None
    try:
        issues = check_ack(ack, sent, expected=expected)
    except Hl7v2ParseError as exc:
        raise StepError(f"the message the testbed sent is not HL7 v2: {exc}") from None
    code = _msa1(ack)
    if not issues and codes and code not in codes:
        issues_text = f"MSA-1 is {code}; expected {' or '.join(codes)}"
        raise StepFailure(issues_text, expected=codes, received=code, location="MSA-1")
    if issues:
        text = "\n".join(f"{i.location or 'ACK'}: {i.message}" for i in issues)
        raise StepFailure(
            f"{text}\nACK received: {_short(ack)}",
            expected=codes or None,
            received=code,
            location=issues[0].location or None,
        )
    where = spec.get("error_at")
    if where:
        _err_points_at(ack, str(where))
    return Detail(message=f"ACK {code} echoing MSH-10")


def _msa1(ack: str) -> str | None:
    from testbed.hl7v2 import Hl7v2ParseError, parse_message

    try:
        msa = parse_message(ack).segment("MSA")
    except Hl7v2ParseError:
        return None
    return msa.value(1) if msa is not None else None


def _err_points_at(ack: str, where: str) -> None:
    from testbed.hl7v2 import parse_location, parse_message

    try:
        wanted = parse_location(where)
    except ValueError as exc:
        raise StepError(f"error_at: {exc}") from None
    seen = []
    for err in parse_message(ack).named("ERR"):
        for n in range(1, len(err.repetitions(2)) + 1):
            segment, seq, field = err.value(2, n, 1), err.value(2, n, 2), err.value(2, n, 3)
            seen.append("^".join(p for p in (segment, seq, field) if p))
            if segment != wanted.segment:
                continue
            if wanted.occurrence > 1 and seq and seq != str(wanted.occurrence):
                continue
            if wanted.field is None or field == str(wanted.field):
                return
    raise StepFailure(
        f"no ERR-2 of the ACK points at {where}\nERR-2 received: {', '.join(seen) or 'none'}",
        expected=where,
        received=seen,
        location="ERR-2",
    )


def _short(text: str, limit: int = 600) -> str:
    flat = text.replace("\r", "\\r ")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- cross-standard agreement ---------------------------------------------------------------------


@check("agree")
def standards_agree(ctx: CheckContext, args: Any) -> Detail | None:
    """The reply says the same as the v2 message / CDA document / FHIR content sent (see the module doc)."""
    reader = _reader(ctx)
    aspects = list(args.get("compare") or ASPECTS[:4])
    unknown = [a for a in aspects if a not in ASPECTS]
    if unknown:
        raise StepError(f"agree: unknown aspect(s) {unknown}; known: {', '.join(ASPECTS)}")
    try:
        back = reader.fhir(ctx.body(), f"the {ctx.direction} of the system under test")
    except FactsError as exc:
        raise StepFailure(str(exc)) from None
    sources: list[Facts] = []
    try:
        if args.get("v2"):
            sources.append(reader.v2(str(args["v2"]), "the HL7 v2 message sent"))
        if args.get("cda"):
            sources.append(reader.cda(args["cda"], "the CDA document sent"))
        if args.get("fhir"):
            sources.append(reader.fhir(args["fhir"], "the FHIR content given"))
    except FactsError as exc:
        raise StepError(str(exc)) from None
    if not sources:
        raise StepError("agree needs a source to compare the reply with: v2, cda or fhir")
    compare: dict[str, Callable[[Facts, Facts], list[str]]] = {
        **_COMPARE,
        "identifiers": partial(_identifiers, national=reader.national_systems),
    }
    problems = [p for source in sources for aspect in aspects for p in compare[aspect](back, source)]
    if problems:
        raise StepFailure("\n".join(problems), expected=aspects)
    return Detail(
        message=f"{back.label} agrees with {', '.join(s.label for s in sources)} on {', '.join(aspects)}"
    )


def _need(source: Facts, present: bool, what: str) -> None:
    if not present:
        raise StepError(f"{source.label} has no {what} to compare")


def _identifiers(back: Facts, source: Facts, national: frozenset[str] = frozenset()) -> list[str]:
    _need(source, bool(source.identifiers), "patient identifier")
    missing = sorted(source.identifiers - back.identifiers)
    out = [f"identifiers: {back.label} lacks {s}|{v} of {source.label}" for s, v in missing]
    sent_systems = {s for s, _ in source.identifiers}
    for system in sorted(sent_systems & national):
        sent = {v for s, v in source.identifiers if s == system}
        got = {v for s, v in back.identifiers if s == system}
        if got != sent and got:
            out.append(
                f"identifiers: {back.label} has {system} {sorted(got)}; {source.label} has {sorted(sent)}"
            )
    return out


def _names(back: Facts, source: Facts) -> list[str]:
    _need(source, bool(source.names), "name")
    out = []
    for script, (family, given) in sorted(source.names.items()):
        got = back.names.get(script)
        if got != (family, given):
            shown = f"{got[0]}, {got[1]}" if got else "none"
            out.append(f"names ({script}): {source.label} has {family}, {given}; {back.label} has {shown}")
    return out


def _birth_date(back: Facts, source: Facts) -> list[str]:
    _need(source, source.birth_date is not None, "birth date")
    if back.birth_date != source.birth_date:
        return [f"birth date: {source.label} has {source.birth_date}; {back.label} has {back.birth_date}"]
    return []


def _sex(back: Facts, source: Facts) -> list[str]:
    _need(source, source.sex is not None, "sex")
    if back.sex != source.sex:
        return [f"sex: {source.label} has {source.sex}; {back.label} has {back.sex}"]
    return []


def _codes(back: Facts, source: Facts) -> list[str]:
    _need(source, bool(source.codes), "clinical code")
    if not back.codes:
        return [f"codes: {back.label} has no clinical code to compare with {source.label}"]
    return [
        f"codes: {back.label} has {s}|{c}, which {source.label} does not have"
        for s, c in sorted(back.codes - source.codes)
    ]


def _results(back: Facts, source: Facts) -> list[str]:
    _need(source, bool(source.results), "numeric result")
    out = []
    for system, code, value, unit in source.results:
        same_code = [r for r in back.results if r[0] == system and r[1] == code]
        if any(r[2] == value and r[3] == unit for r in same_code):
            continue
        found = ", ".join(f"{r[2]} {r[3]}" for r in same_code) or "no result with that code"
        out.append(f"results: {source.label} has {system}|{code} = {value} {unit}; {back.label} has {found}")
    return out


def _document_type(back: Facts, source: Facts) -> list[str]:
    _need(source, bool(source.document_types), "document type")
    shared_systems = {s for s, _ in source.document_types} & {s for s, _ in back.document_types}
    if not shared_systems:
        return [
            f"document type: {back.label} has {sorted(back.document_types) or 'none'}; "
            f"{source.label} has {sorted(source.document_types)}"
        ]
    out = []
    for system in sorted(shared_systems):
        sent = {c for s, c in source.document_types if s == system}
        got = {c for s, c in back.document_types if s == system}
        if sent != got:
            out.append(
                f"document type: {back.label} has {system}|{sorted(got)}; {source.label} has {sorted(sent)}"
            )
    return out


def _bytes(back: Facts, source: Facts) -> list[str]:
    sent = source.raw
    if sent is None:
        raise StepError(f"{source.label} has no document to compare")
    if back.raw is None:
        return [f"bytes: {back.label} holds no document"]
    if back.raw != sent:
        at = next((n for n, (a, b) in enumerate(zip(back.raw, sent, strict=False)) if a != b), None)
        where = f"byte {at}" if at is not None else f"length {len(back.raw)} instead of {len(sent)}"
        return [f"bytes: {back.label} differs from {source.label} (first difference at {where})"]
    return []


_COMPARE: dict[str, Callable[[Facts, Facts], list[str]]] = {
    "identifiers": _identifiers,
    "names": _names,
    "birth_date": _birth_date,
    "sex": _sex,
    "codes": _codes,
    "results": _results,
    "document_type": _document_type,
    "bytes": _bytes,
}
