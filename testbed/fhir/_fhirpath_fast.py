"""A fast path for a subset of FHIRPath: the parse tree compiled to Python closures over FHIR JSON.

The general evaluator (fhirpathpy with :mod:`testbed.fhir._fhirpath_runtime`) costs 80-250 µs per
evaluation; profile invariants such as ``identifier.where(system='x').count() <= 1`` run for every
resource. :func:`compile_fast` turns an expression that lies wholly inside the subset below into a
:class:`FastExpression` giving the same result as the general evaluator, quirks included (e.g.
``where()`` keeps an item when the first result is truthy, ``|`` drops the type of FHIR items).

Subset: member navigation (choice types, ``_name`` siblings merged as the runtime does), ``$this``
inside operands and iterating functions, string/number/boolean/``{}`` literals, ``%resource``,
``%rootResource``, ``%context`` and the constant ``%`` names, indexers with a number literal,
``= != < <= > >= and or xor implies | in contains + - &``, ``is``/``as``, and the functions in
``_FUNCTIONS`` (string arguments must be literals or constants).

An expression outside the subset is not compiled (None). At run time a case whose outcome
the fast path does not reproduce exactly — an error, a date or Quantity comparison, a collection
where a single item is needed, input that is not plain JSON — raises :class:`Fallback`, and the
caller evaluates with the general evaluator instead (which also gives the error message).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from fhirpathpy import engine as fp_engine
from fhirpathpy.engine import util
from fhirpathpy.engine.evaluators import evaluators
from fhirpathpy.engine.invocations import invocation_registry, misc
from fhirpathpy.engine.nodes import TypeInfo

from testbed.fhir import _fhirpath_runtime as rt

__all__ = ["Fallback", "FastExpression", "compile_fast"]


class Fallback(Exception):  # noqa: N818 - a signal, not a failure
    """Evaluate this one with the general evaluator instead."""


class _Unsupported(Exception):  # noqa: N818 - a signal, not a failure
    """The expression is outside the subset."""


class _Node:
    """A FHIR item: what the runtime's ``ResourceNode(data, path, _data)`` holds."""

    __slots__ = ("data", "ext", "path")

    def __init__(self, data: Any, path: Any, ext: Any) -> None:
        self.data = data
        self.path = path
        self.ext = ext


Env = tuple[list[Any], Any, Any]  # (%context collection, %resource JSON, %rootResource JSON)
Fn = Callable[[list[Any], Env], list[Any]]
_Choices = dict[str, tuple[int, str, str, str]]
Walk = Callable[[list[Any], "list[Any] | None"], int]

_PLAIN = frozenset({str, int, float, bool, type(None), Decimal, list})
_DATE_TYPES = frozenset({"date", "dateTime", "instant", "time"})
# fhirpathpy compares dates as text and Quantities by their own rules: left to it
_UNCOMPARED = _DATE_TYPES | {"Quantity", "System.Quantity"}
_SYSTEM_PATH = re.compile(r"^System\.(.*)$")
_TRUE: list[Any] = [True]
_FALSE: list[Any] = [False]
_NONE: list[Any] = []
_REGISTRY: dict[str, Any] = {**invocation_registry, **rt.INVOCATION_TABLE}


def _node(value: Any, path: Any, ext: Any) -> _Node:
    """A node as the runtime makes it; anything but plain JSON is left to the general evaluator."""
    kind = type(value)
    if kind is dict:
        if "resourceType" in value:
            path = value["resourceType"]
            if type(path) is not str:
                raise Fallback
        return _Node(value, path, None)
    if kind not in _PLAIN:
        raise Fallback
    if ext is not None and type(ext) is not dict:
        if type(ext) not in _PLAIN:
            raise Fallback
        ext = None
    return _Node(value, path, ext)


def _add_nodes(out: list[Any], value: Any, ext: Any, path: str) -> None:
    """Append the items of one JSON property merged with its ``_name`` sibling (runtime ``_nodes``)."""
    if ext is None:  # the usual case, made quick
        if value is None:
            return
        if type(value) is list:
            for v in value:
                if v is not None:
                    out.append(_node(v, path, None))
            return
    if isinstance(value, list) or isinstance(ext, list):
        values = value if isinstance(value, list) else ([] if value is None else [value])
        exts = ext if isinstance(ext, list) else []
        if not exts:
            for v in values:
                if v is not None:
                    out.append(_node(v, path, None))
            return
        for i in range(max(len(values), len(exts))):
            v = values[i] if i < len(values) else None
            e = exts[i] if i < len(exts) else None
            if v is not None or e is not None:
                out.append(_node(v, path, e))
    elif value is not None or ext is not None:
        out.append(_node(value, path, ext))


