"""FhirPathEngine: compiling, caching, FHIR primitives, environment, added functions, error handling."""

from __future__ import annotations

import copy
import json
import pickle
from decimal import Decimal
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models

from testbed.core.errors import TestbedError
from testbed.fhir import _fhirpath_runtime as rt
from testbed.fhir.fhirpath import (
    ConstraintResult,
    FhirPathEngine,
    FhirPathError,
    FhirPathUndecided,
    ReferenceContext,
)

BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p1",
    "active": True,
    "name": [
        {
            "use": "official",
            "family": "Chalmers",
            "given": ["Peter", None, "Jim"],
            "_given": [None, {"extension": [{"url": "http://example.org/g", "valueString": "James"}]}, None],
        }
    ],
    "gender": "male",
    "birthDate": "1974-12-25",
    "_birthDate": {"extension": [{"url": BIRTH_TIME, "valueDateTime": "1974-12-25T14:35:45-05:00"}]},
    "_deceasedBoolean": {"extension": [{"url": "http://example.org/unknown", "valueCode": "unknown"}]},
    "contact": [{"name": {"family": "du Marché"}}],
    "managingOrganization": {"reference": "#org1"},
    "contained": [
        {"resourceType": "Organization", "id": "org1", "name": "Acme", "partOf": {"reference": "#"}}
    ],
}


@pytest.fixture
def engine() -> FhirPathEngine:
    return FhirPathEngine()


def ev(
    engine: FhirPathEngine,
    expression: str,
    node: Any = None,
    type_name: str | None = "Patient",
    **kwargs: Any,
) -> list[Any]:
    node = PATIENT if node is None else node
    resource = kwargs.pop("resource", PATIENT)
    return engine.evaluate(
        expression,
        node,
        type_name=type_name,
        resource=resource,
        root_resource=kwargs.pop("root_resource", resource),
        **kwargs,
    )


# ------------------------------------------------------------------------------------------- compiling


@pytest.mark.parametrize("text", ["a.b(", "(a", "a +", "a = = b", "$$", "a b", "", "name.where(", "'open"])
def test_syntax_errors_are_rejected(engine: FhirPathEngine, text: str) -> None:
    with pytest.raises(FhirPathError) as info:
        engine.compile(text)
    assert isinstance(info.value, TestbedError)
    assert repr(text) in str(info.value)
    result = engine.check_constraint("x-1", text, {}, type_name="Patient", resource=None, root_resource=None)
    assert result.ok is None and result.reason and "invalid FHIRPath" in result.reason


def test_compile_is_cached_by_text(engine: FhirPathEngine) -> None:
    first = engine.compile("name.given.exists()")
    assert engine.compile("name.given.exists()") is first
    assert first.unsupported == frozenset() and first.native is None


def test_unknown_function_is_reported_not_guessed(engine: FhirPathEngine) -> None:
    compiled = engine.compile("name.exists() or frobnicate()")
    assert compiled.unsupported == {"frobnicate"}
    result = engine.check_constraint(
        "x-1",
        "name.exists() or frobnicate()",
        PATIENT,
        type_name="Patient",
        resource=PATIENT,
        root_resource=PATIENT,
    )
    assert result == ConstraintResult(
        None, "x-1: FHIRPath function(s) not supported by this engine: frobnicate()"
    )
    with pytest.raises(FhirPathError, match="frobnicate"):
        ev(engine, "frobnicate()")


