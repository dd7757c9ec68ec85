"""Small synthetic CodeSystems and ValueSets exercising every terminology rule."""

from __future__ import annotations

from typing import Any

EX = "http://example.org/fhir"
ZOO = f"{EX}/CodeSystem/zoo"
VERSIONED = f"{EX}/CodeSystem/versioned"
NOCASE = f"{EX}/CodeSystem/nocase"
UNSTATED = f"{EX}/CodeSystem/unstated-case"
HIDDEN = f"{EX}/CodeSystem/hidden"
PART = f"{EX}/CodeSystem/part"


def _p(code: str, **value: Any) -> dict[str, Any]:
    return {"code": code, **value}


def zoo_code_system() -> dict[str, Any]:
    """Hierarchy from nesting and from parent/child properties; code, integer and status properties."""
    return {
        "resourceType": "CodeSystem",
        "id": "zoo",
        "url": ZOO,
        "version": "1.0.0",
        "name": "Zoo",
        "status": "active",
        "content": "complete",
        "caseSensitive": True,
        "hierarchyMeaning": "is-a",
        "valueSet": f"{EX}/ValueSet/zoo-all",
        "property": [
            {
                "code": "notSelectable",
                "uri": "http://hl7.org/fhir/concept-properties#notSelectable",
                "type": "boolean",
            },
            {"code": "status", "uri": "http://hl7.org/fhir/concept-properties#status", "type": "code"},
            {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "code"},
            {"code": "child", "uri": "http://hl7.org/fhir/concept-properties#child", "type": "code"},
            {"code": "inactive", "uri": "http://hl7.org/fhir/concept-properties#inactive", "type": "boolean"},
            {"code": "color", "type": "code"},
            {"code": "legs", "type": "integer"},
        ],
        "concept": [
            {
                "code": "animal",
                "display": "Animal",
                "property": [_p("notSelectable", valueBoolean=True)],
                "concept": [
                    {
                        "code": "mammal",
                        "display": "Mammal",
                        "concept": [
                            {
                                "code": "dog",
                                "display": "Dog",
                                "designation": [{"language": "fr", "value": "Chien"}],
                                "property": [_p("color", valueCode="brown"), _p("legs", valueInteger=4)],
                            },
                            {
                                "code": "cat",
                                "display": "Cat",
                                "property": [_p("color", valueCode="black"), _p("legs", valueInteger=4)],
                            },
                        ],
                    },
                    {
                        "code": "bird",
                        "display": "Bird",
                        "concept": [
                            {
                                "code": "penguin",
                                "display": "Penguin",
                                "property": [
                                    _p("color", valueCode="black"),
                                    _p("legs", valueInteger=2),
                                    _p("status", valueCode="retired"),
                                ],
                            },
                        ],
                    },
                ],
            },
            {
                "code": "plant",
                "display": "Plant",
                "property": [_p("child", valueCode="fern")],
                "concept": [{"code": "tree", "display": "Tree"}],
            },
            {"code": "fern", "display": "Fern"},
            {
                "code": "dodo",
                "display": "Dodo",
                "property": [_p("parent", valueCode="bird"), _p("inactive", valueBoolean=True)],
            },
            {"code": "unicorn", "display": "Unicorn", "property": [_p("status", valueCode="deprecated")]},
            {"code": "kiwi", "display": "Kiwi", "property": [_p("subsumedBy", valueCode="bird")]},
        ],
    }


def _cs(
    url: str,
    codes: list[str],
    *,
    version: str | None = None,
    content: str = "complete",
    case: bool | None = True,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "CodeSystem",
        "url": url,
        "status": "active",
        "content": content,
        "concept": [{"code": c, "display": c.upper()} for c in codes],
    }
    if version:
        res["version"] = version
    if case is not None:
        res["caseSensitive"] = case
    return res


def _vs(
    name: str,
    *include: dict[str, Any],
    exclude: list[dict[str, Any]] | None = None,
    version: str | None = None,
    inactive: bool | None = None,
) -> dict[str, Any]:
    compose: dict[str, Any] = {"include": list(include)}
    if exclude:
        compose["exclude"] = exclude
    if inactive is not None:
        compose["inactive"] = inactive
    res: dict[str, Any] = {
        "resourceType": "ValueSet",
        "url": f"{EX}/ValueSet/{name}",
        "status": "active",
        "compose": compose,
    }
    if version:
        res["version"] = version
    return res


def _f(prop: str, op: str, value: str) -> dict[str, Any]:
    return {"system": ZOO, "filter": [{"property": prop, "op": op, "value": value}]}


