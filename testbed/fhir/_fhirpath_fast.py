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

Each sub-expression compiles to a :class:`_Code`: the function from a focus collection to the result
collection, and where it can, a form evaluated on one focus item that hands back a single result as a
bare value (a string member is its string, with no node or list made). Sub-expressions of literals
only are evaluated once, at compile time. ``and``/``or``/``implies`` skip their right operand only
when it is one fhirpathpy cannot fail on (it evaluates both operands and reports an error in either).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from operator import methodcaller
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
Val = Callable[[Any, Env], Any]  # one focus item (or one item's value) -> result list or bare value
_Choices = dict[str, tuple[int, str, str, str]]
Walk = Callable[[list[Any], "list[Any] | None"], int]

_PLAIN = frozenset({str, int, float, bool, type(None), Decimal, list})
# the values a one-item result may be handed back as, without its list (and node)
_SCALARS = frozenset({str, int, float, bool, Decimal})
_DATE_TYPES = frozenset({"date", "dateTime", "instant", "time"})
# fhirpathpy compares dates as text and Quantities by their own rules: left to it
_UNCOMPARED = _DATE_TYPES | {"Quantity", "System.Quantity"}
_SYSTEM_PATH = re.compile(r"^System\.(.*)$")
_TRUE: list[Any] = [True]
_FALSE: list[Any] = [False]
_NONE: list[Any] = []
_NO_ENV: Env = ([], None, None)
_REGISTRY: dict[str, Any] = {**invocation_registry, **rt.INVOCATION_TABLE}


class _Code:
    """One compiled sub-expression.

    Attributes:
        fn: ``fn(focus, env)``: the result collection.
        val: ``val(item, env)``, when given: ``fn([item], env)``, either as that list or, for a
            one-item result, as the item's value alone (of a type in ``_SCALARS``). That item is the
            value itself when ``raw``, else a ``_Node`` holding it, with no ``_name`` part and a type
            outside ``_UNCOMPARED``.
        scal: ``scal(value, env)``, when given: the same for a focus of one such item holding
            ``value`` (the answer must not depend on which of the two it is).
        raw: See ``val``.
        const: The result, when it does not depend on the focus or the environment.
        pure: The result depends on the focus only (a step that can be applied to a constant).
        total: fhirpathpy evaluates it without error on any input.
        boolean: The result is empty or one boolean.
        parts: The operands of a union.
        key: For a member (``name``), its name.
        equals: For ``name = literal``, the member and the literal's value.
        terms: For ``a and b and …`` (or ``or``), the operator and the operands.
        blank: For a step that does not read the environment when the focus is empty, its result then.
    """

    __slots__ = (
        "blank", "boolean", "const", "equals", "fn", "key", "parts", "pure", "raw", "scal", "terms", "total",
        "val",
    )  # fmt: skip

    def __init__(
        self,
        fn: Fn,
        val: Val | None = None,
        scal: Val | None = None,
        *,
        raw: bool = True,
        const: list[Any] | None = None,
        pure: bool = False,
        total: bool = False,
        boolean: bool = False,
    ) -> None:
        self.fn = fn
        self.val = val
        self.scal = scal
        self.raw = raw
        self.const = const
        self.pure = pure
        self.total = total
        self.boolean = boolean
        self.parts: tuple[_Code, ...] | None = None
        self.key: str | None = None
        self.equals: tuple[_Code, Any] | None = None
        self.terms: tuple[str, tuple[_Code, ...]] | None = None
        self.blank: list[Any] | None = None


def _val_of(fn: Fn) -> Val:
    return lambda item, env: fn([item], env)


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
                if type(v) is str or type(v) is dict and "resourceType" not in v:
                    out.append(_Node(v, path, None))
                elif v is not None:
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


def _truth(result: Any) -> bool | None:
    """:func:`_boolean` of a ``val`` result (a list or a bare value)."""
    if result is True or result is False:
        return bool(result)
    if result is _TRUE or result is _FALSE:
        return result is _TRUE
    if type(result) is list:
        return _boolean(result)
    raise Fallback  # one item that is not a boolean


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
    datas: list[Any] = []
    for x in coll:
        if type(x) is not _Node:
            if datas or any(type(y) is _Node for y in coll):
                raise Fallback  # fhirpathpy then tells FHIR items apart by object identity
            result: list[Any] = util.uniq(coll)
            return result
        datas.append(x.data)
    return _distinct_values(datas)


def _distinct_values(datas: list[Any]) -> list[Any]:
    """FHIR items holding these values, without duplicates and without their type."""
    for data in datas:
        if type(data) is not str:
            return [_node(data, None, None) for data in util.uniq(datas)]
    # strings: their JSON text, by which fhirpathpy tells them apart, is as unique
    out = []
    for data in dict.fromkeys(datas):
        out.append(_Node(data, None, None))
    return out


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