def _count_nodes(value: Any, ext: Any) -> int:
    """How many items :func:`_add_nodes` would append."""
    if ext is None and not isinstance(value, list):
        return 0 if value is None else 1
    if isinstance(value, list) or isinstance(ext, list):
        values = value if isinstance(value, list) else ([] if value is None else [value])
        exts = ext if isinstance(ext, list) else []
        if not exts:
            return sum(v is not None for v in values)
        return sum(
            (i < len(values) and values[i] is not None) or (i < len(exts) and exts[i] is not None)
            for i in range(max(len(values), len(exts)))
        )
    return 0 if value is None and ext is None else 1


def _data(item: Any) -> Any:
    return item.data if type(item) is _Node else item


def _valued(coll: list[Any]) -> list[Any]:
    """Without primitives that have only extensions (the runtime's comparison operators skip them)."""
    for x in coll:
        if type(x) is _Node and x.data is None:
            return [y for y in coll if not (type(y) is _Node and y.data is None)]
    return coll


def _string(coll: list[Any]) -> str:
    """The single string in a collection (fhirpathpy's ``ensure_string_singleton``)."""
    if len(coll) == 1:
        value = _data(coll[0])
        if type(value) is str:
            return value
    raise Fallback


def _is_true(coll: list[Any]) -> bool:
    return len(coll) == 1 and _data(coll[0]) == True  # noqa: E712 - fhirpathpy's is_true (1 == True)


def _boolean(coll: list[Any]) -> bool | None:
    """An operand of ``and``/``or``/``xor``/``implies``: None when empty."""
    if not coll:
        return None
    if len(coll) == 1:
        value = _data(coll[0])
        if value is True or value is False:
            return value
    raise Fallback


def _type_info(item: Any) -> TypeInfo:
    if type(item) is not _Node:
        return TypeInfo.create_by_value_in_namespace(TypeInfo.System, item)
    path = item.path
    if type(path) is not str:
        raise Fallback
    match = _SYSTEM_PATH.match(path)
    if match:
        return TypeInfo(namespace=TypeInfo.System, name=match.group(1))
    return TypeInfo(namespace=TypeInfo.FHIR, name=path if "." not in path else "BackboneElement")


def _is(item: Any, spec: TypeInfo) -> bool:
    TypeInfo.model = rt.R4_MODEL  # type: ignore[assignment] # as the general evaluator sets it
    return bool(_type_info(item).is_(spec))


def _distinct(coll: list[Any]) -> list[Any]:
    """Without duplicates, as fhirpathpy's ``distinct_fn`` (where FHIR items lose their type)."""
    if all(type(x) is _Node for x in coll):
        return [_node(data, None, None) for data in util.uniq([x.data for x in coll])]
    if any(type(x) is _Node for x in coll):
        raise Fallback  # fhirpathpy then tells FHIR items apart by object identity
    result: list[Any] = util.uniq(coll)
    return result


# ------------------------------------------------------------------------------------------ navigation


def _plan(path: Any, key: str) -> str | _Choices:
    """The type of ``key`` under ``path``; for a choice element its types by JSON name.

    A choice's JSON names (with and without ``_``) give (rank, name, _name, type): of those present,
    the runtime uses the first in the model's order.
    """
    if path is not None:
        full = f"{path}.{key}"
        full = rt._ELSEWHERE.get(full, full)
        choices = rt._CHOICE_PATHS.get(full)
        if choices:
            plan = {}
            for rank, suffix in enumerate(choices):
                kind = rt._PATH_TO_TYPE.get(full + suffix) or rt._type_name(suffix)
                choice = (rank, key + suffix, "_" + key + suffix, kind)
                plan[key + suffix] = plan["_" + key + suffix] = choice
            return plan
    return rt._child_type(path, key)


