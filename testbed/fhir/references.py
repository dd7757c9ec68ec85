"""Reference format, target type and (when resolvable) target profile checks."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from testbed.core.issues import IssueCode, Severity
from testbed.fhir.structure import SD_BASE

if TYPE_CHECKING:
    from testbed.fhir._run import Run
    from testbed.fhir.structure import ElementDef, TypeRef
    from testbed.fhir.validator import FhirValidator

REST_REF = re.compile(
    r"^(?:(?P<base>https?://\S+?)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/(?P<vid>[A-Za-z0-9\-.]{1,64}))?$"
)
UUID_URN = re.compile(r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OID_URN = re.compile(r"^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$")


def resolve_local(run: Run, ref: str) -> dict[str, Any] | None:
    """The resource a reference points to inside the current resource or Bundle, if any."""
    if ref.startswith("#"):
        if ref == "#":
            return run.resource
        contained = run.resource.get("contained")
        for c in contained if isinstance(contained, list) else ():
            if isinstance(c, dict) and c.get("id") == ref[1:]:
                return c
        return None
    if run.bundle is None:
        return None
    found = run.bundle.get(ref)
    if found is None:
        m = REST_REF.match(ref)
        if m:
            found = run.bundle.get(f"{m['type']}/{m['id']}")
    return found


def check_reference(
    v: FhirValidator, run: Run, value: dict[str, Any], elem: ElementDef, tref: TypeRef, path: str
) -> None:
    """Check a Reference: format, contained/bundle resolution, allowed target types and profiles."""
    ref = value.get("reference")
    allowed = _allowed_types(v, tref)
    declared = value.get("type")
    if isinstance(declared, str) and allowed and "Resource" not in allowed and declared not in allowed:
        run.add(
            Severity.ERROR,
            IssueCode.STRUCTURE,
            f"{path}.type",
            f"Reference type '{declared}' is not allowed here (allowed: {', '.join(sorted(allowed))}).",
            elem.id,
        )
    if not isinstance(ref, str):
        return
    target_type: str | None = None
    if ref.startswith("#"):
        if resolve_local(run, ref) is None:
            run.add(
                Severity.ERROR,
                IssueCode.NOT_FOUND,
                f"{path}.reference",
                f"'{ref}' points to a contained resource that this resource does not contain.",
                elem.id,
            )
            return
    elif ref.startswith("urn:uuid:"):
        if not UUID_URN.match(ref):
            run.add(
                Severity.ERROR,
                IssueCode.VALUE,
                f"{path}.reference",
                f"'{ref}' is not a valid urn:uuid (lower-case 8-4-4-4-12 hexadecimal).",
                elem.id,
            )
            return
    elif ref.startswith("urn:oid:"):
        if not OID_URN.match(ref):
            run.add(
                Severity.ERROR,
                IssueCode.VALUE,
                f"{path}.reference",
                f"'{ref}' is not a valid urn:oid.",
                elem.id,
            )
            return
    else:
        m = REST_REF.match(ref)
        if m:
            target_type = m["type"]
            if not v.ctx.is_resource_type(target_type):
                run.add(
                    Severity.ERROR,
                    IssueCode.VALUE,
                    f"{path}.reference",
                    f"'{ref}' names '{target_type}', which is not a FHIR R4 resource type.",
                    elem.id,
                )
                return
        elif "://" not in ref:
            run.add(
                Severity.ERROR,
                IssueCode.VALUE,
                f"{path}.reference",
                f"'{ref}' is not a valid reference: expected Type/id, an absolute URL, #id "
                f"or a urn:uuid/urn:oid.",
                elem.id,
            )
            return
    resolved = resolve_local(run, ref)
    if resolved is not None:
        rtype = resolved.get("resourceType")
        if isinstance(rtype, str):
            if target_type and rtype != target_type:
                run.add(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    f"{path}.reference",
                    f"'{ref}' names a {target_type} but resolves to a {rtype}.",
                    elem.id,
                )
            target_type = rtype
    if isinstance(declared, str) and target_type and declared != target_type:
        run.add(
            Severity.ERROR,
            IssueCode.STRUCTURE,
            f"{path}.type",
            f"Reference type '{declared}' does not match the referenced {target_type}.",
            elem.id,
        )
    if target_type and allowed and "Resource" not in allowed and target_type not in allowed:
        run.add(
            Severity.ERROR,
            IssueCode.STRUCTURE,
            f"{path}.reference",
            f"A reference to a {target_type} is not allowed here (allowed: {', '.join(sorted(allowed))}).",
            elem.id,
            elem.requirements,
        )
        return
    if resolved is not None and target_type:
        _check_target_profiles(v, run, resolved, target_type, tref, path, elem)


def _allowed_types(v: FhirValidator, tref: TypeRef) -> set[str]:
    out: set[str] = set()
    for tp in tref.target_profiles:
        t = v.ctx.profile_type(tp)
        if t is None and tp.startswith(SD_BASE):
            t = tp[len(SD_BASE) :]
        if t:
            out.add(t)
    return out


def _check_target_profiles(
    v: FhirValidator,
    run: Run,
    resolved: dict[str, Any],
    target_type: str,
    tref: TypeRef,
    path: str,
    elem: ElementDef,
) -> None:
    profiles = [
        tp
        for tp in tref.target_profiles
        if tp != SD_BASE + target_type and v.ctx.profile_type(tp) == target_type
    ]
    if not profiles:
        return
    if not any(v.conforms(resolved, p, run, path) for p in profiles):
        run.add(
            Severity.ERROR,
            IssueCode.STRUCTURE,
            f"{path}.reference",
            f"The referenced {target_type} does not conform to {' or '.join(profiles)}.",
            elem.id,
            elem.requirements,
        )
