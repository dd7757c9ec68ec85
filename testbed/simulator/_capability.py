"""The CapabilityStatement this SMR serves: the content's SMR statement, made true of this server.

The national package's server CapabilityStatement (``kind`` = requirements) is copied and becomes an
``instance`` statement: ``url`` and ``implementation.url`` name this server's base, the oauth-uris
extension its real token URL, every interaction and search parameter the simulator offers beyond the
requirements is added (``vread``, ``history-instance``, ``delete``, ``batch``, more parameters,
``searchInclude``/``searchRevInclude``), and in open mode the security description says, first, that
nothing is authorized.
"""

from __future__ import annotations

import copy
from typing import Any

from testbed import __version__
from testbed.core.errors import PackageError
from testbed.national import NationalContent
from testbed.packages import PackageRegistry
from testbed.simulator._index import PARAMS, READ_ONLY

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
OPEN_MODE_NOTE = (
    "OPEN MODE: this SMR simulator runs WITHOUT AUTHORIZATION (testbed smr serve --open); every request is "
    "accepted without a token. Never use it with real data."
)


def content_statement(registry: PackageRegistry, national: NationalContent) -> dict[str, Any]:
    """The national package's server CapabilityStatement.

    Raises:
        PackageError: the content has none.
    """
    for statement in registry.iter_resources("CapabilityStatement"):
        url = str(statement.get("url") or "")
        rest = statement.get("rest") or []
        if url.startswith(national.canonical) and any(r.get("mode") == "server" for r in rest):
            return statement
    raise PackageError(f"{national.package} declares no server CapabilityStatement for the SMR actor.")


def served_statement(
    source: dict[str, Any], *, base_url: str, token_url: str, open_mode: bool, date: str
) -> dict[str, Any]:
    """The CapabilityStatement of this running SMR (see the module docstring)."""
    out = copy.deepcopy(source)
    out.pop("id", None)
    out.pop("meta", None)
    out.pop("text", None)
    out["url"] = f"{base_url}/metadata"
    out["instantiates"] = [str(source.get("url"))]
    out["kind"] = "instance"
    out["date"] = date
    out["software"] = {"name": "testbed reference SMR simulator", "version": __version__}
    out["implementation"] = {"description": "testbed reference SMR simulator", "url": base_url}
    out["format"] = ["json"]
    for rest in out.get("rest") or []:
        if rest.get("mode") != "server":
            continue
        _security(rest, base_url, token_url, open_mode)
        for resource in rest.get("resource") or []:
            _resource(resource)
        known = {i.get("code") for i in rest.get("interaction") or []}
        rest.setdefault("interaction", [])
        for code in ("transaction", "batch"):
            if code not in known:
                rest["interaction"].append({"code": code})
    return out


def _security(rest: dict[str, Any], base_url: str, token_url: str, open_mode: bool) -> None:
    security = rest.setdefault("security", {})
    for ext in security.get("extension") or []:
        if ext.get("url") != OAUTH_URIS:
            continue
        for sub in ext.get("extension") or []:
            if sub.get("url") == "token":
                sub["valueUri"] = token_url
            elif sub.get("url") == "authorize":
                sub["valueUri"] = f"{base_url}/auth/authorize"
    if open_mode:
        security["description"] = f"{OPEN_MODE_NOTE} {security.get('description') or ''}".strip()


def _resource(resource: dict[str, Any]) -> None:
    rtype = str(resource.get("type"))
    params = PARAMS.get(rtype)
    if params is None:
        return
    interactions = resource.setdefault("interaction", [])
    have = {i.get("code") for i in interactions}
    wanted = ["read", "vread", "history-instance", "search-type"]
    if rtype not in READ_ONLY:
        wanted += ["create", "update", "delete"]
    interactions.extend({"code": code} for code in wanted if code not in have)
    resource["versioning"] = "versioned"
    resource["readHistory"] = True
    resource["updateCreate"] = rtype not in READ_ONLY
    resource["conditionalCreate"] = rtype not in READ_ONLY
    resource["conditionalUpdate"] = False
    resource["conditionalDelete"] = "not-supported"
    search = resource.setdefault("searchParam", [])
    named = {p.get("name") for p in search}
    for name, kind in [("_id", "token"), ("_lastUpdated", "date"), *((p.name, p.kind) for p in params)]:
        if name not in named:
            search.append({"name": name, "type": kind})
    references = [p.name for p in params if p.kind == "reference"]
    if references:
        resource["searchInclude"] = [f"{rtype}:{name}" for name in references]
    rev = sorted(
        f"{other}:{p.name}"
        for other, others in PARAMS.items()
        for p in others
        if p.kind == "reference" and (not p.targets or rtype in p.targets) and other != rtype
    )
    if rev and rtype == "Patient":
        resource["searchRevInclude"] = rev
