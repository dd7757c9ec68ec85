"""The FHIRPath fast path gives the same results as the general (fhirpathpy-based) evaluator.

Differential tests compare, item by item (value, FHIR type, ``_name`` part), what the compiled
closures and fhirpathpy return for the R4 core invariants on the spec examples, for hand-written
profile-style expressions and for generated ones. A fast result is only accepted where the general
evaluator gives the same items; where it raises, the fast path must have fallen back.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy.engine.nodes import ResourceNode

from testbed.fhir import _fhirpath_runtime as rt
from testbed.fhir._fhirpath_fast import Fallback, FastExpression, _Node, _node, compile_fast
from testbed.fhir._fhirpath_native import NATIVE
from testbed.fhir.fhirpath import FhirPathEngine, FhirPathError
from testbed.packages import PackageRegistry
from tests.unit.fhir.test_fhirpath_core import _ABSTRACT, walk

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "fhir-r4-examples"
INS = "https://fhir.smr.ma/NamingSystem/ins"
PHONE = "telecom.where(system='phone').all(value.matches('^\\\\+212[5-7][0-9]{8}$'))"
EXT = {"url": "http://example.org/x", "valueString": "x"}

# ------------------------------------------------------------------------------------ differential


def _items(items: list[Any]) -> list[tuple[Any, ...]]:
    out = []
    for item in items:
        if isinstance(item, ResourceNode):
            out.append(("node", type(item.data), item.data, item.path, item._data))
        elif isinstance(item, _Node):
            out.append(("node", type(item.data), item.data, item.path, item.ext))
        else:
            out.append(("value", type(item), item))
    return out


_ASTS: dict[str, Any] = {}
_PROGRAMS: dict[str, FastExpression | None] = {}


def _ast(expression: str) -> Any:
    if expression not in _ASTS:
        _ASTS[expression] = rt.parse_expression(expression)
    return _ASTS[expression]


def _program(expression: str) -> FastExpression | None:
    if expression not in _PROGRAMS:
        _PROGRAMS[expression] = compile_fast(_ast(expression))
    return _PROGRAMS[expression]


def compare(
    expression: str,
    node: Any,
    type_name: str | None = None,
    ext: Any = None,
    resource: Any = None,
    root: Any = None,
) -> str:
    """'unsupported', 'fallback' or 'same'; fails when the fast path answers differently."""
    program = _program(expression)
    if program is None:
        return "unsupported"
    try:
        start = [_node(node, type_name, ext)]
        fast = program._fn(start, (start, resource, root))
    except Fallback:
        return "fallback"
    state = rt.EvalState(resource, root, root, None, None, None)
    try:
        general = rt.run(_ast(expression), rt.wrap(node, type_name, ext), state)
    except Exception as exc:  # noqa: BLE001 - whatever fhirpathpy raises
        pytest.fail(f"{expression!r} on {node!r}: the fast path answered {fast!r}, fhirpathpy raised {exc!r}")
    assert _items(fast) == _items(general), (expression, node, type_name, ext)
    return "same"


ENGINES = (FhirPathEngine(), FhirPathEngine(use_fast=False))


def compare_engines(expression: str, node: Any, **kwargs: Any) -> Any:
    """Same check_constraint outcome and evaluate() result with and without the fast path."""
    fast, general = (e.check_constraint("k", expression, node, **kwargs) for e in ENGINES)
    assert fast.ok == general.ok and _text(fast.reason) == _text(general.reason), (expression, node)
    values = []
    for engine in ENGINES:
        try:
            values.append(("ok", engine.evaluate(expression, node, **kwargs)))
        except FhirPathError as exc:
            values.append(("error", _text(str(exc))))
    assert values[0] == values[1], (expression, node)
    assert [type(v) for v in values[0][1]] == [type(v) for v in values[1][1]]
    return fast.ok


def _text(reason: str | None) -> str | None:
    """A reason without the object addresses fhirpathpy's messages may hold."""
    return re.sub(r" at 0x[0-9a-f]+", "", reason) if reason else reason


# ------------------------------------------------------------------------------ R4 core invariants


@pytest.fixture(scope="module")
def definitions(registry: PackageRegistry) -> dict[str, dict[str, Any]]:
    found = {}
    for sd in registry.iter_resources("StructureDefinition"):
        base_like = sd.get("derivation") == "specialization" or sd["id"] in _ABSTRACT
        if (
            base_like
            and sd.get("kind") in ("resource", "complex-type", "primitive-type")
            and "snapshot" in sd
        ):
            found[sd["type"]] = {e["path"]: e for e in sd["snapshot"]["element"]}
    return found


def test_core_expressions_in_the_subset(registry: PackageRegistry) -> None:
    expressions = {
        c["expression"]
        for sd in registry.iter_resources("StructureDefinition")
        for e in (sd.get("snapshot") or {}).get("element", [])
        for c in e.get("constraint", [])
        if "expression" in c
    }
    compiled = {e for e in expressions if _program(e) is not None}
    others = {e for e in expressions if e not in NATIVE}
    assert len(expressions) == 203
    assert len(compiled) >= 190
    assert len(compiled & others) >= 130  # the core invariants without a native version