def _navigation(key: str) -> tuple[Walk, Val | None, Callable[[Any], int] | None]:
    """Navigation to the children named ``key`` (the runtime's ``_member_invocation``).

    Returns the walk, which appends the children of the focus to ``out`` (or when ``out`` is None
    only counts them), and for a key that is not a type name the ``val`` form on one item and the
    count of one item's children.
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

    if type_filter:
        return walk, None, None

    plain: dict[Any, str] = {}  # parent type -> the child's type, when not a choice and compared as is

    def one(item: Any, env: Env) -> Any:
        if type(item) is not _Node:
            return _NONE
        data = item.data
        if type(data) is not dict:
            if item.ext is None or ext_type is None:
                return _NONE
            out: list[Any] = []
            walk([item], out)
            return out
        path = item.path
        kind = plain.get(path)
        if kind is not None:
            value = data.get(key)
            if type(value) in _SCALARS and ukey not in data:
                return value  # stands for _Node(value, kind, None)
            ext = data.get(ukey)
        else:
            how = plans.get(path)
            if how is None:
                how = plans[path] = _plan(path, key)
            if isinstance(how, str):
                value, ext, kind = data.get(key), data.get(ukey), how
                if how not in _UNCOMPARED:
                    plain[path] = how
            else:
                choice = _choice(data, how)
                if choice is None:
                    return _NONE
                value, ext, kind = data.get(choice[1]), data.get(choice[2]), choice[3]
            if ext is None and type(value) in _SCALARS and kind not in _UNCOMPARED:
                return value
        if ext is None and value is None:
            return _NONE
        out = []
        _add_nodes(out, value, ext, kind)
        return out

    def count_one(item: Any) -> int:
        if type(item) is not _Node:
            return 0
        data = item.data
        if type(data) is not dict:
            return 0 if item.ext is None or ext_type is None else walk([item], None)
        how = plans.get(item.path)
        if how is None:
            how = plans[item.path] = _plan(item.path, key)
        if isinstance(how, str):
            value, ext = data.get(key), data.get(ukey)
        else:
            choice = _choice(data, how)
            if choice is None:
                return 0
            value, ext = data.get(choice[1]), data.get(choice[2])
        if ext is None and type(value) is not list:
            return 0 if value is None else 1
        return _count_nodes(value, ext)

    return walk, one, count_one


def _member(key: str) -> _Code:
    walk, one, _ = _navigation(key)

    def member(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        walk(focus, out)
        return out

    if one is None:
        return _Code(member, raw=False, pure=True)
    # a one-item focus holding a bare value: no children
    code = _Code(member, one, _none_val, raw=False, pure=True, total=True)
    code.key = key
    code.blank = _NONE
    return code


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


def _extension(url: str) -> _Code:
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

    return _Code(extension, _none_val_if_scalar(extension), _none_val)


def _none_val_if_scalar(fn: Fn) -> Val:
    """``val`` of a step that finds nothing in an item without children or ``_name`` part."""

    def one(item: Any, env: Env) -> Any:
        if type(item) is _Node and (type(item.data) is dict or item.ext is not None):
            return fn([item], env)
        return _NONE

    return one


# ------------------------------------------------------------------------------------------- constants


def _none_val(item: Any, env: Env) -> Any:
    return _NONE


def _true_val(item: Any, env: Env) -> Any:
    return True


def _false_val(item: Any, env: Env) -> Any:
    return False


def _one_val(item: Any, env: Env) -> Any:
    return 1


def _constant(value: list[Any]) -> _Code:
    def constant(focus: list[Any], env: Env) -> list[Any]:
        return value

    single = value[0] if len(value) == 1 and type(value[0]) in _SCALARS else None

    def val(item: Any, env: Env) -> Any:
        return value if single is None else single

    boolean = not value or (len(value) == 1 and type(value[0]) is bool)
    return _Code(constant, val, const=value, pure=True, total=True, boolean=boolean)


def _fold(code: _Code, *inputs: _Code) -> _Code:
    """The constant result of ``code`` when its inputs are constants, else ``code``."""
    if not all(x.const is not None for x in inputs):
        return code
    try:
        value = code.fn(_NONE, _NO_ENV)
    except Exception:  # noqa: BLE001 - left to run time, where it falls back as before
        return code
    return _constant(value)


# ------------------------------------------------------------------------------------------- operators


def _equal_lists(a: list[Any], b: list[Any], yes: list[Any], no: list[Any]) -> list[Any]:
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


def _equality(left: _Code, right: _Code, negate: bool) -> _Code:
    yes, no = (_FALSE, _TRUE) if negate else (_TRUE, _FALSE)
    yes_value, no_value = not negate, negate
    lf, rf = left.fn, right.fn

    def equal(focus: list[Any], env: Env) -> list[Any]:
        return _equal_lists(lf(focus, env), rf(focus, env), yes, no)

    # a bare value stands for an item whose value it is, of a type compared as Python values
    lv = left.val or _val_of(lf)
    rv = right.val or _val_of(rf)
    const = right.const
    if const is not None and len(const) == 1 and type(const[0]) in _SCALARS:
        c = const[0]

        def val(item: Any, env: Env) -> Any:
            a = lv(item, env)
            if type(a) is list:
                return _equal_lists(a, const, yes, no)
            return yes_value if a == c else no_value

        if left.key is not None and not negate:
            code = _Code(equal, val, boolean=True)
            code.equals = (left, c)
            return code
    else:

        def val(item: Any, env: Env) -> Any:
            a, b = lv(item, env), rv(item, env)
            if type(a) is list or type(b) is list:
                a = a if type(a) is list else [a]
                b = b if type(b) is list else [b]
                return _equal_lists(a, b, yes, no)
            return yes_value if a == b else no_value

    return _Code(equal, val, boolean=True)


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


def _comparison(op: str, left: _Code, right: _Code) -> _Code:
    compare = _COMPARE[op]
    lf, rf = left.fn, right.fn

    def comparison(focus: list[Any], env: Env) -> list[Any]:
        a, b = _valued(lf(focus, env)), _valued(rf(focus, env))
        if not a or not b:
            return _NONE
        x, y = _comparable(a), _comparable(b)
        tx, ty = type(x), type(y)
        if not ((tx is str and ty is str) or (tx in (int, Decimal) and ty in (int, Decimal))):
            raise Fallback
        return _TRUE if compare(x, y) else _FALSE

    return _Code(comparison, boolean=True)


_LOGIC: dict[str, Callable[[bool | None, bool | None], bool | None]] = {  # and/or: _junction()
    "xor": lambda a, b: None if a is None or b is None else a is not b,
    "implies": lambda a, b: True if a is False or b is True else None if a is None or b is None else b,
}
_ANSWER = {True: _TRUE, False: _FALSE, None: _NONE}


def _logic(op: str, left: _Code, right: _Code) -> _Code:
    if op in ("and", "or"):
        return _junction(op, left, right)
    combine = _LOGIC[op]
    lf, rf = left.fn, right.fn
    # fhirpathpy evaluates both operands: the right one is skipped only when it cannot fail there
    skip = right.total and right.boolean and op == "implies"

    def logic(focus: list[Any], env: Env) -> list[Any]:
        r = lf(focus, env)
        a = True if r is _TRUE else False if r is _FALSE else _boolean(r)
        if a is False and skip:
            return _TRUE
        r = rf(focus, env)
        b = True if r is _TRUE else False if r is _FALSE else _boolean(r)
        return _ANSWER[combine(a, b)]

    lv = left.val or _val_of(lf)
    rv = right.val or _val_of(rf)

    def val(item: Any, env: Env) -> Any:
        r = lv(item, env)
        a = r if r is True or r is False else _truth(r)
        if a is False and skip:
            return True
        r = rv(item, env)
        b = r if r is True or r is False else _truth(r)
        result = combine(a, b)
        return _NONE if result is None else result

    total = left.total and left.boolean and right.total and right.boolean
    return _Code(logic, val, total=total, boolean=True)


def _junction(op: str, left: _Code, right: _Code) -> _Code:
    """``a and b and …`` (or ``or``) as one step: the operands left to right, as nested ones go.

    Once the result is decided (false for ``and``, true for ``or``) the operands that fhirpathpy
    cannot fail on are skipped; the others are still evaluated, as their errors are fhirpathpy's result.
    Neighbouring ``name = literal`` operands of ``or`` become one look-up of the member's value.
    """
    terms = tuple(
        t
        for side in (left, right)
        for t in (side.terms[1] if side.terms and side.terms[0] == op else (side,))
    )
    decided = op == "or"
    steps = _grouped(terms) if decided else list(terms)
    fns = [(t.fn, t.total and t.boolean) for t in steps]
    vals = [(t.val or _val_of(t.fn), t.total and t.boolean) for t in steps]

    def junction(focus: list[Any], env: Env) -> list[Any]:
        result: bool | None = not decided
        for fn, skippable in fns:
            if result is decided and skippable:
                continue
            r = fn(focus, env)
            b = True if r is _TRUE else False if r is _FALSE else _boolean(r)
            if b is decided or b is None and result is not decided:
                result = b
        return _ANSWER[result]

    def val(item: Any, env: Env) -> Any:
        result: bool | None = not decided
        for fn, skippable in vals:
            if result is decided and skippable:
                continue
            r = fn(item, env)
            b = r if r is True or r is False else _truth(r)
            if b is decided or b is None and result is not decided:
                result = b
        return _NONE if result is None else result

    if len(vals) == 2:  # the usual case, without the loop
        (first, _), (second, skippable) = vals

        def val(item: Any, env: Env) -> Any:
            r = first(item, env)
            a = r if r is True or r is False else _truth(r)
            if a is decided and skippable:
                return decided
            r = second(item, env)
            b = r if r is True or r is False else _truth(r)
            if a is decided or b is decided:
                return decided
            return _NONE if a is None or b is None else not decided

    code = _Code(junction, val, total=all(t.total and t.boolean for t in terms), boolean=True)
    code.terms = (op, terms)
    return code


def _grouped(terms: tuple[_Code, ...]) -> list[_Code]:
    """``or`` operands with each run of ``name = literal`` (one name) made one look-up."""
    out: list[_Code] = []
    i = 0
    while i < len(terms):
        key = _equals_key(terms[i])
        j = i + 1
        while key is not None and j < len(terms) and _equals_key(terms[j]) == key:
            j += 1
        out.append(_equals_any(terms[i:j]) if j - i > 1 else terms[i])
        i = j
    return out


def _equals_key(term: _Code) -> str | None:
    return term.equals[0].key if term.equals is not None else None


def _equals_any(run: tuple[_Code, ...]) -> _Code:
    """``name = a or name = b or …``: the member's value looked up once."""
    pairs = [t.equals for t in run if t.equals is not None]
    member = pairs[0][0]
    mf, mv = member.fn, member.val or _val_of(member.fn)
    values = [value for _, value in pairs]
    strings = frozenset(v for v in values if type(v) is str)
    literals = [[v] for v in values]

    def each(a: list[Any]) -> Any:
        """The equalities one by one, combined by ``or``."""
        result: bool | None = False
        for literal in literals:
            b = _boolean(_equal_lists(a, literal, _TRUE, _FALSE))
            if b is True or b is None and result is not True:
                result = b
        return _NONE if result is None else result

    def val(item: Any, env: Env) -> Any:
        a = mv(item, env)
        if type(a) is list:
            return each(a)
        if type(a) is str:
            return a in strings
        return any(a == v for v in values)

    return _Code(lambda focus, env: _ANSWER[_truth(each(mf(focus, env)))], val, boolean=True)