def test_cache_export_import(engine: FhirPathEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    expressions = ["name.given.first()", "contained.where(id = 'org1').exists()", "birthDate < today()"]
    for text in expressions:
        engine.compile(text)
    exported = engine.export_cache()
    restored = json.loads(json.dumps(exported))
    assert pickle.loads(pickle.dumps(exported)) == exported
    fresh = FhirPathEngine()
    assert fresh.import_cache(restored) == 3
    monkeypatch.setattr(rt, "parse_expression", lambda text: pytest.fail(f"parsed {text!r} again"))
    assert [ev(fresh, t) for t in expressions] == [["Peter"], [True], [True]]
    assert fresh.import_cache({"format": "other", "asts": {}}) == 0
    with pytest.raises(FhirPathError):
        fresh.import_cache({"nonsense": 1})
    with pytest.raises(FhirPathError):
        fresh.import_cache({"format": exported["format"], "asts": {"a": {"no": "children"}}})


# ------------------------------------------------------------------------------- FHIR JSON primitives


def test_primitive_and_its_underscore_sibling_are_one_node(engine: FhirPathEngine) -> None:
    assert ev(engine, "birthDate") == ["1974-12-25"]
    assert ev(engine, "birthDate.count()") == [1]
    assert ev(engine, "birthDate.is(date)") == [True]
    assert ev(engine, "birthDate = @1974-12-25") == [True]
    assert ev(engine, "birthDate.extension.url") == [BIRTH_TIME]
    assert ev(engine, f"birthDate.extension('{BIRTH_TIME}').value") == ["1974-12-25T14:35:45-05:00"]
    assert ev(engine, "birthDate.hasValue()") == [True]
    assert ev(engine, "birthDate.children().count()") == [1]
    with_id = {"resourceType": "Patient", "gender": "male", "_gender": {"id": "g1"}}
    assert ev(engine, "gender.id", with_id, resource=with_id) == ["g1"]
    assert ev(engine, "gender.descendants().count()", with_id, resource=with_id) == [1]


def test_primitive_with_only_extensions(engine: FhirPathEngine) -> None:
    assert ev(engine, "deceased.exists()") == [True]
    assert ev(engine, "deceased.hasValue()") == [False]
    assert ev(engine, "deceased.extension.value") == ["unknown"]
    assert ev(engine, "deceased = true") == []
    assert ev(engine, "deceased") == []  # no value to return


def test_primitive_arrays_align_with_their_underscore_arrays(engine: FhirPathEngine) -> None:
    assert ev(engine, "name.given") == ["Peter", "Jim"]
    assert ev(engine, "name.given.count()") == [3]
    assert ev(engine, "name.given.where(hasValue().not()).extension.value") == ["James"]


def test_node_given_with_its_extension_part(engine: FhirPathEngine) -> None:
    ext = PATIENT["_birthDate"]
    assert engine.evaluate(
        "extension.url",
        "1974-12-25",
        type_name="date",
        resource=PATIENT,
        root_resource=PATIENT,
        extension=ext,
    ) == [BIRTH_TIME]
    for native in (True, False):
        eng = FhirPathEngine(use_native=native)
        ele_1 = "hasValue() or (children().count() > id.count())"
        kwargs: dict[str, Any] = {"type_name": "date", "resource": PATIENT, "root_resource": PATIENT}
        assert eng.check_constraint("ele-1", ele_1, None, extension=ext, **kwargs).ok is True
        assert eng.check_constraint("ele-1", ele_1, None, extension={"id": "a"}, **kwargs).ok is False
        assert eng.check_constraint("ele-1", ele_1, "x", **kwargs).ok is True


def test_types_choices_and_backbone_elements(engine: FhirPathEngine) -> None:
    assert ev(engine, "Patient.name.family") == ["Chalmers"]
    assert ev(engine, "Resource.id") == ["p1"]
    assert ev(engine, "Observation.id") == []
    assert ev(engine, "contact.name.is(HumanName)") == [True]
    assert ev(engine, "contact.is(BackboneElement)") == [True]
    assert ev(engine, "contained.ofType(Organization).name") == ["Acme"]
    obs = {"resourceType": "Observation", "valueQuantity": {"value": 5.5, "unit": "mg"}, "status": "final"}
    assert ev(engine, "value.is(Quantity)", obs, "Observation", resource=obs) == [True]
    assert ev(engine, "value.value", obs, "Observation", resource=obs) == [Decimal("5.5")]
    assert ev(engine, "(value as Quantity).unit", obs, "Observation", resource=obs) == ["mg"]
    assert ev(engine, "children().count()", obs, "Observation", resource=obs) == [2]


def test_fhirpathpy_itself_is_left_unchanged() -> None:
    # our navigation fix only acts on our own evaluations
    assert fhirpathpy.evaluate(copy.deepcopy(PATIENT), "Patient.birthDate.count()", model=models["r4"]) == [2]


def test_input_is_not_modified(engine: FhirPathEngine) -> None:
    original = copy.deepcopy(PATIENT)
    for text in [
        "descendants().count()",
        "children().count()",
        "name.given.extension.url",
        "contained.where(id='org1').name",
        "birthDate + 1 day",
        "name.select(given.first())",
    ]:
        ev(engine, text)
    assert original == PATIENT
    variable = [5]
    assert ev(engine, "-%x", variables={"x": variable}) == [-5]
    assert variable == [5]


# ------------------------------------------------------------------------------------------ environment


def test_environment_variables(engine: FhirPathEngine) -> None:
    assert ev(engine, "%ucum") == ["http://unitsofmeasure.org"]
    assert ev(engine, "%sct") == ["http://snomed.info/sct"]
    assert ev(engine, "%loinc") == ["http://loinc.org"]
    assert ev(engine, "%`vs-administrative-gender`") == ["http://hl7.org/fhir/ValueSet/administrative-gender"]
    assert ev(engine, "%`ext-patient-birthTime`") == [BIRTH_TIME]
    assert ev(engine, "%context.id") == ["p1"]
    assert ev(engine, "%limit + 1", variables={"limit": 2}) == [3]
    with pytest.raises(FhirPathError, match="undefined environment variable"):
        ev(engine, "%nope")
    result = engine.check_constraint(
        "x-1", "%nope.exists()", PATIENT, type_name="Patient", resource=PATIENT, root_resource=PATIENT
    )
    assert result.ok is None and result.reason and "nope" in result.reason


def test_resource_and_root_resource_in_contained_and_bundles(engine: FhirPathEngine) -> None:
    patient = copy.deepcopy(PATIENT)
    org = patient["contained"][0]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "http://x/fhir/Patient/p1", "resource": patient}],
    }
    kwargs: dict[str, Any] = {"type_name": "Organization", "resource": org}
    assert engine.evaluate("%resource.id", org, root_resource=patient, **kwargs) == ["org1"]
    assert engine.evaluate("%rootResource.id", org, root_resource=patient, **kwargs) == ["p1"]
    # a Bundle is not the container of its entries: %rootResource stays the entry's resource
    assert engine.evaluate("%rootResource.id", org, root_resource=bundle, **kwargs) == ["p1"]
    ref_1 = (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))"
    )
    for native in (True, False):
        eng = FhirPathEngine(use_native=native)
        result = eng.check_constraint(
            "ref-1",
            ref_1,
            patient["managingOrganization"],
            type_name="Reference",
            resource=patient,
            root_resource=bundle,
        )
        assert result.ok is True
        result = eng.check_constraint(
            "ref-1",
            ref_1,
            {"reference": "#zzz"},
            type_name="Reference",
            resource=patient,
            root_resource=bundle,
        )
        assert result.ok is False


