"""FHIRPath for the FHIR validator: compile once, evaluate on FHIR JSON, check invariants.

Built on fhirpathpy 2.2.4 (R4 model) with the fixes and FHIR functions of
:mod:`testbed.fhir._fhirpath_runtime`, and native Python versions of the hot core invariants
(:mod:`testbed.fhir._fhirpath_native`) used when a constraint's expression text is exactly the core one.
Other expressions inside a common subset (e.g. profile invariants such as ``name.all(given.exists())``)
run as compiled Python closures (:mod:`testbed.fhir._fhirpath_fast`) giving the same results as the
general evaluator, which takes over whenever the fast path cannot answer exactly.

Input JSON is never modified (fhirpathpy only reads it; a test checks every core invariant on every
example resource against a deep copy).

A constraint holds when its expression evaluates to ``true``; ``false`` is a violation. An empty
result, a collection of several items, an error or a function the engine lacks gives
``ConstraintResult(None, reason)``: the invariant could not be decided, and the caller says so
rather than passing or failing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode

from testbed.core.errors import TestbedError
from testbed.fhir import _fhirpath_runtime as rt
from testbed.fhir._fhirpath_fast import FastExpression, compile_fast
from testbed.fhir._fhirpath_native import NATIVE, NativeCheck
from testbed.fhir._fhirpath_result import FAIL, PASS, ConstraintResult
from testbed.fhir._fhirpath_runtime import ReferenceContext, resolve_locally

__all__ = [
    "Compiled",
    "ConstraintResult",
    "FhirPathEngine",
    "FhirPathError",
    "FhirPathUndecided",
    "ReferenceContext",
    "resolve_locally",
]

_CACHE_FORMAT = f"testbed-fhirpath-ast/1 fhirpathpy/{fhirpathpy.__version__}"


class FhirPathError(TestbedError):
    """A FHIRPath expression cannot be compiled or evaluated."""


class FhirPathUndecided(FhirPathError):  # noqa: N818 - reads as an outcome
    """An evaluation needed an answer the environment could not give (terminology, resolution)."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled FHIRPath expression.

    Attributes:
        expression: The source text.
        ast: fhirpathpy's parse tree (a JSON-compatible dict).
        unsupported: Functions the expression calls that this engine does not implement.
        native: The native Python check used for this exact text, if any.
    """

    expression: str
    ast: Mapping[str, Any]
    unsupported: frozenset[str]
    native: NativeCheck | None


class FhirPathEngine:
    """Evaluates FHIRPath on FHIR R4 JSON and checks ElementDefinition constraints.

    Args:
        member_of: ``member_of(value, valueset_url)`` for ``memberOf()``: the value is the JSON of a
            code (str), Coding or CodeableConcept (dict); returns True/False, or None when it cannot
            tell (the constraint is then undecided).
        resolve_reference: ``resolve_reference(reference, context)`` for ``resolve()`` when the
            target is neither contained nor in the enclosing Bundle; ``context`` is a
            :class:`ReferenceContext`. Returns the resource JSON or None.
        conforms_to: ``conforms_to(resource, profile_url)`` for ``conformsTo()``: True/False, or None.
        use_native: Use the native versions of the core invariants (turn off to compare them with
            the general evaluator).
        use_fast: Run expressions of the fast subset as compiled Python (turn off to compare).
    """

    def __init__(
        self,
        *,
        member_of: Callable[[Any, str], bool | None] | None = None,
        resolve_reference: Callable[[str, Any], Any | None] | None = None,
        conforms_to: Callable[[Any, str], bool | None] | None = None,
        use_native: bool = True,
        use_fast: bool = True,
    ) -> None:
        self._member_of = member_of
        self._resolve_reference = resolve_reference
        self._conforms_to = conforms_to
        self._native = NATIVE if use_native else {}
        self._use_fast = use_fast
        self._fast: dict[str, FastExpression | None] = {}
        self._compiled: dict[str, Compiled] = {}
        self._syntax_errors: dict[str, str] = {}
        self._asts: dict[str, Mapping[str, Any]] = {}
        self._root_memo: tuple[Any, Any, Any] = (None, None, None)

    # ------------------------------------------------------------------------------------ compiling

    def compile(self, expression: str) -> Compiled:
        """Compile an expression (cached by its text).

        Raises:
            FhirPathError: The text is not valid FHIRPath.
        """
        compiled = self._compiled.get(expression)
        if compiled is not None:
            return compiled
        if expression in self._syntax_errors:
            raise FhirPathError(self._syntax_errors[expression])
        if not isinstance(expression, str):
            raise FhirPathError(f"a FHIRPath expression must be a string, not {type(expression).__name__}")
        ast = self._asts.get(expression)
        if ast is None:
            try:
                ast = rt.parse_expression(expression)
            except rt.SyntaxProblem as exc:
                message = f"invalid FHIRPath expression {expression!r}: {exc}"
                self._syntax_errors[expression] = message
                raise FhirPathError(message) from None
            except RecursionError:
                message = f"FHIRPath expression {expression!r} is nested too deeply to parse"
                self._syntax_errors[expression] = message
                raise FhirPathError(message) from None
            self._asts[expression] = ast
        unsupported = frozenset(rt.function_names(ast) - rt.SUPPORTED_FUNCTIONS)
        compiled = Compiled(expression, ast, unsupported, self._native.get(expression))
        self._compiled[expression] = compiled
        return compiled

    def export_cache(self) -> dict[str, Any]:
        """The parse trees compiled so far, as JSON-compatible (and picklable) data.

        Give it back to :meth:`import_cache` in another process to skip parsing.
        """
        return {"format": _CACHE_FORMAT, "asts": dict(self._asts)}

    def import_cache(self, data: Mapping[str, Any]) -> int:
        """Load parse trees saved by :meth:`export_cache` (saves re-parsing; ~1-15 ms per expression).

        Returns:
            How many were loaded; 0 when the data was written by another format or fhirpathpy version.

        Raises:
            FhirPathError: The data is not a cache export.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("asts"), Mapping):
            raise FhirPathError("not a FHIRPath cache export (expected a mapping with 'format' and 'asts')")
        if data.get("format") != _CACHE_FORMAT:
            return 0
        loaded = 0
        for expression, ast in data["asts"].items():
            if not isinstance(expression, str) or not isinstance(ast, Mapping) or not ast.get("children"):
                raise FhirPathError(f"corrupt FHIRPath cache entry for {expression!r}")
            if expression not in self._asts:
                self._asts[expression] = ast
                loaded += 1
        return loaded

    # ----------------------------------------------------------------------------------- evaluating

    def evaluate(
        self,
        expression: str,
        node: Any,
        *,
        type_name: str | None,
        resource: Any,
        root_resource: Any,
        variables: Mapping[str, Any] | None = None,
        extension: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Evaluate an expression on one element.

        Args:
            expression: FHIRPath text.
            node: The element's JSON value (dict for a complex element or resource, Python value for a
                primitive, None for a primitive that only has extensions).
            type_name: Its FHIR type ("Identifier", "Patient", "string"); for a backbone element its
                path ("Patient.contact") so that its children are typed.
            resource: ``%resource``: the resource holding the element (a contained or Bundle entry
                resource for elements inside one).
            root_resource: The outermost resource (e.g. the Bundle). ``%rootResource`` is the
                container of ``resource`` (itself unless contained; a Bundle is not the
                container of its entries); ``resolve()`` searches the Bundle.
            variables: Extra ``%name`` variables.
            extension: For a primitive, the JSON of its ``_name`` sibling (the object holding its
                ``id`` and ``extension``), so that ``extension``, ``hasValue()`` and ``ele-1`` see them.

        Returns:
            The result items as plain values: JSON values (dict for complex ones), Decimal for
            decimals, FHIRPath literal text for date/time/quantity results. Primitives without a value
            are left out.

        Raises:
            FhirPathError: Invalid expression, unsupported function, or an evaluation error;
                :class:`FhirPathUndecided` when terminology/resolution could not answer.
        """
        compiled = self.compile(expression)
        if compiled.unsupported:
            raise FhirPathError(self._unsupported_reason(compiled))
        if not variables:
            fast = self._run_fast(compiled, node, type_name, extension, resource, root_resource)
            if fast is not None:
                return rt.plain(fast)
        try:
            result = self._run(compiled, node, type_name, extension, resource, root_resource, variables)
        except rt.Undetermined as exc:
            raise FhirPathUndecided(f"{expression!r}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - fhirpathpy raises bare Exception/ValueError/KeyError
            raise FhirPathError(f"error evaluating {expression!r}: {_describe(exc)}") from None
        return rt.plain(result)

    def native_check(self, expression: str) -> NativeCheck | None:
        """The native implementation of an expression, if it is one of the hot core invariants.

        It is called as ``check(node, extension, resource, root, key)`` and returns True when the
        invariant holds; any other answer should go through :meth:`check_constraint` for its reason.
        """
        return self._native.get(expression)

    def check_constraint(
        self,
        key: str,
        expression: str,
        node: Any,
        *,
        type_name: str | None,
        resource: Any,
        root_resource: Any,
        extension: Mapping[str, Any] | None = None,
    ) -> ConstraintResult:
        """Check one constraint (invariant) on one element; never raises.

        Arguments are as for :meth:`evaluate`; ``key`` (e.g. "ele-1") names the constraint in reasons.
        """
        native = self._native.get(expression)
        if native is not None:
            if root_resource is resource or root_resource is None:
                root = resource
            else:
                root = self._root_of(resource, root_resource)
            try:
                value = native(node, extension, resource, root, key)
            except Exception as exc:  # noqa: BLE001 - a defect here must not abort validation
                return ConstraintResult(None, f"{key}: error in the native check: {_describe(exc)}")
            if value is True:
                return PASS
            if value is False:
                return FAIL
            return _outcome(key, value)
        try:
            compiled = self.compile(expression)
        except FhirPathError as exc:
            return ConstraintResult(None, f"{key}: {exc}")
        if compiled.unsupported:
            return ConstraintResult(None, f"{key}: {self._unsupported_reason(compiled)}")
        fast = self._run_fast(compiled, node, type_name, extension, resource, root_resource)
        if fast is not None:
            return _outcome(key, _to_boolean(fast))
        try:
            result = self._run(compiled, node, type_name, extension, resource, root_resource, None)
        except rt.Undetermined as exc:
            return ConstraintResult(None, f"{key}: {exc}")
        except RecursionError:
            return ConstraintResult(None, f"{key}: evaluation nested too deeply")
        except Exception as exc:  # noqa: BLE001 - fhirpathpy raises bare Exception/ValueError/KeyError
            return ConstraintResult(None, f"{key}: error evaluating {expression!r}: {_describe(exc)}")
        return _outcome(key, _to_boolean(result))

    # -------------------------------------------------------------------------------------- helpers

    def _run(
        self,
        compiled: Compiled,
        node: Any,
        type_name: str | None,
        primitive_ext: Mapping[str, Any] | None,
        resource: Any,
        root_resource: Any,
        variables: Mapping[str, Any] | None,
    ) -> list[Any]:
        state = rt.EvalState(
            resource=resource,
            root_resource=self._root_of(resource, root_resource),
            bundle=root_resource,
            member_of=self._member_of,
            resolve_reference=self._resolve_reference,
            conforms_to=self._conforms_to,
        )
        return rt.run(compiled.ast, rt.wrap(node, type_name, primitive_ext), state, variables)

    def _run_fast(
        self,
        compiled: Compiled,
        node: Any,
        type_name: str | None,
        primitive_ext: Mapping[str, Any] | None,
        resource: Any,
        root_resource: Any,
    ) -> list[Any] | None:
        """The result by the fast path, or None when the general evaluator must give it."""
        if not self._use_fast:
            return None
        expression = compiled.expression
        if expression in self._fast:
            fast = self._fast[expression]
        else:
            fast = self._fast[expression] = compile_fast(compiled.ast)
        if fast is None:
            return None
        root = self._root_of(resource, root_resource) if fast.uses_root else None
        try:
            return fast.run(node, type_name, primitive_ext, resource, root)
        except Exception:  # noqa: BLE001 - Fallback, or a case to leave to the general evaluator
            return None

    def _root_of(self, resource: Any, root_resource: Any) -> Any:
        """``%rootResource``: the container of ``resource`` (a Bundle contains, but is no container)."""
        if root_resource is None or resource is None or root_resource is resource:
            return root_resource if root_resource is not None else resource
        if not isinstance(root_resource, Mapping) or root_resource.get("resourceType") != "Bundle":
            return root_resource
        memo = self._root_memo
        if memo[0] is root_resource and memo[1] is resource:
            return memo[2]
        found = _container_in_bundle(root_resource, resource)
        root = found if found is not None else resource
        self._root_memo = (root_resource, resource, root)
        return root

    @staticmethod
    def _unsupported_reason(compiled: Compiled) -> str:
        names = ", ".join(f"{n}()" for n in sorted(compiled.unsupported))
        return f"FHIRPath function(s) not supported by this engine: {names}"


def _container_in_bundle(bundle: Mapping[str, Any], resource: Any) -> Any:
    stack = [bundle]
    while stack:
        current = stack.pop()
        for entry in current.get("entry") or ():
            target = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(target, Mapping):
                continue
            if target is resource:
                return target
            if any(c is resource for c in target.get("contained") or ()):
                return target
            if target.get("resourceType") == "Bundle":
                stack.append(target)
    return None


def _to_boolean(result: list[Any]) -> bool | None | ConstraintResult:
    if not result:
        return None
    if len(result) > 1:
        return ConstraintResult(None, f"evaluated to {len(result)} items, not a single boolean")
    value = result[0].data if isinstance(result[0], ResourceNode) else result[0]
    if isinstance(value, bool):
        return value
    return True  # FHIRPath singleton evaluation: a single non-boolean item counts as true


def _outcome(key: str, value: bool | None | ConstraintResult) -> ConstraintResult:
    if value is True:
        return PASS
    if value is False:
        return FAIL
    if value is None:
        return ConstraintResult(None, f"{key}: the expression evaluated to empty (neither true nor false)")
    if value.ok is None and value.reason and not value.reason.startswith(f"{key}:"):
        return ConstraintResult(None, f"{key}: {value.reason}")
    return value


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
