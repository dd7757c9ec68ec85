from __future__ import annotations

from testbed.core.issues import Issue, IssueCode, Severity, ValidationOutcome


def test_outcome_validity_and_operation_outcome() -> None:
    ok = ValidationOutcome("a.json", "fhir", [Issue(Severity.WARNING, IssueCode.VALUE, "Patient.x", "meh")])
    assert ok.valid
    bad = ValidationOutcome(
        "b.json",
        "fhir",
        [
            Issue(Severity.INFORMATION, IssueCode.INFORMATIONAL, "", "fyi"),
            Issue(
                Severity.ERROR,
                IssueCode.REQUIRED,
                "Patient.identifier[1].value",
                "missing",
                "ma-pat-1",
                ("MA-PAT-001",),
            ),
        ],
    )
    assert not bad.valid
    assert [i.severity for i in bad.sorted_issues()] == [Severity.ERROR, Severity.INFORMATION]
    oo = bad.to_operation_outcome()
    assert oo["resourceType"] == "OperationOutcome"
    issue = oo["issue"][1]
    assert issue["expression"] == ["Patient.identifier[1].value"]
    assert {"system": "urn:testbed:requirement", "code": "MA-PAT-001"} in issue["details"]["coding"]
    assert bad.to_dict()["issues"][1] == {
        "severity": "error",
        "code": "required",
        "location": "Patient.identifier[1].value",
        "message": "missing",
        "rule": "ma-pat-1",
        "requirements": ["MA-PAT-001"],
    }


def test_empty_outcome_is_informational() -> None:
    oo = ValidationOutcome("c").to_operation_outcome()
    assert oo["issue"][0]["severity"] == "information"


def test_fatal_is_an_error() -> None:
    assert Severity.FATAL.is_error and not Severity.WARNING.is_error
    assert Severity.FATAL.rank < Severity.INFORMATION.rank
