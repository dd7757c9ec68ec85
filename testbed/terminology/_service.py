"""The in-process, offline terminology service used by the FHIR validator."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from testbed.core.errors import TerminologyError
from testbed.core.issues import IssueCode
from testbed.core.resolver import CanonicalResolver
from testbed.packages import version_matches
from testbed.terminology._check import CodeCheck
from testbed.terminology._codesystem import CodeSystemIndex, Concept
from testbed.terminology._external import KNOWN_EXTERNAL, LOINC, ExternalSystem, external_system
from testbed.terminology._remarks import concept_warnings, contains_item, display_issue, source_label
from testbed.terminology._valueset import CompiledValueSet, Source, unavailable_reason

_ResultKey = tuple[str, str | None, str, str | None, str | None, bool]


@dataclass(frozen=True, slots=True)
class _Existence:
    """Whether a code exists in its own code system."""

    state: bool | None
    message: str
    concept: Concept | None
    source: Source
    blocking: bool = False

    @property
    def versions(self) -> tuple[str, ...]:
        src = self.source
        return (src.key,) if isinstance(src, CodeSystemIndex) and src.has_content else ()


class TerminologyService:
    """Checks codes against CodeSystems and ValueSets found through a resolver, offline.

    Code systems are indexed and value sets compiled on first use; answers are cached, so repeated
    checks cost a dictionary lookup. A code that cannot be checked offline (SNOMED CT, LOINC, a
    CodeSystem with ``content = not-present``, an unknown value set) gives ``valid=None`` with a
    message saying why, never a silent pass nor a false error.

    Args:
        resolver: Finds ValueSet and CodeSystem resources by canonical URL (``url|version`` honoured).
        cache_size: How many answers to keep before the answer cache is cleared.
    """

    def __init__(self, resolver: CanonicalResolver, *, cache_size: int = 200_000) -> None:
        self._resolver = resolver
        self._cache_size = cache_size
        self._indexes: dict[tuple[str, str | None], CodeSystemIndex] = {}
        self._sources: dict[tuple[str, str | None], tuple[Source, str | None]] = {}
        self._value_sets: dict[str, CompiledValueSet | TerminologyError | None] = {}
        self._results: dict[_ResultKey, CodeCheck] = {}
        self._system_results: dict[tuple[str, str, str | None, str | None], CodeCheck] = {}
        self._cs_value_sets: dict[str, Mapping[str, Any]] | None = None

    # ================================================================ public API

    def validate_code(
        self,
        value_set: str,
        *,
        system: str | None,
        code: str,
        display: str | None = None,
        version: str | None = None,
        abstract_ok: bool = False,
    ) -> CodeCheck:
        """Check that a code is in a value set (like ``ValueSet/$validate-code``).

        Args:
            value_set: The value set canonical (``url`` or ``url|version``).
            system: The code system of the code; None for a bare ``code`` element (the system is then
                inferred from the value set).
            code: The code.
            display: The display given with the code, checked against the code's displays and
                designations (a mismatch sets ``display_issue``, it does not make the code invalid).
            version: The code system version given with the code.
            abstract_ok: Accept abstract (not selectable) concepts, as when editing value sets.
        """
        key = (value_set, system, code, display, version, abstract_ok)
        hit = self._results.get(key)
        if hit is None:
            hit = self._validate_code(value_set, system, code, display, version, abstract_ok)
            if len(self._results) >= self._cache_size:
                self._results.clear()
            self._results[key] = hit
        return hit

    def validate_codings(self, value_set: str, codings: Sequence[Mapping[str, Any]]) -> CodeCheck:
        """Check a CodeableConcept's codings: valid when any coding is in the value set.

        Codings that are not in the value set but are wrong in their own code system are reported
        in ``warnings`` of a valid answer.
        """
        if not codings:
            return CodeCheck(
                False,
                f"No coding given: a code from the value set '{value_set}' is expected.",
                IssueCode.CODE_INVALID,
            )
        checks: list[tuple[int, CodeCheck]] = []
        for i, coding in enumerate(codings):
            code = coding.get("code")
            if not isinstance(code, str) or not code:
                continue
            system = coding.get("system")
            checks.append(
                (
                    i,
                    self.validate_code(
                        value_set,
                        system=system if isinstance(system, str) else None,
                        code=code,
                        display=coding.get("display") if isinstance(coding.get("display"), str) else None,
                        version=coding.get("version") if isinstance(coding.get("version"), str) else None,
                    ),
                )
            )
        if not checks:
            return CodeCheck(
                False,
                f"No coding has a code: a code from the value set '{value_set}' is expected.",
                IssueCode.CODE_INVALID,
            )
        versions = tuple(dict.fromkeys(v for _, c in checks for v in c.versions))
        good = next((c for _, c in checks if c.valid), None)
        if good is not None:
            extra = list(good.warnings)
            for i, c in checks:
                coding = codings[i]
                if c is good or not isinstance(coding.get("system"), str):
                    continue
                own = self.check_in_system(coding["system"], coding["code"])
                if own.valid is False:
                    extra.append(f"coding[{i}]: {own.message}")
            return CodeCheck(
                True,
                good.message,
                good.code,
                good.display_issue,
                versions,
                good.system,
                good.display,
                tuple(extra),
            )
        state: bool | None = None if any(c.valid is None for _, c in checks) else False
        message = " ".join(f"coding[{i}]: {c.message}" for i, c in checks)
        code = IssueCode.NOT_SUPPORTED if state is None else IssueCode.CODE_INVALID
        if state is None and all(c.code is IssueCode.NOT_FOUND for _, c in checks):
            code = IssueCode.NOT_FOUND
        if len(checks) > 1:
            lead = "None of the codings is in" if state is False else "No coding could be confirmed in"
            message = f"{lead} the value set '{value_set}'. {message}"
        return CodeCheck(state, message, code, None, versions)

    def check_in_system(
        self, system: str, code: str, *, display: str | None = None, version: str | None = None
    ) -> CodeCheck:
        """Check that a code exists in its code system (like ``CodeSystem/$validate-code``)."""
        key = (system, code, display, version)
        hit = self._system_results.get(key)
        if hit is None:
            hit = self._check_in_system(system, code, display, version)
            if len(self._system_results) >= self._cache_size:
                self._system_results.clear()
            self._system_results[key] = hit
        return hit

    def expand(
        self, value_set: str, *, count: int | None = None, offset: int = 0, filter: str | None = None
    ) -> dict[str, Any]:  # noqa: A002 - the $expand parameter name
        """Expand a value set (like ``ValueSet/$expand``), with paging and a text filter on displays.

        Returns:
            A ValueSet resource whose ``expansion`` has ``total``, ``offset`` and ``contains``.

        Raises:
            TerminologyError: the value set is unknown, broken, or draws on a code system that is not
                available offline (or not completely).
        """
        if offset < 0 or (count is not None and count < 0):
            raise TerminologyError(f"Cannot expand '{value_set}': offset and count must not be negative.")
        vs = self._value_set(value_set)
        if vs is None:
            raise TerminologyError(
                f"Cannot expand value set '{value_set}': it is not in the loaded packages."
            )
        entries = vs.entries()
        if filter:
            words = filter.casefold().split()
            entries = [e for e in entries if all(w in (e.display or "").casefold() for w in words)]
        page = entries[offset:] if count is None else entries[offset : offset + count]
        params: list[dict[str, Any]] = [{"name": "offset", "valueInteger": offset}]
        if count is not None:
            params.append({"name": "count", "valueInteger": count})
        if filter:
            params.append({"name": "filter", "valueString": filter})
        params.extend(
            {"name": "used-codesystem", "valueUri": d}
            for d in vs.dependencies
            if d != vs.key and self._is_code_system_key(d)
        )
        out: dict[str, Any] = {"resourceType": "ValueSet"}
        for k in ("id", "url", "version", "name", "title", "status"):
            if k in vs.resource:
                out[k] = vs.resource[k]
        out["expansion"] = {
            "identifier": f"urn:uuid:{uuid.uuid4()}",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total": len(entries),
            "offset": offset,
            "parameter": params,
            "contains": [contains_item(e) for e in page],
        }
        return out

    def lookup(self, system: str, code: str, *, version: str | None = None) -> dict[str, Any] | None:
        """Details of a code (like ``CodeSystem/$lookup``), or None when the code is not in the system.

        Returns:
            ``name``, ``version``, ``display``, ``definition``, ``abstract``, ``inactive``,
            ``designation`` (``language``, ``use``, ``value``) and ``property`` (``code``, ``value``;
            ``parent`` and ``child`` included).

        Raises:
            TerminologyError: the code system is not available offline, so the code cannot be looked up.
        """
        src, unusable = self.source(system, version)
        if isinstance(src, CodeSystemIndex) and unusable is None and src.has_content:
            concept = src.find(code)
            if concept is None:
                return None
            props = [{"code": p, "value": v} for p, v in concept.properties]
            props += [{"code": "parent", "value": p} for p in concept.parents]
            props += [{"code": "child", "value": c} for c in concept.children]
            return {
                "name": src.name,
                "version": src.version,
                "code": concept.code,
                "display": concept.display,
                "definition": concept.definition,
                "abstract": concept.abstract,
                "inactive": concept.inactive,
                "designation": [
                    {k: d[k] for k in ("language", "use", "value") if k in d} for d in concept.designations
                ],
                "property": props,
            }
        if isinstance(src, ExternalSystem) and src.checker is not None and unusable is None:
            verdict = src.checker(code)
            if verdict.valid is False:
                return None
            if verdict.valid is True:
                return {
                    "name": src.name,
                    "version": None,
                    "code": code,
                    "display": None,
                    "definition": None,
                    "abstract": False,
                    "inactive": False,
                    "designation": [],
                    "property": [],
                }
            raise TerminologyError(f"Cannot look up '{code}' in {src.name}: {verdict.message}")
        why = unusable or unavailable_reason(src)
        raise TerminologyError(f"Cannot look up '{code}' in '{system}': {why}.")

    def versions_used(self, value_set: str) -> tuple[str, ...]:
        """``url|version`` of the value set and of every value set and code system it draws on."""
        vs = self._value_set(value_set)
        return vs.dependencies if vs is not None else ()

    # ================================================================ loader protocol

    def source(self, system: str, version: str | None) -> tuple[Source, str | None]:
        """The content for a code system (index or external description) and, if unusable, why."""
        key = (system, version)
        cached = self._sources.get(key)
        if cached is not None:
            return cached
        result: tuple[Source, str | None]
        resource = self._resolver.resolve(f"{system}|{version}" if version else system, "CodeSystem")
        if resource is not None:
            index = self._index(resource)
            if not index.has_content and system in KNOWN_EXTERNAL:
                result = (KNOWN_EXTERNAL[system], None)
            elif index.content == "supplement":
                result = (index, f"{index.key} is a supplement, not the code system itself")
            else:
                result = (index, None)
        else:
            other = self._resolver.resolve(system, "CodeSystem") if version else None
            if other is not None:
                index = self._index(other)
                result = (
                    index,
                    f"version '{version}' of the code system {system} is not available offline "
                    f"(the loaded version is '{index.version or 'unversioned'}')",
                )
            else:
                result = (external_system(system), None)
        self._sources[key] = result
        return result

    def compiled(self, canonical: str, stack: tuple[str, ...]) -> CompiledValueSet | None:
        """The compiled value set with this canonical, or None when not found.

        Raises:
            TerminologyError: the value set (or one it includes) cannot be used.
        """
        cached = self._value_sets.get(canonical, False)
        if cached is not False:
            if isinstance(cached, TerminologyError):
                raise cached
            return cached if isinstance(cached, CompiledValueSet) else None
        resource = self._resolver.resolve(canonical, "ValueSet") or self._implicit(canonical)
        if resource is None:
            self._value_sets[canonical] = None
            return None
        try:
            vs = CompiledValueSet(resource, self, stack)
        except TerminologyError as exc:
            self._value_sets[canonical] = exc
            raise
        self._value_sets[canonical] = vs
        return vs

    # ================================================================ internals

    def _index(self, resource: Mapping[str, Any]) -> CodeSystemIndex:
        key = (str(resource.get("url")), resource.get("version"))
        index = self._indexes.get(key)
        if index is None:
            index = CodeSystemIndex(resource)
            self._indexes[key] = index
        return index

    def _is_code_system_key(self, key: str) -> bool:
        url, _, version = key.partition("|")
        return (url, version or None) in self._indexes

    def _value_set(self, canonical: str) -> CompiledValueSet | None:
        return self.compiled(canonical, ())

    def _implicit(self, canonical: str) -> dict[str, Any] | None:
        url, _, version = canonical.partition("|")
        include: dict[str, Any]
        if "?fhir_vs" in url:
            base, _, query = url.partition("?fhir_vs")
            include = {"system": base}
            if query.startswith("=isa/"):
                include["filter"] = [{"property": "concept", "op": "is-a", "value": query[5:]}]
            elif query.startswith("=refset/"):
                include["filter"] = [{"property": "refset", "op": "=", "value": query[8:]}]
            elif query:
                return None
        elif url == f"{LOINC}/vs" or url.startswith(f"{LOINC}/vs/"):
            include = {"system": LOINC}
            if url != f"{LOINC}/vs":
                include["filter"] = [{"property": "LIST", "op": "=", "value": url.rsplit("/", 1)[1]}]
        else:
            cs = self._code_system_value_sets().get(url)
            if cs is None or (version and not version_matches(version, cs.get("version"))):
                return None
            include = {"system": cs["url"]}
            if cs.get("version"):
                include["version"] = cs["version"]
        return {"resourceType": "ValueSet", "url": url, "status": "active", "compose": {"include": [include]}}

    def _code_system_value_sets(self) -> Mapping[str, Mapping[str, Any]]:
        if self._cs_value_sets is None:
            found: dict[str, Mapping[str, Any]] = {}
            for cs in self._resolver.iter_resources("CodeSystem"):
                vs = cs.get("valueSet")
                if isinstance(vs, str):
                    found.setdefault(vs.partition("|")[0], cs)
            self._cs_value_sets = found
        return self._cs_value_sets

    def _existence(self, system: str, code: str, version: str | None) -> _Existence:
        src, unusable = self.source(system, version)
        if unusable is not None:
            return _Existence(
                None,
                f"The code '{code}' from '{system}' cannot be checked offline: {unusable}.",
                None,
                src,
                blocking=version is not None,
            )
        if isinstance(src, CodeSystemIndex) and src.has_content:
            concept = src.find(code)
            if concept is not None:
                return _Existence(True, "", concept, src)
            if src.complete:
                return _Existence(
                    False,
                    f"Unknown code '{code}' in the code system '{system}' (version '{src.version}')."
                    if src.version
                    else f"Unknown code '{code}' in the code system '{system}'.",
                    None,
                    src,
                )
            return _Existence(
                None,
                f"The code '{code}' is not in the shipped part of the code system "
                f"{src.key} (content = '{src.content}'), so it cannot be checked "
                "offline.",
                None,
                src,
            )
        if isinstance(src, ExternalSystem) and src.checker is not None:
            verdict = src.checker(code)
            if verdict.valid is False:
                return _Existence(False, f"Invalid code in {src.name}: {verdict.message}", None, src)
            return _Existence(verdict.valid, verdict.message, None, src)
        return _Existence(
            None,
            f"The code '{code}' from '{system}' cannot be checked offline: {unavailable_reason(src)}.",
            None,
            src,
        )

    def _check_in_system(self, system: str, code: str, display: str | None, version: str | None) -> CodeCheck:
        ex = self._existence(system, code, version)
        if ex.state is False:
            return CodeCheck(False, ex.message, IssueCode.CODE_INVALID, versions=ex.versions, system=system)
        if ex.state is None:
            return CodeCheck(None, ex.message, IssueCode.NOT_SUPPORTED, versions=ex.versions, system=system)
        issue, preferred = display_issue(display, system, code, ex.concept, None)
        message = ex.message or f"The code '{code}' is a code of {source_label(ex.source)}."
        return CodeCheck(
            True,
            message,
            IssueCode.INFORMATIONAL,
            issue,
            ex.versions,
            system,
            preferred,
            concept_warnings(system, code, ex.concept, ex.source),
        )

    def _validate_code(
        self,
        value_set: str,
        system: str | None,
        code: str,
        display: str | None,
        version: str | None,
        abstract_ok: bool,
    ) -> CodeCheck:
        what = f"'{system}#{code}'" if system else f"'{code}'"
        try:
            vs = self._value_set(value_set)
        except TerminologyError as exc:
            return CodeCheck(
                None,
                f"The value set '{value_set}' cannot be used, so {what} cannot be checked against it: {exc}",
                IssueCode.NOT_SUPPORTED,
                system=system,
            )
        if vs is None:
            return CodeCheck(
                None,
                f"The value set '{value_set}' was not found in the loaded packages, so "
                f"{what} cannot be checked against it.",
                IssueCode.NOT_FOUND,
                system=system,
            )
        if not code:
            return CodeCheck(
                False,
                f"An empty code cannot be in the value set {vs.label}.",
                IssueCode.CODE_INVALID,
                versions=vs.dependencies,
                system=system,
            )
        versions = vs.dependencies
        existence: _Existence | None = None
        if system is not None and version is not None:
            # The coding names its code system version: that version decides whether the code exists.
            existence = self._existence(system, code, version)
            versions = tuple(dict.fromkeys((*versions, *existence.versions)))
            if existence.state is False or existence.blocking:
                return self._unknown_code(existence, vs, versions, system)
        try:
            m = vs.member(system, code)
        except TerminologyError as exc:
            return CodeCheck(
                None,
                f"{what} cannot be checked against the value set {vs.label}: {exc}",
                IssueCode.NOT_SUPPORTED,
                versions=versions,
                system=system,
            )
        if m.state is not True and system is not None and existence is None:
            # Not (surely) in the value set: say so plainly if the code does not even exist.
            existence = self._existence(system, code, None)
            if existence.state is False:
                versions = tuple(dict.fromkeys((*versions, *existence.versions)))
                return self._unknown_code(existence, vs, versions, system)
        if m.state is None:
            return CodeCheck(
                None,
                f"Whether the code {what} is in the value set {vs.label} cannot be "
                f"checked offline: {m.reason}.",
                IssueCode.NOT_SUPPORTED,
                versions=versions,
                system=system,
            )
        if m.state is False:
            return CodeCheck(
                False,
                f"The code {what} is not in the value set {vs.label}: {m.reason}.",
                IssueCode.CODE_INVALID,
                versions=versions,
                system=system,
            )
        found_system = m.system or system or ""
        if m.concept is None and existence is None and system is not None:
            existence = self._existence(system, code, None)
        concept = m.concept or (existence.concept if existence else None)
        what = f"'{found_system}#{code}'"
        if concept is not None and concept.abstract and not abstract_ok:
            return CodeCheck(
                False,
                f"The code {what} is abstract (not selectable): it groups other codes of "
                f"the value set {vs.label} and cannot itself be used.",
                IssueCode.CODE_INVALID,
                versions=versions,
                system=found_system,
            )
        issue, preferred = display_issue(display, found_system, code, concept, m.listed)
        source = m.source or (existence.source if existence else None)
        warnings = concept_warnings(found_system, code, concept, source)
        if existence is not None and existence.state is None and existence.message:
            warnings = (*warnings, existence.message)
        return CodeCheck(
            True,
            f"The code {what} is in the value set {vs.label}.",
            IssueCode.INFORMATIONAL,
            issue,
            versions,
            found_system,
            preferred,
            warnings,
        )

    @staticmethod
    def _unknown_code(
        existence: _Existence, vs: CompiledValueSet, versions: tuple[str, ...], system: str
    ) -> CodeCheck:
        if existence.state is False:
            return CodeCheck(
                False,
                f"{existence.message} It cannot be in the value set {vs.label}.",
                IssueCode.CODE_INVALID,
                versions=versions,
                system=system,
            )
        return CodeCheck(None, existence.message, IssueCode.NOT_SUPPORTED, versions=versions, system=system)
