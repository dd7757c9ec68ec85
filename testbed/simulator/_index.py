"""Search parameters of the simulated SMR and the index rows extracted from a resource.

Each parameter is a (name, type, paths) triple in the spirit of the R4 SearchParameter resources the
CapabilityStatement cites; paths are dotted element names (choice types spelled out). The index row
holds ``(param, system, value, lo, hi)``: tokens keep system and code, strings a folded form (case
and accents removed), references the target type (in ``system``) and id, dates a half-open UTC range.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter of one resource type."""

    name: str
    kind: str  # token | string | date | reference
    paths: tuple[str, ...]
    targets: tuple[str, ...] = ()  # reference: the only target types kept (empty: any)


def _p(name: str, kind: str, *paths: str, targets: tuple[str, ...] = ()) -> SearchParam:
    return SearchParam(name, kind, paths, targets)


_PATIENT_SUBJECT = (
    _p("patient", "reference", "subject", targets=("Patient",)),
    _p("subject", "reference", "subject"),
)
_PERSON = (
    _p("identifier", "token", "identifier"),
    _p("family", "string", "name.family"),
    _p("given", "string", "name.given"),
    _p("name", "string", "name"),
)

PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        *_PERSON,
        _p("birthdate", "date", "birthDate"),
        _p("gender", "token", "gender"),
        _p("active", "token", "active"),
        _p("link", "reference", "link.other"),
    ),
    "Practitioner": _PERSON,
    "Organization": (
        _p("identifier", "token", "identifier"),
        _p("name", "string", "name"),
        _p("type", "token", "type"),
    ),
    "Encounter": (
        *_PATIENT_SUBJECT,
        _p("date", "date", "period"),
        _p("status", "token", "status"),
        _p("class", "token", "class"),
        _p("service-provider", "reference", "serviceProvider"),
        _p("identifier", "token", "identifier"),
    ),
    "Condition": (
        *_PATIENT_SUBJECT,
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("encounter", "reference", "encounter"),
        _p("onset-date", "date", "onsetDateTime", "onsetPeriod"),
        _p("recorded-date", "date", "recordedDate"),
        _p("identifier", "token", "identifier"),
    ),
    "Observation": (
        *_PATIENT_SUBJECT,
        _p("code", "token", "code"),
        _p("category", "token", "category"),
        _p("date", "date", "effectiveDateTime", "effectivePeriod", "effectiveInstant"),
        _p("status", "token", "status"),
        _p("encounter", "reference", "encounter"),
        _p("identifier", "token", "identifier"),
        _p("has-member", "reference", "hasMember"),
    ),
    "AllergyIntolerance": (
        _p("patient", "reference", "patient", targets=("Patient",)),
        _p("code", "token", "code"),
        _p("clinical-status", "token", "clinicalStatus"),
        _p("date", "date", "recordedDate"),
    ),
    "Immunization": (
        _p("patient", "reference", "patient", targets=("Patient",)),
        _p("vaccine-code", "token", "vaccineCode"),
        _p("date", "date", "occurrenceDateTime"),
        _p("status", "token", "status"),
    ),
    "MedicationRequest": (
        *_PATIENT_SUBJECT,
        _p("code", "token", "medicationCodeableConcept"),
        _p("status", "token", "status"),
        _p("intent", "token", "intent"),
        _p("authoredon", "date", "authoredOn"),
        _p("requester", "reference", "requester"),
        _p("encounter", "reference", "encounter"),
    ),
    "DocumentReference": (
        *_PATIENT_SUBJECT,
        _p("type", "token", "type"),
        _p("category", "token", "category"),
        _p("date", "date", "date"),
        _p("status", "token", "status"),
        _p("author", "reference", "author"),
        _p("custodian", "reference", "custodian"),
        _p("identifier", "token", "identifier", "masterIdentifier"),
        _p("encounter", "reference", "context.encounter"),
    ),
    "Binary": (),
    "Consent": (
        _p("patient", "reference", "patient", targets=("Patient",)),
        _p("status", "token", "status"),
        _p("category", "token", "category"),
        _p("date", "date", "dateTime"),
        _p("organization", "reference", "organization"),
    ),
    "AuditEvent": (
        _p("patient", "reference", "entity.what", "agent.who", targets=("Patient",)),
        _p("entity", "reference", "entity.what"),
        _p("agent", "reference", "agent.who"),
        _p("date", "date", "recorded"),
        _p("type", "token", "type"),
        _p("subtype", "token", "subtype"),
        _p("action", "token", "action"),
        _p("outcome", "token", "outcome"),
        _p("entity-id", "token", "entity.what.identifier"),
        _p("agent-identifier", "token", "agent.who.identifier"),
    ),
    "Coverage": (
        _p("patient", "reference", "beneficiary", targets=("Patient",)),
        _p("beneficiary", "reference", "beneficiary"),
        _p("identifier", "token", "identifier"),
        _p("type", "token", "type"),
    ),
    "Provenance": (
        _p("target", "reference", "target"),
        _p("patient", "reference", "target", targets=("Patient",)),
        _p("agent", "reference", "agent.who"),
    ),
}
"""Search parameters by resource type (every type the simulated SMR stores)."""