# ------------------------------------------------------------------------------------ added functions


def test_has_value_and_get_value(engine: FhirPathEngine) -> None:
    assert ev(engine, "gender.hasValue()") == [True]
    assert ev(engine, "name.hasValue()") == [False]
    assert ev(engine, "name.given.hasValue()") == [False]  # not a single item
    assert ev(engine, "gender.getValue()") == ["male"]
    assert ev(engine, "deceased.getValue()") == []


def test_resolve_contained_bundle_and_callback() -> None:
    calls: list[tuple[str, Any]] = []
    external = {"resourceType": "Practitioner", "id": "ext"}

    def fetch(reference: str, context: Any) -> Any:
        calls.append((reference, context))
        return external if reference == "http://remote/Practitioner/ext" else None

    engine = FhirPathEngine(resolve_reference=fetch)
    obs = {
        "resourceType": "Observation",
        "id": "o",
        "subject": {"reference": "Patient/p1"},
        "performer": [
            {"reference": "urn:uuid:1"},
            {"reference": "http://remote/Practitioner/ext"},
            {"reference": "Practitioner/missing"},
        ],
    }
    prac = {"resourceType": "Practitioner", "id": "pr"}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "http://x/fhir/Observation/o", "resource": obs},
            {"fullUrl": "http://x/fhir/Patient/p1", "resource": PATIENT},
            {"fullUrl": "urn:uuid:1", "resource": prac},
        ],
    }
    kwargs: dict[str, Any] = {"type_name": "Observation", "resource": obs, "root_resource": bundle}
    assert engine.evaluate("subject.resolve().id", obs, **kwargs) == ["p1"]
    assert engine.evaluate("subject.resolve().is(Patient)", obs, **kwargs) == [True]
    assert engine.evaluate("performer.resolve().id", obs, **kwargs) == ["pr", "ext"]
    assert [c[0] for c in calls] == ["http://remote/Practitioner/ext", "Practitioner/missing"]
    assert calls[0][1] == ReferenceContext(obs, bundle)
    assert engine.evaluate(
        "managingOrganization.resolve().name",
        PATIENT,
        type_name="Patient",
        resource=PATIENT,
        root_resource=PATIENT,
    ) == ["Acme"]
    org = PATIENT["contained"][0]
    assert engine.evaluate(
        "partOf.resolve().id", org, type_name="Organization", resource=org, root_resource=PATIENT
    ) == ["p1"]
    ctm_1 = "onBehalfOf.exists() implies (member.resolve().iif(empty(), true, ofType(Practitioner).exists()))"
    team = {
        "resourceType": "CareTeam",
        "participant": [
            {"member": {"reference": "Patient/p1"}, "onBehalfOf": {"reference": "Organization/x"}}
        ],
    }
    team_bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "http://x/fhir/CareTeam/t", "resource": team},
            {"fullUrl": "http://x/fhir/Patient/p1", "resource": PATIENT},
        ],
    }
    participant = team["participant"][0]
    result = engine.check_constraint(
        "ctm-1",
        ctm_1,
        participant,
        type_name="CareTeam.participant",
        resource=team,
        root_resource=team_bundle,
    )
    assert result.ok is False
    result = engine.check_constraint(
        "ctm-1", ctm_1, participant, type_name="CareTeam.participant", resource=team, root_resource=team
    )
    assert result.ok is True  # unresolvable: the rule cannot apply


