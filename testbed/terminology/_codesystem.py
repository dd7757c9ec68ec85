"""An indexed CodeSystem: concepts by code, hierarchy, properties and ValueSet filters."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from testbed.core.errors import TerminologyError

_CP = "http://hl7.org/fhir/concept-properties#"
# Property roles recognised by code or by the URI of the FHIR concept-properties code system.
_ROLE_BY_CODE = {
    "parent": "parent",
    "subsumedBy": "parent",
    "child": "child",
    "inactive": "inactive",
    "notSelectable": "notSelectable",
    "abstract": "notSelectable",
    "status": "status",
    "deprecated": "deprecated",
}
_ROLE_BY_URI = {_CP + k: v for k, v in _ROLE_BY_CODE.items() if k != "abstract"}
_INACTIVE_STATUSES = frozenset({"retired", "inactive"})
_CONCEPT_PROPS = frozenset({"concept", "code"})

ConceptTest = Callable[["Concept"], bool]


@dataclass(slots=True, eq=False)
class Concept:
    """One concept of a code system, with what a terminology check needs."""

    code: str
    display: str | None
    definition: str | None
    designations: tuple[Mapping[str, Any], ...]
    properties: tuple[tuple[str, str], ...]
    parents: dict[str, None] = field(default_factory=dict)
    children: dict[str, None] = field(default_factory=dict)
    inactive: bool = False
    deprecated: bool = False
    abstract: bool = False


def property_value(prop: Mapping[str, Any]) -> str | None:
    """The value of a ``concept.property`` as a string (booleans as ``true``/``false``, codings by code)."""
    for key, value in prop.items():
        if not key.startswith("value"):
            continue
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, Mapping):
            code = value.get("code")
            return str(code) if code is not None else None
        return str(value)
    return None


class CodeSystemIndex:
    """A CodeSystem resource indexed for lookups, subsumption and filters.

    Attributes:
        url: The canonical URL.
        version: The business version, if any.
        content: ``complete``, ``fragment``, ``example``, ``not-present`` or ``supplement``.
        case_sensitive: The stated case sensitivity; None when the code system does not say (codes
            are then matched in any case, and a case difference is reported as a warning).
    """

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self.resource = resource
        self.url: str = str(resource.get("url") or "")
        version = resource.get("version")
        self.version: str | None = str(version) if version is not None else None
        self.name: str = str(resource.get("title") or resource.get("name") or self.url)
        self.content: str = str(resource.get("content") or "complete")
        cs = resource.get("caseSensitive")
        self.case_sensitive: bool | None = cs if isinstance(cs, bool) else None
        self.roles: dict[str, str] = {}
        self.declared: set[str] = set()
        for p in resource.get("property") or ():
            code = p.get("code")
            if not isinstance(code, str):
                continue
            self.declared.add(code)
            role = _ROLE_BY_URI.get(str(p.get("uri") or "")) or _ROLE_BY_CODE.get(code)
            if role:
                self.roles[code] = role
        for code, role in _ROLE_BY_CODE.items():
            self.roles.setdefault(code, role)
        self.concepts: dict[str, Concept] = {}
        self._walk(resource.get("concept") or (), None)
        self._link()
        self._folded: dict[str, Concept] | None = None
        if self.case_sensitive is not True:
            self._folded = {}
            for c in self.concepts.values():
                self._folded.setdefault(c.code.casefold(), c)
        self._descendants: dict[str, frozenset[str]] = {}
        self._ancestors: dict[str, frozenset[str]] = {}

    # ----------------------------------------------------------------- building

    @property
    def key(self) -> str:
        """``url|version`` (or the URL alone when unversioned)."""
        return f"{self.url}|{self.version}" if self.version else self.url

    @property
    def has_content(self) -> bool:
        """Whether the resource holds concepts to check against (complete, fragment or example)."""
        return self.content in ("complete", "fragment", "example")

    @property
    def complete(self) -> bool:
        """Whether every code of the system is here, so that a missing code is certainly wrong."""
        return self.content == "complete"

    def _walk(self, concepts: Any, parent: str | None) -> None:
        for raw in concepts:
            code = raw.get("code") if isinstance(raw, Mapping) else None
            if not isinstance(code, str):
                continue
            props = tuple(
                (str(p.get("code")), v)
                for p in raw.get("property") or ()
                if isinstance(p, Mapping) and (v := property_value(p)) is not None
            )
            concept = self.concepts.get(code)
            if concept is None:
                concept = Concept(
                    code,
                    raw.get("display"),
                    raw.get("definition"),
                    tuple(raw.get("designation") or ()),
                    props,
                )
                self.concepts[code] = concept
            if parent is not None:
                concept.parents[parent] = None
                self.concepts[parent].children[code] = None
            self._walk(raw.get("concept") or (), code)

    def _link(self) -> None:
        for concept in self.concepts.values():
            for prop, value in concept.properties:
                role = self.roles.get(prop)
                if role == "parent":
                    concept.parents[value] = None
                    if value in self.concepts:
                        self.concepts[value].children[concept.code] = None
                elif role == "child":
                    concept.children[value] = None
                    if value in self.concepts:
                        self.concepts[value].parents[concept.code] = None
                elif role == "inactive" and value == "true":
                    concept.inactive = True
                elif role == "notSelectable" and value == "true":
                    concept.abstract = True
                elif role == "status":
                    if value in _INACTIVE_STATUSES:
                        concept.inactive = True
                    elif value == "deprecated":
                        concept.deprecated = True
                elif role == "deprecated" and value == "true":
                    concept.deprecated = True

    # ----------------------------------------------------------------- lookups

    def find(self, code: str) -> Concept | None:
        """The concept with this code (in any case when the system is not case-sensitive)."""
        concept = self.concepts.get(code)
        if concept is None and self._folded is not None:
            concept = self._folded.get(code.casefold())
        return concept

    def norm(self, code: str) -> str:
        """The form of a code used as a key: itself, or case-folded when case does not matter."""
        return code if self.case_sensitive is True else code.casefold()

    def descendants(self, code: str) -> frozenset[str]:
        """Codes below this one in the hierarchy (not itself)."""
        cached = self._descendants.get(code)
        if cached is None:
            cached = frozenset(self._closure(code, "children"))
            self._descendants[code] = cached
        return cached

    def ancestors(self, code: str) -> frozenset[str]:
        """Codes above this one in the hierarchy (not itself)."""
        cached = self._ancestors.get(code)
        if cached is None:
            cached = frozenset(self._closure(code, "parents"))
            self._ancestors[code] = cached
        return cached

    def _closure(self, code: str, attr: str) -> set[str]:
        seen: set[str] = set()
        start = self.concepts.get(code)
        stack = list(getattr(start, attr)) if start else []
        while stack:
            c = stack.pop()
            if c in seen or c == code:
                continue
            seen.add(c)
            node = self.concepts.get(c)
            if node is not None:
                stack.extend(getattr(node, attr))
        return seen

    def subsumes(self, ancestor: str, code: str) -> bool:
        """Whether ``code`` is ``ancestor`` or one of its descendants."""
        return code == ancestor or code in self.descendants(ancestor)

    def __iter__(self) -> Iterator[Concept]:
        return iter(self.concepts.values())

    def __len__(self) -> int:
        return len(self.concepts)

    # ----------------------------------------------------------------- filters

    def values(self, concept: Concept, prop: str) -> list[str]:
        """The values a filter on ``prop`` sees for this concept (explicit or derived)."""
        if prop in _CONCEPT_PROPS:
            return [concept.code]
        if prop == "display":
            return [concept.display] if concept.display else []
        role = self.roles.get(prop)
        if role == "parent":
            return list(concept.parents)
        if role == "child":
            return list(concept.children)
        explicit = [v for p, v in concept.properties if p == prop]
        if explicit:
            return explicit
        if role == "inactive":
            return ["true" if concept.inactive else "false"]
        if role == "notSelectable":
            return ["true" if concept.abstract else "false"]
        return []

    def compile_filter(self, prop: str, op: str, value: str) -> ConceptTest:
        """A test for ``compose.include.filter`` (``property``, ``op``, ``value``) on this code system.

        Raises:
            TerminologyError: the operator is unknown, the property is not defined by the code
                system, or a regex does not compile.
        """
        known = prop in _CONCEPT_PROPS or prop == "display" or prop in self.declared or prop in self.roles
        if not known:
            raise TerminologyError(
                f"Filter '{prop} {op} {value}': the code system {self.key} defines no property '{prop}' "
                f"(it defines: {', '.join(sorted(self.declared)) or 'none'})."
            )
        if op in ("is-a", "descendent-of", "is-not-a", "generalizes"):
            return self._hierarchy_filter(prop, op, value)
        if op == "=":
            return self._any_value(prop, lambda v: self._same(prop, v, value))
        if op in ("in", "not-in"):
            wanted = [w.strip() for w in value.split(",") if w.strip()]
            test = self._any_value(prop, lambda v: any(self._same(prop, v, w) for w in wanted))
            return test if op == "in" else (lambda c: not test(c))
        if op == "regex":
            try:
                rx = re.compile(value)
            except re.error as exc:
                raise TerminologyError(
                    f"Filter '{prop} regex {value}' on {self.key}: bad regex ({exc})."
                ) from exc
            return self._any_value(prop, lambda v: rx.fullmatch(v) is not None)
        if op == "exists":
            flag = value.strip().lower()
            if flag not in ("true", "false"):
                raise TerminologyError(
                    f"Filter '{prop} exists {value}' on {self.key}: the value must be true or false."
                )
            want = flag == "true"
            return lambda c: bool(self.values(c, prop)) is want
        raise TerminologyError(f"Filter operator '{op}' (on {self.key}, property '{prop}') is not supported.")

    def _same(self, prop: str, have: str, want: str) -> bool:
        if prop in _CONCEPT_PROPS or self.roles.get(prop) in ("parent", "child"):
            return self.norm(have) == self.norm(want)
        return have == want

    def _any_value(self, prop: str, test: Callable[[str], bool]) -> ConceptTest:
        return lambda c: any(test(v) for v in self.values(c, prop))

    def _hierarchy_filter(self, prop: str, op: str, value: str) -> ConceptTest:
        anchor = self.find(value)
        root = anchor.code if anchor else value
        if prop in _CONCEPT_PROPS:
            if op == "is-a":
                return lambda c: self.subsumes(root, c.code)
            if op == "descendent-of":
                return lambda c: c.code in self.descendants(root)
            if op == "is-not-a":
                return lambda c: not self.subsumes(root, c.code)
            return lambda c: c.code == root or c.code in self.ancestors(root)
        # A code-valued property: compare its values through the hierarchy of this code system.
        if op == "is-a":
            return self._any_value(prop, lambda v: self.subsumes(root, v))
        if op == "descendent-of":
            return self._any_value(prop, lambda v: v in self.descendants(root))
        if op == "is-not-a":
            inner = self._any_value(prop, lambda v: self.subsumes(root, v))
            return lambda c: not inner(c)
        return self._any_value(prop, lambda v: v == root or v in self.ancestors(root))