def test_core_invariants_on_the_spec_examples(definitions: dict[str, dict[str, Any]]) -> None:
    outcomes: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    for file in sorted(EXAMPLES.glob("*.json")):
        resource = json.loads(file.read_text(encoding="utf-8"))
        pristine = copy.deepcopy(resource)
        for constraint, node, type_name, ext, res, root in walk(definitions, resource, resource):
            outcome = compare(constraint["expression"], node, type_name, ext, res, root)
            outcomes[outcome] += 1
            if outcome == "fallback":
                fallbacks[constraint["key"]] += 1
        assert resource == pristine, f"{file.name} was modified"
    assert outcomes["same"] > 40000
    # date comparisons are left to the general evaluator (per-1: its native version runs first)
    assert set(fallbacks) <= {"per-1", "rng-2"}, fallbacks


# ------------------------------------------------------------------------- profile-style expressions


def _patient(**fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **fields}


GOOD = _patient(
    name=[{"family": "El Amrani", "given": ["Fatima", "Zahra"]}, {"text": "Fatima Zahra"}],
    identifier=[{"system": INS, "value": "123456"}, {"system": "urn:oid:1.2.3", "value": "AB-1"}],
    telecom=[{"system": "phone", "value": "+212612345678"}, {"system": "email", "value": "f@x.ma"}],
    birthDate="1990-02-03",
    _birthDate={"extension": [{"url": "http://example.org/time", "valueDateTime": "1990-02-03T10:00:00Z"}]},
    gender="female",
    active=True,
    deceasedBoolean=False,
    multipleBirthInteger=2,
    extension=[EXT],
    contact=[{"name": {"family": "Benali"}, "telecom": [{"system": "phone", "value": "+212712345678"}]}],
)
BAD = _patient(
    name=[{"family": "Ø"}, {"use": "official"}],
    identifier=[{"system": INS, "value": "12345"}, {"system": INS, "value": "123456"}],
    telecom=[{"system": "phone", "value": "0612345678"}, {"system": "phone"}],
    _birthDate={"extension": [EXT]},
    gender="unknown-value",
    active="yes",
    deceasedDateTime="2020-01-01",
)
ODD = _patient(
    name=[{"given": ["", None, "日本"], "_given": [None, {"extension": [EXT]}, {"id": "g3"}]}, {}],
    identifier=[{"value": ""}, {"system": INS}],
    telecom=[{"system": "phone", "value": "+212512345678", "_value": {"extension": [EXT]}}],
    _gender={"id": "g"},
    multipleBirthBoolean=True,
    extension=[{"url": "http://example.org/x"}, {"url": "http://example.org/y", "valueInteger": 0}],
)
EMPTY = _patient()
RESOURCES = [GOOD, BAD, ODD, EMPTY]

