"""What the FHIRPath layer adds to fhirpathpy 2.2.4: a strict parser, FHIR-aware navigation and functions.

fhirpathpy is used as the evaluator (its ``do_eval`` and invocation registry), with these fixes:

* its parser silently accepts syntax errors: :func:`parse_expression` collects them and checks
  that the whole text was read;
* it turns a primitive with a ``_name`` sibling into two collection items (so ``birthDate.count()``
  is 2 and ``birthDate.is(date)`` fails): here the member navigation merges them into one
  ``ResourceNode`` whose ``_data`` holds the ``id``/``extension`` part, and ``extension``, ``id``,
  ``children()``, ``descendants()``, ``extension(url)`` and ``hasValue()`` read it;
* it lacks ``hasValue()``, ``getValue()``, ``memberOf()``, ``resolve()``, ``conformsTo()``,
  ``htmlChecks()``, ``lowBoundary()``/``highBoundary()`` and the ``%vs-``/``%ext-`` constants.

The navigation fix is installed in fhirpathpy's evaluator table but only acts on evaluations started
here (their context carries :data:`STATE_KEY`); every other use of fhirpathpy is unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from antlr4.tree.Tree import ParseTreeWalker
from fhirpathpy.engine import do_eval, util
from fhirpathpy.engine.evaluators import evaluators
from fhirpathpy.engine.invocations import invocation_registry
from fhirpathpy.engine.invocations.constants import constants
from fhirpathpy.engine.nodes import FP_Quantity, FP_Type, ResourceNode, TypeInfo
from fhirpathpy.models import models
from fhirpathpy.parser.ASTPathListener import ASTPathListener
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from testbed.fhir._fhirpath_boundary import boundary, literal_text
from testbed.fhir._fhirpath_narrative import html_checks

R4_MODEL: dict[str, Any] = models["r4"]
STATE_KEY = "testbed.fhirpath.state"

_CHOICE_PATHS: dict[str, list[str]] = R4_MODEL["choiceTypePaths"]
_PATH_TO_TYPE: dict[str, str] = R4_MODEL["path2Type"]
_ELSEWHERE: dict[str, str] = R4_MODEL["pathsDefinedElsewhere"]
_TYPE_PARENT: dict[str, str] = R4_MODEL["type2Parent"]

_ENV_CONSTANTS: dict[str, str] = {
    "ucum": "http://unitsofmeasure.org",
    "sct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
    "us-zip": "[0-9]{5}(-[0-9]{4}){0,1}",
}


class SyntaxProblem(ValueError):
    """The expression text is not valid FHIRPath."""


class Undetermined(Exception):  # noqa: N818 - an outcome, not a failure of the engine
    """The expression needs an answer the environment could not give (terminology, resolution)."""


@dataclass(slots=True)
class EvalState:
    """Per-evaluation environment reached by the functions through the fhirpathpy context."""

    resource: Any
    root_resource: Any
    bundle: Any
    member_of: Callable[[Any, str], bool | None] | None
    resolve_reference: Callable[[str, Any], Any | None] | None
    conforms_to: Callable[[Any, str], bool | None] | None


@dataclass(frozen=True, slots=True)
class ReferenceContext:
    """What ``resolve_reference`` receives besides the reference: where the reference was found.

    Attributes:
        resource: The resource holding the reference (``%resource``).
        root_resource: The outermost resource, e.g. the Bundle.
    """

    resource: Any
    root_resource: Any


# --------------------------------------------------------------------------------------------- parsing


class _CollectingListener(ErrorListener):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def syntaxError(  # noqa: N802 - antlr API
        self, recognizer: Any, offendingSymbol: Any, line: int, column: int, msg: str, e: Any
    ) -> None:
        self.messages.append(f"column {column + 1}: {msg}")


def parse_expression(text: str) -> dict[str, Any]:
    """Parse FHIRPath text to fhirpathpy's AST (a JSON-compatible dict), rejecting any syntax error."""
    listener = _CollectingListener()
    lexer = FHIRPathLexer(InputStream(text))
    lexer.removeErrorListeners()
    lexer.addErrorListener(listener)
    tokens = CommonTokenStream(lexer)
    parser = FHIRPathParser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(listener)
    tree = parser.expression()
    if not listener.messages and tokens.LA(1) != Token.EOF:
        extra = tokens.LT(1)
        listener.messages.append(f"column {extra.column + 1}: unexpected '{extra.text}' after the expression")
    if listener.messages:
        raise SyntaxProblem("; ".join(listener.messages))
    ast_listener = ASTPathListener()
    ParseTreeWalker().walk(ast_listener, tree)
    ast: dict[str, Any] = ast_listener.parentStack[0]
    if not ast.get("children"):
        raise SyntaxProblem("empty expression")
    return ast


