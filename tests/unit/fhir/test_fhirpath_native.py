"""Native invariants: same answer as the general (fhirpathpy-based) evaluator, or as the spec intends."""

from __future__ import annotations

from typing import Any

import pytest

from testbed.fhir._fhirpath_native import NATIVE
from testbed.fhir.fhirpath import FhirPathEngine
from testbed.packages import PackageRegistry

UCUM = "http://unitsofmeasure.org"
EXT = {"url": "http://example.org/x", "valueString": "x"}
GOOD_DIV = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Hello</p></div>'
CON_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CON_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
AIT_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
SAME = object()  # the general evaluator gives the same answer as the native one

ORG = {"resourceType": "Organization", "id": "o1", "name": "Acme"}
PAT_WITH_REF = {"resourceType": "Patient", "contained": [ORG], "managingOrganization": {"reference": "#o1"}}
PAT_UNREFERENCED = {"resourceType": "Patient", "contained": [ORG]}
PAT_BACKREF = {
    "resourceType": "Patient",
    "id": "p",
    "contained": [{"resourceType": "Observation", "id": "ob", "subject": {"reference": "#"}}],
}
PAT_CANONICAL = {
    "resourceType": "Patient",
    "contained": [{"resourceType": "ValueSet", "id": "vs1", "status": "draft"}],
    "extension": [{"url": "http://example.org/vs", "valueCanonical": "#vs1"}],
}
PAT_CHAIN = {  # o1 is only referenced from another contained resource
    "resourceType": "Patient",
    "managingOrganization": {"reference": "#o2"},
    "contained": [ORG, {"resourceType": "Organization", "id": "o2", "partOf": {"reference": "#o1"}}],
}
OBS_CODE = {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}


def _obs(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "code": OBS_CODE, **fields}


