"""Terminology bindings of coded elements, with severities by binding strength."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from testbed.core.issues import IssueCode, Severity

if TYPE_CHECKING:
    from testbed.fhir._run import Run
    from testbed.fhir.context import FhirContext
    from testbed.fhir.structure import ElementDef

_MISS = {
    "required": Severity.ERROR,
    "extensible": Severity.WARNING,
    "preferred": Severity.INFORMATION,
    "example": Severity.INFORMATION,
}
_UNCHECKABLE = {
    "required": Severity.WARNING,
    "extensible": Severity.WARNING,
    "preferred": Severity.INFORMATION,
    "example": Severity.INFORMATION,
}


SPEC_SHORTHANDS = {"CapabilityStatement.format": frozenset({"xml", "json", "ttl"})}
"""Codes an element's R4 definition allows beside its value set ("xml | json | ttl | mime type")."""


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _clean_coding(coding: dict[str, Any]) -> dict[str, str]:
    """The string parts of a Coding (malformed parts are reported by the structure checks)."""
    return {k: coding[k] for k in ("system", "code", "display", "version") if isinstance(coding.get(k), str)}


def check_binding(
    ctx: FhirContext, run: Run, value: Any, elem: ElementDef, type_code: str, path: str
) -> None:
    """Check a coded value against its element's binding and record issues on the run.

    A code outside a required value set is an error, extensible a warning, preferred and example
    information. A code that cannot be checked offline gives a warning (information for weak bindings).
    """
    vs = elem.binding_value_set
    strength = elem.binding_strength or "example"
    if vs is None:
        return
    term = ctx.terminology
    if type_code in ("code", "string", "uri"):
        if not isinstance(value, str) or value in SPEC_SHORTHANDS.get(elem.path, ()):
            return
        result = term.validate_code(vs, system=None, code=value)
    elif type_code in ("Coding", "Quantity"):
        if not isinstance(value, dict) or not isinstance(value.get("code"), str):
            return
        display = _text(value.get("display")) if type_code == "Coding" else None
        result = term.validate_code(
            vs, system=_text(value.get("system")), code=value["code"], display=display
        )
    elif type_code == "CodeableConcept":
        if not isinstance(value, dict):
            return
        raw = value.get("coding")
        codings = [_clean_coding(c) for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
        codings = [c for c in codings if c]
        if not codings:
            if strength == "required":
                run.add(
                    Severity.ERROR,
                    IssueCode.CODE_INVALID,
                    path,
                    f"No coding given, but a code from the value set {vs} is required.",
                    elem.id,
                    elem.requirements,
                )
            return
        result = term.validate_codings(vs, codings)
    else:
        return
    for version in result.versions:
        url, _, ver = version.partition("|")
        run.versions[url] = ver
    if result.valid is True:
        if result.display_issue:
            run.add(Severity.WARNING, IssueCode.CODE_INVALID, path, result.display_issue, elem.id)
        return
    if result.valid is False:
        run.add(
            _MISS[strength],
            IssueCode.CODE_INVALID,
            path,
            f"{result.message.rstrip('.')} ({strength} binding).",
            elem.id,
            elem.requirements,
        )
        return
    run.add(
        _UNCHECKABLE[strength],
        IssueCode.NOT_SUPPORTED,
        path,
        f"{result.message.rstrip('.')} ({strength} binding to {vs}; not checked).",
        elem.id,
        elem.requirements,
    )
