"""Builders of the FHIR resources of one PatientRecord: identity, patient, actors, coverage, encounters.

Plain dicts, keys in the FHIR order; the clinical resources are in :mod:`._fhir_clinical`.

A :class:`Context` gives each resource its identity: in a transaction Bundle a ``urn:uuid`` (uuid5 of the
record's ids) and no ``id``; in ndjson an ``id`` derived from the record and references ``Type/id``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from testbed.synthetic import _fhir_vocabulary as v
from testbed.synthetic.model import Establishment, Name, Practitioner
from testbed.synthetic.record import CoverageRecord, EncounterRecord, PatientRecord

MOROCCO_OFFSET = timezone(timedelta(hours=1))
"""Offset given to naive datetimes of a record (Morocco's legal time, UTC+1, since 2018)."""

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

Json = dict[str, Any]


def instant(value: datetime) -> str:
    """ISO 8601 with seconds and an offset (naive values are taken as Moroccan legal time)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=MOROCCO_OFFSET)
    return value.isoformat(timespec="seconds")


def number(value: float, decimals: int = 0) -> int | float:
    """A JSON number rounded to ``decimals`` (an int when ``decimals`` is 0 or the value is whole)."""
    if decimals <= 0:
        return int(round(value))
    return round(float(value), decimals)


def plain(value: float) -> int | float:
    """A JSON number without a needless ``.0`` (doses, durations)."""
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else round(as_float, 3)


def uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))``, without building UUID objects (hot path)."""
    raw = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])  # noqa: S324 - RFC 4122 v5 is SHA-1
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class Context:
    """The identity of each resource of one record, in Bundle (``urn``) or ndjson (``rest``) form."""

    __slots__ = ("vocab", "record", "rest", "_uuids", "_ids", "_refs", "_patient")

    def __init__(self, vocab: v.Vocabulary, record: PatientRecord, *, rest: bool) -> None:
        self.vocab = vocab
        self.record = record
        self.rest = rest
        self._uuids: dict[tuple[str, str], str] = {}
        self._ids: dict[tuple[str, str], str] = {}
        self._refs: dict[tuple[str, str], str] = {}
        self._patient = f"Patient/{record.id}" if rest else f"urn:uuid:{self.uuid('Patient', record.id)}"

    def uuid(self, rtype: str, key: str) -> str:
        """The deterministic uuid5 of a resource of this record (shared ones by INPE only)."""
        found = self._uuids.get((rtype, key))
        if found is None:
            if rtype in ("Organization", "Practitioner"):
                name = f"{rtype}/{key}"
            else:
                name = f"{self.record.seed}/{self.record.id}/{rtype}/{key}"
            found = uuid5(self.vocab.namespace.bytes, name)
            self._uuids[(rtype, key)] = found
        return found

    def rest_id(self, rtype: str, key: str) -> str:
        """The ``id`` of a resource in ndjson: the record id, the INPE, or the entry id (record id first)."""
        found = self._ids.get((rtype, key))
        if found is None:
            rid = self.record.id
            if rtype == "Patient":
                found = rid
            elif rtype in ("Organization", "Practitioner"):
                found = key
            else:
                candidate = key if key.startswith(rid) else f"{rid}-{key}"
                found = candidate if _ID.fullmatch(candidate) else self.uuid(rtype, key)
            self._ids[(rtype, key)] = found
        return found

    def full_url(self, rtype: str, key: str) -> str:
        """The entry fullUrl (Bundle form)."""
        return f"urn:uuid:{self.uuid(rtype, key)}"

    def ref(self, rtype: str, key: str) -> Json:
        """A Reference to a resource of this record."""
        found = self._refs.get((rtype, key))
        if found is None:
            found = (
                f"{rtype}/{self.rest_id(rtype, key)}" if self.rest else f"urn:uuid:{self.uuid(rtype, key)}"
            )
            self._refs[(rtype, key)] = found
        return {"reference": found}

    def patient(self) -> Json:
        """A Reference to the record's Patient."""
        return {"reference": self._patient}

    def head(self, rtype: str, key: str, profile: str) -> Json:
        """``resourceType``, ``id`` (ndjson only) and ``meta.profile``, in that order."""
        meta = {"profile": [self.vocab.profile(profile)]}
        if self.rest:
            return {"resourceType": rtype, "id": self.rest_id(rtype, key), "meta": meta}
        return {"resourceType": rtype, "meta": meta}


def coding(system: str, code: str, display: str | None = None) -> Json:
    return (
        {"system": system, "code": code}
        if display is None
        else {"system": system, "code": code, "display": display}
    )


def concept(*codings: Json) -> Json:
    return {"coding": list(codings)}


def quantity(value: float, unit: str, decimals: int = 0) -> Json:
    return {"value": number(value, decimals), "unit": unit, "system": v.UCUM, "code": unit}


def names(family: Name, given: tuple[Name, ...], vocab: v.Vocabulary) -> list[Json]:
    """The Latin and the Arabic name, each with the name-script extension."""
    url = vocab.national.extension_url("nameScript")
    latin, arabic = v.SCRIPTS
    return [
        {
            "extension": [{"url": url, "valueCode": latin}],
            "use": "official",
            "family": family.latin,
            "given": [g.latin for g in given],
        },
        {
            "extension": [{"url": url, "valueCode": arabic}],
            "use": "official",
            "family": family.arabic,
            "given": [g.arabic for g in given],
        },
    ]