PROFILE_EXPRESSIONS = [
    "name.all(given.exists() or text.exists())",
    f"identifier.where(system='{INS}').count() <= 1",
    PHONE,
    "name.exists() implies birthDate.exists()",
    f"identifier.where(system='{INS}').all(value.matches('^[0-9]{{6}}$'))",
    f"identifier.where(system='{INS}').exists()",
    f"identifier.where(system = '{INS}').value.matches('^[0-9]{{6}}$')",
    "birthDate.exists() xor deceased.exists()",
    "deceased.exists() implies deceased is boolean",
    "deceased.ofType(boolean).exists().not() or deceased = false",
    "gender in ('male' | 'female' | 'other' | 'unknown')",
    "gender.hasValue() or gender.extension.exists()",
    "birthDate.hasValue()",
    "birthDate.extension('http://example.org/time').exists()",
    "birthDate.extension.value.exists()",
    "extension('http://example.org/x').value.exists()",
    "extension.where(url = 'http://example.org/y').value = 0",
    "extension.url.isDistinct()",
    "name.family.length() <= 20",
    "name.given.all(length() > 0)",
    "name.given.first().startsWith('F')",
    "name.given.last().endsWith('a')",
    "name.family.contains('Amr')",
    "name.given.count() >= 1 and name.given.count() < 5",
    "name.select(given.count()).all($this <= 2)",
    "name.where($this.text.exists()).count() = 1",
    "name[0].given[1] = 'Zahra'",
    "name.family.upper() = 'EL AMRANI'",
    "telecom.value.matches('@')",
    "telecom.where(system = 'email').value.matches('^[^@]+@[^@]+$')",
    "contact.all(name.exists() or telecom.exists())",
    "contact.telecom.where(system='phone').all(value.startsWith('+212'))",
    "active = true",
    "active.not()",
    "multipleBirth > 1",
    "multipleBirth.exists() implies (multipleBirth is integer or multipleBirth is boolean)",
    "(name.given | name.family).count() > 1",
    "(birthDate | {}).extension.exists()",
    "iif(deceased.exists(), deceased, true)",
    "%resource.id = id and %context.id = id",
    "id.matches('^[A-Za-z0-9\\\\-\\\\.]{1,64}$')",
    "identifier.system contains 'urn:oid:1.2.3'",
    "'urn:oid:1.2.3' in identifier.system",
    "identifier.value & '-' & id",
    "children().count() > 3",
    "descendants().where($this = 'phone').count()",
    "name.given.toInteger().empty()",
    "name.given.where($this) = name.given",
    "Patient.name.given.exists()",
    "telecom.value.getValue().exists()",
]
ELEMENT_CASES: list[tuple[str, Any, str, Any]] = [
    ("matches('^[0-9]{6}$')", "123456", "string", None),
    ("matches('^[0-9]{6}$')", "12345", "string", None),
    ("matches('^[0-9]{6}$')", None, "string", {"extension": [EXT]}),
    ("hasValue() or extension.exists()", None, "string", {"extension": [EXT]}),
    ("hasValue() or extension.exists()", None, "string", {"id": "x"}),
    ("$this.length() < 5 and $this != ''", "abcd", "string", None),
    ("$this.length() < 5 and $this != ''", "", "code", None),
    ("length() = 2", "日本", "string", None),
    ("startsWith('')", "", "string", None),
    ("startsWith('')", "a", "string", None),
    ("matches('')", "a", "string", None),
    ("$this > 0", 3, "integer", None),
    ("$this > 0", 0.5, "decimal", None),
    ("$this = 0.1", 0.1, "decimal", None),
    ("$this in (1 | 2 | 3)", 2, "positiveInt", None),
    ("value.ofType(Quantity).exists() implies value.ofType(Quantity).value > 0", {}, "Extension", None),
    ("value.exists() != extension.exists()", {"url": "u", "valueString": "x"}, "Extension", None),
    ("value is Quantity", {"url": "u", "valueQuantity": {"value": 1}}, "Extension", None),
    ("value.value > 0.5", {"url": "u", "valueQuantity": {"value": 1.5}}, "Extension", None),
    ("value.code = 'mg'", {"url": "u", "valueQuantity": {"value": 1, "code": "mg"}}, "Extension", None),
    ("value = 'x'", {"url": "u", "valueString": "x"}, "Extension", None),
    ("value = 'x'", {"url": "u", "_valueString": {"extension": [EXT]}}, "Extension", None),
    ("system.exists() and value.exists()", {"system": "phone"}, "ContactPoint", None),
    # several types of one choice element: the runtime takes the first in the model's order
    (
        "value",
        {"url": "u", "valueString": "x", "valueBoolean": True, "valueQuantity": {"value": 1}},
        "Extension",
        None,
    ),
    ("value.count()", {"url": "u", "_valueCode": {"extension": [EXT]}, "valueUri": "x"}, "Extension", None),
    (
        "deceased",
        {"resourceType": "Patient", "deceasedDateTime": "2020", "deceasedBoolean": True},
        "Patient",
        None,
    ),
    ("deceased", {**GOOD, "deceasedDateTime": "2020"}, "Patient", None),
]


@pytest.mark.parametrize("resource", RESOURCES, ids=["good", "bad", "odd", "empty"])
def test_profile_expressions(resource: dict[str, Any]) -> None:
    outcomes = Counter()
    for expression in PROFILE_EXPRESSIONS:
        assert _program(expression) is not None, expression
        outcomes[compare(expression, resource, "Patient", None, resource, resource)] += 1
        compare_engines(expression, resource, type_name="Patient", resource=resource, root_resource=resource)
    assert outcomes["same"] >= len(PROFILE_EXPRESSIONS) * 3 // 4, outcomes


@pytest.mark.parametrize(("expression", "node", "type_name", "ext"), ELEMENT_CASES)
def test_element_expressions(expression: str, node: Any, type_name: str, ext: Any) -> None:
    assert _program(expression) is not None
    compare(expression, node, type_name, ext, GOOD, GOOD)
    compare_engines(expression, node, type_name=type_name, resource=GOOD, root_resource=GOOD, extension=ext)


@pytest.mark.parametrize(
    ("expression", "good", "bad"),
    [
        ("name.all(given.exists() or text.exists())", GOOD, BAD),
        (f"identifier.where(system='{INS}').count() <= 1", GOOD, BAD),
        (PHONE, GOOD, BAD),
        ("name.exists() implies birthDate.hasValue()", GOOD, BAD),
        (f"identifier.where(system='{INS}').all(value.matches('^[0-9]{{6}}$'))", GOOD, BAD),
        ("gender in ('male' | 'female' | 'other' | 'unknown')", GOOD, BAD),
        ("birthDate.hasValue()", GOOD, BAD),
        ("deceased.exists() implies deceased is boolean", GOOD, BAD),
    ],
)
def test_profile_rules_pass_and_fail(expression: str, good: Any, bad: Any) -> None:
    engine = FhirPathEngine()
    assert engine.check_constraint(
        "k", expression, good, type_name="Patient", resource=good, root_resource=good
    ).ok
    result = engine.check_constraint(
        "k", expression, bad, type_name="Patient", resource=bad, root_resource=bad
    )
    assert result.ok is False
    assert compare(expression, bad, "Patient", None, bad, bad) == "same"