def _in_lists(a: list[Any], b: list[Any]) -> list[Any]:
    if not a:
        return _NONE
    if not b:
        return _FALSE
    if len(a) > 1:
        raise Fallback
    wanted = _data(a[0])
    return _TRUE if any(_data(x) == wanted for x in b) else _FALSE


def _membership(op: str, left: _Code, right: _Code) -> _Code:
    lf, rf = left.fn, right.fn
    if op == "contains":

        def contains(focus: list[Any], env: Env) -> list[Any]:
            a = _valued(lf(focus, env))
            return _in_lists(_valued(rf(focus, env)), a)

        return _Code(contains, boolean=True)
    const = right.const
    if const is None:

        def in_(focus: list[Any], env: Env) -> list[Any]:
            a = _valued(lf(focus, env))
            return _in_lists(a, _valued(rf(focus, env)))

        return _Code(in_, boolean=True)
    # literals: a string is looked up among the strings (no other value equals a string)
    coll = _valued(const)
    values = [_data(x) for x in coll]
    strings = frozenset(x for x in values if type(x) is str)

    def in_list(a: list[Any]) -> list[Any]:
        a = _valued(a)
        if len(a) == 1 and coll:
            wanted = _data(a[0])
            if type(wanted) is str:
                return _TRUE if wanted in strings else _FALSE
        return _in_lists(a, coll)

    def in_literals(focus: list[Any], env: Env) -> list[Any]:
        return in_list(lf(focus, env))

    lv = left.val or _val_of(lf)

    def val(item: Any, env: Env) -> Any:
        a = lv(item, env)
        if type(a) is list:
            return in_list(a)
        if type(a) is str:
            return a in strings
        return any(x == a for x in values)

    return _Code(in_literals, val, boolean=True)