def address(
    line: str, city: str, district: str, postal: str, region: str, vocab: v.Vocabulary, use: str | None
) -> Json:
    out: Json = {
        "extension": [
            {
                "url": vocab.national.extension_url("addressRegion"),
                "valueCoding": vocab.coding("region", region),
            }
        ]
    }
    if use:
        out["use"] = use
    out["line"] = [line]
    out["city"] = city
    out["district"] = district
    out["postalCode"] = postal
    if vocab.national.country_code:
        out["country"] = vocab.national.country_code
    return out


# --- shared resources (the same for every patient that refers to them) ---------------------------


def organization(ctx: Context, e: Establishment) -> Json:
    vocab = ctx.vocab
    res = ctx.head("Organization", e.inpe, "Organization")
    res["identifier"] = [{"system": vocab.national.identifier("inpe").uri, "value": e.inpe}]
    res["active"] = True
    res["type"] = [concept(vocab.coding("establishmentType", e.type))]
    res["name"] = e.name
    res["telecom"] = [{"system": "phone", "value": e.phone, "use": "work"}]
    res["address"] = [address(e.line, e.city, e.province, e.postal_code, e.region, vocab, "work")]
    return res


def practitioner(ctx: Context, p: Practitioner) -> Json:
    res = ctx.head("Practitioner", p.inpe, "Practitioner")
    res["identifier"] = [{"system": ctx.vocab.national.identifier("inpe").uri, "value": p.inpe}]
    res["active"] = True
    res["name"] = names(p.family, (p.given,), ctx.vocab)
    res["telecom"] = [{"system": "phone", "value": p.phone, "use": "work"}]
    res["gender"] = p.sex
    return res


# --- the patient and their data -------------------------------------------------------------------


def identifiers(record: PatientRecord, vocab: v.Vocabulary) -> list[Json]:
    """Patient identifiers in a fixed order: INS, CNIE, residence permit, passport, CNSS, CNOPS, local."""
    national = vocab.national
    ident = record.identity
    out: list[Json] = []
    for key, value in (("ins", ident.ins), ("cnie", ident.cnie), ("carte_sejour", ident.carte_sejour)):
        if value:
            out.append({"system": national.identifier(key).uri, "value": value})
    if ident.passport:
        country, number_ = ident.passport
        out.append(
            {
                "type": concept(coding(v.V2_0203, national.v2_types.get("passport", "PPN"))),
                "system": national.passport_system(country),
                "value": number_,
            }
        )
    for key, value in (("cnss", ident.cnss), ("cnops", ident.cnops)):
        if value:
            out.append({"system": national.identifier(key).uri, "value": value})
    for facility, mrn in ident.local:
        out.append(
            {
                "use": "usual",
                "type": concept(coding(v.V2_0203, "MR")),
                "system": national.local_system(facility),
                "value": mrn,
            }
        )
    return out


def patient(ctx: Context, record: PatientRecord) -> Json:
    vocab = ctx.vocab
    res = ctx.head("Patient", record.id, "Patient")
    res["identifier"] = identifiers(record, vocab)
    res["active"] = True
    res["name"] = names(record.family, record.given, vocab)
    if record.phone:
        res["telecom"] = [{"system": "phone", "value": record.phone}]
    res["gender"] = record.sex
    res["birthDate"] = record.birth_date.isoformat()
    if record.deceased is not None:
        res["deceasedDateTime"] = record.deceased.isoformat()
    a = record.address
    res["address"] = [address(a.line, a.city, a.province, a.postal_code, a.region_code, vocab, "home")]
    if record.marital_status:
        system = v.V3_NULL_FLAVOR if record.marital_status == "UNK" else v.V3_MARITAL
        res["maritalStatus"] = concept(coding(system, record.marital_status))
    if record.language:
        res["communication"] = [{"language": concept(coding(v.BCP47, record.language)), "preferred": True}]
    return res


def coverage(ctx: Context, record: PatientRecord, c: CoverageRecord) -> Json:
    res = ctx.head("Coverage", c.id, "Coverage")
    res["status"] = "active"
    scheme = ctx.vocab.coding("coverageScheme", c.scheme)
    res["type"] = concept(scheme)
    if c.member_id:
        res["subscriberId"] = c.member_id
    res["beneficiary"] = ctx.patient()
    own = c.member_id is None or c.member_id in (record.identity.cnss, record.identity.cnops)
    relation = "self" if own else ("child" if record.age_years < 18 else "other")
    res["relationship"] = concept(coding(v.SUBSCRIBER_RELATIONSHIP, relation))
    res["period"] = {"start": c.start.isoformat()}
    res["payor"] = [{"display": scheme.get("display", c.scheme)}]
    return res


def encounter(ctx: Context, e: EncounterRecord) -> Json:
    res = ctx.head("Encounter", e.id, "Encounter")
    # The visit number is the facility's own (HL7 v2 PV1-19): its assigner says which facility issued it.
    res["identifier"] = [{"value": e.visit_number, "assigner": ctx.ref("Organization", e.establishment.inpe)}]
    res["status"] = "finished"
    res["class"] = coding(v.V3_ACT_CODE, e.klass, v.ENCOUNTER_CLASS.get(e.klass))
    res["subject"] = ctx.patient()
    res["participant"] = [{"individual": ctx.ref("Practitioner", e.practitioner.inpe)}]
    period = {"start": instant(e.start)}
    if e.end is not None:
        period["end"] = instant(e.end)
    res["period"] = period
    if e.reason is not None:
        res["reasonCode"] = [concept(coding(e.reason.system, e.reason.code, e.reason.display))]
    res["serviceProvider"] = ctx.ref("Organization", e.establishment.inpe)
    return res