# fhirpathpy's own behaviour, which the fast path reproduces (expression, node, expected items)
QUIRKS: list[tuple[str, Any, list[Any]]] = [
    ("name.where(text).count()", _patient(name=[{"text": ""}, {"text": "a"}, {}]), [2]),
    ("where(active).exists()", _patient(active=False), [True]),
    ("where('').exists()", _patient(), [False]),
    ("name.all(given.count())", _patient(name=[{"given": ["a"]}]), [True]),
    ("name.all(given.count())", _patient(name=[{"given": ["a", "b"]}]), [False]),
    ("name.given = ('a' | 'x')", _patient(name=[{"given": ["a", "b"]}]), [True]),
    ("name.given = 'a'", _patient(name=[{"given": ["a", "b"]}]), [False]),
    ("(birthDate | birthDate).count()", _patient(birthDate="2000"), [1]),
    (
        "(birthDate | {}).extension.exists()",
        _patient(birthDate="2000", _birthDate={"extension": [EXT]}),
        [False],
    ),
    ("birthDate.extension.exists()", _patient(birthDate="2000", _birthDate={"extension": [EXT]}), [True]),
    ("birthDate.exists() and birthDate.hasValue().not()", _patient(_birthDate={"extension": [EXT]}), [True]),
    ("birthDate = '2000'", _patient(_birthDate={"extension": [EXT]}), []),
    ("active and {}", _patient(active=True), []),
    ("active or {}", _patient(active=True), [True]),
    ("{} implies active", _patient(active=False), []),
    ("active implies {}", _patient(active=False), [True]),
    ("active xor {}", _patient(active=True), []),
    ("gender.not()", _patient(gender="male"), [False]),
    ("id.startsWith('')", _patient(id=""), [False]),
    ("id.matches('')", _patient(id="x"), []),
    (
        "name.given.count()",
        _patient(name=[{"given": [None, "a"], "_given": [{"id": "1"}, None, {"id": "3"}]}]),
        [3],
    ),
]


@pytest.mark.parametrize(("expression", "node", "expected"), QUIRKS)
def test_quirks_of_the_general_evaluator(expression: str, node: Any, expected: list[Any]) -> None:
    assert compare(expression, node, "Patient", None, node, node) == "same"
    assert (
        ENGINES[0].evaluate(expression, node, type_name="Patient", resource=node, root_resource=node)
        == expected
    )


# ----------------------------------------------------------------------------------- the boundary


@pytest.mark.parametrize(
    "expression",
    [
        "$this.exists()",  # $this is unset at the top level in fhirpathpy (an error)
        "birthDate > @2000-01-01",
        "value > 5 'mg'",
        "name ~ name",
        "code.memberOf('http://example.org/vs')",
        "subject.resolve().exists()",
        "name.given.matches('(')",  # an invalid regex is reported by the general evaluator
        "exists(1, 2)",
        "name.startsWith(family)",  # non-constant string arguments
        "name.aggregate($this)",
        "$index = 0",
    ],
)
def test_outside_the_subset(expression: str) -> None:
    assert _program(expression) is None
    compare_engines(expression, GOOD, type_name="Patient", resource=GOOD, root_resource=GOOD)


@pytest.mark.parametrize(
    ("expression", "node"),
    [
        ("birthDate < '2001'", GOOD),  # dates: compared as text by fhirpathpy
        ("name.given.matches('a')", GOOD),  # several strings: an error
        ("active and name", GOOD),  # not a boolean: an error
        ("name.given.length()", GOOD),
        ("(name | 'x').count()", GOOD),  # a FHIR item and a value in one union
        ("name.family < 3", GOOD),
        ("id.first()", {"resourceType": "Patient", "id": {1, 2}}),  # not JSON
    ],
)
def test_fallback_to_the_general_evaluator(expression: str, node: Any) -> None:
    assert _program(expression) is not None
    assert compare(expression, node, "Patient", None, node, node) == "fallback"
    compare_engines(expression, node, type_name="Patient", resource=node, root_resource=node)


def test_engine_uses_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FhirPathEngine()
    kwargs: dict[str, Any] = {"type_name": "Patient", "resource": GOOD, "root_resource": GOOD}

    def no_general(*args: Any) -> Any:
        raise AssertionError("the general evaluator was used")

    monkeypatch.setattr(rt, "run", no_general)
    assert engine.check_constraint("k", PHONE, GOOD, **kwargs).ok is True
    assert engine.check_constraint("k", PHONE, BAD, **{**kwargs, "resource": BAD}).ok is False
    assert engine.evaluate("name.given", GOOD, **kwargs) == ["Fatima", "Zahra"]
    assert engine.evaluate("name.given.count() + 0.5", GOOD, **kwargs) == [Decimal("2.5")]
    with pytest.raises(FhirPathError, match="general evaluator was used"):  # variables: not fast
        engine.evaluate("%x", GOOD, variables={"x": 1}, **kwargs)
    with pytest.raises(FhirPathError, match="general evaluator was used"):  # a fallback
        engine.evaluate("birthDate < '2001'", GOOD, **kwargs)