def _union(left: _Code, right: _Code) -> _Code:
    # a | b | c: one pass (fhirpathpy's result is the same as with the inner union made first)
    parts = (*(left.parts or (left,)), *(right.parts or (right,)))
    fns = [p.fn for p in parts]

    def union(focus: list[Any], env: Env) -> list[Any]:
        items: list[Any] = []
        for fn in fns:
            items += fn(focus, env)
        return _distinct(items)

    code = _fold(_Code(union), *parts)
    if code.const is not None:
        return code
    code.parts = parts
    if all(p.val is not None and not p.raw for p in parts):  # FHIR items only: their values gathered
        vals = [p.val for p in parts]

        def val(item: Any, env: Env) -> Any:
            datas = []
            for pv in vals:
                r = pv(item, env)  # type: ignore[misc]
                if type(r) is not list:
                    datas.append(r)
                    continue
                for x in r:
                    if type(x) is not _Node:
                        return union([item], env)
                    datas.append(x.data)
            return _distinct_values(datas) if datas else _NONE

        code.val = val  # a list always (raw: no bare value to tell apart)
    return code


def _arithmetic(op: str, left: _Code, right: _Code) -> _Code:
    lf, rf = left.fn, right.fn

    def arithmetic(focus: list[Any], env: Env) -> list[Any]:
        a, b = lf(focus, env), rf(focus, env)
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

    return _Code(arithmetic)


