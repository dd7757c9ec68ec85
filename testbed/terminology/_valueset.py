"""A compiled ValueSet: structural membership (true / false / cannot tell) and enumeration."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from testbed.core.errors import TerminologyError
from testbed.terminology._codesystem import CodeSystemIndex, Concept, ConceptTest
from testbed.terminology._external import ExternalSystem

Source = CodeSystemIndex | ExternalSystem


class Loader(Protocol):
    """What a value set needs from the service: code systems and other value sets."""

    def source(self, system: str, version: str | None) -> tuple[Source, str | None]:
        """The code system content (or external description) and, if unusable, why."""
        ...

    def compiled(self, canonical: str, stack: tuple[str, ...]) -> CompiledValueSet | None:
        """The compiled value set with this canonical, or None when not found."""
        ...


@dataclass(slots=True)
class Match:
    """Whether a code is in a value set: True, False, or None (cannot tell offline), and why."""

    state: bool | None
    reason: str = ""
    system: str | None = None
    concept: Concept | None = None
    listed: Mapping[str, Any] | None = None
    source: Source | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One code of an expansion."""

    system: str
    code: str
    display: str | None = None
    version: str | None = None
    abstract: bool = False
    inactive: bool = False


@dataclass(slots=True)
class _Filter:
    prop: str
    op: str
    value: str
    test: ConceptTest | None = None

    @property
    def text(self) -> str:
        return f"{self.prop} {self.op} {self.value}"


@dataclass(slots=True)
class Clause:
    """One ``compose.include`` or ``compose.exclude``."""

    system: str | None
    version: str | None
    source: Source | None
    unusable: str | None
    concepts: dict[str, Mapping[str, Any]] | None
    filters: list[_Filter]
    value_sets: list[CompiledValueSet]
    missing_value_sets: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = []
        if self.system:
            what = f"{len(self.concepts)} listed code(s) of" if self.concepts is not None else "codes of"
            parts.append(f"{what} {self.system}")
            if self.filters:
                parts.append("where " + " and ".join(f.text for f in self.filters))
        for vs in self.value_sets:
            parts.append(f"in {vs.label}")
        return " ".join(parts)