def function_names(ast: Mapping[str, Any]) -> set[str]:
    """Every function called in a parsed expression."""
    names: set[str] = set()
    stack: list[Mapping[str, Any]] = [ast]
    while stack:
        node = stack.pop()
        children = node.get("children") or []
        if node.get("type") == "Functn" and children:
            names.add(str(children[0].get("text", "")))
        stack.extend(children)
    return names


# ------------------------------------------------------------------------------------------ navigation


def _type_of(item: Any) -> str | None:
    if isinstance(item, ResourceNode):
        return item.path
    if isinstance(item, Mapping):
        rt = item.get("resourceType")
        return rt if isinstance(rt, str) else None
    return None


def _is_type(name: str | None, wanted: str) -> bool:
    while name:
        if name == wanted:
            return True
        name = _TYPE_PARENT.get(name)
    return False


_PRIMITIVES = frozenset(
    {
        "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
        "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid",
        "xhtml",
    }
)  # fmt: skip


def _type_name(suffix: str) -> str:
    """The FHIR type named by a choice suffix (``DateTime`` -> ``dateTime``, ``Quantity`` unchanged)."""
    lowered = suffix[:1].lower() + suffix[1:]
    return lowered if lowered in _PRIMITIVES else suffix


def _child_type(parent_path: str | None, key: str) -> str:
    if key in ("extension", "modifierExtension"):
        return "Extension"
    if parent_path is None:
        return f"_.{key}"
    child = f"{parent_path}.{key}"
    child = _ELSEWHERE.get(child, child)
    return _PATH_TO_TYPE.get(child, child)


def _nodes(value: Any, ext: Any, path: str) -> list[ResourceNode]:
    """Nodes for one JSON property: its value(s) merged with the ``_name`` sibling's id/extension."""
    if isinstance(value, list) or isinstance(ext, list):
        values = value if isinstance(value, list) else ([] if value is None else [value])
        exts = ext if isinstance(ext, list) else []
        out = []
        for i in range(max(len(values), len(exts))):
            v = values[i] if i < len(values) else None
            e = exts[i] if i < len(exts) else None
            if v is None and e is None:
                continue
            out.append(ResourceNode(v, path, _ext_part(v, e)))
        return out
    if value is None and ext is None:
        return []
    return [ResourceNode(value, path, _ext_part(value, ext))]


def _ext_part(value: Any, ext: Any) -> Any:
    return ext if isinstance(ext, Mapping) and not isinstance(value, Mapping) else None


def _member(item: Any, key: str) -> list[Any]:
    node = item if isinstance(item, ResourceNode) else ResourceNode(item, None)
    data = node.data
    if not isinstance(data, Mapping):
        ext = node._data
        if isinstance(ext, Mapping) and key in ("extension", "id"):
            return _nodes(ext.get(key), None, "Extension" if key == "extension" else "System.String")
        if isinstance(data, FP_Quantity) and key in ("value", "unit"):
            return [getattr(data, key)]
        return []
    path = node.path
    if path is not None:
        full = f"{path}.{key}"
        full = _ELSEWHERE.get(full, full)
        choices = _CHOICE_PATHS.get(full)
        if choices:
            for suffix in choices:
                field = key + suffix
                if field in data or f"_{field}" in data:
                    kind = _PATH_TO_TYPE.get(full + suffix) or _type_name(suffix)
                    return _nodes(data.get(field), data.get(f"_{field}"), kind)
            return []
    return _nodes(data.get(key), data.get(f"_{key}"), _child_type(path, key))


_ORIGINAL_MEMBER_INVOCATION = evaluators["MemberInvocation"]