def test_member_of_calls_terminology() -> None:
    seen: list[tuple[Any, str]] = []
    answers: dict[str, bool | None] = {"male": True, "other": False, "odd": None}

    def member_of(value: Any, url: str) -> bool | None:
        seen.append((value, url))
        return answers[value if isinstance(value, str) else value["coding"][0]["code"]]

    engine = FhirPathEngine(member_of=member_of)
    vs = "http://hl7.org/fhir/ValueSet/administrative-gender"

    def check(node: Any, type_name: str, expression: str = f"memberOf('{vs}')") -> ConstraintResult:
        return engine.check_constraint(
            "x-1", expression, node, type_name=type_name, resource=None, root_resource=None
        )

    assert check("male", "code").ok is True
    assert check("other", "code").ok is False
    undecided = check("odd", "code")
    assert undecided.ok is None and undecided.reason and vs in undecided.reason
    assert check({"coding": [{"code": "male"}]}, "CodeableConcept").ok is True
    assert (
        check({"coding": [{"code": "male"}]}, "CodeableConcept", "coding.code.memberOf(%`vs-x`)").ok is True
    )
    assert seen[0] == ("male", vs)
    assert seen[-1] == ("male", "http://hl7.org/fhir/ValueSet/x")
    no_terminology = FhirPathEngine().check_constraint(
        "x-1", f"memberOf('{vs}')", "male", type_name="code", resource=None, root_resource=None
    )
    assert no_terminology.ok is None and "terminology" in (no_terminology.reason or "")
    with pytest.raises(FhirPathUndecided):
        engine.evaluate(f"memberOf('{vs}')", "odd", type_name="code", resource=None, root_resource=None)


