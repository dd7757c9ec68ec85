"""Builders of the clinical FHIR resources of one PatientRecord (plain dicts, keys in the FHIR order)."""

from __future__ import annotations

from testbed.synthetic import _fhir_vocabulary as v
from testbed.synthetic._fhir_resources import Context, Json, coding, concept, instant, plain, quantity
from testbed.synthetic.record import (
    AllergyRecord,
    Component,
    ConditionRecord,
    ConsentRecord,
    DocumentRecord,
    ImmunizationRecord,
    ObservationRecord,
    PatientRecord,
    PrescriptionRecord,
)


def condition(ctx: Context, c: ConditionRecord) -> Json:
    res = ctx.head("Condition", c.id, "Condition")
    res["clinicalStatus"] = concept(coding(v.CONDITION_CLINICAL, c.clinical_status))
    res["verificationStatus"] = concept(coding(v.CONDITION_VERIFICATION, "confirmed"))
    res["category"] = [concept(coding(v.CONDITION_CATEGORY, "encounter-diagnosis"))]
    res["code"] = concept(coding(c.code.system, c.code.code, c.code.display))
    res["subject"] = ctx.patient()
    res["encounter"] = ctx.ref("Encounter", c.encounter_id)
    res["onsetDateTime"] = c.onset.isoformat()
    res["recordedDate"] = instant(c.recorded)
    res["recorder"] = ctx.ref("Practitioner", c.recorder.inpe)
    return res


def _component(c: Component, decimals: int) -> Json:
    return {
        "code": concept(coding(c.code.system, c.code.code, c.code.display)),
        "valueQuantity": quantity(c.value, c.unit, decimals),
    }


def observation(ctx: Context, o: ObservationRecord) -> Json:
    res = ctx.head("Observation", o.id, "ObservationLab" if o.kind == "lab" else "VitalSigns")
    res["status"] = o.status
    cat_code, cat_display = v.CATEGORY[o.kind]
    res["category"] = [concept(coding(v.OBS_CATEGORY, cat_code, cat_display))]
    res["code"] = concept(coding(o.code.system, o.code.code, o.code.display))
    res["subject"] = ctx.patient()
    res["encounter"] = ctx.ref("Encounter", o.encounter_id)
    res["effectiveDateTime"] = instant(o.effective)
    res["performer"] = [ctx.ref("Practitioner", o.performer.inpe)]
    if o.value is not None and o.unit is not None:
        res["valueQuantity"] = quantity(o.value, o.unit, o.decimals)
    if o.interpretation:
        res["interpretation"] = [
            concept(coding(v.V3_INTERPRETATION, o.interpretation, v.INTERPRETATION.get(o.interpretation)))
        ]
    if o.reference_range is not None and o.unit is not None:
        low, high = o.reference_range
        rng: Json = {}
        if low is not None:
            rng["low"] = quantity(low, o.unit, o.decimals)
        if high is not None:
            rng["high"] = quantity(high, o.unit, o.decimals)
        if rng:
            res["referenceRange"] = [rng]
    if o.components:
        res["component"] = [_component(c, o.decimals) for c in o.components]
    return res


def medication_request(ctx: Context, p: PrescriptionRecord) -> Json:
    vocab = ctx.vocab
    res = ctx.head("MedicationRequest", p.id, "MedicationRequest")
    res["status"] = "active"
    res["intent"] = "order"
    gtin = vocab.coding("medication", p.medication.code)
    gtin.setdefault("display", p.medication.display)
    res["medicationCodeableConcept"] = concept(gtin, coding(p.atc.system, p.atc.code, p.atc.display))
    res["subject"] = ctx.patient()
    res["encounter"] = ctx.ref("Encounter", p.encounter_id)
    res["authoredOn"] = instant(p.authored)
    res["requester"] = ctx.ref("Practitioner", p.requester.inpe)
    res["dosageInstruction"] = [
        {
            "text": p.dosage_text,
            "timing": {
                "repeat": {
                    "boundsDuration": {"value": p.duration_days, "unit": "d", "system": v.UCUM, "code": "d"},
                    "frequency": p.frequency_per_day,
                    "period": 1,
                    "periodUnit": "d",
                }
            },
            "doseAndRate": [{"doseQuantity": {"value": plain(p.dose_quantity), "unit": p.dose_unit}}],
        }
    ]
    return res


