"""Terminology bindings, code systems, UCUM units and identifiers of CDA documents (good and bad inputs)."""

from __future__ import annotations

import pytest
from lxml import etree

from testbed.cda import CdaValidator
from testbed.core.issues import Issue, Severity

NS = {"cda": "urn:hl7-org:v3"}


def _issues(validator: CdaValidator, xml: bytes, path: str, **attrs: str) -> list[Issue]:
    tree = etree.fromstring(xml).getroottree()
    nodes = tree.xpath(path, namespaces=NS)
    assert isinstance(nodes, list) and nodes, path
    node = nodes[0]
    assert isinstance(node, etree._Element)
    for key, value in attrs.items():
        node.set(key, value)
    return validator.validate(etree.tostring(tree)).issues


@pytest.mark.parametrize(
    ("doc", "path", "attrs", "rule", "severity", "requirement"),
    [
        # required binding (document type): error
        (
            "ORD",
            "/cda:ClinicalDocument/cda:code",
            {"code": "34133-9"},
            "cda-binding:document-type",
            Severity.ERROR,
            "MA-CDA-007",
        ),
        # extensible binding (ICD-10 subset): warning
        (
            "CRH",
            "//cda:observation/cda:value[@codeSystem='2.16.840.1.113883.6.3']",
            {"code": "Z99.9"},
            "cda-binding:diagnosis",
            Severity.WARNING,
            "MA-TERM-008",
        ),
        # extensible binding (lab LOINC subset): warning
        (
            "CRBIO",
            "//cda:section/cda:entry/cda:observation/cda:code",
            {"code": "99999-9"},
            "cda-binding:lab-result",
            Severity.WARNING,
            "MA-TERM-009",
        ),
        # required binding (vital signs): error
        (
            "CRCONS",
            "//cda:section[cda:code/@code='8716-3']/cda:entry/cda:observation/cda:code",
            {"code": "2345-7"},
            "cda-binding:vital-sign",
            Severity.ERROR,
            "MA-TERM-007",
        ),
        # extensible binding (national medication catalogue): warning for a GTIN outside it
        (
            "ORD",
            "//cda:manufacturedMaterial/cda:code",
            {"code": "09521009999995"},
            "cda-binding:medication",
            Severity.WARNING,
            "MA-TERM-010",
        ),
        # GTIN check digit: error
        (
            "ORD",
            "//cda:manufacturedMaterial/cda:code",
            {"code": "09521001000018"},
            "cda-code-system:GTIN",
            Severity.ERROR,
            "MA-CDA-033",
        ),
        # a code not in its (shipped) code system: error
        (
            "CRCONS",
            "/cda:ClinicalDocument/cda:confidentialityCode",
            {"code": "Q"},
            "cda-code-system:v3 Confidentiality",
            Severity.ERROR,
            "MA-CDA-033",
        ),
        # a malformed UCUM unit on a result: error citing MA-CDA-024
        (
            "CRBIO",
            "//cda:observation/cda:value[@unit]",
            {"unit": "g par L"},
            "cda-ucum",
            Severity.ERROR,
            "MA-CDA-024",
        ),
        # a dose unit that is UCUM grammar but an unknown atom: warning, not a result
        ("ORD", "//cda:doseQuantity", {"unit": "tablets"}, "cda-ucum", Severity.WARNING, "MA-CDA-033"),
        # identifiers (NamingSystem rules in CDA)
        (
            "CRCONS",
            "//cda:patientRole/cda:id[1]",
            {"extension": "185041234500"},
            "ins:check-digit",
            Severity.ERROR,
            "MA-CDA-012",
        ),
        (
            "CRCONS",
            "//cda:patientRole/cda:id[2]",
            {"extension": "B12"},
            "cnie:pattern",
            Severity.ERROR,
            "MA-CDA-013",
        ),
        (
            "CRCONS",
            "/cda:ClinicalDocument/cda:author/cda:assignedAuthor/cda:id",
            {"extension": "12345678"},
            "inpe:pattern",
            Severity.ERROR,
            "MA-CDA-017",
        ),
        (
            "CRCONS",
            "//cda:representedCustodianOrganization/cda:id",
            {"extension": "X"},
            "inpe:pattern",
            Severity.ERROR,
            "MA-CDA-018",
        ),
        (
            "CRBIO",
            "//cda:performer/cda:assignedEntity/cda:id",
            {"extension": "1"},
            "inpe:pattern",
            Severity.ERROR,
            "MA-ID-014",
        ),
        (
            "CRCONS",
            "//cda:patientRole/cda:id[1]",
            {"root": "2.16.504.1.1.77"},
            "cda-identifier-system",
            Severity.ERROR,
            "MA-ID-023",
        ),
    ],
)
def test_a_bad_value_is_reported(
    cda_validator: CdaValidator,
    good_docs: dict[str, bytes],
    doc: str,
    path: str,
    attrs: dict[str, str],
    rule: str,
    severity: Severity,
    requirement: str,
) -> None:
    if rule == "cda-identifier-system":  # the national arc comes from content, not from this test
        attrs = {"root": f"{cda_validator.national.oid_root}.77"}
    assert cda_validator.validate(good_docs[doc]).issues == []
    found = [i for i in _issues(cda_validator, good_docs[doc], path, **attrs) if i.rule == rule]
    assert found, rule
    assert found[0].severity is severity
    assert requirement in found[0].requirements
    assert found[0].location.startswith("/ClinicalDocument") and "/@" in found[0].location
    assert "(line " in found[0].message


def test_identifiers_under_the_local_arc_are_free(
    cda_validator: CdaValidator, good_docs: dict[str, bytes]
) -> None:
    local = cda_validator.national.local_system("152423053").removeprefix("urn:oid:")
    issues = _issues(
        cda_validator,
        good_docs["CRCONS"],
        "//cda:patientRole/cda:id[last()]",
        root=local,
        extension="any free text",
    )
    assert issues == []


def test_the_atc_class_of_a_medication_must_be_the_catalogue_one(
    cda_validator: CdaValidator, good_docs: dict[str, bytes]
) -> None:
    issues = _issues(
        cda_validator, good_docs["ORD"], "//cda:manufacturedMaterial/cda:code/cda:translation", code="C09AA05"
    )
    [issue] = [i for i in issues if i.rule == "cda-binding:medication:atc"]
    assert issue.severity is Severity.ERROR and "MA-CDA-026" in issue.requirements
    assert "N02BE01" in issue.message


def test_codes_that_cannot_be_checked_offline_raise_no_false_error(
    cda_validator: CdaValidator, good_docs: dict[str, bytes]
) -> None:
    # CVX is not shipped: a vaccine code outside any binding is left alone rather than falsely rejected
    issues = _issues(
        cda_validator,
        good_docs["SYNTH"],
        "//cda:substanceAdministration[@moodCode='EVN']//cda:manufacturedMaterial/cda:code",
        code="999",
    )
    assert issues == []