def _concat_operand(coll: list[Any]) -> str:
    return "" if not coll else _string(coll)


def _type_operator(op: str, left: _Code, spec: TypeInfo) -> _Code:
    lf = left.fn

    def type_operator(focus: list[Any], env: Env) -> list[Any]:
        coll = lf(focus, env)
        if not coll:
            return _NONE
        if len(coll) > 1:
            raise Fallback
        if op == "is":
            return _TRUE if _is(coll[0], spec) else _FALSE
        return coll if _is(coll[0], spec) else _NONE

    return _Code(type_operator, boolean=op == "is")


# ------------------------------------------------------------------------------------------- functions


def _filter(cond: _Code) -> Fn:
    """The items for which ``cond`` gives a truthy first item (fhirpathpy's ``where``)."""
    cv, cf = cond.val, cond.fn
    if cv is None:

        def where(focus: list[Any], env: Env) -> list[Any]:
            out = []
            for x in focus:
                r = cf([x], env)
                if r and r[0]:  # fhirpathpy keeps the item when the first result is truthy
                    out.append(x)
            return out

        return where
    node = not cond.raw  # a bare value then stands for a node, which is truthy

    def where_one(focus: list[Any], env: Env) -> list[Any]:
        out = []
        for x in focus:
            r = cv(x, env)
            if type(r) is list:
                if r and r[0]:
                    out.append(x)
            elif node or r:
                out.append(x)
        return out

    return where_one


def _fn_where(cond: _Code) -> _Code:
    return _Code(_filter(cond), total=cond.total)


def _fn_exists(cond: _Code | None = None) -> _Code:
    if cond is None:
        return _Code(
            lambda focus, env: _TRUE if focus else _FALSE, _true_val, _true_val, total=True, boolean=True
        )
    where = _filter(cond)
    return _Code(lambda focus, env: _TRUE if where(focus, env) else _FALSE, total=cond.total, boolean=True)


def _fn_all(cond: _Code) -> _Code:
    cv = cond.val or _val_of(cond.fn)

    def all_(focus: list[Any], env: Env) -> list[Any]:
        for x in focus:
            r = cv(x, env)
            if type(r) is list:
                if r is not _TRUE and not _is_true(r):
                    return _FALSE
            elif r != True:  # noqa: E712 - fhirpathpy's is_true (1 == True)
                return _FALSE
        return _TRUE

    return _Code(all_, boolean=True)


def _fn_select(expr: _Code) -> _Code:
    ef = expr.fn

    def select(focus: list[Any], env: Env) -> list[Any]:
        out: list[Any] = []
        for x in focus:
            out.extend(ef([x], env))
        return out

    return _Code(select)


def _fn_iif(cond: _Code, then: _Code, otherwise: _Code | None = None) -> _Code:
    cf, tf, of = cond.fn, then.fn, otherwise.fn if otherwise is not None else None

    def iif(focus: list[Any], env: Env) -> list[Any]:
        if _is_true(cf(focus, env)):
            return tf(focus, env)
        return of(focus, env) if of is not None else _NONE

    return _Code(iif)


def _fn_not(focus: list[Any], env: Env) -> list[Any]:
    if len(focus) != 1:
        return _NONE
    value = _data(focus[0])
    if value is True or value is False:
        return _FALSE if value else _TRUE
    return _FALSE  # a single non-boolean item counts as true


def _not_value(value: Any, env: Env) -> Any:
    return value is False  # only false gives true