COMMON = {"_id", "_lastUpdated"}
"""Parameters every type has (matched on the resource row, not on index rows)."""

PROTECTED_TYPES = frozenset(
    {
        "Condition",
        "Observation",
        "AllergyIntolerance",
        "Immunization",
        "MedicationRequest",
        "DocumentReference",
        "Binary",
        "Encounter",
    }
)
"""Clinical data covered by the right to object (SMR-T8)."""

READ_ONLY = frozenset({"AuditEvent"})
"""Types no client may write (the audit trail is immutable)."""


def param(rtype: str, name: str) -> SearchParam | None:
    """The search parameter ``name`` of ``rtype``, if this SMR supports it."""
    for p in PARAMS.get(rtype, ()):
        if p.name == name:
            return p
    return None


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a string (FHIR string search matching)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().strip()


_MAX_TEXT = 1000
IndexRow = tuple[str, str | None, str | None, str | None, str | None]
"""(param, system, value, lo, hi); strings keep their exact text in ``system`` (for ``:exact``)."""


def index_rows(resource: dict[str, Any], base_url: str) -> list[IndexRow]:
    """Every index row of a resource, for the parameters of its type."""
    rtype = str(resource.get("resourceType"))
    rows: list[IndexRow] = []
    meta = resource.get("meta")
    updated = date_range(str(meta.get("lastUpdated"))) if isinstance(meta, dict) else None
    if updated is not None:
        rows.append(("_lastUpdated", None, None, updated[0], updated[1]))
    for p in PARAMS.get(rtype, ()):
        for value in _values(resource, p.paths):
            rows.extend(_rows_for(p, value, base_url))
    return list(dict.fromkeys(rows))


def patient_of(resource: dict[str, Any], base_url: str) -> str | None:
    """The id of the Patient a resource is about (its ``patient`` search parameter), or None."""
    definition = param(str(resource.get("resourceType")), "patient")
    if definition is None:
        return None
    for value in _values(resource, definition.paths):
        for _name, system, rid, _lo, _hi in _rows_for(definition, value, base_url):
            if system == "Patient" and rid:
                return rid
    return None


def _values(resource: dict[str, Any], paths: tuple[str, ...]) -> Iterator[Any]:
    for path in paths:
        current: list[Any] = [resource]
        for step in path.split("."):
            nxt: list[Any] = []
            for node in current:
                if isinstance(node, dict) and step in node:
                    child = node[step]
                    nxt.extend(child if isinstance(child, list) else [child])
            current = nxt
        yield from current