def test_native_checks_keep_priority() -> None:
    # ref-1 without a reference: the native check passes it, the R4 expression gives empty
    expression = next(e for e in NATIVE if e.startswith("reference.startsWith('#').not()"))
    kwargs: dict[str, Any] = {"type_name": "Reference", "resource": GOOD, "root_resource": GOOD}
    assert FhirPathEngine().check_constraint("ref-1", expression, {"display": "x"}, **kwargs).ok is True
    general = FhirPathEngine(use_native=False).check_constraint(
        "ref-1", expression, {"display": "x"}, **kwargs
    )
    assert general.ok is None


def test_percent_root_resource_in_a_bundle() -> None:
    patient = _patient(contained=[{"resourceType": "Organization", "id": "o1"}])
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
    contained = patient["contained"][0]
    expression = "%rootResource.id = 'p1' and %resource.id = 'o1'"
    for engine in ENGINES:
        result = engine.check_constraint(
            "k", expression, contained, type_name="Organization", resource=contained, root_resource=bundle
        )
        assert result.ok is True


# ------------------------------------------------------------------------------ generated expressions


class _Generator:
    """Random expressions of (and around) the subset over a small vocabulary, and random resources."""

    FIELDS = (
        "name given family text value active extension url id system valueString code deceased telecom "
        "Patient birthDate"
    ).split()
    STRINGS = ["'a'", "''", "'abc'", "'phone'", "'é'", "'\\u00e9'", "'x\\'y'", "'123456'", "'1'", "'日本'"]
    NUMBERS = ["0", "1", "2", "-1", "1.5", "2.0", "0.1"]
    REGEXES = ["'^[0-9]{6}$'", "'a'", "''", "'^$'", "'.'", "'\\\\d'", "'é'"]
    TYPES = "string boolean integer Quantity HumanName FHIR.string System.String Extension".split()
    FUNCTIONS = (
        "where select first last tail idx extension ofType children distinct exists all count not empty "
        "hasValue iif union paren toInteger"
    ).split()

    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def literal(self) -> str:
        k = self.r.random()
        if k < 0.5:
            return self.r.choice(self.STRINGS)
        if k < 0.8:
            return self.r.choice(self.NUMBERS)
        return self.r.choice(["true", "false", "{}"])

    def path(self, depth: int, this: bool = False) -> str:
        r, k = self.r, self.r.random()
        if depth <= 0 or k < 0.35:
            if this and r.random() < 0.15:
                return "$this"
            return r.choice(["%resource", "%context"]) if r.random() < 0.1 else r.choice(self.FIELDS)
        if k < 0.55:
            return f"{self.path(depth - 1, this)}.{r.choice(self.FIELDS)}"
        if k > 0.9:
            return self.literal()
        p, fn = self.path(depth - 1, this), r.choice(self.FUNCTIONS)
        if fn in ("where", "all", "exists"):
            arg = self.boolean(depth - 1, True) if r.random() < 0.7 else self.path(depth - 1, True)
            return f"{p}.{fn}({arg})"
        if fn == "select":
            return f"{p}.select({self.path(depth - 1, True)})"
        if fn == "idx":
            return f"{p}[{r.choice(['0', '1', '-1'])}]"
        if fn == "extension":
            return p + ".extension('" + r.choice(["u", "x"]) + "')"
        if fn == "ofType":
            return f"{p}.ofType({r.choice(self.TYPES)})"
        if fn == "iif":
            return f"iif({self.boolean(depth - 1, this)}, {self.path(depth - 1, this)}, {self.literal()})"
        if fn == "union":
            return f"({p} | {self.path(depth - 1, this) if r.random() < 0.7 else self.literal()})"
        if fn == "paren":
            return f"({p})"
        return f"{p}.{fn}()"

    def boolean(self, depth: int, this: bool = False) -> str:
        r, k = self.r, self.r.random()
        p = self.path(depth - 1, this)
        if depth <= 0 or k < 0.15:
            return f"{p}.exists()"
        if k < 0.25:
            return f"{p}.{r.choice(['empty', 'hasValue', 'not', 'isDistinct'])}()"
        if k < 0.32:
            return f"{p}.matches({r.choice(self.REGEXES)})"
        if k < 0.36:
            return p
        if k < 0.42:
            return f"{p}.{r.choice(['startsWith', 'endsWith', 'contains'])}({r.choice(self.STRINGS)})"
        if k < 0.58:
            left = p if r.random() < 0.7 else f"{p}.{r.choice(['count', 'length'])}()"
            right = self.literal() if r.random() < 0.6 else self.path(depth - 1, this)
            return f"{left} {r.choice(['=', '!=', '<', '<=', '>', '>='])} {right}"
        if k < 0.78:
            op = r.choice(["and", "or", "xor", "implies"])
            return f"({self.boolean(depth - 1, this)} {op} {self.boolean(depth - 1, this)})"
        if k < 0.86:
            return (
                f"{p} in ({self.literal()} | {self.literal()})" if r.random() < 0.5 else f"{p} contains {p}"
            )
        if k < 0.92:
            return f"{p} is {r.choice(self.TYPES)}"
        return f"{p}.all({self.boolean(depth - 1, True)})"

    def primitive(self) -> Any:
        return self.r.choice(
            ["a", "", "abc", "phone", "é", "123456", "1", "日本", 0, 1, 2, 1.5, 0.1, True, False]
        )

    def value(self, depth: int) -> Any:
        k = self.r.random()
        if depth <= 0 or k < 0.45:
            return self.primitive()
        if k < 0.8:
            return self.element(depth - 1)
        return [self.value(depth - 1) if self.r.random() < 0.9 else None for _ in range(self.r.randint(0, 3))]

    def element(self, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _ in range(self.r.randint(0, 5)):
            key = self.r.choice(
                [f for f in self.FIELDS if f[0].islower()] + ["valueQuantity", "deceasedBoolean"]
            )
            value = self.value(depth)
            out[key] = (
                [{"url": self.r.choice(["u", "x"]), "valueString": "v"}] if key == "extension" else value
            )
            if self.r.random() < 0.2 and not isinstance(value, dict):
                ext = (
                    {"extension": [{"url": "u", "valueInteger": 1}]} if self.r.random() < 0.8 else {"id": "i"}
                )
                out["_" + key] = (
                    [ext if self.r.random() < 0.7 else None for _ in value]
                    if isinstance(value, list)
                    else ext
                )
        return out

    def resource(self) -> dict[str, Any]:
        return {**self.element(3), "resourceType": "Patient"}


def test_generated_expressions() -> None:
    gen = _Generator(seed=20240611)
    resources = [gen.resource() for _ in range(12)]
    outcomes: Counter[str] = Counter()
    for _ in range(700):
        expression = (
            gen.boolean(gen.r.randint(1, 4)) if gen.r.random() < 0.8 else gen.path(gen.r.randint(1, 3))
        )
        try:
            rt.parse_expression(expression)
        except rt.SyntaxProblem:
            continue
        for resource in gen.r.sample(resources, 3):
            targets = [(resource, "Patient", None)] + [
                (v, gen.r.choice(["HumanName", "Extension", f"Patient.{k}", None]), None)
                for k, v in resource.items()
                if isinstance(v, dict)
            ]
            for node, type_name, ext in gen.r.sample(targets, min(2, len(targets))):
                outcomes[compare(expression, node, type_name, ext, resource, resource)] += 1
    total = sum(outcomes.values())
    assert total > 2500
    assert outcomes["same"] > total * 0.7, outcomes


# --------------------------------------------------------------------- the single-item forms (run)

MA_PACKAGE = Path(__file__).resolve().parents[3] / "profiles" / "ma.smr.core" / "package"


def _typed(values: list[Any]) -> list[tuple[type, Any]]:
    return [(type(v), v) for v in values]


def compare_run(
    expression: str,
    node: Any,
    type_name: str | None = None,
    ext: Any = None,
    resource: Any = None,
    root: Any = None,
) -> str:
    """``run()`` (the single-item forms) against the collection form and against fhirpathpy."""
    program = _program(expression)
    if program is None:
        return "unsupported"
    try:
        start = [_node(node, type_name, ext)]
        items: list[Any] | None = [
            x.data if isinstance(x, _Node) else x for x in program._fn(start, (start, resource, root))
        ]
    except Fallback:
        items = None
    try:
        fast: list[Any] | None = program.run(node, type_name, ext, resource, root)
    except Fallback:
        fast = None
    assert (fast is None) == (items is None), (expression, node, fast, items)
    if fast is None or items is None:
        return "fallback"
    assert _typed(fast) == _typed(items), (expression, node)
    state = rt.EvalState(resource, root, root, None, None, None)
    try:
        general = rt.run(_ast(expression), rt.wrap(node, type_name, ext), state)
    except Exception as exc:  # noqa: BLE001 - whatever fhirpathpy raises
        pytest.fail(f"{expression!r} on {node!r}: run() answered {fast!r}, fhirpathpy raised {exc!r}")
    assert _typed(fast) == _typed([x.data if isinstance(x, ResourceNode) else x for x in general]), (
        expression,
        node,
    )
    return "same"


IDENTIFIERS: list[Any] = [
    {"system": "a", "value": "1"},
    {"system": "x"},
    {"value": "1"},
    {},
    {"_system": {"extension": [EXT]}},
    {"system": "a", "_system": {"id": "s"}},
    {"system": ["a", "b"]},
    {"system": ["a"]},
    {"system": [None, "a"], "_system": [{"id": "s"}, None]},
    {"system": 1},
    {"system": True},
    {"system": 1.5},
    {"system": {"a": 1}},
    {"system": "urn:oid:2.16.504.1.1.9.7", "type": {"coding": [{"system": "v2", "code": "MR"}]}},
    {
        "system": "urn:oid:2.16.504.1.1.9.7",
        "type": {"coding": [{"code": "XX"}, {"system": "v2", "code": "PI"}]},
    },
    {"system": "urn:oid:2.16.504.1.1.9.7", "type": {"coding": {"code": "MR"}}},
    {"period": {"start": "2020"}, "system": "a"},
]
IDENTIFIER_EXPRESSIONS = [
    "system = 'a' or system = 'b' or system = 'c'",
    "system = 'a' or system = 1 or system = true or system = 1.5",
    "system = 'a' or value = '1' or system = 'x'",
    "system = 'x' or system.startsWith('urn:') or system = 'a'",
    "value.exists() and (system = 'a' or system = 'b' or system.startsWith('urn:oid:2.16.504.1.1.9.'))",
    "system.exists() and (system in ('a' | 'b' | 'c') or system.startsWith('urn:'))",
    "system in ('a' | 1 | true | 1.5)",
    "system in ('a' | 'a')",
    "system in {}",
    "system != 'a' and system != 'b'",
    "system = 'a' and value = '1' and system.exists()",
    "(system.exists() and system.startsWith('urn:oid:2.16.504.1.1.9.')) implies "
    "type.coding.where(system = 'v2' and (code = 'MR' or code = 'PI')).exists()",
    "system.matches('^[a-z]$')",
    "system.where($this = 'a').exists()",
    "system.select($this)",
    "system.first() = 'a'",
    "system.all($this.length() = 1)",
    "system.ofType(uri).exists()",
    "system.hasValue() and system.not().not()",
    "system.extension.exists() or system.extension('x').exists()",
    "system.count() = 1",
    "period.start = '2020'",
    "type.coding.code.count()",
    "type.coding.exists() xor system.exists()",
]


@pytest.mark.parametrize("expression", IDENTIFIER_EXPRESSIONS)
def test_single_item_forms_on_identifiers(expression: str) -> None:
    outcomes: Counter[str] = Counter()
    for identifier in IDENTIFIERS:
        outcomes[compare_run(expression, identifier, "Identifier", None, GOOD, GOOD)] += 1
        outcomes[compare(expression, identifier, "Identifier", None, GOOD, GOOD)] += 1
    assert outcomes["same"] > 0, outcomes


NAMES: list[Any] = [
    {"family": "Bennani", "given": ["Salma"]},
    {"family": "بناني", "given": ["سلمى", "سلمى"]},
    {"text": "x", "given": ["a", "b", "a"]},
    {"given": [None, "a"], "_given": [{"extension": [EXT]}, None]},
    {"family": "a", "_family": {"id": "f"}},
    {"given": [1, "a"]},
    {"family": "a", "given": [True]},
    {"extension": [{"url": "u", "valueCode": "Arab"}], "family": "x"},
    {"extension": [{"url": "u", "valueCode": "Arab"}, {"url": "u", "valueString": "Arab"}]},
    {"extension": [{"url": "u", "_valueCode": {"extension": [EXT]}}]},
    {},
]
NAME_EXPRESSIONS = [
    "(family | given | text).where(matches('[\\u0600-\\u06FF]')).exists()",
    "extension('u').value = 'Arab' or (family | given | text).where(matches('[\\u0600-\\u06FF]')).exists()",
    "(family | given).count()",
    "(given | family | given).isDistinct()",
    "(family | 'x').count()",
    "('x' | 'y' | 'x').count() = 2",
    "extension('u').value.exists()",
    "given.where(true).exists() and family.hasValue()",
    "family.length() > 1",
]


@pytest.mark.parametrize("expression", NAME_EXPRESSIONS)
def test_single_item_forms_on_names(expression: str) -> None:
    outcomes: Counter[str] = Counter()
    for name in NAMES:
        outcomes[compare_run(expression, name, "HumanName", None, GOOD, GOOD)] += 1
        outcomes[compare(expression, name, "HumanName", None, GOOD, GOOD)] += 1
        patient = _patient(name=[name, {"family": "z"}])
        where = f"name.where({expression}).exists()"
        outcomes[compare_run(where, patient, "Patient", None, patient, patient)] += 1
        compare_engines(where, patient, type_name="Patient", resource=patient, root_resource=patient)
    assert outcomes["same"] > 0, outcomes


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 = 3", [True]),
        ("'a' in ('a' | 'b')", [True]),
        ("('a' | 'b' | 'a').count()", [2]),
        ("'abc'.length() + 1", [4]),
        ("'abc'.upper() = 'ABC' and true", [True]),
        ("(1 | 2)[1]", [2]),
        ("{}.exists()", [False]),
        ("%ucum = 'http://unitsofmeasure.org'", [True]),
    ],
)
def test_literal_subexpressions_are_folded(expression: str, value: list[Any]) -> None:
    assert compare_run(expression, GOOD, "Patient", None, GOOD, GOOD) == "same"
    program = _program(expression)
    assert program is not None
    assert program.run({}, "Patient", None, None, None) == value  # the input no longer matters