def _choice(
    data: dict[str, Any], plan: dict[str, tuple[int, str, str, str]]
) -> tuple[int, str, str, str] | None:
    """The type of a choice element present in ``data`` that comes first."""
    found = None
    for name in data if len(data) < len(plan) else plan:
        if name in plan and name in data and (found is None or plan[name][0] < found[0]):
            found = plan[name]
    return found


def _walker(key: str) -> Walk:
    """Navigation to the children named ``key`` (the runtime's ``_member_invocation``).

    The walk appends the children of the focus to ``out``, or when ``out`` is None only counts them.
    """
    type_filter = key[:1].isupper()
    ukey = "_" + key
    plans: dict[Any, str | _Choices] = {}
    ext_type = "Extension" if key == "extension" else "System.String" if key == "id" else None

    def walk(focus: list[Any], out: list[Any] | None) -> int:
        n = 0
        for item in focus:
            if type(item) is not _Node:
                continue  # a literal or computed value: no children, not a FHIR type
            if type_filter and rt._is_type(item.path, key):
                n += 1
                if out is not None:
                    out.append(item)
                continue
            data = item.data
            if type(data) is dict:
                how = plans.get(item.path)
                if how is None:
                    how = plans[item.path] = _plan(item.path, key)
                if isinstance(how, str):
                    value, ext, kind = data.get(key), data.get(ukey), how
                else:
                    choice = _choice(data, how)
                    if choice is None:
                        continue
                    value, ext, kind = data.get(choice[1]), data.get(choice[2]), choice[3]
            elif item.ext is not None and ext_type is not None:
                value, ext, kind = item.ext.get(key), None, ext_type
            else:
                continue
            if out is None:
                n += _count_nodes(value, ext)
            else:
                _add_nodes(out, value, ext, kind)
        return n

    return walk