# (sd id, key, node, type, expected native, expected general evaluator or SAME, extras)
CASES: list[tuple[str, str, Any, str, bool | None, Any, dict[str, Any]]] = [
    ("Element", "ele-1", {"system": "x"}, "Identifier", True, SAME, {}),
    ("Element", "ele-1", {"id": "a"}, "Identifier", False, SAME, {}),
    ("Element", "ele-1", {}, "Identifier", False, SAME, {}),
    ("Element", "ele-1", {"coding": []}, "CodeableConcept", False, SAME, {}),
    ("Element", "ele-1", {"_family": {"extension": [EXT]}}, "HumanName", True, SAME, {}),
    ("Element", "ele-1", "abc", "string", True, SAME, {}),
    ("Element", "ele-1", False, "boolean", True, SAME, {}),
    ("Element", "ele-1", None, "string", True, SAME, {"extension": {"extension": [EXT]}}),
    ("Element", "ele-1", None, "string", False, SAME, {"extension": {"id": "x"}}),
    ("Extension", "ext-1", {"url": "u", "valueString": "x"}, "Extension", True, SAME, {}),
    ("Extension", "ext-1", {"url": "u"}, "Extension", False, SAME, {}),
    (
        "Extension",
        "ext-1",
        {"url": "u", "valueString": "x", "extension": [EXT]},
        "Extension",
        False,
        SAME,
        {},
    ),
    ("Extension", "ext-1", {"url": "u", "extension": [EXT]}, "Extension", True, SAME, {}),
    ("Extension", "ext-1", {"url": "u", "_valueCode": {"extension": [EXT]}}, "Extension", True, SAME, {}),
    ("DomainResource", "dom-2", PAT_WITH_REF, "Patient", True, SAME, {}),
    (
        "DomainResource",
        "dom-2",
        {"resourceType": "Patient", "contained": [{**ORG, "contained": [ORG]}]},
        "Patient",
        False,
        SAME,
        {},
    ),
    ("DomainResource", "dom-3", PAT_WITH_REF, "Patient", True, SAME, {}),
    ("DomainResource", "dom-3", PAT_UNREFERENCED, "Patient", False, SAME, {}),
    ("DomainResource", "dom-3", PAT_BACKREF, "Patient", True, SAME, {}),
    ("DomainResource", "dom-3", PAT_CANONICAL, "Patient", True, SAME, {}),
    ("DomainResource", "dom-3", PAT_CHAIN, "Patient", True, SAME, {}),
    ("DomainResource", "dom-3", {"resourceType": "Patient", "id": "x"}, "Patient", True, SAME, {}),
    (
        "DomainResource",
        "dom-4",
        {"resourceType": "Patient", "contained": [{**ORG, "meta": {"versionId": "1"}}]},
        "Patient",
        False,
        SAME,
        {},
    ),
    (
        "DomainResource",
        "dom-4",
        {"resourceType": "Patient", "contained": [{**ORG, "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}}]},
        "Patient",
        False,
        SAME,
        {},
    ),
    ("DomainResource", "dom-4", PAT_WITH_REF, "Patient", True, SAME, {}),
    (
        "DomainResource",
        "dom-5",
        {"resourceType": "Patient", "contained": [{**ORG, "meta": {"security": [{"code": "R"}]}}]},
        "Patient",
        False,
        SAME,
        {},
    ),
    ("DomainResource", "dom-5", PAT_WITH_REF, "Patient", True, SAME, {}),
    (
        "DomainResource",
        "dom-6",
        {"resourceType": "Patient", "text": {"div": GOOD_DIV}},
        "Patient",
        True,
        SAME,
        {},
    ),
    (
        "DomainResource",
        "dom-6",
        {"resourceType": "Patient", "text": {"status": "empty"}},
        "Patient",
        False,
        SAME,
        {},
    ),
    ("Reference", "ref-1", {"reference": "#o1"}, "Reference", True, SAME, {"resource": PAT_WITH_REF}),
    ("Reference", "ref-1", {"reference": "#nope"}, "Reference", False, SAME, {"resource": PAT_WITH_REF}),
    ("Reference", "ref-1", {"reference": "Patient/1"}, "Reference", True, SAME, {"resource": PAT_WITH_REF}),
    # no reference at all: R4's expression gives empty; the rule (and its XPath) does not apply
    ("Reference", "ref-1", {"display": "Dr X"}, "Reference", True, None, {"resource": PAT_WITH_REF}),
    # '#' from inside a contained resource is the container: allowed (fixed in later FHIR versions)
    (
        "Reference",
        "ref-1",
        {"reference": "#"},
        "Reference",
        True,
        None,
        {"resource": PAT_BACKREF["contained"][0], "root_resource": PAT_BACKREF},
    ),
    ("Period", "per-1", {"start": "2020-01-01", "end": "2020-02-01"}, "Period", True, SAME, {}),
    ("Period", "per-1", {"start": "2020-02-01", "end": "2020-01-01"}, "Period", False, SAME, {}),
    ("Period", "per-1", {"start": "2020-02-01"}, "Period", True, SAME, {}),
    ("Period", "per-1", {"_start": {"extension": [EXT]}, "end": "2020-01-01"}, "Period", True, SAME, {}),
    # time zones: 10:00-05:00 is 15:00Z, after 12:00Z (fhirpathpy compares the strings)
    (
        "Period",
        "per-1",
        {"start": "2020-01-01T10:00:00-05:00", "end": "2020-01-01T12:00:00Z"},
        "Period",
        False,
        True,
        {},
    ),
    # different precisions: 2020-01-15 lies within 2020-01 (fhirpathpy compares the strings)
    ("Period", "per-1", {"start": "2020-01-15", "end": "2020-01"}, "Period", True, False, {}),
    (
        "Range",
        "rng-2",
        {
            "low": {"value": 1, "system": UCUM, "code": "mg"},
            "high": {"value": 2, "system": UCUM, "code": "mg"},
        },
        "Range",
        True,
        None,
        {},
    ),
    (
        "Range",
        "rng-2",
        {
            "low": {"value": 3, "system": UCUM, "code": "mg"},
            "high": {"value": 2, "system": UCUM, "code": "mg"},
        },
        "Range",
        False,
        None,
        {},
    ),
    ("Range", "rng-2", {"low": {"value": 3}}, "Range", True, SAME, {}),
    (
        "Range",
        "rng-2",
        {
            "low": {"value": 3, "system": UCUM, "code": "g"},
            "high": {"value": 2, "system": UCUM, "code": "kg"},
        },
        "Range",
        None,
        None,
        {},
    ),
    ("Quantity", "qty-3", {"value": 1, "code": "mg"}, "Quantity", False, SAME, {}),
    ("Quantity", "qty-3", {"value": 1, "code": "mg", "system": UCUM}, "Quantity", True, SAME, {}),
    ("Quantity", "qty-3", {"value": 1}, "Quantity", True, SAME, {}),
    ("SimpleQuantity", "sqty-1", {"value": 1, "comparator": "<"}, "Quantity", False, SAME, {}),
    ("SimpleQuantity", "sqty-1", {"value": 1}, "Quantity", True, SAME, {}),
    ("ContactPoint", "cpt-2", {"value": "555"}, "ContactPoint", False, SAME, {}),
    ("ContactPoint", "cpt-2", {"value": "555", "system": "phone"}, "ContactPoint", True, SAME, {}),
    ("Attachment", "att-1", {"data": "AAAA"}, "Attachment", False, SAME, {}),
    ("Attachment", "att-1", {"data": "AAAA", "contentType": "text/plain"}, "Attachment", True, SAME, {}),
    ("CapabilityStatement", "cpb-0", {"name": "Acme"}, "CapabilityStatement", True, SAME, {}),
    ("CapabilityStatement", "cpb-0", {"name": "acme"}, "CapabilityStatement", False, SAME, {}),
    ("CapabilityStatement", "cpb-0", {"status": "draft"}, "CapabilityStatement", True, None, {}),
    ("Age", "age-1", {"value": 5, "system": UCUM, "code": "a"}, "Age", True, SAME, {}),
    ("Age", "age-1", {"value": -1, "system": UCUM, "code": "a"}, "Age", False, SAME, {}),
    ("Age", "age-1", {"value": 5}, "Age", False, SAME, {}),
    ("Age", "age-1", {"value": 5, "system": "http://example.org", "code": "a"}, "Age", False, SAME, {}),
    ("Count", "cnt-3", {"value": 3, "system": UCUM, "code": "1"}, "Count", True, SAME, {}),
    ("Count", "cnt-3", {"value": 3.5, "system": UCUM, "code": "1"}, "Count", False, SAME, {}),
    ("Count", "cnt-3", {"value": 3, "system": UCUM, "code": "mg"}, "Count", False, SAME, {}),
    ("Distance", "dis-1", {"value": 3, "system": UCUM, "code": "m"}, "Distance", True, SAME, {}),
    ("Distance", "dis-1", {"value": 3}, "Distance", False, SAME, {}),
    ("Duration", "drt-1", {"value": 3, "system": UCUM, "code": "min"}, "Duration", True, SAME, {}),
    (
        "Duration",
        "drt-1",
        {"value": 3, "system": "http://example.org", "code": "min"},
        "Duration",
        False,
        SAME,
        {},
    ),
    ("Duration", "drt-1", {"system": UCUM, "code": "min"}, "Duration", False, SAME, {}),
    ("Ratio", "rat-1", {"numerator": {"value": 1}, "denominator": {"value": 2}}, "Ratio", True, SAME, {}),
    ("Ratio", "rat-1", {"numerator": {"value": 1}}, "Ratio", False, SAME, {}),
    ("Ratio", "rat-1", {}, "Ratio", False, SAME, {}),
    ("Ratio", "rat-1", {"extension": [EXT]}, "Ratio", True, SAME, {}),
    ("Timing", "tim-1", {"duration": 1}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-1", {"duration": 1, "durationUnit": "h"}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-2", {"period": 1}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-4", {"duration": -1, "durationUnit": "h"}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-4", {"duration": 1, "durationUnit": "h"}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-5", {"period": -2, "periodUnit": "h"}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-6", {"periodMax": 2}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-7", {"durationMax": 2}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-8", {"countMax": 2}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-8", {"countMax": 2, "count": 1}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-9", {"offset": 30, "when": ["ACM"]}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-9", {"offset": 30, "when": ["C"]}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-9", {"offset": 30}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-10", {"timeOfDay": ["10:00:00"], "when": ["MORN"]}, "Timing.repeat", False, SAME, {}),
    ("Timing", "tim-10", {"timeOfDay": ["10:00:00"]}, "Timing.repeat", True, SAME, {}),
    ("Narrative", "txt-1", GOOD_DIV, "xhtml", True, SAME, {}),
    (
        "Narrative",
        "txt-1",
        '<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script></div>',
        "xhtml",
        False,
        SAME,
        {},
    ),
    # an empty div has a valid structure (txt-1) but no content (txt-2); htmlChecks() checks both
    ("Narrative", "txt-1", '<div xmlns="http://www.w3.org/1999/xhtml"> </div>', "xhtml", True, False, {}),
    ("Narrative", "txt-2", '<div xmlns="http://www.w3.org/1999/xhtml"> </div>', "xhtml", False, SAME, {}),
    (
        "Narrative",
        "txt-2",
        '<div xmlns="http://www.w3.org/1999/xhtml"><b onclick="x()">a</b></div>',
        "xhtml",
        True,
        False,
        {},
    ),
    (
        "Observation",
        "obs-6",
        _obs(valueString="x", dataAbsentReason={"text": "n/a"}),
        "Observation",
        False,
        SAME,
        {},
    ),
    ("Observation", "obs-6", _obs(valueString="x"), "Observation", True, SAME, {}),
    (
        "Observation",
        "obs-7",
        _obs(valueQuantity={"value": 1}, component=[{"code": OBS_CODE, "valueString": "x"}]),
        "Observation",
        False,
        SAME,
        {},
    ),
    (
        "Observation",
        "obs-7",
        _obs(valueQuantity={"value": 1}, component=[{"code": {"coding": [{"code": "other"}]}}]),
        "Observation",
        True,
        SAME,
        {},
    ),
    ("Observation", "obs-7", _obs(component=[{"code": OBS_CODE}]), "Observation", True, SAME, {}),
    ("Observation", "obs-3", {"text": "normal"}, "Observation.referenceRange", True, SAME, {}),
    ("Observation", "obs-3", {"appliesTo": [OBS_CODE]}, "Observation.referenceRange", False, SAME, {}),
    ("Patient", "pat-1", {"name": {"family": "X"}}, "Patient.contact", True, SAME, {}),
    ("Patient", "pat-1", {"gender": "male"}, "Patient.contact", False, SAME, {}),
    ("Condition", "con-1", {"summary": OBS_CODE}, "Condition.stage", True, SAME, {}),
    ("Condition", "con-1", {"type": OBS_CODE}, "Condition.stage", False, SAME, {}),
    (
        "Condition",
        "con-2",
        {"detail": [{"reference": "Observation/1"}]},
        "Condition.evidence",
        True,
        SAME,
        {},
    ),
    ("Condition", "con-2", {}, "Condition.evidence", False, SAME, {}),
    (
        "Condition",
        "con-3",
        {"resourceType": "Condition", "category": [{"coding": [{"code": "problem-list-item"}]}]},
        "Condition",
        False,
        SAME,
        {},
    ),
    ("Condition", "con-3", {"resourceType": "Condition"}, "Condition", True, SAME, {}),
    (
        "Condition",
        "con-4",
        {
            "resourceType": "Condition",
            "abatementDateTime": "2020",
            "clinicalStatus": {"coding": [{"system": CON_CLIN, "code": "active"}]},
        },
        "Condition",
        False,
        SAME,
        {},
    ),
    (
        "Condition",
        "con-4",
        {
            "resourceType": "Condition",
            "abatementAge": {"value": 3},
            "clinicalStatus": {"coding": [{"system": CON_CLIN, "code": "resolved"}]},
        },
        "Condition",
        True,
        SAME,
        {},
    ),
    (
        "Condition",
        "con-5",
        {
            "resourceType": "Condition",
            "verificationStatus": {"coding": [{"system": CON_VER, "code": "entered-in-error"}]},
            "clinicalStatus": {"coding": [{"system": CON_CLIN, "code": "active"}]},
        },
        "Condition",
        False,
        SAME,
        {},
    ),
    (
        "Condition",
        "con-5",
        {
            "resourceType": "Condition",
            "verificationStatus": {"coding": [{"system": CON_VER, "code": "confirmed"}]},
            "clinicalStatus": {"coding": [{"system": CON_CLIN, "code": "active"}]},
        },
        "Condition",
        True,
        SAME,
        {},
    ),
    (
        "AllergyIntolerance",
        "ait-1",
        {"resourceType": "AllergyIntolerance"},
        "AllergyIntolerance",
        False,
        SAME,
        {},
    ),
    (
        "AllergyIntolerance",
        "ait-1",
        {
            "resourceType": "AllergyIntolerance",
            "verificationStatus": {"coding": [{"system": AIT_VER, "code": "entered-in-error"}]},
        },
        "AllergyIntolerance",
        True,
        SAME,
        {},
    ),
    (
        "AllergyIntolerance",
        "ait-2",
        {
            "resourceType": "AllergyIntolerance",
            "verificationStatus": {"coding": [{"system": AIT_VER, "code": "entered-in-error"}]},
            "clinicalStatus": {"text": "active"},
        },
        "AllergyIntolerance",
        False,
        SAME,
        {},
    ),
    ("Consent", "ppc-1", {"resourceType": "Consent", "policyRule": OBS_CODE}, "Consent", True, SAME, {}),
    ("Consent", "ppc-1", {"resourceType": "Consent"}, "Consent", False, SAME, {}),
    (
        "Consent",
        "ppc-2",
        {
            "resourceType": "Consent",
            "scope": {"coding": [{"system": "something", "code": "patient-privacy"}]},
        },
        "Consent",
        False,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-3",
        {
            "resourceType": "Consent",
            "patient": {"reference": "Patient/1"},
            "scope": {"coding": [{"system": "something", "code": "research"}]},
        },
        "Consent",
        True,
        SAME,
        {},
    ),
    ("Organization", "org-1", {"resourceType": "Organization", "name": "x"}, "Organization", True, SAME, {}),
    ("Organization", "org-1", {"resourceType": "Organization"}, "Organization", False, SAME, {}),
    ("Organization", "org-2", {"use": "home"}, "Address", False, SAME, {}),
    ("Organization", "org-2", {"use": "work"}, "Address", True, SAME, {}),
    ("Organization", "org-3", {"value": "1"}, "ContactPoint", True, SAME, {}),
    ("Composition", "cmp-1", {"title": "x"}, "Composition.section", False, SAME, {}),
    ("Composition", "cmp-1", {"entry": [{"reference": "Patient/1"}]}, "Composition.section", True, SAME, {}),
    (
        "Composition",
        "cmp-2",
        {"entry": [{"reference": "P/1"}], "emptyReason": OBS_CODE},
        "Composition.section",
        False,
        SAME,
        {},
    ),
    ("Immunization", "imm-1", {"presentationDate": "2020"}, "Immunization.education", False, SAME, {}),
    ("AuditEvent", "sev-1", {"name": "a", "query": "AAAA"}, "AuditEvent.entity", False, SAME, {}),
    (
        "Bundle",
        "bdl-1",
        {"resourceType": "Bundle", "type": "document", "total": 1},
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-1",
        {"resourceType": "Bundle", "type": "searchset", "total": 1},
        "Bundle",
        True,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-2",
        {"resourceType": "Bundle", "type": "document", "entry": [{"search": {"mode": "match"}}]},
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-3",
        {"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": ORG}]},
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-3",
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": ORG, "request": {"url": "O"}}],
        },
        "Bundle",
        True,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-3",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": ORG, "request": {"url": "O"}}],
        },
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-4",
        {"resourceType": "Bundle", "type": "batch-response", "entry": [{"response": {"status": "200"}}]},
        "Bundle",
        True,
        SAME,
        {},
    ),
    ("Bundle", "bdl-5", {"fullUrl": "urn:uuid:1"}, "Bundle.entry", False, SAME, {}),
    ("Bundle", "bdl-5", {"resource": ORG}, "Bundle.entry", True, SAME, {}),
    (
        "Bundle",
        "bdl-7",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:1", "resource": ORG}, {"fullUrl": "urn:uuid:1", "resource": ORG}],
        },
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-7",
        {
            "resourceType": "Bundle",
            "type": "history",
            "entry": [{"fullUrl": "urn:uuid:1", "resource": ORG}, {"fullUrl": "urn:uuid:1", "resource": ORG}],
        },
        "Bundle",
        True,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-7",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"fullUrl": "urn:uuid:1", "resource": ORG}, {"fullUrl": "urn:uuid:2", "resource": ORG}],
        },
        "Bundle",
        True,
        SAME,
        {},
    ),
    ("Bundle", "bdl-8", {"fullUrl": "http://a/Patient/1/_history/2"}, "Bundle.entry", False, SAME, {}),
    ("Bundle", "bdl-8", {"fullUrl": "http://a/Patient/1"}, "Bundle.entry", True, SAME, {}),
    # no fullUrl: R4's expression gives empty; the rule (and its XPath) does not apply
    ("Bundle", "bdl-8", {"resource": ORG}, "Bundle.entry", True, None, {}),
    ("Bundle", "bdl-9", {"resourceType": "Bundle", "type": "document"}, "Bundle", False, SAME, {}),
    (
        "Bundle",
        "bdl-9",
        {"resourceType": "Bundle", "type": "document", "identifier": {"system": "urn:x", "value": "1"}},
        "Bundle",
        True,
        SAME,
        {},
    ),
    ("Bundle", "bdl-10", {"resourceType": "Bundle", "type": "document"}, "Bundle", False, SAME, {}),
    (
        "Bundle",
        "bdl-10",
        {"resourceType": "Bundle", "type": "document", "timestamp": "2020-01-01T00:00:00Z"},
        "Bundle",
        True,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-11",
        {"resourceType": "Bundle", "type": "document", "entry": [{"resource": ORG}]},
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-11",
        {
            "resourceType": "Bundle",
            "type": "document",
            "entry": [{"resource": {"resourceType": "Composition"}}],
        },
        "Bundle",
        True,
        SAME,
        {},
    ),
    ("Bundle", "bdl-11", {"resourceType": "Bundle", "type": "collection"}, "Bundle", True, SAME, {}),
    (
        "Bundle",
        "bdl-12",
        {"resourceType": "Bundle", "type": "message", "entry": [{"resource": ORG}]},
        "Bundle",
        False,
        SAME,
        {},
    ),
    ("Timing", "tim-2", {"period": 1, "periodUnit": "d"}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-5", {"period": 2, "periodUnit": "h"}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-6", {"periodMax": 2, "period": 1}, "Timing.repeat", True, SAME, {}),
    ("Timing", "tim-7", {"durationMax": 2, "duration": 1}, "Timing.repeat", True, SAME, {}),
    (
        "AllergyIntolerance",
        "ait-2",
        {"resourceType": "AllergyIntolerance", "clinicalStatus": {"text": "active"}},
        "AllergyIntolerance",
        True,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-2",
        {"resourceType": "Consent", "scope": {"coding": [{"system": "something", "code": "adr"}]}},
        "Consent",
        True,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-3",
        {"resourceType": "Consent", "scope": {"coding": [{"system": "something", "code": "research"}]}},
        "Consent",
        False,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-4",
        {"resourceType": "Consent", "scope": {"coding": [{"system": "something", "code": "adr"}]}},
        "Consent",
        False,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-4",
        {"resourceType": "Consent", "scope": {"coding": [{"system": "other", "code": "adr"}]}},
        "Consent",
        True,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-5",
        {"resourceType": "Consent", "scope": {"coding": [{"system": "something", "code": "treatment"}]}},
        "Consent",
        False,
        SAME,
        {},
    ),
    (
        "Consent",
        "ppc-5",
        {"resourceType": "Consent", "scope": {"coding": [{"code": "treatment"}]}},
        "Consent",
        True,
        SAME,
        {},
    ),
    ("Composition", "cmp-2", {"emptyReason": OBS_CODE}, "Composition.section", True, SAME, {}),
    ("Immunization", "imm-1", {"documentType": "x"}, "Immunization.education", True, SAME, {}),
    ("AuditEvent", "sev-1", {"name": "a"}, "AuditEvent.entity", True, SAME, {}),
    (
        "Bundle",
        "bdl-2",
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"search": {"mode": "match"}}]},
        "Bundle",
        True,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-4",
        {"resourceType": "Bundle", "type": "batch", "entry": [{"response": {"status": "200"}}]},
        "Bundle",
        False,
        SAME,
        {},
    ),
    (
        "Bundle",
        "bdl-12",
        {
            "resourceType": "Bundle",
            "type": "message",
            "entry": [{"resource": {"resourceType": "MessageHeader"}}],
        },
        "Bundle",
        True,
        SAME,
        {},
    ),
]


