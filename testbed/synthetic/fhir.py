"""The FHIR renderer: one PatientRecord as an R4 transaction Bundle, or as resources for ndjson.

Every resource names its MA profile in ``meta.profile`` (from :meth:`NationalContent.profile_url`), every
identifier system, extension and national code system URL comes from the content, and the output is
plain dicts built in a fixed key order, so ``json.dumps`` of the same record is the same bytes on every
run. In a Bundle, entries have ``fullUrl`` ``urn:uuid:<uuid5 of the record's ids>`` and reference each
other by it; in ndjson, resources have ids derived from the record and reference ``Type/id``.

Example:
    ```python
    renderer = FhirRenderer.from_registry(registry)
    bundle = renderer.bundle(record)                     # one transaction Bundle
    lines = [json.dumps(r) for r in renderer.resources(record)]
    ```
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from testbed.core.errors import UsageError
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.synthetic import _fhir_clinical as c
from testbed.synthetic import _fhir_resources as r
from testbed.synthetic._fhir_vocabulary import Vocabulary
from testbed.synthetic.model import Establishment, Practitioner
from testbed.synthetic.record import DocumentRecord, PatientRecord

Json = dict[str, Any]
Documents = Mapping[str, bytes]
"""Rendered documents (the CDA bytes) by ``DocumentRecord.id``."""

_Item = tuple[str, str, Json, Json]  # resource type, key in the record, resource, Bundle request


class FhirRenderer:
    """Renders PatientRecords as FHIR R4 (MA profiles).

    Args:
        national: the national names of the loaded content package.
        registry: the registry that holds it; gives code displays, the LOINC code of each document
            type and the consent category code. Without it displays are left out and objections to
            sharing cannot be rendered (use :meth:`from_registry`).
    """

    def __init__(self, national: NationalContent, registry: PackageRegistry | None = None) -> None:
        self.national = national
        self.vocab = Vocabulary.build(national, registry)
        self._inpe_system = national.identifier("inpe").uri

    @classmethod
    def from_registry(cls, registry: PackageRegistry) -> FhirRenderer:
        """A renderer for the national package loaded in ``registry``."""
        return cls(NationalContent.from_registry(registry), registry)

    # --- public API ------------------------------------------------------------------------------

    def bundle(self, record: PatientRecord, documents: Documents | None = None) -> Json:
        """One transaction Bundle: the patient and everything recorded about them.

        Organizations and Practitioners are conditional creates on their INPE and the Patient on its
        INS (or first identifier), so submitting the Bundle twice does not duplicate them. A
        DocumentReference and its Binary are added for each document whose bytes are in ``documents``.
        """
        ctx = r.Context(self.vocab, record, rest=False)
        entries = [
            {"fullUrl": ctx.full_url(rtype, key), "resource": resource, "request": request}
            for rtype, key, resource, request in self._items(ctx, record, documents)
        ]
        return {"resourceType": "Bundle", "type": "transaction", "entry": entries}

    def resources(self, record: PatientRecord, documents: Documents | None = None) -> Iterator[Json]:
        """The same resources as :meth:`bundle`, with ids and ``Type/id`` references (for ndjson).

        Organizations and Practitioners (id = INPE) repeat for every patient that refers to them;
        a bulk writer keeps the first of each.
        """
        ctx = r.Context(self.vocab, record, rest=True)
        for _rtype, _key, resource, _request in self._items(ctx, record, documents):
            yield resource

    def merge_bundle(self, duplicate: PatientRecord, survivor: PatientRecord) -> Json:
        """SMR-T2 in FHIR: the non-surviving Patient updated with ``active`` false and ``replaced-by``.

        The survivor is a conditional create on its INS (it resolves to the existing record, which keeps
        its INS); the duplicate is a conditional update on its own first identifier.

        Raises:
            UsageError: ``duplicate`` is not a duplicate of ``survivor``, or has no identifier.
        """
        if duplicate.duplicate_of != survivor.id:
            raise UsageError(
                f"Record {duplicate.id} is not a duplicate of {survivor.id} "
                f"(its duplicate_of is {duplicate.duplicate_of!r})."
            )
        s_ctx = r.Context(self.vocab, survivor, rest=False)
        d_ctx = r.Context(self.vocab, duplicate, rest=False)
        kept = r.patient(s_ctx, survivor)
        merged = r.patient(d_ctx, duplicate)
        merged["active"] = False
        merged["link"] = [{"other": s_ctx.patient(), "type": "replaced-by"}]
        search = self._patient_search(merged)
        if search is None:
            raise UsageError(f"Record {duplicate.id} has no identifier: it cannot be found to be merged.")
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": s_ctx.full_url("Patient", survivor.id),
                    "resource": kept,
                    "request": self._patient_request(kept),
                },
                {
                    "fullUrl": d_ctx.full_url("Patient", duplicate.id),
                    "resource": merged,
                    "request": {"method": "PUT", "url": f"Patient?{search}"},
                },
            ],
        }

    # --- assembly --------------------------------------------------------------------------------

    def _items(self, ctx: r.Context, record: PatientRecord, documents: Documents | None) -> Iterator[_Item]:
        docs = self._documents(record, documents)
        patient = r.patient(ctx, record)
        yield "Patient", record.id, patient, self._patient_request(patient)
        organizations, practitioners = self._actors(record, docs)
        for e in organizations:
            yield "Organization", e.inpe, r.organization(ctx, e), self._conditional("Organization", e.inpe)
        for p in practitioners:
            yield "Practitioner", p.inpe, r.practitioner(ctx, p), self._conditional("Practitioner", p.inpe)
        if record.coverage is not None:
            yield _post("Coverage", record.coverage.id, r.coverage(ctx, record, record.coverage))
        for enc in record.encounters:
            yield _post("Encounter", enc.id, r.encounter(ctx, enc))
        for cond in record.conditions:
            yield _post("Condition", cond.id, c.condition(ctx, cond))
        for obs in record.observations:
            yield _post("Observation", obs.id, c.observation(ctx, obs))
        for rx in record.prescriptions:
            yield _post("MedicationRequest", rx.id, c.medication_request(ctx, rx))
        for alg in record.allergies:
            yield _post("AllergyIntolerance", alg.id, c.allergy(ctx, alg))
        for imm in record.immunizations:
            yield _post("Immunization", imm.id, c.immunization(ctx, imm))
        if record.consent is not None:
            yield _post("Consent", record.consent.id, c.consent(ctx, record.consent))
        for doc, data in docs:
            if ctx.rest:
                url = f"Binary/{ctx.rest_id('Binary', doc.id)}"
            else:
                url = ctx.full_url("Binary", doc.id)
            digest = base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")  # noqa: S324 - FHIR Attachment.hash is SHA-1
            yield _post(
                "DocumentReference", doc.id, c.document_reference(ctx, record, doc, len(data), digest, url)
            )
            yield _post("Binary", doc.id, c.binary(ctx, doc, base64.b64encode(data).decode("ascii")))

    @staticmethod
    def _documents(record: PatientRecord, documents: Documents | None) -> list[tuple[DocumentRecord, bytes]]:
        if not documents:
            return []
        known = {d.id for d in record.documents}
        unknown = sorted(set(documents) - known)
        if unknown:
            raise UsageError(
                f"Record {record.id} has no document {', '.join(unknown)}; "
                f"it has {', '.join(sorted(known)) or 'none'}."
            )
        return [(d, documents[d.id]) for d in record.documents if d.id in documents]

    @staticmethod
    def _actors(
        record: PatientRecord, docs: list[tuple[DocumentRecord, bytes]]
    ) -> tuple[list[Establishment], list[Practitioner]]:
        """Every establishment and practitioner the record refers to, in order of first mention."""
        orgs: dict[str, Establishment] = {}
        people: dict[str, Practitioner] = {}
        for enc in record.encounters:
            orgs.setdefault(enc.establishment.inpe, enc.establishment)
            people.setdefault(enc.practitioner.inpe, enc.practitioner)
        for who in (
            *(cond.recorder for cond in record.conditions),
            *(o.performer for o in record.observations),
            *(p.requester for p in record.prescriptions),
            *(a.recorder for a in record.allergies),
            *(i.performer for i in record.immunizations),
        ):
            people.setdefault(who.inpe, who)
        if record.consent is not None:
            orgs.setdefault(record.consent.organization.inpe, record.consent.organization)
        for doc, _data in docs:
            people.setdefault(doc.author.inpe, doc.author)
            orgs.setdefault(doc.custodian.inpe, doc.custodian)
        return list(orgs.values()), list(people.values())

    def _conditional(self, rtype: str, inpe: str) -> Json:
        return {
            "method": "POST",
            "url": rtype,
            "ifNoneExist": f"identifier={_search_value(self._inpe_system, inpe)}",
        }

    def _patient_request(self, patient: Json) -> Json:
        search = self._patient_search(patient)
        if search is None:
            return {"method": "POST", "url": "Patient"}
        return {"method": "POST", "url": "Patient", "ifNoneExist": search}

    def _patient_search(self, patient: Json) -> str | None:
        """``identifier=system|value`` on the INS, else on the first identifier."""
        found = patient.get("identifier") or []
        if not found:
            return None
        ins = self.national.identifier("ins").uri
        chosen = next((i for i in found if i.get("system") == ins), found[0])
        return f"identifier={_search_value(chosen['system'], chosen['value'])}"


def _post(rtype: str, key: str, resource: Json) -> _Item:
    return rtype, key, resource, {"method": "POST", "url": rtype}


def _search_value(system: str, value: str) -> str:
    return quote(f"{system}|{value}", safe=":/|.-_~")


__all__ = ["Documents", "FhirRenderer"]