def allergy(ctx: Context, a: AllergyRecord) -> Json:
    res = ctx.head("AllergyIntolerance", a.id, "AllergyIntolerance")
    res["clinicalStatus"] = concept(coding(v.ALLERGY_CLINICAL, "active"))
    res["verificationStatus"] = concept(coding(v.ALLERGY_VERIFICATION, "confirmed"))
    res["type"] = "allergy"
    res["category"] = [a.category]
    res["criticality"] = a.criticality
    res["code"] = concept(coding(a.code.system, a.code.code, a.code.display))
    res["patient"] = ctx.patient()
    res["recordedDate"] = a.recorded.isoformat()
    res["recorder"] = ctx.ref("Practitioner", a.recorder.inpe)
    return res


def immunization(ctx: Context, i: ImmunizationRecord) -> Json:
    res = ctx.head("Immunization", i.id, "Immunization")
    res["status"] = "completed"
    res["vaccineCode"] = concept(
        coding(i.vaccine.system, i.vaccine.code, i.vaccine.display),
        coding(i.atc.system, i.atc.code, i.atc.display),
    )
    res["patient"] = ctx.patient()
    res["occurrenceDateTime"] = i.occurrence.isoformat()
    res["primarySource"] = True
    res["lotNumber"] = i.lot_number
    res["performer"] = [{"actor": ctx.ref("Practitioner", i.performer.inpe)}]
    dose: Json = (
        {"doseNumberPositiveInt": i.dose_number}
        if i.dose_number >= 1
        else {"doseNumberString": str(i.dose_number)}
    )
    res["protocolApplied"] = [dose]
    return res


def consent(ctx: Context, c: ConsentRecord) -> Json:
    vocab = ctx.vocab
    res = ctx.head("Consent", c.id, "Consent")
    res["status"] = "active"
    res["scope"] = concept(coding(v.CONSENT_SCOPE, "patient-privacy"))
    res["category"] = [concept(vocab.coding("consentScope", vocab.consent_code()))]
    res["patient"] = ctx.patient()
    res["dateTime"] = instant(c.date_time)
    res["organization"] = [ctx.ref("Organization", c.organization.inpe)]
    res["policyRule"] = concept(coding(v.V3_ACT_CODE, "OPTOUT"))
    res["provision"] = {"type": "deny"}
    return res


def document_reference(
    ctx: Context, record: PatientRecord, d: DocumentRecord, size: int, sha1: str, url: str
) -> Json:
    vocab = ctx.vocab
    res = ctx.head("DocumentReference", d.id, "DocumentReference")
    res["status"] = "current"
    codings = [vocab.coding("documentType", d.type)]
    loinc = vocab.document_loinc.get(d.type)
    if loinc is not None:
        codings.append(dict(loinc))
    res["type"] = {"coding": codings}
    res["subject"] = ctx.patient()
    res["date"] = instant(d.created)
    res["author"] = [ctx.ref("Practitioner", d.author.inpe), ctx.ref("Organization", d.custodian.inpe)]
    res["custodian"] = ctx.ref("Organization", d.custodian.inpe)
    res["securityLabel"] = [
        concept(coding(v.V3_CONFIDENTIALITY, d.confidentiality, v.CONFIDENTIALITY.get(d.confidentiality)))
    ]
    res["content"] = [
        {
            "attachment": {
                "contentType": v.CDA_MIME,
                "language": d.language,
                "url": url,
                "size": size,
                "hash": sha1,
                "title": d.title,
                "creation": instant(d.created),
            }
        }
    ]
    context: Json = {"encounter": [ctx.ref("Encounter", d.encounter_id)]}
    try:
        context["period"] = {"start": instant(record.encounter(d.encounter_id).start)}
    except KeyError:
        pass
    res["context"] = context
    return res


def binary(ctx: Context, d: DocumentRecord, data_b64: str) -> Json:
    if ctx.rest:
        return {
            "resourceType": "Binary",
            "id": ctx.rest_id("Binary", d.id),
            "contentType": v.CDA_MIME,
            "data": data_b64,
        }
    return {"resourceType": "Binary", "contentType": v.CDA_MIME, "data": data_b64}