def synthetic_resources() -> list[dict[str, Any]]:
    vs = f"{EX}/ValueSet/"
    return [
        zoo_code_system(),
        _cs(VERSIONED, ["a", "b"], version="1"),
        _cs(VERSIONED, ["a", "c"], version="2"),
        _cs(NOCASE, ["abc"], case=False),
        _cs(UNSTATED, ["abc"], case=None),
        _cs(HIDDEN, [], content="not-present"),
        _cs(PART, ["p1", "p2"], content="fragment"),
        _vs("is-a", _f("concept", "is-a", "mammal")),
        _vs("descendent-of", _f("concept", "descendent-of", "mammal")),
        _vs("is-not-a", _f("concept", "is-not-a", "animal")),
        _vs("generalizes", _f("concept", "generalizes", "dog")),
        _vs("eq", _f("color", "=", "black")),
        _vs("regex", _f("code", "regex", "d.*")),
        _vs("in", _f("color", "in", "brown,white")),
        _vs("not-in", _f("color", "not-in", "brown")),
        _vs("exists", _f("color", "exists", "true")),
        _vs("not-exists", _f("color", "exists", "false")),
        _vs("is-a-bird", _f("concept", "is-a", "bird")),
        _vs("is-a-plant", _f("concept", "is-a", "plant")),
        _vs("parent-eq", _f("parent", "=", "bird")),
        _vs("legs-2", _f("legs", "=", "2")),
        _vs("bad-property", _f("weight", "=", "1")),
        _vs("bad-op", _f("concept", "sounds-like", "dog")),
        _vs("bad-regex", _f("code", "regex", "(")),
        _vs("animals", _f("concept", "is-a", "animal")),
        _vs("active-birds", _f("concept", "is-a", "bird"), inactive=False),
        _vs("listed", {"system": ZOO, "concept": [{"code": "dog", "display": "Doggy"}, {"code": "tree"}]}),
        _vs("black-mammals", {"valueSet": [vs + "is-a", vs + "eq"]}),
        _vs(
            "listed-mammals",
            {"system": ZOO, "concept": [{"code": "dog"}, {"code": "penguin"}], "valueSet": [vs + "is-a"]},
        ),
        _vs("mammals-or-black", {"valueSet": [vs + "is-a"]}, {"valueSet": [vs + "eq"]}),
        _vs(
            "animals-but-dog",
            _f("concept", "is-a", "animal"),
            exclude=[{"system": ZOO, "concept": [{"code": "dog"}]}],
        ),
        _vs("animals-but-black", _f("concept", "is-a", "animal"), exclude=[{"valueSet": [vs + "eq"]}]),
        _vs("cycle-a", {"valueSet": [vs + "cycle-b"]}),
        _vs("cycle-b", {"valueSet": [vs + "cycle-a"]}),
        _vs("missing-nested", {"valueSet": [vs + "does-not-exist"]}),
        _vs("versioned", {"system": VERSIONED}, version="1"),
        _vs("versioned", {"system": VERSIONED}, version="2"),
        _vs("pinned-v1", {"system": VERSIONED, "version": "1"}),
        _vs("pinned-v3", {"system": VERSIONED, "version": "3"}),
        _vs("nocase", {"system": NOCASE}),
        _vs("unstated", {"system": UNSTATED}),
        _vs("hidden", {"system": HIDDEN}),
        _vs("hidden-listed", {"system": HIDDEN, "concept": [{"code": "h1", "display": "Hidden one"}]}),
        _vs("part", {"system": PART}),
        _vs("icd10", {"system": "http://hl7.org/fhir/sid/icd-10"}),
        _vs("rxnorm", {"system": "http://www.nlm.nih.gov/research/umls/rxnorm"}),
        _vs("cvx-or-zoo", {"system": "http://hl7.org/fhir/sid/cvx"}, {"system": ZOO}),
        _vs("mime", {"system": "urn:ietf:bcp:13"}),
        _vs("iso3166", {"system": "urn:iso:std:iso:3166"}),
        _vs(
            "snomed-isa",
            {
                "system": "http://snomed.info/sct",
                "filter": [{"property": "concept", "op": "is-a", "value": "404684003"}],
            },
        ),
        {
            "resourceType": "ValueSet",
            "url": vs + "expansion-only",
            "status": "active",
            "expansion": {
                "timestamp": "2024-01-01T00:00:00Z",
                "contains": [
                    {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"},
                    {"system": "http://snomed.info/sct", "code": "73211009", "display": "Diabetes mellitus"},
                ],
            },
        },
        {
            "resourceType": "ValueSet",
            "url": vs + "snomed-with-expansion",
            "status": "active",
            "compose": {
                "include": [
                    {
                        "system": "http://snomed.info/sct",
                        "filter": [{"property": "concept", "op": "is-a", "value": "64572001"}],
                    }
                ]
            },
            "expansion": {
                "timestamp": "2024-01-01T00:00:00Z",
                "total": 1,
                "contains": [
                    {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"}
                ],
            },
        },
        {"resourceType": "ValueSet", "url": vs + "empty", "status": "active"},
    ]
