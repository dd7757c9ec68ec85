"""Bundle-level checks: fullUrl consistency and references that must resolve inside the Bundle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from testbed.core.issues import IssueCode, Severity
from testbed.fhir.references import OID_URN, REST_REF, UUID_URN

if TYPE_CHECKING:
    from testbed.fhir._run import Run
    from testbed.fhir.validator import FhirValidator


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    return entries if isinstance(entries, list) else []


def index_bundle(bundle: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """FullUrl (and ``Type/id`` for RESTful fullUrls) → entry resource."""
    index: dict[str, dict[str, Any]] = {}
    for entry in _entries(bundle):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        res = entry["resource"]
        full = entry.get("fullUrl")
        if isinstance(full, str):
            index.setdefault(full, res)
            m = REST_REF.match(full)
            if m:
                index.setdefault(f"{m['type']}/{m['id']}", res)
        elif isinstance(res.get("resourceType"), str) and isinstance(res.get("id"), str):
            index.setdefault(f"{res['resourceType']}/{res['id']}", res)
    return index


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            yield ref
        for k, v in value.items():
            if k != "contained":
                yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


def check_bundle(v: FhirValidator, run: Run, bundle: dict[str, Any], path: str) -> None:
    """Check fullUrl format and consistency with ids, and references that must resolve inside."""
    btype = bundle.get("type")
    index = index_bundle(bundle)
    for i, entry in enumerate(_entries(bundle)):
        if not isinstance(entry, dict):
            continue
        loc = f"{path}.entry[{i}]"
        full = entry.get("fullUrl")
        res = entry.get("resource")
        if isinstance(full, str):
            _check_full_url(run, full, res, loc)
        elif isinstance(res, dict) and btype in ("document", "message", "transaction", "collection"):
            run.add(
                Severity.WARNING,
                IssueCode.REQUIRED,
                loc,
                "The entry has no fullUrl, so other entries cannot reference its resource.",
            )
        if not isinstance(res, dict):
            continue
        for ref in _references(res):
            if ref.startswith("#"):
                continue
            if ref.startswith("urn:uuid:") or ref.startswith("urn:oid:"):
                if ref not in index:
                    run.add(
                        Severity.ERROR,
                        IssueCode.NOT_FOUND,
                        f"{loc}.resource",
                        f"Reference '{ref}' does not resolve to any entry of the Bundle.",
                    )
            elif btype == "document" and ref not in index and not _resolves_rest(ref, index):
                run.add(
                    Severity.WARNING,
                    IssueCode.NOT_FOUND,
                    f"{loc}.resource",
                    f"Reference '{ref}' is not in the document Bundle; a document should be self-contained.",
                )


def _resolves_rest(ref: str, index: dict[str, dict[str, Any]]) -> bool:
    m = REST_REF.match(ref)
    return m is not None and f"{m['type']}/{m['id']}" in index


def _check_full_url(run: Run, full: str, res: Any, loc: str) -> None:
    if full.startswith("urn:uuid:"):
        if not UUID_URN.match(full):
            run.add(Severity.ERROR, IssueCode.VALUE, f"{loc}.fullUrl", f"'{full}' is not a valid urn:uuid.")
        return
    if full.startswith("urn:oid:"):
        if not OID_URN.match(full):
            run.add(Severity.ERROR, IssueCode.VALUE, f"{loc}.fullUrl", f"'{full}' is not a valid urn:oid.")
        return
    if "://" not in full:
        run.add(
            Severity.ERROR,
            IssueCode.VALUE,
            f"{loc}.fullUrl",
            f"fullUrl '{full}' must be an absolute URL or a urn:uuid/urn:oid.",
        )
        return
    if not isinstance(res, dict):
        return
    rid, rtype = res.get("id"), res.get("resourceType")
    m = REST_REF.match(full)
    if m and isinstance(rid, str) and isinstance(rtype, str) and (m["type"] != rtype or m["id"] != rid):
        run.add(
            Severity.ERROR,
            IssueCode.INVALID,
            f"{loc}.fullUrl",
            f"fullUrl '{full}' does not match the resource it holds ({rtype}/{rid}).",
        )