def _member_invocation(ctx: dict[str, Any], parent_data: Any, node: Mapping[str, Any]) -> list[Any]:
    if STATE_KEY not in ctx:
        result: list[Any] = _ORIGINAL_MEMBER_INVOCATION(ctx, parent_data, node)
        return result
    key = do_eval(ctx, parent_data, node["children"][0])[0].replace("`", "")
    if not isinstance(parent_data, list):
        return []
    out: list[Any] = []
    type_filter = key[:1].isupper()
    for item in parent_data:
        if type_filter and _is_type(_type_of(item), key):
            out.append(item if isinstance(item, ResourceNode) else ResourceNode(item, key))
        else:
            out.extend(_member(item, key))
    return out


if getattr(evaluators["MemberInvocation"], "__module__", None) != __name__:
    evaluators["MemberInvocation"] = _member_invocation


def _children_of(item: Any) -> Iterator[ResourceNode]:
    node = item if isinstance(item, ResourceNode) else ResourceNode(item, None)
    data = node.data
    if isinstance(data, Mapping):
        path = node.path
        for key, value in data.items():
            if key == "resourceType" or key == "fhir_comments":
                continue
            if key.startswith("_"):
                if key[1:] in data:
                    continue
                name = key[1:]
                yield from _nodes(None, value, _child_type(path, name))
            else:
                yield from _nodes(value, data.get(f"_{key}"), _child_type(path, key))
    elif isinstance(node._data, Mapping):
        for key, value in node._data.items():
            if key in ("id", "extension"):
                yield from _nodes(value, None, "Extension" if key == "extension" else "System.String")


# ------------------------------------------------------------------------------------------- functions


def _state(ctx: Mapping[str, Any]) -> EvalState:
    state: EvalState = ctx[STATE_KEY]
    return state


def _value(item: Any) -> Any:
    return item.data if isinstance(item, ResourceNode) else item


def _single(coll: list[Any], fn: str) -> Any:
    if len(coll) > 1:
        raise ValueError(f"{fn}() expects a single item, got {len(coll)}")
    return coll[0]


