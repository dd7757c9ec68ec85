"""Native Python versions of the hot R4 core invariants, keyed on their exact expression text.

Each function takes ``(node, ext, resource, root, key)`` — ``node`` the element's JSON value,
``ext`` its ``_name`` sibling, ``resource`` ``%resource``, ``root`` ``%rootResource`` — and
returns True/False, None for an empty result (FHIRPath's three-valued logic), or a
``ConstraintResult``. A profile that changes an expression's text does not match and falls back to
the general evaluator.

Where the R4 expression gives an empty result on content the rule clearly allows, the native version
follows the rule's intent, as the reference validator does (its string functions return false on
empty input), as the XPath twin of the expression says, and as later FHIR versions wrote it:
``ref-1``, ``bdl-8`` and the ``*-0`` name rules pass when there is no reference / fullUrl / name,
``ref-1`` accepts ``#`` inside a contained resource, ``per-1`` compares the boundaries of the two
dates (R5 ``lowBoundary() <= highBoundary()``) and ``rng-2`` compares quantities in the same unit.
``txt-1``/``txt-2`` share the expression ``htmlChecks()``; the native version checks the XHTML
structure for ``txt-1`` and the presence of content for ``txt-2``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from testbed.fhir._fhirpath_narrative import check_narrative
from testbed.fhir._fhirpath_result import ConstraintResult
from testbed.fhir._fhirpath_runtime import R4_MODEL

NativeOutcome = bool | None | ConstraintResult
NativeCheck = Callable[[Any, Any, Any, Any, str], NativeOutcome]

_UCUM = "http://unitsofmeasure.org"
_EMPTY: Mapping[str, Any] = {}


def _choice_keys(path: str) -> frozenset[str]:
    base = path.rsplit(".", 1)[1]
    keys = {base + t for t in R4_MODEL["choiceTypePaths"][path]}
    return frozenset(keys | {"_" + k for k in keys})


# Extension.value[x] allows every type Observation.value[x] (and its component) allows.
_VALUE_X = _choice_keys("Extension.value")
_CON_ABATEMENT = _choice_keys("Condition.abatement")


# FHIR JSON is parsed into dicts: isinstance(x, dict) is several times faster than the Mapping ABC.


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _nonempty(value: Any) -> bool:
    if value is None:
        return False
    if type(value) is list:
        for v in value:
            if v is not None:
                return True
        return False
    return True


def _exists(d: Mapping[str, Any], key: str) -> bool:
    return _nonempty(d.get(key)) or _nonempty(d.get("_" + key))


def _any_key(d: Mapping[str, Any], keys: frozenset[str]) -> bool:
    return any(k in keys and _nonempty(v) for k, v in d.items())


def _items(d: Mapping[str, Any], key: str) -> list[Any]:
    """The element's values as FHIRPath sees them: one per item, None for a value-less primitive."""
    value, ext = d.get(key), d.get("_" + key)
    if isinstance(value, list) or isinstance(ext, list):
        values = value if isinstance(value, list) else []
        exts = ext if isinstance(ext, list) else []
        n = max(len(values), len(exts))
        out = []
        for i in range(n):
            v = values[i] if i < len(values) else None
            if v is not None or (i < len(exts) and exts[i] is not None):
                out.append(v)
        return out
    if value is None and ext is None:
        return []
    return [value]