def _member(key: str) -> Fn:
    walk = _walker(key)

    def member(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        walk(focus, out)
        return out

    return member


def _children(coll: list[Any]) -> list[Any]:
    """The runtime's ``children()``."""
    out: list[Any] = []
    for item in coll:
        if type(item) is not _Node:
            continue
        data = item.data
        if type(data) is dict:
            path = item.path
            for key, value in data.items():
                if key == "resourceType" or key == "fhir_comments":
                    continue
                if key.startswith("_"):
                    if key[1:] in data:
                        continue
                    _add_nodes(out, None, value, rt._child_type(path, key[1:]))
                else:
                    _add_nodes(out, value, data.get("_" + key), rt._child_type(path, key))
        elif item.ext is not None:
            for key, value in item.ext.items():
                if key in ("id", "extension"):
                    _add_nodes(out, value, None, "Extension" if key == "extension" else "System.String")
    return out


def _descendants(coll: list[Any]) -> list[Any]:
    out: list[Any] = []
    level = _children(coll)
    while level:
        out.extend(level)
        level = _children(level)
    return out


def _extension(url: str) -> Fn:
    def extension(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        for item in focus:
            if type(item) is not _Node:
                continue
            holder = item.data if type(item.data) is dict else item.ext
            if holder is None:
                continue
            for ext in holder.get("extension") or ():
                if type(ext) is dict and ext.get("url") == url:
                    out.append(_node(ext, "Extension", None))
                elif type(ext) not in _PLAIN and isinstance(ext, Mapping):
                    raise Fallback
        return out

    return extension


# ------------------------------------------------------------------------------------------- operators

# the compiled literals (and unions of them) with their values
_CONSTANT: weakref.WeakKeyDictionary[Fn, list[Any]] = weakref.WeakKeyDictionary()


def _constant(value: list[Any]) -> Fn:
    def constant(focus: list[Any], env: Env) -> list[Any]:
        return value

    _CONSTANT[constant] = value
    return constant


def _equality(left: Fn, right: Fn, negate: bool) -> Fn:
    yes, no = (_FALSE, _TRUE) if negate else (_TRUE, _FALSE)

    def equal(focus: list[Any], env: Env) -> list[Any]:
        a, b = left(focus, env), right(focus, env)
        if len(a) != 1 or len(b) != 1:
            a, b = _valued(a), _valued(b)
            if not a or not b:
                return _NONE
            if len(a) != len(b):
                return no  # fhirpathpy compares the first items only when the sizes agree
        x, y = a[0], b[0]
        if type(x) is _Node:
            if x.data is None:
                return _NONE
            if x.path in _UNCOMPARED:
                raise Fallback
            x = x.data
        if type(y) is _Node:
            if y.data is None:
                return _NONE
            if y.path in _UNCOMPARED:
                raise Fallback
            y = y.data
        return yes if x == y else no

    return equal


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _comparable(coll: list[Any]) -> Any:
    if len(coll) > 1:
        raise Fallback
    item = coll[0]
    if type(item) is _Node:
        if item.path in _DATE_TYPES:
            raise Fallback
        item = item.data
    if type(item) is float:
        return Decimal(str(item))
    return item


def _comparison(op: str, left: Fn, right: Fn) -> Fn:
    compare = _COMPARE[op]

    def comparison(focus: list[Any], env: Env) -> list[Any]:
        a, b = _valued(left(focus, env)), _valued(right(focus, env))
        if not a or not b:
            return _NONE
        x, y = _comparable(a), _comparable(b)
        tx, ty = type(x), type(y)
        if not ((tx is str and ty is str) or (tx in (int, Decimal) and ty in (int, Decimal))):
            raise Fallback
        return _TRUE if compare(x, y) else _FALSE

    return comparison


_LOGIC: dict[str, Callable[[bool | None, bool | None], bool | None]] = {
    "and": lambda a, b: False if a is False or b is False else None if a is None or b is None else True,
    "or": lambda a, b: True if a is True or b is True else None if a is None or b is None else False,
    "xor": lambda a, b: None if a is None or b is None else a is not b,
    "implies": lambda a, b: True if a is False or b is True else None if a is None or b is None else b,
}
_ANSWER = {True: _TRUE, False: _FALSE, None: _NONE}


def _logic(op: str, left: Fn, right: Fn) -> Fn:
    combine = _LOGIC[op]

    def logic(focus: list[Any], env: Env) -> list[Any]:
        r = left(focus, env)
        a = True if r is _TRUE else False if r is _FALSE else _boolean(r)
        r = right(focus, env)
        b = True if r is _TRUE else False if r is _FALSE else _boolean(r)
        return _ANSWER[combine(a, b)]

    return logic


def _membership(op: str, left: Fn, right: Fn) -> Fn:
    def membership(focus: list[Any], env: Env) -> list[Any]:
        a, b = _valued(left(focus, env)), _valued(right(focus, env))
        if op == "in":
            coll, single = b, a
            if not a:
                return _NONE
            if not b:
                return _FALSE
        else:
            coll, single = a, b
            if not b:
                return _NONE
            if not a:
                return _FALSE
        if len(single) > 1:
            raise Fallback
        wanted = _data(single[0])
        return _TRUE if any(_data(x) == wanted for x in coll) else _FALSE

    return membership


def _union(left: Fn, right: Fn) -> Fn:
    if left in _CONSTANT and right in _CONSTANT:
        try:
            return _constant(_distinct(_CONSTANT[left] + _CONSTANT[right]))
        except Fallback:
            pass
    return lambda focus, env: _distinct(left(focus, env) + right(focus, env))


def _arithmetic(op: str, left: Fn, right: Fn) -> Fn:
    def arithmetic(focus: list[Any], env: Env) -> list[Any]:
        a, b = left(focus, env), right(focus, env)
        if op == "&":
            x, y = _concat_operand(a), _concat_operand(b)
            return [x + y]
        if not a or not b:
            return _NONE
        if len(a) != 1 or len(b) != 1:
            raise Fallback
        x, y = a[0], b[0]
        if type(x) in (int, Decimal) and type(y) in (int, Decimal):
            return [x + y if op == "+" else x - y]
        if op == "+" and type(x) is str and type(y) is str:
            return [x + y]
        raise Fallback

    return arithmetic


def _concat_operand(coll: list[Any]) -> str:
    return "" if not coll else _string(coll)


def _type_operator(op: str, left: Fn, spec: TypeInfo) -> Fn:
    def type_operator(focus: list[Any], env: Env) -> list[Any]:
        coll = left(focus, env)
        if not coll:
            return _NONE
        if len(coll) > 1:
            raise Fallback
        if op == "is":
            return _TRUE if _is(coll[0], spec) else _FALSE
        return coll if _is(coll[0], spec) else _NONE

    return type_operator


# ------------------------------------------------------------------------------------------- functions


def _fn_where(cond: Fn) -> Fn:
    def where(focus: list[Any], env: Env) -> list[Any]:
        out = []
        for x in focus:
            r = cond([x], env)
            if r and r[0]:  # fhirpathpy keeps the item when the first result is truthy
                out.append(x)
        return out

    return where


def _fn_exists(cond: Fn | None) -> Fn:
    if cond is None:
        return lambda focus, env: _TRUE if focus else _FALSE
    where = _fn_where(cond)
    return lambda focus, env: _TRUE if where(focus, env) else _FALSE


def _fn_all(cond: Fn) -> Fn:
    def all_(focus: list[Any], env: Env) -> list[Any]:
        for x in focus:
            r = cond([x], env)
            if r is not _TRUE and not _is_true(r):
                return _FALSE
        return _TRUE

    return all_


def _fn_select(expr: Fn) -> Fn:
    def select(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        for x in focus:
            out.extend(expr([x], env))
        return out

    return select


def _fn_iif(cond: Fn, then: Fn, otherwise: Fn | None = None) -> Fn:
    def iif(focus: list[Any], env: Env) -> list[Any]:
        if _is_true(cond(focus, env)):
            return then(focus, env)
        return otherwise(focus, env) if otherwise is not None else _NONE

    return iif


def _fn_not(focus: list[Any], env: Env) -> list[Any]:
    if len(focus) != 1:
        return _NONE
    value = _data(focus[0])
    if value is True or value is False:
        return _FALSE if value else _TRUE
    return _FALSE  # a single non-boolean item counts as true


def _fn_has_value(focus: list[Any], env: Env) -> list[Any]:
    if len(focus) != 1:
        return _FALSE
    value = _data(focus[0])
    return _TRUE if value is not None and type(value) not in (dict, list) else _FALSE


def _fn_get_value(focus: list[Any], env: Env) -> list[Any]:
    return [_data(focus[0])] if _fn_has_value(focus, env) is _TRUE else _NONE


def _fn_to_integer(focus: list[Any], env: Env) -> list[Any]:
    if len(focus) != 1:
        return _NONE
    result: list[Any] = util.arraify(misc.to_integer(None, [_data(focus[0])]))
    return result


def _fn_is_distinct(focus: list[Any], env: Env) -> list[Any]:
    values = [x.data for x in focus if type(x) is _Node and type(x.data) is str]
    if len(values) == len(focus):  # strings: their JSON text, which fhirpathpy compares, is as unique
        return _TRUE if len(set(values)) == len(values) else _FALSE
    return _TRUE if len(focus) == len(_distinct(focus)) else _FALSE


def _string_fn(apply: Callable[[str], Any]) -> Fn:
    """A string function: empty input gives empty, otherwise one string is needed."""

    def string_fn(focus: list[Any], env: Env) -> list[Any]:
        if not focus:
            return _NONE
        return [apply(_string(focus))]

    return string_fn


def _fn_matches(regex: str) -> Fn:
    if not regex:
        return lambda focus, env: _NONE
    try:
        pattern = re.compile(regex, re.DOTALL)
    except re.error:
        raise _Unsupported from None  # fhirpathpy reports the error when it evaluates the call
    return _string_fn(lambda s: pattern.search(s) is not None)


def _fn_starts_with(prefix: str, end: bool) -> Fn:
    if end:
        return _string_fn(lambda s: bool(s) and s.endswith(prefix))
    return _string_fn(lambda s: bool(s) and s.startswith(prefix))


def _fn_of_type(spec: TypeInfo) -> Fn:
    return lambda focus, env: [x for x in focus if _is(x, spec)]


def _fn_is(spec: TypeInfo) -> Fn:
    def is_(focus: list[Any], env: Env) -> list[Any]:
        if not focus:
            return _NONE
        if len(focus) > 1:
            raise Fallback
        return _TRUE if _is(focus[0], spec) else _FALSE

    return is_


def _simple(fn: Callable[[list[Any]], list[Any]]) -> Fn:
    return lambda focus, env: fn(focus)


# name -> (kinds of the arguments for each accepted arity, builder); kinds: E expression (iterating),
# S string constant, T type specifier.
_Builder = Callable[..., Fn]
_FUNCTIONS: dict[str, tuple[dict[int, str], _Builder]] = {
    "empty": ({0: ""}, lambda: lambda focus, env: _FALSE if focus else _TRUE),
    "exists": ({0: "", 1: "E"}, lambda cond=None: _fn_exists(cond)),
    "not": ({0: ""}, lambda: _fn_not),
    "count": ({0: ""}, lambda: lambda focus, env: [len(focus)]),
    "first": ({0: ""}, lambda: lambda focus, env: focus[:1]),
    "last": ({0: ""}, lambda: lambda focus, env: focus[-1:]),
    "tail": ({0: ""}, lambda: lambda focus, env: focus[1:]),
    "where": ({1: "E"}, _fn_where),
    "all": ({1: "E"}, _fn_all),
    "select": ({1: "E"}, _fn_select),
    "iif": ({2: "EE", 3: "EEE"}, _fn_iif),
    "trace": ({0: "", 1: "S"}, lambda label="": lambda focus, env: focus),
    "hasValue": ({0: ""}, lambda: _fn_has_value),
    "getValue": ({0: ""}, lambda: _fn_get_value),
    "extension": ({1: "S"}, _extension),
    "children": ({0: ""}, lambda: _simple(_children)),
    "descendants": ({0: ""}, lambda: _simple(_descendants)),
    "isDistinct": ({0: ""}, lambda: _fn_is_distinct),
    "distinct": ({0: ""}, lambda: _simple(_distinct)),
    "toInteger": ({0: ""}, lambda: _fn_to_integer),
    "matches": ({1: "S"}, _fn_matches),
    "startsWith": ({1: "S"}, lambda prefix: _fn_starts_with(prefix, end=False)),
    "endsWith": ({1: "S"}, lambda suffix: _fn_starts_with(suffix, end=True)),
    "contains": ({1: "S"}, lambda part: _string_fn(lambda s: part in s)),
    "length": ({0: ""}, lambda: _string_fn(len)),
    "upper": ({0: ""}, lambda: _string_fn(str.upper)),
    "lower": ({0: ""}, lambda: _string_fn(str.lower)),
    "ofType": ({1: "T"}, _fn_of_type),
    "as": ({1: "T"}, _fn_of_type),  # the runtime's as() filters, like ofType()
    "is": ({1: "T"}, _fn_is),
}


# -------------------------------------------------------------------------------------------- compiler


def _identifier(node: Mapping[str, Any]) -> str:
    return str(evaluators["Identifier"](None, None, node)[0])


def _only(node: Mapping[str, Any]) -> Mapping[str, Any]:
    children = node.get("children") or []
    if len(children) != 1:
        raise _Unsupported
    child: Mapping[str, Any] = children[0]
    return child


def _literal(node: Mapping[str, Any]) -> list[Any]:
    """The value of a literal term, computed by fhirpathpy's own literal evaluators."""
    term = _only(node)
    kind = term.get("type")
    if kind not in ("StringLiteral", "NumberLiteral", "BooleanLiteral", "NullLiteral"):
        raise _Unsupported
    value: list[Any] = evaluators[kind](None, None, term)
    return value


def _constant_value(node: Mapping[str, Any]) -> Any:
    """A string argument: a string literal or a constant ``%name``."""
    term = _only(node) if node.get("type") == "TermExpression" else node
    if term.get("type") == "LiteralTerm" and _only(term).get("type") == "StringLiteral":
        return _literal(term)[0]
    if term.get("type") == "ExternalConstantTerm":
        value = rt._Variables._constant(_constant_name(term))
        if value is not None:
            return value
    raise _Unsupported


def _constant_name(term: Mapping[str, Any]) -> str:
    return _identifier(_only(_only(term))).replace("`", "")


def _number_literal(node: Mapping[str, Any]) -> Any:
    """A (possibly negated) number literal, or raise."""
    if node.get("type") == "PolarityExpression":
        value = _number_literal(_only(node))
        return -value if node["terminalNodeText"][0] == "-" else value
    if node.get("type") == "TermExpression":
        term = _only(node)
        if term.get("type") == "LiteralTerm" and _only(term).get("type") == "NumberLiteral":
            return _literal(term)[0]
    raise _Unsupported


def _type_spec(node: Mapping[str, Any]) -> TypeInfo:
    if "text" not in node:
        raise _Unsupported
    try:
        spec: TypeInfo = fp_engine.type_specifier(None, None, node)
    except Exception:  # noqa: BLE001 - fhirpathpy raises a bare Exception for a malformed name
        raise _Unsupported from None
    return spec


def _compile(node: Mapping[str, Any], this_ok: bool) -> Fn:
    """Compile one parse-tree node; ``this_ok``: ``$this`` is defined here (as fhirpathpy sets it)."""
    kind = node.get("type")
    children: list[Mapping[str, Any]] = node.get("children") or []
    if kind in ("TermExpression", "InvocationTerm", "ParenthesizedTerm"):
        return _compile(_only(node), this_ok)
    if kind == "LiteralTerm":
        return _constant(_literal(node))
    if kind == "ThisInvocation":
        if not this_ok:
            raise _Unsupported  # fhirpathpy fails: $this is unset at the top level
        return lambda focus, env: focus
    if kind == "ExternalConstantTerm":
        return _external_constant(node)
    if kind == "MemberInvocation":
        return _member(_member_key(node))
    if kind == "FunctionInvocation":
        return _function(_only(node))
    if kind == "InvocationExpression" and len(children) == 2:
        counted = _counted_member(children[0], children[1], this_ok)
        if counted is not None:
            return counted
        first = _compile(children[0], this_ok)
        if children[1].get("type") not in ("MemberInvocation", "FunctionInvocation"):
            raise _Unsupported
        second = _compile(children[1], this_ok)
        return lambda focus, env: second(first(focus, env), env)
    if kind == "IndexerExpression" and len(children) == 2:
        coll = _compile(children[0], this_ok)
        index = int(_number_literal(children[1]))
        if index < 0:
            return lambda focus, env: coll(focus, env)[0:0]
        return lambda focus, env: coll(focus, env)[index : index + 1]
    if kind == "PolarityExpression":
        value = [_number_literal(node)]
        return lambda focus, env: value
    if kind == "TypeExpression" and len(children) == 2:
        op = node["terminalNodeText"][0]
        if op not in ("is", "as") or children[1].get("type") != "TypeSpecifier":
            raise _Unsupported
        return _type_operator(op, _compile(children[0], True), _type_spec(children[1]))
    if kind in _OPERATORS and len(children) == 2:
        op = node["terminalNodeText"][0]
        left, right = _compile(children[0], True), _compile(children[1], True)
        return _OPERATORS[kind](op, left, right)
    raise _Unsupported


def _member_key(node: Mapping[str, Any]) -> str:
    return _identifier(_only(node)).replace("`", "")


_COUNTING: dict[str, Callable[[int], list[Any]]] = {
    "exists": lambda n: _TRUE if n else _FALSE,
    "empty": lambda n: _FALSE if n else _TRUE,
    "count": lambda n: [n],
}


def _counted_member(target: Mapping[str, Any], call: Mapping[str, Any], this_ok: bool) -> Fn | None:
    """``….name.exists()``, ``empty()`` or ``count()`` counted without making the items."""
    if call.get("type") != "FunctionInvocation":
        return None
    functn = _only(call)
    name = _identifier(functn["children"][0])
    if name not in _COUNTING or len(functn["children"]) != 1:
        return None
    answer = _COUNTING[name]
    if target.get("type") == "InvocationExpression" and len(target.get("children") or []) == 2:
        before, step = target["children"]
    elif target.get("type") == "TermExpression" and _only(target).get("type") == "InvocationTerm":
        before, step = None, _only(_only(target))
    else:
        return None
    if step.get("type") != "MemberInvocation":
        return None
    count = _walker(_member_key(step))
    if before is None:
        return lambda focus, env: answer(count(focus, None))
    prefix = _compile(before, this_ok)
    return lambda focus, env: answer(count(prefix(focus, env), None))


def _operator(build: Callable[[str, Fn, Fn], Fn], ops: tuple[str, ...]) -> Callable[[str, Fn, Fn], Fn]:
    def checked(op: str, left: Fn, right: Fn) -> Fn:
        if op not in ops:
            raise _Unsupported
        return build(op, left, right)

    return checked


_OPERATORS: dict[str, Callable[[str, Fn, Fn], Fn]] = {
    "EqualityExpression": _operator(lambda op, a, b: _equality(a, b, op == "!="), ("=", "!=")),
    "InequalityExpression": _operator(_comparison, ("<", "<=", ">", ">=")),
    "AndExpression": _operator(_logic, ("and",)),
    "OrExpression": _operator(_logic, ("or", "xor")),
    "XorExpression": _operator(_logic, ("xor",)),
    "ImpliesExpression": _operator(_logic, ("implies",)),
    "MembershipExpression": _operator(_membership, ("in", "contains")),
    "UnionExpression": _operator(lambda op, a, b: _union(a, b), ("|",)),
    "AdditiveExpression": _operator(_arithmetic, ("+", "-", "&")),
}


def _external_constant(node: Mapping[str, Any]) -> Fn:
    name = _constant_name(node)
    if name == "context":
        return lambda focus, env: env[0]
    if name == "resource":
        return lambda focus, env: [_node(env[1], None, None)] if env[1] is not None else _NONE
    if name == "rootResource":
        return lambda focus, env: [_node(env[2], None, None)] if env[2] is not None else _NONE
    value = rt._Variables._constant(name)
    if value is None:
        raise _Unsupported
    result = [value]
    return lambda focus, env: result


def _function(functn: Mapping[str, Any]) -> Fn:
    children = functn.get("children") or []
    name = _identifier(children[0])
    params: list[Mapping[str, Any]] = children[1].get("children") or [] if len(children) > 1 else []
    spec = _FUNCTIONS.get(name)
    if spec is None or name not in _REGISTRY:
        raise _Unsupported
    arities, build = spec
    kinds = arities.get(len(params))
    if kinds is None:
        raise _Unsupported  # fhirpathpy reports the wrong arity
    args: list[Any] = []
    for param, param_kind in zip(params, kinds, strict=True):
        if param_kind == "E":
            args.append(_compile(param, True))
        elif param_kind == "S":
            args.append(_constant_value(param))
        else:
            args.append(_type_spec(param))
    fn: Fn = build(*args)
    return fn


# ----------------------------------------------------------------------------------------------- public


class FastExpression:
    """A compiled expression of the subset.

    Attributes:
        uses_root: The expression reads ``%rootResource`` (the caller need not compute it otherwise).
    """

    __slots__ = ("_fn", "uses_root")

    def __init__(self, fn: Fn, uses_root: bool) -> None:
        self._fn = fn
        self.uses_root = uses_root

    def run(self, node: Any, type_name: str | None, extension: Any, resource: Any, root: Any) -> list[Any]:
        """Evaluate on one element, as ``FhirPathEngine.evaluate`` takes its arguments.

        Args:
            node: The element's JSON value.
            type_name: Its FHIR type (or backbone element path).
            extension: For a primitive, its ``_name`` sibling.
            resource: ``%resource``.
            root: ``%rootResource`` (only read when :attr:`uses_root`).

        Returns:
            The result items' values: JSON values, Python numbers/strings/booleans, None for a
            primitive that has only extensions.

        Raises:
            Fallback: Evaluate this one with the general evaluator.
        """
        start = [_node(node, type_name, extension)]
        items = self._fn(start, (start, resource, root))
        return [x.data if type(x) is _Node else x for x in items]


def compile_fast(ast: Mapping[str, Any]) -> FastExpression | None:
    """Compile a parse tree from ``rt.parse_expression``; None when it is outside the subset."""
    children = ast.get("children") or []
    if len(children) != 1:
        return None
    try:
        fn = _compile(children[0], False)
    except (_Unsupported, RecursionError):
        return None
    except (KeyError, IndexError, TypeError, ValueError):  # not a tree from the parser (a corrupt cache)
        return None
    return FastExpression(fn, _reads_root(ast))


def _reads_root(ast: Mapping[str, Any]) -> bool:
    stack = [ast]
    while stack:
        node = stack.pop()
        if node.get("type") == "ExternalConstantTerm" and _constant_name(node) == "rootResource":
            return True
        stack.extend(node.get("children") or [])
    return False