def test_operands_fhirpathpy_cannot_fail_on_are_skipped() -> None:
    # name.given.exists() would fall back (an item that is not JSON): skipped once the answer is known
    odd = _patient(active=True, name=[{1, 2}])
    for expression, outcome in [
        ("active.exists() or name.given.exists()", "same"),
        ("active.empty() and name.given.exists()", "same"),
        ("active.empty() implies name.given.exists()", "same"),
        ("active.exists() and name.given.exists()", "fallback"),  # not decided: evaluated
        ("active.exists() xor name.given.exists()", "fallback"),
        ("active.exists() or name.given.count() > 0", "fallback"),  # fhirpathpy could fail on it
    ]:
        assert compare_run(expression, odd, "Patient", None, odd, odd) == outcome, expression
        assert compare(expression, odd, "Patient", None, odd, odd) == outcome, expression
    # an operand that fhirpathpy fails on is still evaluated: its error is the result
    assert compare_run("active.exists() or name.given.matches('a')", GOOD, "Patient", None, GOOD, GOOD) == (
        "fallback"
    )
    expression = "id.exists() or name.given.startsWith('F')"
    assert compare_engines(expression, GOOD, type_name="Patient", resource=GOOD, root_resource=GOOD) is None


def test_generated_expressions_by_single_item_forms() -> None:
    gen = _Generator(seed=97)
    resources = [gen.resource() for _ in range(12)]
    outcomes: Counter[str] = Counter()
    for _ in range(500):
        expression = (
            gen.boolean(gen.r.randint(1, 4)) if gen.r.random() < 0.8 else gen.path(gen.r.randint(1, 3))
        )
        try:
            rt.parse_expression(expression)
        except rt.SyntaxProblem:
            continue
        for resource in gen.r.sample(resources, 3):
            targets = [(resource, "Patient", None)] + [
                (v, gen.r.choice(["HumanName", "Extension", f"Patient.{k}", None]), None)
                for k, v in resource.items()
                if isinstance(v, dict)
            ]
            for node, type_name, ext in gen.r.sample(targets, min(2, len(targets))):
                outcomes[compare_run(expression, node, type_name, ext, resource, resource)] += 1
    total = sum(outcomes.values())
    assert total > 1800
    assert outcomes["same"] > total * 0.7, outcomes