def _rows_for(p: SearchParam, value: Any, base_url: str) -> Iterator[IndexRow]:
    if p.kind == "token":
        for system, code in _tokens(value):
            yield (p.name, system[:_MAX_TEXT] if system else None, code[:_MAX_TEXT], None, None)
    elif p.kind == "string":
        for text in _strings(value):
            yield (p.name, text[:_MAX_TEXT], fold(text)[:_MAX_TEXT], None, None)
    elif p.kind == "date":
        bounds = date_range_of(value)
        if bounds is not None:
            yield (p.name, None, None, bounds[0], bounds[1])
    elif p.kind == "reference" and isinstance(value, dict):
        ref = parse_reference(str(value.get("reference") or ""), base_url)
        if ref is not None and (not p.targets or ref[0] in p.targets):
            yield (p.name, ref[0], ref[1], None, None)


def _tokens(value: Any) -> Iterator[tuple[str | None, str]]:
    if isinstance(value, bool):
        yield (None, "true" if value else "false")
    elif isinstance(value, str):
        yield (None, value)
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                yield from _tokens(coding)
        elif "code" in value and isinstance(value.get("code"), str):
            yield (value.get("system"), value["code"])
        elif "value" in value and isinstance(value.get("value"), str):
            yield (value.get("system"), value["value"])


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key in ("text", "family", "given", "prefix", "suffix", "line", "city", "name"):
            part = value.get(key)
            for item in part if isinstance(part, list) else [part]:
                if isinstance(item, str):
                    yield item


_REF = re.compile(
    r"^(?:(?P<base>.*)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(?:/_history/.*)?$"
)


def parse_reference(text: str, base_url: str) -> tuple[str, str] | None:
    """``(type, id)`` of a literal reference (relative, or absolute on this server), else None."""
    if not text or text.startswith(("#", "urn:")):
        return None
    match = _REF.match(text)
    if match is None:
        return None
    base = match.group("base")
    if base and base.rstrip("/") != base_url.rstrip("/"):
        return None
    return match.group("type"), match.group("id")


_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})(?:T(?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?P<f>\.\d+)?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def date_range_of(value: Any) -> tuple[str, str] | None:
    """Half-open UTC range ``[lo, hi)`` of a date, dateTime, instant or Period, as sortable strings."""
    if isinstance(value, dict):
        start = date_range(str(value["start"])) if isinstance(value.get("start"), str) else None
        end = date_range(str(value["end"])) if isinstance(value.get("end"), str) else None
        if start is None and end is None:
            return None
        return (start[0] if start else _MIN, end[1] if end else _MAX)
    if isinstance(value, str):
        return date_range(value)
    return None


_MIN, _MAX = "0001-01-01T00:00:00.000000", "9999-12-31T23:59:59.999999"


def date_range(text: str) -> tuple[str, str] | None:
    """Half-open UTC range of a FHIR date/dateTime/instant at its precision; None when malformed."""
    match = _DATE.match(text.strip())
    if match is None:
        return None
    g = match.groupdict()
    try:
        year, month, day = int(g["y"]), int(g["m"] or 1), int(g["d"] or 1)
        start = datetime(year, month, day, int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0))
        if g["f"]:
            start = start.replace(microsecond=int((g["f"][1:] + "000000")[:6]))
    except ValueError:
        return None
    if g["m"] is None:
        end = start.replace(year=year + 1) if year < 9999 else datetime.max
    elif g["d"] is None:
        end = start.replace(year=year + 1, month=1) if month == 12 else start.replace(month=month + 1)
    elif g["H"] is None:
        end = start + timedelta(days=1)
    elif g["S"] is None:
        end = start + timedelta(minutes=1)
    elif g["f"] is None:
        end = start + timedelta(seconds=1)
    else:
        end = start + timedelta(microseconds=1)
    tz = g["tz"]
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * sign
        start, end = start - offset, end - offset
    return _fmt(start), _fmt(end)


def _fmt(moment: datetime) -> str:
    m = moment  # f-strings: several times faster than strftime, and years below 1000 keep 4 digits
    day = f"{m.year:04d}-{m.month:02d}-{m.day:02d}"
    return f"{day}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}"


def now_instant() -> str:
    """The current time as a FHIR instant (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
