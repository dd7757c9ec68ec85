"""Merging a differential element onto the element it constrains (the FHIR "Profiling" rules)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from testbed.core.errors import ProfileError
from testbed.fhir._snapshot_tree import CORE_SD, clone

FHIR_TYPE_EXT = CORE_SD + "structuredefinition-fhir-type"
BINDABLE = frozenset("code Coding CodeableConcept Quantity uri string CodeableReference".split())
_TEXT_FIELDS = ("short", "definition", "comment", "label", "requirements")
_REPLACED_FIELDS = tuple(
    "mustSupport maxLength meaningWhenMissing orderMeaning isModifierReason sliceIsConstraining "
    "representation contentReference".split()
)
_RULES_STRICTNESS = {"open": 0, "openAtEnd": 1, "closed": 2}
_CHOICE_FIELDS = ("fixed", "pattern", "minValue", "maxValue", "defaultValue")
_HANDLED = (
    frozenset(
        "id path sliceName base slicing min max type binding constraint condition alias mapping example code "
        "extension isModifier isSummary".split()
    )
    | set(_TEXT_FIELDS)
    | set(_REPLACED_FIELDS)
)

Lineage = Callable[[str], "set[str] | None"]
"""Canonical URLs (without version) a StructureDefinition derives from, itself and its type included."""


def type_code(t: dict[str, Any]) -> str:
    """The FHIR type of a type entry (``uri`` for ``System.String`` carrying the fhir-type extension)."""
    code = str(t.get("code") or "")
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension") or []:
            if ext.get("url") == FHIR_TYPE_EXT and ext.get("valueUrl"):
                return str(ext["valueUrl"])
    return code


def choice_suffix(code: str) -> str:
    """The suffix a type gives a renamed choice element (``valueQuantity``, ``valueString``)."""
    return code[:1].upper() + code[1:]


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


def _choice_key(ed: dict[str, Any], prefix: str) -> list[str]:
    return [k for k in ed if k.startswith(prefix) and k[len(prefix) : len(prefix) + 1].isupper()]


def _max_value(m: Any) -> float:
    return float("inf") if m == "*" else float(int(m))


class Merger:
    """Applies differential elements to snapshot elements, checking what a profile may not do."""

    def __init__(self, profile_url: str, lineage: Lineage, is_resource: Callable[[str], bool]) -> None:
        self.profile_url = profile_url
        self._lineage = lineage
        self._is_resource = is_resource

    def fail(self, where: str, why: str) -> ProfileError:
        return ProfileError(f"Profile {self.profile_url}, element '{where}': {why}")

    def merge(
        self,
        dest: dict[str, Any],
        diff: dict[str, Any],
        where: str,
        *,
        is_slice: bool,
        is_extension: bool,
        template: dict[str, Any] | None,
    ) -> None:
        """Apply ``diff`` onto ``dest`` (modified in place).

        Raises:
            ProfileError: the differential loosens the base (cardinality, types, binding, isModifier).
        """
        if is_extension:
            dest["short"] = "Extension"
            dest["definition"] = "An Extension"
            for k in ("comment", "requirements", "alias", "mapping"):
                dest.pop(k, None)
        if template is not None:
            for k in ("short", "definition", "comment", "requirements", "alias", "mapping"):
                if k in template:
                    dest[k] = clone(template[k])
            # The profile's own invariants come first and win over the base's of the same key.
            first = [clone(c) for c in template.get("constraint") or []]
            keys = {c.get("key") for c in first}
            rest = [c for c in dest.get("constraint") or [] if c.get("key") not in keys]
            if first or rest:
                dest["constraint"] = first + rest
        self._text(dest, diff)
        self._cardinality(dest, diff, where, is_slice)
        if "type" in diff:
            self._types(dest, diff["type"], where)
        self._choices(dest, diff)
        for k in _REPLACED_FIELDS:
            if k in diff:
                dest[k] = clone(diff[k])
        self._modifier(dest, diff, where, is_extension)
        if "isSummary" in diff:
            dest["isSummary"] = diff["isSummary"]
        if "binding" in diff:
            self._binding(dest, diff["binding"], where)
        self._lists(dest, diff, where)
        if "type" in diff and "binding" in dest and not any(type_code(t) in BINDABLE for t in dest["type"]):
            del dest["binding"]
        for k, v in diff.items():
            if k not in _HANDLED and not any(k.startswith(p) for p in _CHOICE_FIELDS):
                dest[k] = clone(v)

    # ------------------------------------------------------------------ fields

    @staticmethod
    def _text(dest: dict[str, Any], diff: dict[str, Any]) -> None:
        for k in _TEXT_FIELDS:
            v = diff.get(k)
            if isinstance(v, str):
                dest[k] = f"{dest.get(k, '')}\r\n{v[3:]}" if v.startswith("...") and k in dest else v

    def _cardinality(self, dest: dict[str, Any], diff: dict[str, Any], where: str, is_slice: bool) -> None:
        if "min" in diff:
            new_min = diff["min"]
            if not isinstance(new_min, int) or new_min < 0:
                raise self.fail(where, f"min {new_min!r} is not a non-negative integer")
            if not is_slice and new_min < int(dest.get("min", 0)):
                raise self.fail(where, f"min {new_min} is less than the base min {dest.get('min')}")
            dest["min"] = new_min
        if "max" in diff:
            new_max = diff["max"]
            if not isinstance(new_max, str) or not (new_max == "*" or new_max.isdigit()):
                raise self.fail(where, f"max {new_max!r} is neither '*' nor a non-negative integer")
            base_max = dest.get("max", "*")
            if _max_value(new_max) > _max_value(base_max):
                raise self.fail(where, f"max {new_max} is greater than the base max {base_max}")
            dest["max"] = new_max
        if "max" in dest and int(dest.get("min", 0)) > _max_value(dest["max"]):
            raise self.fail(where, f"min {dest.get('min')} is greater than max {dest['max']}")

    def _types(self, dest: dict[str, Any], new_types: Any, where: str) -> None:
        if not isinstance(new_types, list) or not new_types:
            raise self.fail(where, "type must be a non-empty list")
        base_types = dest.get("type") or []
        if base_types and new_types == base_types:
            return
        for t in new_types:
            code = type_code(t) if isinstance(t, dict) else ""
            if not code:
                raise self.fail(where, "a type has no code")
            if not base_types:
                continue
            match = self._matching_base_type(code, base_types)
            if match is None:
                allowed = ", ".join(type_code(b) for b in base_types)
                raise self.fail(where, f"type {code} is not allowed by the base (allowed: {allowed})")
            self._check_canonicals(t, match, "profile", where)
            if code in ("Reference", "canonical"):
                self._check_canonicals(t, match, "targetProfile", where)
        dest["type"] = clone(new_types)

    def _matching_base_type(self, code: str, base_types: list[dict[str, Any]]) -> dict[str, Any] | None:
        for b in base_types:
            bcode = type_code(b)
            if code in (bcode, b.get("code")) or bcode in ("Element", "*"):
                return b
            if bcode in ("Resource", "DomainResource") and self._is_resource(code):
                return b
        return None

    def _check_canonicals(self, t: dict[str, Any], base: dict[str, Any], key: str, where: str) -> None:
        allowed = {_strip_version(u) for u in base.get(key) or []}
        if not allowed or {CORE_SD + "Resource", CORE_SD + "DomainResource"} & allowed:
            return
        for url in t.get(key) or []:
            lineage = self._lineage(_strip_version(str(url)))
            if lineage is not None and not lineage & allowed:
                raise self.fail(
                    where, f"{key} {url} is not allowed by the base (allowed: {', '.join(sorted(allowed))})"
                )

    @staticmethod
    def _choices(dest: dict[str, Any], diff: dict[str, Any]) -> None:
        for prefix in _CHOICE_FIELDS:
            keys = _choice_key(diff, prefix)
            if keys:
                for old in _choice_key(dest, prefix):
                    del dest[old]
                for k in keys:
                    dest[k] = clone(diff[k])

    def _modifier(self, dest: dict[str, Any], diff: dict[str, Any], where: str, is_extension: bool) -> None:
        if "isModifier" not in diff:
            return
        if not is_extension and bool(diff["isModifier"]) != bool(dest.get("isModifier", False)):
            raise self.fail(where, "a profile cannot change isModifier (only extensions can be modifiers)")
        dest["isModifier"] = diff["isModifier"]

    def _binding(self, dest: dict[str, Any], binding: Any, where: str) -> None:
        if not isinstance(binding, dict):
            raise self.fail(where, "binding is not an object")
        old = dest.get("binding") or {}
        new = clone(binding)
        for k in ("strength", "valueSet"):
            if k not in new and k in old:
                new[k] = clone(old[k])
        if old.get("strength") == "required" and new.get("strength") != "required":
            raise self.fail(where, f"a required binding cannot be relaxed to {new.get('strength')}")
        dest["binding"] = new

    def _lists(self, dest: dict[str, Any], diff: dict[str, Any], where: str) -> None:
        for k in ("alias", "condition", "example", "code", "mapping", "constraint", "extension"):
            if k in diff and not isinstance(diff[k], list):
                raise self.fail(where, f"{k} is not a list")
        for k in ("alias", "condition"):
            if k in diff:
                items = dest.setdefault(k, [])
                items.extend(v for v in diff[k] if v not in items)
        for k in ("example", "code"):
            if k in diff:
                items = dest.setdefault(k, [])
                items.extend(clone(v) for v in diff[k] if v not in items)
        if "mapping" in diff:
            maps = dest.setdefault("mapping", [])
            seen = {(m.get("identity"), m.get("map")) for m in maps}
            maps.extend(clone(m) for m in diff["mapping"] if (m.get("identity"), m.get("map")) not in seen)
        if "constraint" in diff:
            constraints = dest.setdefault("constraint", [])
            for c in diff["constraint"]:
                if c in constraints:
                    continue
                inv = clone(c)
                inv.setdefault("source", self.profile_url)
                constraints.append(inv)
        if "extension" in diff:
            urls = {e.get("url") for e in diff["extension"]}
            kept = [e for e in dest.get("extension") or [] if e.get("url") not in urls]
            dest["extension"] = kept + [clone(e) for e in diff["extension"]]


def merge_slicing(
    dest: dict[str, Any],
    base_slicing: dict[str, Any] | None,
    diff_slicing: dict[str, Any],
    fail: Callable[[str], ProfileError],
) -> None:
    """Set or refine ``dest['slicing']``: a base slicing may only be made stricter, never contradicted."""
    if not isinstance(diff_slicing, dict):
        raise fail("slicing is not an object")
    if not base_slicing:
        dest["slicing"] = clone(diff_slicing)
        return
    b_ord, d_ord = base_slicing.get("ordered"), diff_slicing.get("ordered")
    if b_ord is not None and d_ord is not None and b_ord != d_ord:
        raise fail(f"slicing ordered={d_ord} contradicts the base (ordered={b_ord})")
    b_disc = base_slicing.get("discriminator") or []
    d_disc = diff_slicing.get("discriminator") or []
    key = [(d.get("type"), d.get("path")) for d in d_disc]
    if b_disc and d_disc and key[: len(b_disc)] != [(d.get("type"), d.get("path")) for d in b_disc]:
        raise fail("slicing discriminators do not match the base slicing")
    b_rules, d_rules = base_slicing.get("rules"), diff_slicing.get("rules")
    if b_rules and d_rules and _RULES_STRICTNESS.get(d_rules, 0) < _RULES_STRICTNESS.get(b_rules, 0):
        raise fail(f"slicing rules '{d_rules}' loosen the base rules '{b_rules}'")
    out = dest.setdefault("slicing", clone(base_slicing))
    if d_ord is not None:
        out["ordered"] = d_ord
    if d_rules:
        out["rules"] = d_rules
    if "description" in diff_slicing:
        out["description"] = diff_slicing["description"]
    have = {(d.get("type"), d.get("path")) for d in out.get("discriminator") or []}
    for d in d_disc:
        if (d.get("type"), d.get("path")) not in have:
            out.setdefault("discriminator", []).append(clone(d))