def _not_val(item: Any, env: Env) -> Any:
    return _data(item) is False


def _fn_has_value(focus: list[Any], env: Env) -> list[Any]:
    if len(focus) != 1:
        return _FALSE
    value = _data(focus[0])
    return _TRUE if value is not None and type(value) not in (dict, list) else _FALSE


def _has_value_val(item: Any, env: Env) -> Any:
    value = item.data if type(item) is _Node else item
    return value is not None and type(value) not in (dict, list)


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


def _string_fn(apply: Callable[[str], Any]) -> _Code:
    """A string function: empty input gives empty, otherwise one string is needed."""

    def string_fn(focus: list[Any], env: Env) -> list[Any]:
        if not focus:
            return _NONE
        return [apply(_string(focus))]

    def one(item: Any, env: Env) -> Any:
        value = item.data if type(item) is _Node else item
        if type(value) is str:
            return apply(value)
        raise Fallback

    def of_value(value: Any, env: Env) -> Any:
        if type(value) is str:
            return apply(value)
        raise Fallback

    return _Code(string_fn, one, of_value)


def _fn_matches(regex: str) -> _Code:
    if not regex:
        return _Code(lambda focus, env: _NONE, _none_val, _none_val)
    try:
        search = re.compile(regex, re.DOTALL).search
    except re.error:
        raise _Unsupported from None  # fhirpathpy reports the error when it evaluates the call
    code = _string_fn(lambda s: search(s) is not None)

    def one(item: Any, env: Env) -> Any:  # as the string function's, the search inlined
        value = item.data if type(item) is _Node else item
        if type(value) is str:
            return search(value) is not None
        raise Fallback

    def of_value(value: Any, env: Env) -> Any:
        if type(value) is str:
            return search(value) is not None
        raise Fallback

    code.val, code.scal = one, of_value
    return code


def _fn_starts_with(prefix: str, end: bool) -> _Code:
    if not prefix:
        return _string_fn(bool)  # "" starts (and ends) only a non-empty string
    return _string_fn(methodcaller("endswith" if end else "startswith", prefix))


def _fn_of_type(spec: TypeInfo) -> _Code:
    return _Code(lambda focus, env: [x for x in focus if _is(x, spec)])


def _fn_is(spec: TypeInfo) -> _Code:
    def is_(focus: list[Any], env: Env) -> list[Any]:
        if not focus:
            return _NONE
        if len(focus) > 1:
            raise Fallback
        return _TRUE if _is(focus[0], spec) else _FALSE

    return _Code(is_, boolean=True)


def _simple(fn: Callable[[list[Any]], list[Any]]) -> _Code:
    return _Code(lambda focus, env: fn(focus))


# functions evaluating their expression argument on each item of the focus (none for an empty one)
_ITERATING = frozenset({"where", "exists", "all", "select"})