@pytest.fixture(scope="module")
def core_expressions(registry: PackageRegistry) -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for sd in registry.iter_resources("StructureDefinition"):
        for element in (sd.get("snapshot") or {}).get("element", []):
            for constraint in element.get("constraint", []):
                if "expression" in constraint:
                    found.setdefault((sd["id"], constraint["key"]), constraint["expression"])
    return found


@pytest.fixture(scope="module")
def native() -> FhirPathEngine:
    return FhirPathEngine()


@pytest.fixture(scope="module")
def general() -> FhirPathEngine:
    return FhirPathEngine(use_native=False)


def test_every_native_expression_is_a_core_expression(core_expressions: dict[tuple[str, str], str]) -> None:
    texts = set(core_expressions.values())
    assert [expression for expression in NATIVE if expression not in texts] == []


def test_the_hot_invariants_are_native(core_expressions: dict[tuple[str, str], str]) -> None:
    hot = ["ele-1", "ext-1", "dom-2", "dom-3", "dom-4", "dom-5", "dom-6", "ref-1", "per-1", "qty-3"]
    hot += ["cpt-2", "att-1", "txt-1", "txt-2", "sqty-1", "obs-6", "obs-7", "bdl-7", "con-4"]
    by_key = {key: text for (_, key), text in core_expressions.items()}
    assert [key for key in hot if by_key[key] not in NATIVE] == []