class CompiledValueSet:
    """A ValueSet resource turned into a membership test and a lazy enumeration."""

    def __init__(self, resource: Mapping[str, Any], loader: Loader, stack: tuple[str, ...]) -> None:
        self.resource = resource
        self.url: str = str(resource.get("url") or "")
        version = resource.get("version")
        self.version: str | None = str(version) if version is not None else None
        self.label = f"'{self.key}'"
        compose = resource.get("compose")
        self.inactive: bool | None = None
        self.includes: list[Clause] = []
        self.excludes: list[Clause] = []
        self.shipped = _shipped_expansion(resource.get("expansion"))
        self.has_compose = isinstance(compose, Mapping)
        deps: dict[str, None] = {self.key: None}
        stack = (*stack, self.key)
        if isinstance(compose, Mapping):
            inactive = compose.get("inactive")
            self.inactive = inactive if isinstance(inactive, bool) else None
            self.includes = [self._clause(i, loader, stack, deps) for i in self._parts(compose, "include")]
            self.excludes = [self._clause(i, loader, stack, deps) for i in self._parts(compose, "exclude")]
        elif self.shipped is None:
            raise TerminologyError(
                f"Value set {self.label} has neither compose nor a complete expansion: "
                "it defines no codes the testbed can use."
            )
        self.dependencies: tuple[str, ...] = tuple(deps)
        self._entries: list[Entry] | None = None

    @property
    def key(self) -> str:
        return f"{self.url}|{self.version}" if self.version else self.url

    # ----------------------------------------------------------------- compiling

    def _parts(self, parent: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
        items = parent.get(name) or []
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise TerminologyError(f"Value set {self.label}: '{name}' must be a list of objects.")
        return items

    def _clause(
        self, inc: Mapping[str, Any], loader: Loader, stack: tuple[str, ...], deps: dict[str, None]
    ) -> Clause:
        system = inc.get("system")
        version = inc.get("version")
        source: Source | None = None
        unusable: str | None = None
        concepts: dict[str, Mapping[str, Any]] | None = None
        filters: list[_Filter] = []
        if isinstance(system, str):
            source, unusable = loader.source(system, version if isinstance(version, str) else None)
            if isinstance(source, CodeSystemIndex) and unusable is None:
                deps[source.key] = None
            if inc.get("concept"):
                concepts = {}
                for c in inc["concept"]:
                    if isinstance(c, Mapping) and isinstance(c.get("code"), str):
                        concepts.setdefault(source.norm(c["code"]), c)
            for f in self._parts(inc, "filter"):
                parts = [f.get(k) for k in ("property", "op", "value")]
                if not all(isinstance(x, str) for x in parts):
                    raise TerminologyError(
                        f"Value set {self.label}: a filter on {system} needs a property, "
                        "an op and a value (all strings)."
                    )
                flt = _Filter(str(parts[0]), str(parts[1]), str(parts[2]))
                if isinstance(source, CodeSystemIndex) and unusable is None:
                    flt.test = source.compile_filter(flt.prop, flt.op, flt.value)
                filters.append(flt)
        elif system is not None:
            raise TerminologyError(f"Value set {self.label}: include.system must be a string.")
        value_sets: list[CompiledValueSet] = []
        missing: list[str] = []
        for ref in inc.get("valueSet") or ():
            if str(ref).split("|")[0] in {s.split("|")[0] for s in stack}:
                raise TerminologyError(
                    f"Value set {self.label} includes '{ref}', which includes it back (a cycle)."
                )
            nested = loader.compiled(str(ref), stack)
            if nested is None:
                missing.append(str(ref))
            else:
                value_sets.append(nested)
                deps.update(dict.fromkeys(nested.dependencies))
        if not isinstance(system, str) and not value_sets and not missing:
            raise TerminologyError(
                f"Value set {self.label} has an include/exclude with neither system nor valueSet."
            )
        return Clause(
            system if isinstance(system, str) else None,
            version if isinstance(version, str) else None,
            source,
            unusable,
            concepts,
            filters,
            value_sets,
            missing,
        )

    # ----------------------------------------------------------------- membership

    def member(self, system: str | None, code: str) -> Match:
        """Whether ``system#code`` is in this value set (any system when ``system`` is None)."""
        if not self.has_compose:
            return self._member_shipped(system, code)
        result = self._member_compose(system, code)
        if result.state is None and self.shipped is not None:
            return self._member_shipped(system, code)
        return result

    def _member_compose(self, system: str | None, code: str) -> Match:
        found: Match | None = None
        unknown: list[str] = []
        refused: list[str] = []
        for clause in self.includes:
            m = _clause_member(clause, system, code)
            if m.state is True:
                found = m
                break
            if m.state is None:
                unknown.append(m.reason)
            elif system is None or clause.system in (None, system):
                refused.append(m.reason)
        if found is None:
            if unknown:
                return Match(None, "; ".join(dict.fromkeys(unknown)), system)
            if refused:
                return Match(False, "; ".join(dict.fromkeys(refused)), system)
            return Match(False, self._not_included_reason(system), system)
        for clause in self.excludes:
            x = _clause_member(clause, found.system, code)
            if x.state is True:
                return Match(False, f"it is excluded by the value set ({clause.describe()})", found.system)
            if x.state is None:
                return Match(None, f"whether it is excluded cannot be told: {x.reason}", found.system)
        if self.inactive is False and found.concept is not None and found.concept.inactive:
            return Match(
                False,
                "the concept is inactive and the value set excludes inactive codes "
                "(compose.inactive = false)",
                found.system,
            )
        return found

    def _member_shipped(self, system: str | None, code: str) -> Match:
        assert self.shipped is not None
        for item in self.shipped.get(code, ()):
            if system is None or item["system"] == system:
                return Match(True, "", item["system"], listed=item)
        count = sum(len(v) for v in self.shipped.values())
        return Match(
            False, f"it is not among the {count} codes of the expansion shipped in the value set", system
        )

    def _not_included_reason(self, system: str | None) -> str:
        systems = sorted(self.systems())
        if system is not None and systems and system not in systems:
            return f"the value set has no code from '{system}' (its systems: {', '.join(systems)})"
        return "the value set does not include this code"

    def systems(self) -> set[str]:
        """The code systems this value set draws on."""
        if not self.has_compose and self.shipped is not None:
            return {i["system"] for items in self.shipped.values() for i in items}
        return {c.system for c in self.includes if c.system} | {
            s for c in self.includes if not c.system for vs in c.value_sets for s in vs.systems()
        }

    # ----------------------------------------------------------------- enumeration

    def entries(self) -> list[Entry]:
        """Every code of the value set, in definition order.

        Raises:
            TerminologyError: a part of the value set cannot be enumerated offline.
        """
        if self._entries is None:
            self._entries = self._enumerate()
        return self._entries

    def _enumerate(self) -> list[Entry]:
        if self.has_compose:
            try:
                return self._enumerate_compose()
            except TerminologyError:
                if self.shipped is None:
                    raise
        assert self.shipped is not None
        return [
            Entry(
                i["system"],
                i["code"],
                i.get("display"),
                i.get("version"),
                bool(i.get("abstract")),
                bool(i.get("inactive")),
            )
            for items in self.shipped.values()
            for i in items
        ]

    def _enumerate_compose(self) -> list[Entry]:
        out: dict[tuple[str, str], Entry] = {}
        for clause in self.includes:
            for e in _clause_entries(clause, self.label):
                out.setdefault((e.system, e.code), e)
        for clause in self.excludes:
            for key in list(out):
                m = _clause_member(clause, key[0], key[1])
                if m.state is True:
                    del out[key]
                elif m.state is None:
                    raise TerminologyError(f"Cannot expand value set {self.label}: {m.reason}.")
        entries = list(out.values())
        if self.inactive is False:
            entries = [e for e in entries if not e.inactive]
        return entries


# --------------------------------------------------------------------- clause logic


def _and(first: Match, second: Match) -> Match:
    if first.state is False:
        return first
    if second.state is False:
        return Match(False, second.reason, first.system, first.concept, first.listed, first.source)
    if first.state is None:
        return first
    if second.state is None:
        return Match(None, second.reason, first.system, first.concept, first.listed, first.source)
    return (
        first
        if first.listed is not None or second.listed is None
        else Match(True, "", first.system, first.concept or second.concept, second.listed, first.source)
    )


def _clause_member(clause: Clause, system: str | None, code: str) -> Match:
    if clause.system is not None:
        if system is not None and system != clause.system:
            return Match(False, f"'{system}' is not '{clause.system}'", system)
        result = _system_member(clause, clause.system, code)
        if result.state is False:
            return result
    else:
        result = Match(True, "", system)
    for ref in clause.missing_value_sets:
        return _and(result, Match(None, f"the value set '{ref}' it includes is not available"))
    for vs in clause.value_sets:
        nested = vs.member(result.system, code)
        if nested.state is not None and result.system is None:
            result = Match(
                result.state, result.reason, nested.system, result.concept, result.listed, result.source
            )
        if nested.state is False:
            nested = Match(
                False, f"it is not in the included value set {vs.label} ({nested.reason})", nested.system
            )
        elif nested.state is None:
            nested = Match(None, f"included value set {vs.label}: {nested.reason}", nested.system)
        result = _and(result, nested)
        if result.state is False:
            return result
    return result


def _system_member(clause: Clause, system: str, code: str) -> Match:
    src = clause.source
    assert src is not None
    usable = isinstance(src, CodeSystemIndex) and clause.unusable is None and src.has_content
    concept = src.find(code) if isinstance(src, CodeSystemIndex) and usable else None
    if clause.concepts is not None:
        listed = clause.concepts.get(src.norm(code))
        if listed is None:
            return Match(
                False,
                f"it is not among the {len(clause.concepts)} code(s) the value set lists for '{system}'",
                system,
            )
        if usable and concept is None and isinstance(src, CodeSystemIndex) and src.complete:
            return Match(False, f"'{code}' is listed by the value set but is not a code of {src.key}", system)
        if not clause.filters:
            return Match(True, "", system, concept, listed, src)
    if usable and isinstance(src, CodeSystemIndex):
        if concept is None:
            if src.complete:
                return Match(False, f"'{code}' is not a code of {src.key}", system)
            return Match(None, f"{_partial(src)} and does not hold '{code}'", system, source=src)
        for f in clause.filters:
            assert f.test is not None
            if not f.test(concept):
                if src.complete:
                    return Match(False, f"it does not satisfy the filter '{f.text}' on {src.key}", system)
                return Match(
                    None,
                    f"it does not satisfy the filter '{f.text}', but {_partial(src)}",
                    system,
                    source=src,
                )
        listed_entry = clause.concepts.get(src.norm(code)) if clause.concepts is not None else None
        return Match(True, "", system, concept, listed_entry, src)
    reason = clause.unusable or unavailable_reason(src)
    for f in clause.filters:
        if f.prop == "code" and f.op == "regex":
            try:
                if re.fullmatch(f.value, code) is None:
                    return Match(False, f"it does not match the filter '{f.text}'", system)
            except re.error:
                pass
    checker = src.checker if isinstance(src, ExternalSystem) else None
    if checker is not None:
        verdict = checker(code)
        if verdict.valid is False:
            return Match(False, verdict.message, system)
        if clause.filters:
            texts = ", ".join(repr(f.text) for f in clause.filters)
            return Match(
                None, f"the filter(s) {texts} on {src.name} cannot be evaluated offline", system, source=src
            )
        if verdict.valid is None:
            return Match(None, verdict.message, system, source=src)
        return Match(True, "", system, None, None, src)
    return Match(None, reason, system, source=src)


def unavailable_reason(src: Source) -> str:
    if isinstance(src, CodeSystemIndex):
        return (
            f"the code system {src.name} ({src.key}) is not available offline: its CodeSystem "
            f"resource has content = '{src.content}'"
        )
    return f"the code system {src.name} is not available offline (it is not shipped with the testbed)"


def _partial(src: CodeSystemIndex) -> str:
    return f"the code system {src.key} is shipped only in part (content = '{src.content}')"


def _clause_entries(clause: Clause, label: str) -> Iterator[Entry]:
    if clause.system is None:
        if clause.missing_value_sets:
            raise TerminologyError(
                f"Cannot expand value set {label}: the value set "
                f"'{clause.missing_value_sets[0]}' it includes is not available."
            )
        first, *others = clause.value_sets
        for e in first.entries():
            if _in_all(others, e, label):
                yield e
        return
    src = clause.source
    assert src is not None
    usable = isinstance(src, CodeSystemIndex) and clause.unusable is None and src.complete
    candidates: Iterator[Entry]
    if clause.concepts is not None and not clause.filters:
        readable = isinstance(src, CodeSystemIndex) and clause.unusable is None and src.has_content
        candidates = _listed_entries(clause, src if readable and isinstance(src, CodeSystemIndex) else None)
    elif usable and isinstance(src, CodeSystemIndex):
        candidates = _system_entries(clause, src)
    else:
        why = clause.unusable or unavailable_reason(src)
        if isinstance(src, CodeSystemIndex) and src.has_content and not src.complete:
            why = _partial(src)
        elif isinstance(src, ExternalSystem) and src.checker is not None:
            why = f"{src.name} is defined by a grammar: its codes cannot be enumerated"
        raise TerminologyError(
            f"Cannot expand value set {label}: it includes {clause.describe()}, and {why}."
        )
    if clause.missing_value_sets:
        raise TerminologyError(
            f"Cannot expand value set {label}: the value set "
            f"'{clause.missing_value_sets[0]}' it includes is not available."
        )
    for e in candidates:
        if _in_all(clause.value_sets, e, label):
            yield e


def _in_all(value_sets: list[CompiledValueSet], e: Entry, label: str) -> bool:
    for vs in value_sets:
        m = vs.member(e.system, e.code)
        if m.state is None:
            raise TerminologyError(f"Cannot expand value set {label}: {m.reason}.")
        if not m.state:
            return False
    return True


def _listed_entries(clause: Clause, cs: CodeSystemIndex | None) -> Iterator[Entry]:
    assert clause.concepts is not None and clause.system is not None
    for item in clause.concepts.values():
        code = item["code"]
        concept = cs.find(code) if cs else None
        if cs is not None and concept is None and cs.complete:
            continue
        yield Entry(
            clause.system,
            concept.code if concept else code,
            item.get("display") or (concept.display if concept else None),
            cs.version if cs else clause.version,
            concept.abstract if concept else False,
            concept.inactive if concept else False,
        )


def _system_entries(clause: Clause, cs: CodeSystemIndex) -> Iterator[Entry]:
    tests: list[Callable[[Concept], bool]] = [f.test for f in clause.filters if f.test is not None]
    for concept in cs:
        if all(t(concept) for t in tests):
            yield Entry(cs.url, concept.code, concept.display, cs.version, concept.abstract, concept.inactive)


def _shipped_expansion(expansion: Any) -> dict[str, list[Mapping[str, Any]]] | None:
    """The codes of an expansion carried by the resource, by code, when it is complete (not a page)."""
    if not isinstance(expansion, Mapping) or expansion.get("offset") not in (None, 0):
        return None
    out: dict[str, list[Mapping[str, Any]]] = {}
    count = 0
    for item in _flatten(expansion.get("contains") or ()):
        if isinstance(item.get("system"), str) and isinstance(item.get("code"), str):
            out.setdefault(item["code"], []).append(item)
            count += 1
    total = expansion.get("total")
    if not out or (isinstance(total, int) and total != count):
        return None
    return out


def _flatten(contains: Any) -> Iterator[Mapping[str, Any]]:
    for item in contains:
        if isinstance(item, Mapping):
            yield item
            yield from _flatten(item.get("contains") or ())