# name -> (kinds of the arguments for each accepted arity, builder); kinds: E expression (iterating),
# S string constant, T type specifier.
_Builder = Callable[..., _Code]
_FUNCTIONS: dict[str, tuple[dict[int, str], _Builder]] = {
    "empty": (
        {0: ""},
        lambda: _Code(
            lambda focus, env: _FALSE if focus else _TRUE, _false_val, _false_val, total=True, boolean=True
        ),
    ),
    "exists": ({0: "", 1: "E"}, _fn_exists),
    "not": ({0: ""}, lambda: _Code(_fn_not, _not_val, _not_value)),
    "count": ({0: ""}, lambda: _Code(lambda focus, env: [len(focus)], _one_val, _one_val, total=True)),
    "first": ({0: ""}, lambda: _Code(lambda focus, env: focus[:1])),
    "last": ({0: ""}, lambda: _Code(lambda focus, env: focus[-1:])),
    "tail": ({0: ""}, lambda: _Code(lambda focus, env: focus[1:])),
    "where": ({1: "E"}, _fn_where),
    "all": ({1: "E"}, _fn_all),
    "select": ({1: "E"}, _fn_select),
    "iif": ({2: "EE", 3: "EEE"}, _fn_iif),
    "trace": ({0: "", 1: "S"}, lambda label="": _Code(lambda focus, env: focus)),
    "hasValue": ({0: ""}, lambda: _Code(_fn_has_value, _has_value_val, _true_val, total=True, boolean=True)),
    "getValue": ({0: ""}, lambda: _Code(_fn_get_value)),
    "extension": ({1: "S"}, _extension),
    "children": ({0: ""}, lambda: _simple(_children)),
    "descendants": ({0: ""}, lambda: _simple(_descendants)),
    "isDistinct": ({0: ""}, lambda: _Code(_fn_is_distinct, boolean=True)),
    "distinct": ({0: ""}, lambda: _simple(_distinct)),
    "toInteger": ({0: ""}, lambda: _Code(_fn_to_integer)),
    "matches": ({1: "S"}, _fn_matches),
    "startsWith": ({1: "S"}, lambda prefix: _fn_starts_with(prefix, end=False)),
    "endsWith": ({1: "S"}, lambda suffix: _fn_starts_with(suffix, end=True)),
    "contains": ({1: "S"}, lambda part: _string_fn(methodcaller("__contains__", part))),
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


def _compile(node: Mapping[str, Any], this_ok: bool) -> _Code:
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
        return _Code(lambda focus, env: focus, total=True)
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
        return _chain(first, _compile(children[1], this_ok))
    if kind == "IndexerExpression" and len(children) == 2:
        coll = _compile(children[0], this_ok)
        cf = coll.fn
        index = int(_number_literal(children[1]))
        if index < 0:
            return _fold(_Code(lambda focus, env: cf(focus, env)[0:0]), coll)
        return _fold(_Code(lambda focus, env: cf(focus, env)[index : index + 1]), coll)
    if kind == "PolarityExpression":
        return _constant([_number_literal(node)])
    if kind == "TypeExpression" and len(children) == 2:
        op = node["terminalNodeText"][0]
        if op not in ("is", "as") or children[1].get("type") != "TypeSpecifier":
            raise _Unsupported
        return _type_operator(op, _compile(children[0], True), _type_spec(children[1]))
    if kind in _OPERATORS and len(children) == 2:
        op = node["terminalNodeText"][0]
        left, right = _compile(children[0], True), _compile(children[1], True)
        return _fold(_OPERATORS[kind](op, left, right), left, right)
    raise _Unsupported


def _chain(first: _Code, second: _Code) -> _Code:
    """``first.second``: a member or function applied to the result of ``first``."""
    xf, yf, yv, ys, blank = first.fn, second.fn, second.val, second.scal, second.blank

    def chain(focus: list[Any], env: Env) -> list[Any]:
        return yf(xf(focus, env), env)

    code = _Code(chain, raw=second.raw, total=first.total and second.total, boolean=second.boolean)
    if second.pure:
        code = _fold(code, first)
        if code.const is not None:
            return code
    # a bare value from ``first`` goes on to ``second`` as it is, or as a literal item when it is one;
    # a bare value standing for a node when ``second`` has no form for it: ``first`` again, as items
    passes_value = ys is not None or first.raw

    def then(r: Any, item: Any, env: Env) -> Any:
        if type(r) is list:
            if len(r) == 1 and yv is not None:
                return yv(r[0], env)
            if not r and blank is not None:
                return blank
            return yf(r, env)
        if ys is not None:
            return ys(r, env)
        return yf([r] if passes_value else xf([item], env), env)

    xv = first.val
    if xv is not None and ys is not None and yv is not None and blank is not None:  # the usual case
        if second.raw and len(blank) == 1 and type(blank[0]) in _SCALARS:
            blank_value = blank[0]  # e.g. exists() of nothing: False
        else:
            blank_value = blank

        def val(item: Any, env: Env) -> Any:
            r = xv(item, env)
            if type(r) is not list:
                return ys(r, env)
            n = len(r)
            if n == 1:
                return yv(r[0], env)
            return yf(r, env) if n else blank_value

        code.val = val
    elif xv is not None:
        code.val = lambda item, env: then(xv(item, env), item, env)
    elif yv is not None or blank is not None:
        code.val = lambda item, env: then(xf([item], env), item, env)
    xs = first.scal
    if xs is not None and passes_value:
        code.scal = lambda value, env: then(xs(value, env), None, env)
    return code


def _member_key(node: Mapping[str, Any]) -> str:
    return _identifier(_only(node)).replace("`", "")


# exists(), empty() and count() of a number of items: as a result list and as a bare value
_COUNTING: dict[str, tuple[Callable[[int], list[Any]], Callable[[int], Any]]] = {
    "exists": (lambda n: _TRUE if n else _FALSE, lambda n: n > 0),
    "empty": (lambda n: _FALSE if n else _TRUE, lambda n: n == 0),
    "count": (lambda n: [n], lambda n: n),
}


def _counted_member(target: Mapping[str, Any], call: Mapping[str, Any], this_ok: bool) -> _Code | None:
    """``….name.exists()``, ``empty()`` or ``count()`` counted without making the items."""
    if call.get("type") != "FunctionInvocation":
        return None
    functn = _only(call)
    name = _identifier(functn["children"][0])
    if name not in _COUNTING or len(functn["children"]) != 1:
        return None
    answer, value = _COUNTING[name]
    if target.get("type") == "InvocationExpression" and len(target.get("children") or []) == 2:
        before, step = target["children"]
    elif target.get("type") == "TermExpression" and _only(target).get("type") == "InvocationTerm":
        before, step = None, _only(_only(target))
    else:
        return None
    if step.get("type") != "MemberInvocation":
        return None
    key = _member_key(step)
    count, one, count_one = _navigation(key)
    boolean = name != "count"
    if before is None:
        if count_one is None:
            val: Val = lambda item, env: value(count([item], None))  # noqa: E731
        elif name == "exists":
            val = lambda item, env: count_one(item) > 0  # noqa: E731
        elif name == "empty":
            val = lambda item, env: count_one(item) == 0  # noqa: E731
        else:
            val = lambda item, env: count_one(item)  # noqa: E731
        return _Code(
            lambda focus, env: answer(count(focus, None)), val, total=one is not None, boolean=boolean
        )
    prefix = _compile(before, this_ok)
    pf, pv = prefix.fn, prefix.val

    def counted(focus: list[Any], env: Env) -> list[Any]:
        return answer(count(pf(focus, env), None))

    code = _Code(counted, total=prefix.total and one is not None, boolean=boolean)
    if pv is not None and one is not None:  # a bare value has no children to count

        def counted_one(item: Any, env: Env) -> Any:
            r = pv(item, env)
            if type(r) is not list:
                return value(0)
            if len(r) == 1 and count_one is not None:
                return value(count_one(r[0]))
            return value(count(r, None))

        code.val = counted_one
    return code


def _operator(
    build: Callable[[str, _Code, _Code], _Code], ops: tuple[str, ...]
) -> Callable[[str, _Code, _Code], _Code]:
    def checked(op: str, left: _Code, right: _Code) -> _Code:
        if op not in ops:
            raise _Unsupported
        return build(op, left, right)

    return checked


_OPERATORS: dict[str, Callable[[str, _Code, _Code], _Code]] = {
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


def _external_constant(node: Mapping[str, Any]) -> _Code:
    name = _constant_name(node)
    if name == "context":
        return _Code(lambda focus, env: env[0])
    if name == "resource":
        return _Code(lambda focus, env: [_node(env[1], None, None)] if env[1] is not None else _NONE)
    if name == "rootResource":
        return _Code(lambda focus, env: [_node(env[2], None, None)] if env[2] is not None else _NONE)
    value = rt._Variables._constant(name)
    if value is None:
        raise _Unsupported
    return _constant([value])


def _function(functn: Mapping[str, Any]) -> _Code:
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
    code: _Code = build(*args)
    code.pure = "E" not in kinds
    if code.pure or name in _ITERATING:  # nothing to evaluate on an empty focus
        try:
            code.blank = code.fn([], _NO_ENV)
        except Exception:  # noqa: BLE001 - left to run time, as before
            code.blank = None
    return code


# ----------------------------------------------------------------------------------------------- public


class FastExpression:
    """A compiled expression of the subset.

    Attributes:
        uses_root: The expression reads ``%rootResource`` (the caller need not compute it otherwise).
    """

    __slots__ = ("_fn", "_val", "uses_root")

    def __init__(self, fn: Fn, uses_root: bool, val: Val | None = None) -> None:
        self._fn = fn
        self._val = val
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
        kind = type(node)
        if kind is dict and "resourceType" not in node or extension is None and kind in _SCALARS:
            item = _Node(node, type_name, None)  # what _node() makes of it, made here
        else:
            item = _node(node, type_name, extension)
        start = [item]
        if self._val is None:
            items = self._fn(start, (start, resource, root))
        else:
            items = self._val(item, (start, resource, root))
            if type(items) is not list:
                return [items]
        return [x.data if type(x) is _Node else x for x in items]


def compile_fast(ast: Mapping[str, Any]) -> FastExpression | None:
    """Compile a parse tree from ``rt.parse_expression``; None when it is outside the subset."""
    children = ast.get("children") or []
    if len(children) != 1:
        return None
    try:
        code = _compile(children[0], False)
    except (_Unsupported, RecursionError):
        return None
    except (KeyError, IndexError, TypeError, ValueError):  # not a tree from the parser (a corrupt cache)
        return None
    return FastExpression(code.fn, _reads_root(ast), code.val)


def _reads_root(ast: Mapping[str, Any]) -> bool:
    stack = [ast]
    while stack:
        node = stack.pop()
        if node.get("type") == "ExternalConstantTerm" and _constant_name(node) == "rootResource":
            return True
        stack.extend(node.get("children") or [])
    return False