def test_conforms_to_calls_the_validator() -> None:
    engine = FhirPathEngine(conforms_to=lambda res, url: {"a": True, "b": False}.get(url.rsplit("/", 1)[1]))
    kwargs: dict[str, Any] = {"type_name": "Patient", "resource": PATIENT, "root_resource": PATIENT}
    assert engine.check_constraint("x", "conformsTo('http://p/a')", PATIENT, **kwargs).ok is True
    assert engine.check_constraint("x", "conformsTo('http://p/b')", PATIENT, **kwargs).ok is False
    assert engine.check_constraint("x", "conformsTo('http://p/c')", PATIENT, **kwargs).ok is None


def test_trace_prints_nothing(engine: FhirPathEngine, capsys: pytest.CaptureFixture[str]) -> None:
    assert ev(engine, "name.trace('n').family") == ["Chalmers"]
    assert ev(engine, "contained.trace('unmatched', id).count()") == [1]
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1.587.lowBoundary()", [Decimal("1.58650000")]),
        ("1.587.highBoundary()", [Decimal("1.58750000")]),
        ("(-1.587).lowBoundary()", [Decimal("-1.58750000")]),
        ("1.587.lowBoundary(4)", [Decimal("1.5865")]),
        ("@2014.lowBoundary()", ["2014-01-01"]),
        ("@2014.highBoundary()", ["2014-12-31"]),
        ("@2016-02.highBoundary()", ["2016-02-29"]),
        ("@2014-01-01T08.highBoundary()", ["2014-01-01T08:59:59.999-12:00"]),
        ("@T10:30.lowBoundary()", ["10:30:00.000"]),
        ("birthDate.lowBoundary()", ["1974-12-25"]),
    ],
)
def test_low_and_high_boundary(engine: FhirPathEngine, expression: str, expected: list[Any]) -> None:
    result = ev(engine, expression)
    assert [str(x) if not isinstance(x, Decimal) else x for x in result] == [
        str(x) if isinstance(x, str) else x for x in expected
    ]


def test_boundary_precision_on_dates_is_an_error_not_a_guess(engine: FhirPathEngine) -> None:
    with pytest.raises(FhirPathError, match="precision"):
        ev(engine, "@2014.lowBoundary(6)")


# ------------------------------------------------------------------------------------- outcome rules


@pytest.mark.parametrize(
    ("expression", "ok"),
    [
        ("active", True),
        ("active.not()", False),
        ("gender", True),  # a single non-boolean item counts as true
        ("name.given", None),  # several items: not a boolean
        ("multipleBirth", None),  # empty: neither true nor false
        ("name.given.first().substring(0, 'x')", None),  # evaluation error
    ],
)
def test_constraint_outcomes(engine: FhirPathEngine, expression: str, ok: bool | None) -> None:
    result = engine.check_constraint(
        "x-1", expression, PATIENT, type_name="Patient", resource=PATIENT, root_resource=PATIENT
    )
    assert result.ok is ok
    assert (result.reason is None) == (ok is not None)


@pytest.mark.parametrize("node", [[1, 2], "text", 3, None, {"resourceType": 5}, {"contained": "x"}])
def test_constraints_never_raise(node: Any) -> None:
    from testbed.fhir._fhirpath_native import NATIVE

    for native in (True, False):
        engine = FhirPathEngine(use_native=native)
        for expression in NATIVE:
            result = engine.check_constraint(
                "k", expression, node, type_name="Patient", resource=node, root_resource=None
            )
            assert isinstance(result, ConstraintResult)
            assert result.ok is not None or result.reason