def _fn_children(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    return [child for item in coll for child in _children_of(item)]


def _fn_descendants(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    out: list[Any] = []
    level = _fn_children(ctx, coll)
    while level:
        out.extend(level)
        level = _fn_children(ctx, level)
    return out


def _fn_extension(ctx: dict[str, Any], coll: list[Any], url: Any) -> list[Any]:
    out: list[Any] = []
    for item in coll:
        if isinstance(item, ResourceNode):
            holder = item.data if isinstance(item.data, Mapping) else item._data
        else:
            holder = item
        if not isinstance(holder, Mapping):
            continue
        for ext in holder.get("extension") or ():
            if isinstance(ext, Mapping) and ext.get("url") == url:
                out.append(ResourceNode(ext, "Extension"))
    return out


def _has_primitive_value(item: Any) -> bool:
    value = _value(item)
    return value is not None and not isinstance(value, (Mapping, list))


def _fn_has_value(ctx: dict[str, Any], coll: list[Any]) -> bool:
    return len(coll) == 1 and _has_primitive_value(coll[0])


def _fn_get_value(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    if len(coll) == 1 and _has_primitive_value(coll[0]):
        return [_value(coll[0])]
    return []


def _fn_as(ctx: dict[str, Any], coll: list[Any], type_info: TypeInfo) -> list[Any]:
    # R4 invariants (dom-3) apply as() to whole collections: filter, as the reference validator does.
    TypeInfo.model = ctx.get("model")
    return [item for item in coll if TypeInfo.from_value(item).is_(type_info)]


def _fn_to_boolean(ctx: dict[str, Any], coll: list[Any]) -> Any:
    if len(coll) != 1:
        return []
    value = _value(coll[0])
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, Decimal)) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in ("true", "t", "yes", "y", "1", "1.0"):
            return True
        if lowered in ("false", "f", "no", "n", "0", "0.0"):
            return False
    return []


def _fn_member_of(ctx: dict[str, Any], coll: list[Any], valueset: Any) -> Any:
    if not coll:
        return []
    value = _value(_single(coll, "memberOf"))
    callback = _state(ctx).member_of
    if callback is None:
        raise Undetermined(f"memberOf('{valueset}') needs terminology, and none is configured")
    answer = callback(value, str(valueset))
    if answer is None:
        raise Undetermined(f"memberOf('{valueset}') could not be decided for {value!r}")
    return bool(answer)


def _fn_conforms_to(ctx: dict[str, Any], coll: list[Any], url: Any) -> Any:
    if not coll:
        return []
    value = _value(_single(coll, "conformsTo"))
    callback = _state(ctx).conforms_to
    if callback is None:
        raise Undetermined(f"conformsTo('{url}') needs profile validation, and none is configured")
    answer = callback(value, str(url))
    if answer is None:
        raise Undetermined(f"conformsTo('{url}') could not be decided")
    return bool(answer)


def _fn_html_checks(ctx: dict[str, Any], coll: list[Any]) -> Any:
    if not coll:
        return []
    return html_checks(_value(_single(coll, "htmlChecks")))


def _fn_resolve(ctx: dict[str, Any], coll: list[Any]) -> list[Any]:
    state = _state(ctx)
    out: list[Any] = []
    for item in coll:
        value = _value(item)
        if isinstance(value, Mapping):
            value = value.get("reference")
        if not isinstance(value, str) or not value:
            continue
        target = resolve_locally(
            value, resource=state.resource, container=state.root_resource, bundle=state.bundle
        )
        if target is None and state.resolve_reference is not None:
            target = state.resolve_reference(value, ReferenceContext(state.resource, state.bundle))
        if isinstance(target, Mapping):
            out.append(ResourceNode(target, target.get("resourceType")))
    return out


def resolve_locally(
    reference: str, *, resource: Any, container: Any, bundle: Any
) -> Mapping[str, Any] | None:
    """Find a referenced resource among contained resources or the entries of the enclosing Bundle.

    Args:
        reference: The reference text (``#id``, ``#``, ``Type/id``, an absolute URL, ``urn:uuid:…``).
        resource: The resource holding the reference.
        container: The resource's container (``%rootResource``; the resource itself if not contained).
        bundle: The outermost resource; searched when it is a Bundle.

    Returns:
        The resource, or None when it is not found locally.
    """
    if reference.startswith("#"):
        if reference == "#":
            return container if isinstance(container, Mapping) and container is not resource else None
        for holder in (container, resource):
            if isinstance(holder, Mapping):
                for contained in holder.get("contained") or ():
                    if isinstance(contained, Mapping) and contained.get("id") == reference[1:]:
                        return contained
        return None
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        return None
    entries = [e for e in bundle.get("entry") or () if isinstance(e, Mapping)]
    wanted = reference.split("/_history/")[0]
    candidates = {wanted}
    is_relative = "://" not in wanted and not wanted.startswith("urn:")
    if is_relative:
        holder = container if isinstance(container, Mapping) else resource
        for entry in entries:
            full_url = entry.get("fullUrl")
            if entry.get("resource") is holder and isinstance(full_url, str):
                match = re.match(r"^(.*/)[A-Za-z]+/[^/]+$", full_url)
                if match:
                    candidates.add(match.group(1) + wanted)
                break
    for entry in entries:
        target = entry.get("resource")
        if not isinstance(target, Mapping):
            continue
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url in candidates:
            return target
        if is_relative and f"{target.get('resourceType')}/{target.get('id')}" == wanted:
            return target
    return None


def _fn_low_boundary(ctx: dict[str, Any], coll: list[Any], precision: Any = None) -> Any:
    if not coll:
        return []
    item = _single(coll, "lowBoundary")
    return boundary(_value(item), _type_of(item), precision, high=False)


def _fn_high_boundary(ctx: dict[str, Any], coll: list[Any], precision: Any = None) -> Any:
    if not coll:
        return []
    item = _single(coll, "highBoundary")
    return boundary(_value(item), _type_of(item), precision, high=True)


def _valued(coll: Any) -> Any:
    if isinstance(coll, list) and any(isinstance(x, ResourceNode) and x.data is None for x in coll):
        return [x for x in coll if not (isinstance(x, ResourceNode) and x.data is None)]
    return coll


def _without_valueless(name: str) -> dict[str, Any]:
    """An operator that sees a primitive without a value (only extensions) as empty, not as a null."""
    base = cast(dict[str, Any], invocation_registry[name])
    original = base["fn"]

    def fn(ctx: dict[str, Any], a: Any, b: Any) -> Any:
        a, b = _valued(a), _valued(b)
        if "nullable" in base and (util.is_nullable(a) or util.is_nullable(b)):
            return []
        return original(ctx, a, b)

    return {**base, "fn": fn}


def _no_trace(label: str, value: Any) -> None:
    return None


INVOCATION_TABLE: dict[str, dict[str, Any]] = {
    "children": {"fn": _fn_children},
    "descendants": {"fn": _fn_descendants},
    "extension": {"fn": _fn_extension, "arity": {1: ["String"]}},
    "hasValue": {"fn": _fn_has_value},
    "getValue": {"fn": _fn_get_value},
    "as": {"fn": _fn_as, "arity": {1: ["TypeSpecifier"]}},
    "toBoolean": {"fn": _fn_to_boolean},
    "memberOf": {"fn": _fn_member_of, "arity": {1: ["String"]}},
    "conformsTo": {"fn": _fn_conforms_to, "arity": {1: ["String"]}},
    "resolve": {"fn": _fn_resolve},
    "htmlChecks": {"fn": _fn_html_checks},
    "lowBoundary": {"fn": _fn_low_boundary, "arity": {0: [], 1: ["Integer"]}},
    "highBoundary": {"fn": _fn_high_boundary, "arity": {0: [], 1: ["Integer"]}},
    **{
        op: _without_valueless(op)
        for op in ("=", "!=", "<", ">", "<=", ">=", "~", "!~", "inOp", "containsOp")
    },
}

SUPPORTED_FUNCTIONS: frozenset[str] = frozenset(invocation_registry) | frozenset(INVOCATION_TABLE)


class _Variables(dict[str, Any]):
    """Environment variables, with the FHIR ``%vs-name`` and ``%ext-name`` shorthands."""

    @staticmethod
    def _constant(name: object) -> str | None:
        if not isinstance(name, str):
            return None
        if name.startswith("vs-") and len(name) > 3:
            return f"http://hl7.org/fhir/ValueSet/{name[3:]}"
        if name.startswith("ext-") and len(name) > 4:
            return f"http://hl7.org/fhir/StructureDefinition/{name[4:]}"
        return _ENV_CONSTANTS.get(name)

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, name) or self._constant(name) is not None

    def __getitem__(self, name: Any) -> Any:
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        constant = self._constant(name)
        if constant is None:
            raise KeyError(name)
        return constant