def test_every_native_has_a_passing_and_a_failing_case(core_expressions: dict[tuple[str, str], str]) -> None:
    outcomes: dict[str, set[bool | None]] = {}
    for sd_id, key, _node, _type, expected, _general, _extra in CASES:
        outcomes.setdefault(core_expressions[(sd_id, key)], set()).add(expected)
    untested = [expr for expr in NATIVE if not {True, False} <= outcomes.get(expr, set())]
    assert untested == []


@pytest.mark.parametrize(
    ("sd_id", "key", "node", "type_name", "expected", "general_expected", "extra"),
    CASES,
    ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)],
)
def test_native_matches_general_evaluator(
    core_expressions: dict[tuple[str, str], str],
    native: FhirPathEngine,
    general: FhirPathEngine,
    sd_id: str,
    key: str,
    node: Any,
    type_name: str,
    expected: bool | None,
    general_expected: Any,
    extra: dict[str, Any],
) -> None:
    expression = core_expressions[(sd_id, key)]
    assert expression in NATIVE
    resource = extra.get("resource", node if isinstance(node, dict) and "resourceType" in node else None)
    kwargs = {
        "type_name": type_name,
        "resource": resource,
        "root_resource": extra.get("root_resource", resource),
        "extension": extra.get("extension"),
    }
    fast = native.check_constraint(key, expression, node, **kwargs)
    slow = general.check_constraint(key, expression, node, **kwargs)
    assert fast.ok is expected, fast.reason
    if fast.ok is None:
        assert fast.reason and fast.reason.startswith(f"{key}:")
    assert slow.ok is (expected if general_expected is SAME else general_expected), slow.reason


def test_a_changed_expression_falls_back_to_the_general_evaluator(native: FhirPathEngine) -> None:
    changed = "hasValue() or (children().count() > id.count()) "
    assert native.compile(changed).native is None
    assert native.compile("hasValue() or (children().count() > id.count())").native is not None
    result = native.check_constraint(
        "ele-1", changed, {"id": "x"}, type_name="Identifier", resource=None, root_resource=None
    )
    assert result.ok is False


def test_native_check_is_used_for_the_exact_core_text(native: FhirPathEngine) -> None:
    expression = "hasValue() or (children().count() > id.count())"
    assert native.native_check(expression) is not None
    assert native.native_check(expression + " ") is None  # any other text goes to the general evaluator