def _dicts(d: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = d.get(key)
    if value is None:
        return []
    if type(value) is list:
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def _eq(d: Mapping[str, Any], key: str, literal: Any) -> bool | None:
    """``key = literal``: None (empty) when the element is absent."""
    items = _items(d, key)
    if not items:
        return None
    return len(items) == 1 and items[0] == literal


def _or(*values: bool | None) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _and(*values: bool | None) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def _implies(a: bool | None, b: bool | None) -> bool | None:
    if a is False:
        return True
    if a is True:
        return b
    return True if b is True else None


def _coding_matches(concept: Any, system: str, codes: frozenset[str]) -> bool:
    """``concept.coding.where(system = S and code in codes).exists()`` (single-valued system/code)."""
    for coding in _dicts(_map(concept), "coding"):
        if _eq(coding, "system", system) is True:
            code = _items(coding, "code")
            if len(code) == 1 and code[0] in codes:
                return True
    return False


def _primitive(d: Mapping[str, Any], key: str) -> Any:
    items = _items(d, key)
    return items[0] if len(items) == 1 else None


# ----------------------------------------------------------------------------------------- base types


_NOT_CHILDREN = frozenset({"id", "_id", "resourceType", "fhir_comments"})


def ele_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``hasValue() or (children().count() > id.count())``."""
    if node is None:
        return isinstance(ext, dict) and _nonempty(ext.get("extension"))
    if type(node) is dict:
        for k, v in node.items():
            if v is not None and k not in _NOT_CHILDREN and (type(v) is not list or _nonempty(v)):
                return True
        return False
    if type(node) is list:
        return False
    return True


def ext_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``extension.exists() != value.exists()``."""
    d = _map(node)
    return _exists(d, "extension") != _any_key(d, _VALUE_X)


def dom_2(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``contained.contained.empty()``."""
    return not any(_exists(c, "contained") for c in _dicts(_map(node), "contained"))


def _strings(value: Any, out: set[str]) -> None:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if v.startswith("#"):
                out.add(v)
        elif isinstance(v, Mapping):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def dom_3(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """Every contained resource is referenced from the resource, or refers to its container with ``#``.

    A local reference is any string ``#id`` in the resource: the expression looks at
    ``Reference.reference`` and canonical/uri/url values, which are the only places such text occurs.
    """
    contained = _dicts(_map(node), "contained")
    if not contained:
        return True
    refs: set[str] = set()
    _strings(resource if isinstance(resource, Mapping) else node, refs)
    unmatched = []
    for c in contained:
        ident = _primitive(c, "id")
        if not isinstance(ident, str) or ("#" + ident) in refs:
            continue
        back: set[str] = set()
        _strings(c, back)
        if "#" not in back:
            unmatched.append(ident)
    if unmatched:
        return ConstraintResult(False, "contained resource(s) not referenced: " + ", ".join(unmatched))
    return True


def dom_4(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()``."""
    for c in _dicts(_map(node), "contained"):
        for meta in _dicts(c, "meta"):
            if _exists(meta, "versionId") or _exists(meta, "lastUpdated"):
                return False
    return True


def dom_5(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``contained.meta.security.empty()``."""
    return not any(_exists(m, "security") for c in _dicts(_map(node), "contained") for m in _dicts(c, "meta"))


def dom_6(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``text.`div`.exists()``."""
    return any(_exists(t, "div") for t in _dicts(_map(node), "text"))


def ref_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """A local reference (``#id``) points at a resource contained in ``%rootResource``."""
    ref = _primitive(_map(node), "reference")
    if not isinstance(ref, str) or not ref.startswith("#"):
        return True
    if ref == "#":
        return resource is not None and root is not None and resource is not root
    ids = {c.get("id") for c in _dicts(_map(root), "contained") if isinstance(c.get("id"), str)}
    return ref[1:] in ids


_DT = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@lru_cache(maxsize=4096)
def _bounds(text: str) -> tuple[datetime, datetime] | None:
    """Earliest and latest instant a FHIR date/dateTime/instant can mean (no zone: any zone)."""
    m = _DT.match(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, tz = m.groups()
    try:
        y = int(year)
        lo = datetime(y, int(month or 1), int(day or 1), tzinfo=UTC)
        if month is None:
            hi = datetime(y + 1, 1, 1, tzinfo=UTC)
        elif day is None:
            hi = datetime(y + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=UTC)
        else:
            hi = lo + timedelta(days=1)
        if hour is not None:
            lo = lo.replace(hour=int(hour), minute=int(minute))
            if second is not None:
                lo = lo.replace(second=int(second))
                if frac:
                    lo = lo.replace(microsecond=int(frac[:6].ljust(6, "0")))
                hi = lo + (timedelta(microseconds=1) if frac else timedelta(seconds=1))
            else:
                hi = lo + timedelta(minutes=1)
    except ValueError:
        return None
    if tz is not None or hour is None:
        if tz is None:
            return lo, hi
        offset = (
            timedelta(0)
            if tz == "Z"
            else (1 if tz[0] == "+" else -1) * timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
        )
        return lo - offset, hi - offset
    return lo - timedelta(hours=14), hi + timedelta(hours=12)


def per_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``start <= end``, comparing the earliest possible start with the latest possible end."""
    d = _map(node)
    start, end = _primitive(d, "start"), _primitive(d, "end")
    if start is None or end is None:
        return True
    if not isinstance(start, str) or not isinstance(end, str):
        return ConstraintResult(None, "Period.start/end are not dateTime strings")
    low, high = _bounds(start), _bounds(end)
    if low is None or high is None:
        return ConstraintResult(None, f"cannot compare Period.start '{start}' with end '{end}'")
    if low[0] < high[1]:
        return True
    return ConstraintResult(False, f"Period.start '{start}' is after Period.end '{end}'")


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    return Decimal(str(value))


def rng_2(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``low.empty() or high.empty() or (low <= high)``, for quantities in the same unit."""
    d = _map(node)
    if not _exists(d, "low") or not _exists(d, "high"):
        return True
    low, high = _map(d.get("low")), _map(d.get("high"))
    lv, hv = _number(_primitive(low, "value")), _number(_primitive(high, "value"))
    if lv is None or hv is None:
        return None
    same_unit = (_primitive(low, "system"), _primitive(low, "code")) == (
        _primitive(high, "system"),
        _primitive(high, "code"),
    )
    if not same_unit:
        return ConstraintResult(None, "cannot compare Range.low and Range.high given in different units")
    return lv <= hv


def _exists_or(*keys: str) -> NativeCheck:
    def check(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
        d = _map(node)
        return any(_exists(d, k) for k in keys)

    check.__doc__ = " or ".join(f"{k}.exists()" for k in keys)
    return check


def _empty_or_exists(empty: str, exists: str) -> NativeCheck:
    def check(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
        d = _map(node)
        return not _exists(d, empty) or _exists(d, exists)

    check.__doc__ = f"{empty}.empty() or {exists}.exists()"
    return check


def _empty_or_empty(a: str, b: str) -> NativeCheck:
    def check(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
        d = _map(node)
        return not _exists(d, a) or not _exists(d, b)

    check.__doc__ = f"{a}.empty() or {b}.empty()"
    return check


_NAME_RE = re.compile(r"[A-Z]([A-Za-z0-9_]){0,254}")


def name_0(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``name.matches('[A-Z]([A-Za-z0-9_]){0,254}')`` (no name: nothing to check, as its XPath says)."""
    name = _primitive(_map(node), "name")
    if name is None:
        return True
    return isinstance(name, str) and _NAME_RE.search(name) is not None


def sqty_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``comparator.empty()``."""
    return not _exists(_map(node), "comparator")


def _system_is_ucum(d: Mapping[str, Any]) -> bool | None:
    """``system.empty() or system = %ucum``."""
    return True if not _exists(d, "system") else _eq(d, "system", _UCUM)


def _value_positive(d: Mapping[str, Any]) -> bool | None:
    """``value.empty() or value.hasValue().not() or value > 0``."""
    items = _items(d, "value")
    if not items or len(items) != 1 or items[0] is None:
        return True
    number = _number(items[0])
    return None if number is None else number > 0


def age_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _and(_exists(d, "code") or not _exists(d, "value"), _system_is_ucum(d), _value_positive(d))


def cnt_3(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    code_is_1 = True if not _exists(d, "code") else _eq(d, "code", "1")
    items = _items(d, "value")
    if not items or len(items) != 1 or items[0] is None:
        integral: bool | None = True
    else:
        integral = "." not in str(items[0])
    return _and(_exists(d, "code") or not _exists(d, "value"), _system_is_ucum(d), code_is_1, integral)


def dis_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _and(_exists(d, "code") or not _exists(d, "value"), _system_is_ucum(d))


def drt_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _implies(_exists(d, "code"), _and(_eq(d, "system", _UCUM), _exists(d, "value")))


def rat_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    numerator = _exists(d, "numerator")
    return (numerator == _exists(d, "denominator")) and (numerator or _exists(d, "extension"))


def _non_negative(d: Mapping[str, Any], name: str) -> bool | None:
    """``name.exists() implies name >= 0``."""
    items = _items(d, name)
    if not items:
        return True
    if len(items) != 1 or items[0] is None:
        return None
    number = _number(items[0])
    return None if number is None else number >= 0


def tim_4(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    return _non_negative(_map(node), "duration")


def tim_5(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    return _non_negative(_map(node), "period")


def tim_9(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))``."""
    d = _map(node)
    if not _exists(d, "offset"):
        return True
    when = _items(d, "when")
    if not when:
        return False
    if len(when) > 1:
        return ConstraintResult(None, "tim-9 compares a single 'when'; this Timing has several")
    return when[0] not in ("C", "CM", "CD", "CV")


def txt_html(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``htmlChecks()``: structure for txt-1, content for txt-2, both for any other key."""
    if node is None:
        return None
    report = check_narrative(node)
    if key == "txt-2":
        if not report.parsed:
            return ConstraintResult(None, "cannot look for content: " + "; ".join(report.structure))
        problems = report.content
    elif key == "txt-1":
        problems = report.structure
    else:
        problems = report.structure + report.content
    if problems:
        return ConstraintResult(False, "; ".join(problems))
    return True


# ---------------------------------------------------------------------------------------- resources


def obs_6(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return not _exists(d, "dataAbsentReason") or not _any_key(d, _VALUE_X)


def obs_7(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()``."""
    d = _map(node)
    if not _any_key(d, _VALUE_X):
        return True
    codings = [c for code in _dicts(_map(resource), "code") for c in _dicts(code, "coding")]
    for component in _dicts(d, "component"):
        for code in _dicts(component, "code"):
            if any(c in codings for c in _dicts(code, "coding")):
                return False
    return True


_CON_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_CON_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_AIT_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_EIE = frozenset({"entered-in-error"})


def _status_coded(d: Mapping[str, Any], element: str, system: str, codes: frozenset[str]) -> bool:
    return any(_coding_matches(c, system, codes) for c in _dicts(d, element))


def con_3(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """As written: ``category.select($this='problem-list-item')`` compares a CodeableConcept with a string."""
    d = _map(node)
    return (
        _exists(d, "clinicalStatus")
        or _status_coded(d, "verificationStatus", _CON_VER, _EIE)
        or not _exists(d, "category")
    )


def con_4(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return not _any_key(d, _CON_ABATEMENT) or _status_coded(
        d, "clinicalStatus", _CON_CLIN, frozenset({"resolved", "remission", "inactive"})
    )


def con_5(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return not _status_coded(d, "verificationStatus", _CON_VER, _EIE) or not _exists(d, "clinicalStatus")


def ait_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _status_coded(d, "verificationStatus", _AIT_VER, _EIE) or _exists(d, "clinicalStatus")


def ait_2(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return not _status_coded(d, "verificationStatus", _AIT_VER, _EIE) or not _exists(d, "clinicalStatus")


def _ppc(code: str) -> NativeCheck:
    def check(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
        d = _map(node)
        return _exists(d, "patient") or not _status_coded(d, "scope", "something", frozenset({code}))

    return check


def org_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return len(_items(d, "identifier")) + len(_items(d, "name")) > 0


def org_home(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``where(use = 'home').empty()``."""
    return _eq(_map(node), "use", "home") is not True


def bdl_1(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _or(not _exists(d, "total"), _eq(d, "type", "searchset"), _eq(d, "type", "history"))


def bdl_2(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _or(not any(_exists(e, "search") for e in _dicts(d, "entry")), _eq(d, "type", "searchset"))


def _bdl_all(element: str, types: frozenset[str]) -> NativeCheck:
    def check(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
        entries = _dicts(_map(node), "entry")
        if not entries:
            return True
        own = _map(resource if isinstance(resource, Mapping) else node)
        type_items = _items(own, "type")
        if len(type_items) != 1:
            return False
        expected = type_items[0] in types
        return all(_exists(e, element) == expected for e in entries)

    return check


def bdl_5(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    return _exists(d, "resource") or _exists(d, "request") or _exists(d, "response")


def bdl_7(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """bdl-7: entries with a fullUrl are distinct by fullUrl and meta.versionId (unless a history)."""
    d = _map(node)
    keys = []
    for entry in _dicts(d, "entry"):
        if not _exists(entry, "fullUrl"):
            continue
        version = [
            v for r in _dicts(entry, "resource") for m in _dicts(r, "meta") for v in _items(m, "versionId")
        ]
        keys.append(f"{_primitive(entry, 'fullUrl') or ''}{version[0] if len(version) == 1 else ''}")
    distinct = len(keys) == len(set(keys))
    return _or(_eq(d, "type", "history"), distinct)


def bdl_8(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    """``fullUrl.contains('/_history/').not()`` (no fullUrl: nothing to check)."""
    full_url = _primitive(_map(node), "fullUrl")
    return not (isinstance(full_url, str) and "/_history/" in full_url)


def bdl_9(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    identifiers = _dicts(d, "identifier")
    has = any(_exists(i, "system") for i in identifiers) and any(_exists(i, "value") for i in identifiers)
    return _implies(_eq(d, "type", "document"), has)


def bdl_10(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
    d = _map(node)
    items = _items(d, "timestamp")
    return _implies(_eq(d, "type", "document"), len(items) == 1 and items[0] is not None)


def _first_resource_is(bundle_type: str, resource_type: str) -> NativeCheck:
    def check(node: Any, ext: Any, resource: Any, root: Any, key: str) -> NativeOutcome:
        d = _map(node)
        entries = d.get("entry")
        first = entries[0] if isinstance(entries, list) and entries else None
        target = _map(first).get("resource") if first is not None else None
        is_type: bool | None = None
        if isinstance(target, Mapping):
            is_type = target.get("resourceType") == resource_type
        return _implies(_eq(d, "type", bundle_type), is_type)

    return check


NATIVE_TABLE: tuple[tuple[str, NativeCheck], ...] = (
    ("hasValue() or (children().count() > id.count())", ele_1),
    ("extension.exists() != value.exists()", ext_1),
    ("contained.contained.empty()", dom_2),
    (
        "contained.where((('#'+id in (%resource.descendants().reference | "
        "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
        "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
        "descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = "
        "'#').exists()).not()).trace('unmatched', id).empty()",
        dom_3,
    ),
    ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", dom_4),
    ("contained.meta.security.empty()", dom_5),
    ("text.`div`.exists()", dom_6),
    (
        "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
        "%rootResource.contained.id.trace('ids'))",
        ref_1,
    ),
    ("start.hasValue().not() or end.hasValue().not() or (start <= end)", per_1),
    ("low.empty() or high.empty() or (low <= high)", rng_2),
    ("code.empty() or system.exists()", _empty_or_exists("code", "system")),
    ("value.empty() or system.exists()", _empty_or_exists("value", "system")),
    ("data.empty() or contentType.exists()", _empty_or_exists("data", "contentType")),
    ("comparator.empty()", sqty_1),
    ("name.matches('[A-Z]([A-Za-z0-9_]){0,254}')", name_0),
    (
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and (value.empty() or "
        "value.hasValue().not() or value > 0)",
        age_1,
    ),
    (
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and (code.empty() or "
        "code = '1') and (value.empty() or value.hasValue().not() or "
        "value.toString().contains('.').not())",
        cnt_3,
    ),
    ("(code.exists() or value.empty()) and (system.empty() or system = %ucum)", dis_1),
    ("code.exists() implies ((system = %ucum) and value.exists())", drt_1),
    ("(numerator.empty() xor denominator.exists()) and (numerator.exists() or extension.exists())", rat_1),
    ("duration.empty() or durationUnit.exists()", _empty_or_exists("duration", "durationUnit")),
    ("period.empty() or periodUnit.exists()", _empty_or_exists("period", "periodUnit")),
    ("duration.exists() implies duration >= 0", tim_4),
    ("period.exists() implies period >= 0", tim_5),
    ("periodMax.empty() or period.exists()", _empty_or_exists("periodMax", "period")),
    ("durationMax.empty() or duration.exists()", _empty_or_exists("durationMax", "duration")),
    ("countMax.empty() or count.exists()", _empty_or_exists("countMax", "count")),
    ("offset.empty() or (when.exists() and ((when in ('C' | 'CM' | 'CD' | 'CV')).not()))", tim_9),
    ("timeOfDay.empty() or when.empty()", _empty_or_empty("timeOfDay", "when")),
    ("htmlChecks()", txt_html),
    ("dataAbsentReason.empty() or value.empty()", obs_6),
    (
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
        obs_7,
    ),
    ("low.exists() or high.exists() or text.exists()", _exists_or("low", "high", "text")),
    (
        "name.exists() or telecom.exists() or address.exists() or organization.exists()",
        _exists_or("name", "telecom", "address", "organization"),
    ),
    ("summary.exists() or assessment.exists()", _exists_or("summary", "assessment")),
    ("code.exists() or detail.exists()", _exists_or("code", "detail")),
    (
        "clinicalStatus.exists() or "
        "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-stat"
        "us' "
        "and code = 'entered-in-error').exists() or category.select($this='problem-list-item').empty()",
        con_3,
    ),
    (
        "abatement.empty() or "
        "clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' "
        "and (code='resolved' or code='remission' or code='inactive')).exists()",
        con_4,
    ),
    (
        "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-stat"
        "us' "
        "and code='entered-in-error').empty() or clinicalStatus.empty()",
        con_5,
    ),
    (
        "verificationStatus.coding.where(system = "
        "'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = "
        "'entered-in-error').exists() or clinicalStatus.exists()",
        ait_1,
    ),
    (
        "verificationStatus.coding.where(system = "
        "'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = "
        "'entered-in-error').empty() or clinicalStatus.empty()",
        ait_2,
    ),
    ("policy.exists() or policyRule.exists()", _exists_or("policy", "policyRule")),
    (
        "patient.exists() or scope.coding.where(system='something' and "
        "code='patient-privacy').exists().not()",
        _ppc("patient-privacy"),
    ),
    (
        "patient.exists() or scope.coding.where(system='something' and code='research').exists().not()",
        _ppc("research"),
    ),
    (
        "patient.exists() or scope.coding.where(system='something' and code='adr').exists().not()",
        _ppc("adr"),
    ),
    (
        "patient.exists() or scope.coding.where(system='something' and code='treatment').exists().not()",
        _ppc("treatment"),
    ),
    ("(identifier.count() + name.count()) > 0", org_1),
    ("where(use = 'home').empty()", org_home),
    ("text.exists() or entry.exists() or section.exists()", _exists_or("text", "entry", "section")),
    ("emptyReason.empty() or entry.empty()", _empty_or_empty("emptyReason", "entry")),
    ("documentType.exists() or reference.exists()", _exists_or("documentType", "reference")),
    ("name.empty() or query.empty()", _empty_or_empty("name", "query")),
    ("total.empty() or (type = 'searchset') or (type = 'history')", bdl_1),
    ("entry.search.empty() or (type = 'searchset')", bdl_2),
    (
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
        "%resource.type = 'history'))",
        _bdl_all("request", frozenset({"batch", "transaction", "history"})),
    ),
    (
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
        "'transaction-response' or %resource.type = 'history'))",
        _bdl_all("response", frozenset({"batch-response", "transaction-response", "history"})),
    ),
    ("resource.exists() or request.exists() or response.exists()", bdl_5),
    (
        "(type = 'history') or "
        "entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
        bdl_7,
    ),
    ("fullUrl.contains('/_history/').not()", bdl_8),
    ("type = 'document' implies (identifier.system.exists() and identifier.value.exists())", bdl_9),
    ("type = 'document' implies (timestamp.hasValue())", bdl_10),
    (
        "type = 'document' implies entry.first().resource.is(Composition)",
        _first_resource_is("document", "Composition"),
    ),
    (
        "type = 'message' implies entry.first().resource.is(MessageHeader)",
        _first_resource_is("message", "MessageHeader"),
    ),
)

NATIVE: dict[str, NativeCheck] = dict(NATIVE_TABLE)
"""Native checks by exact expression text."""