def wrap(value: Any, type_name: str | None, primitive_ext: Mapping[str, Any] | None = None) -> ResourceNode:
    """A fhirpathpy node for a JSON value of a known FHIR type (``_name`` part in ``primitive_ext``)."""
    ext = primitive_ext if isinstance(primitive_ext, Mapping) and not isinstance(value, Mapping) else None
    return ResourceNode(value, type_name, ext)


def run(
    ast: Mapping[str, Any],
    node: ResourceNode,
    state: EvalState,
    variables: Mapping[str, Any] | None = None,
) -> list[Any]:
    """Evaluate a parsed expression on a node; exceptions from the expression propagate."""
    constants.reset()
    data_root = [node]
    # fhirpathpy hands a list variable to the expression as is, and unary minus negates in place
    env = _Variables({k: list(v) if isinstance(v, list) else v for k, v in (variables or {}).items()})
    env["context"] = node
    env["resource"] = wrap(state.resource, None) if state.resource is not None else []
    env["rootResource"] = wrap(state.root_resource, None) if state.root_resource is not None else []
    ctx: dict[str, Any] = {
        "dataRoot": data_root,
        "vars": env,
        "model": R4_MODEL,
        "userInvocationTable": INVOCATION_TABLE,
        "traceFn": _no_trace,
        STATE_KEY: state,
    }
    TypeInfo.model = R4_MODEL  # type: ignore[assignment] # fhirpathpy sets it the same way in is()
    result = do_eval(ctx, data_root, ast["children"][0])
    return util.arraify(result)


def plain(items: list[Any]) -> list[Any]:
    """Evaluation results as plain values: JSON, Decimal, FHIRPath literal text for date/time/quantity."""
    out: list[Any] = []
    for item in items:
        value = item.data if isinstance(item, ResourceNode) else item
        if value is None:
            continue
        if isinstance(value, FP_Type):
            value = literal_text(value)
        elif isinstance(value, float):
            value = Decimal(str(value))
        out.append(value)
    return out