def _ma_invariants() -> list[tuple[str, str, str]]:
    sd = json.loads((MA_PACKAGE / "StructureDefinition-ma-patient.json").read_text(encoding="utf-8"))
    return [
        (e["path"], c["key"], c["expression"])
        for e in sd["differential"]["element"]
        for c in e.get("constraint", [])
        if "expression" in c
    ]


def _ma_targets(patient: dict[str, Any], path: str) -> list[tuple[Any, str, Any]]:
    if path == "Patient":
        return [(patient, "Patient", None)]
    if path == "Patient.address.postalCode":
        return [
            (a.get("postalCode"), "string", a.get("_postalCode"))
            for a in patient.get("address", [])
            if "postalCode" in a or "_postalCode" in a
        ]
    kind = {"Patient.identifier": "Identifier", "Patient.telecom": "ContactPoint"}[path]
    return [(x, kind, None) for x in patient.get(path.split(".")[1], [])]


def test_ma_patient_invariants_on_the_ig_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    invariants = _ma_invariants()
    assert {key for _, key, _ in invariants} >= {f"ma-pat-{i}" for i in range(1, 7)}
    patients = [
        json.loads(f.read_text(encoding="utf-8"))
        for f in sorted((MA_PACKAGE / "example").glob("Patient-*.json"))
    ]
    assert len(patients) >= 20
    verdicts: Counter[bool | None] = Counter()
    for patient in patients:
        for path, key, expression in invariants:
            for node, type_name, ext in _ma_targets(patient, path):
                assert compare_run(expression, node, type_name, ext, patient, patient) == "same", (
                    key,
                    patient["id"],
                )
                assert compare(expression, node, type_name, ext, patient, patient) == "same"
                verdicts[
                    compare_engines(
                        expression,
                        node,
                        type_name=type_name,
                        resource=patient,
                        root_resource=patient,
                        extension=ext,
                    )
                ] += 1
    assert verdicts[True] > 100 and verdicts[False] >= 3, verdicts

    def no_general(*args: Any) -> Any:
        raise AssertionError("the general evaluator was used")

    monkeypatch.setattr(rt, "run", no_general)
    engine = FhirPathEngine()
    for patient in patients:
        for path, key, expression in invariants:
            for node, type_name, ext in _ma_targets(patient, path):
                result = engine.check_constraint(
                    key,
                    expression,
                    node,
                    type_name=type_name,
                    resource=patient,
                    root_resource=patient,
                    extension=ext,
                )
                assert result.ok is not None, (key, result.reason)
