"""Step executors: each turns a rendered step into an exchange (the subject of the step's assertions).

``fhir`` and ``submit_document`` send an HTTP request to the system under test; ``mllp`` sends an
HL7 v2 message; ``connect`` probes the TLS versions the server accepts; ``trigger`` drives the
vendor's client and ``wait_inbound`` waits for what that client sends to the testbed's simulator.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from testbed.scenarios.auth import AuthChoice
from testbed.scenarios.exchange import Exchange
from testbed.scenarios.inbound import InboundFilter
from testbed.scenarios.results import StepError, StepFailure, StepResult, StepSkipped
from testbed.scenarios.transport import TransportFailure, now_iso
from testbed.scenarios.trigger import write_files

if TYPE_CHECKING:
    from testbed.scenarios.runner import ScenarioRuntime

Executor = Callable[["ScenarioRuntime", dict[str, Any], StepResult], Exchange | None]
EXECUTORS: dict[str, Executor] = {}
FHIR_JSON = "application/fhir+json"
_SEGMENT = re.compile(r"^(?P<key>[^\[\]]+)(?:\[(?P<index>[0-9]+)\])?$")


def executor(kind: str) -> Callable[[Executor], Executor]:
    """Register the executor of a step kind."""

    def register(func: Executor) -> Executor:
        EXECUTORS[kind] = func
        return func

    return register


def apply_edit(body: Any, edit: dict[str, Any] | None) -> Any:
    """Apply ``edit: {set: {path: value}, remove: [path]}`` to a JSON body (dotted paths, ``[n]`` indexes).

    Raises:
        StepError: a path does not fit the body.
    """
    if not edit:
        return body
    for path, value in (edit.get("set") or {}).items():
        parent, last = _walk(body, path, create=True)
        _put(parent, last, value, path)
    for path in edit.get("remove") or []:
        try:
            parent, last = _walk(body, path, create=False)
        except StepError:
            continue
        key, index = last
        if index is None:
            parent.pop(key, None)
        elif isinstance(parent.get(key), list) and index < len(parent[key]):
            del parent[key][index]
    return body


def _walk(body: Any, path: str, *, create: bool) -> tuple[dict[str, Any], tuple[str, int | None]]:
    parts = [_SEGMENT.match(p) for p in path.split(".")]
    if not isinstance(body, dict) or any(m is None for m in parts):
        raise StepError(f"edit path {path!r} does not fit the body")
    node: Any = body
    for match in parts[:-1]:
        assert match is not None
        key, index = match["key"], match["index"]
        if key not in node:
            if not create:
                raise StepError(f"edit path {path!r}: no {key!r}")
            node[key] = [{}] if index is not None else {}
        node = node[key]
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                raise StepError(f"edit path {path!r}: no item {index} in {key!r}")
            node = node[int(index)]
        if not isinstance(node, dict):
            raise StepError(f"edit path {path!r}: {key!r} is not an object")
    last = parts[-1]
    assert last is not None
    return node, (last["key"], int(last["index"]) if last["index"] is not None else None)


def _put(parent: dict[str, Any], last: tuple[str, int | None], value: Any, path: str) -> None:
    key, index = last
    if index is None:
        parent[key] = value
        return
    items = parent.setdefault(key, [])
    if not isinstance(items, list):
        raise StepError(f"edit path {path!r}: {key!r} is not a list")
    while len(items) <= index:
        items.append(None)
    items[index] = value


def _content(rt: ScenarioRuntime, args: dict[str, Any]) -> tuple[bytes | None, str | None]:
    if "form" in args:
        return urlencode(args["form"]).encode(), "application/x-www-form-urlencoded"
    if "body_file" in args:
        path = (rt.scenario.path.parent / args["body_file"]).resolve()
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StepError(
                f"body_file {args['body_file']}: cannot read {path}: {exc.strerror or exc}"
            ) from None
        return data, args.get("content_type") or (
            FHIR_JSON if path.suffix == ".json" else "application/octet-stream"
        )
    if "body" not in args:
        return None, None
    body = apply_edit(args["body"], args.get("edit"))
    if isinstance(body, str | bytes):
        data = body.encode() if isinstance(body, str) else body
        return data, args.get("content_type") or "text/plain"
    return json.dumps(body, ensure_ascii=False).encode(), args.get("content_type") or FHIR_JSON


def send_http(
    rt: ScenarioRuntime,
    method: str,
    target: str,
    *,
    headers: dict[str, Any] | None,
    params: Any,
    content: bytes | None,
    content_type: str | None,
    auth: Any,
    timeout: float | None = None,
    to: str = "target",
) -> Exchange:
    """Send one request with the step's credentials to the system under test (or the simulator)."""
    if to == "simulator":
        http, tokens = rt.services.sim_http, rt.services.sim_tokens
        if http is None:
            raise StepSkipped("Missing the following required inputs: simulator")
    else:
        http, tokens = rt.services.http, rt.services.tokens
        if http is None:
            raise StepSkipped(
                "Missing the following required inputs: target (the FHIR base URL of the system under test)"
            )
    merged: dict[str, str] = {"Accept": FHIR_JSON}
    user_header = rt.services.national.headers.get("userInpe")
    if user_header and rt.services.user_inpe:
        merged[user_header] = rt.services.user_inpe
    if content_type:
        merged["Content-Type"] = content_type
    choice = AuthChoice.parse(auth)
    info: dict[str, Any] = choice.describe()
    if tokens is not None and choice.mode != "none":
        value, info, raw = tokens.authorization(choice)
        if value is not None:
            merged["Authorization"] = value
        if raw:
            rt.sent_secrets.append(raw)
    for name, value in (headers or {}).items():
        for existing in [k for k in merged if k.lower() == name.lower()]:
            del merged[existing]
        if value is not None:
            merged[name] = str(value)
    return http.send(
        method,
        http.url(target),
        headers=merged,
        params=params,
        content=content,
        auth_info=info,
        timeout=timeout,
    )


@executor("fhir")
def fhir_request(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """Send the request; a transport failure propagates (a level-1 fail)."""
    content, ctype = _content(rt, args)
    target = args.get("url") or args.get("path") or ""
    return send_http(
        rt,
        args["method"],
        target,
        headers=args.get("headers"),
        params=args.get("params"),
        content=content,
        content_type=ctype,
        auth=args.get("auth"),
        timeout=args.get("timeout"),
        to=args.get("to", "target"),
    )


@executor("submit_document")
def submit_document(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """POST the fixture's MABundleDocumentSubmission to the base (SMR-T4)."""
    fixture = rt.fixtures[args["fixture"]]
    bundle = fixture.document_bundle(args.get("document", 0), mutated=bool(args.get("mutated", False)))
    bundle = apply_edit(bundle, args.get("edit"))
    return send_http(
        rt,
        "POST",
        "",
        headers=args.get("headers"),
        params=None,
        content=json.dumps(bundle, ensure_ascii=False).encode(),
        content_type=FHIR_JSON,
        auth=args.get("auth"),
    )


@executor("connect")
def connect_probe(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """GET with one TLS version only (or plaintext); no reply is recorded, not raised."""
    http = rt.services.http
    if http is None:
        raise StepSkipped("Missing the following required inputs: target")
    if not http.base_url.startswith("https://") and args.get("tls_version", "1.2") != "none":
        raise StepSkipped("the target is not an https URL: TLS cannot be probed")
    try:
        return http.probe(http.url(args.get("path", "metadata")), only_version=args.get("tls_version", "1.2"))
    except TransportFailure as exc:
        return exc.exchange


@executor("mllp")
def mllp_send(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """Send an HL7 v2 message over MLLP and keep its ACK."""
    address = rt.services.mllp
    if not address:
        raise StepSkipped("Missing the following required inputs: mllp (host:port of the MLLP listener)")
    from testbed.hl7v2.mllp import MLLPClient, MLLPError

    host, _, port = address.rpartition(":")
    message = re.sub(r"\r?\n", "\r", str(args["message"]).strip()) + "\r"
    ex = Exchange("mllp", "outbound", {"message": message, "address": address}, started=now_iso())
    try:
        with MLLPClient(host, int(port), timeout=float(args.get("timeout", 10))) as client:
            reply = client.send(message)
    except (MLLPError, OSError) as exc:
        ex.error = f"no acknowledgement from {address}: {exc}"
        rt.services.sink.add(ex)
        raise TransportFailure(ex.error, ex) from None
    ex.response = {"message": reply}
    rt.services.sink.add(ex)
    return ex


@executor("trigger")
def trigger_client(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """Drive the vendor's client; what it sends is judged by the following ``wait_inbound``."""
    sim = rt.services.simulator
    if sim is None:
        raise StepSkipped(
            "Missing the following required inputs: simulator (the testbed's SMR for client actors)"
        )
    folder = (rt.services.workdir or Path(".")) / rt.scenario.id / f"step-{result.index + 1}"
    values = {
        "python": sys.executable,
        "smr_url": sim.base_url,
        "fhir_base": sim.base_url,
        "ca_file": sim.ca_file or "",
        "client_id": sim.client_id or "",
        "client_key": sim.client_key_file or "",
        "organization_inpe": sim.organization_inpe or "",
        "user_inpe": rt.services.user_inpe,
    }
    if sim.mllp:
        host, _, port = sim.mllp.rpartition(":")
        values.update(mllp=sim.mllp, mllp_host=host, mllp_port=port)
    values.update(write_files(folder, args.get("files") or {}))
    values.update({k: str(v) for k, v in (args.get("values") or {}).items()})
    rt.inbound_mark = sim.link.mark()
    outcome = rt.services.triggers.run(
        args["transaction"], values, instructions=args.get("instructions"), timeout=args.get("timeout")
    )
    if outcome.manual:
        result.note("info", "waiting for a person to act (no trigger command configured)")
        return None
    result.note(
        "info",
        f"ran {' '.join(outcome.command)} in {outcome.duration_s:.2f} s "
        f"(exit {outcome.returncode if not outcome.timed_out else 'timeout'})",
    )
    if outcome.timed_out:
        result.note("warning", "the trigger command did not finish within its timeout and was stopped")
    elif outcome.returncode:
        result.note(
            "warning",
            f"the trigger command exited with status {outcome.returncode}: "
            f"{(outcome.stderr or outcome.stdout).strip()[-500:]}",
        )
    return None


@executor("wait_inbound")
def wait_inbound(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """Wait for the client's exchange to arrive at the simulator; the matched one is the subject."""
    sim = rt.services.simulator
    if sim is None:
        raise StepSkipped("Missing the following required inputs: simulator")
    wanted = InboundFilter(
        channel=args.get("channel", "fhir"),
        method=args.get("method"),
        path=args.get("path"),
        resource_type=args.get("resource_type"),
        message_type=args.get("message_type"),
        query=args.get("query"),
    )
    timeout = float(args.get("timeout", rt.services.inbound_timeout))
    mark = rt.inbound_mark if rt.inbound_mark is not None else sim.link.mark()
    t0 = time.perf_counter()
    found, seen = sim.link.wait(mark, wanted, timeout=timeout, count=int(args.get("count", 1)))
    rt.inbound.extend(ex for ex in seen if ex.id not in {e.id for e in rt.inbound})
    for ex in seen:
        rt.services.sink.add(ex)
    if len(found) < int(args.get("count", 1)):
        got = ", ".join(
            f"{e.request.get('method', 'MLLP')} {e.request.get('path', '')}".strip() for e in seen[:10]
        )
        raise StepFailure(
            f"the client did not send {wanted.describe()} within {timeout:g} s "
            f"(received: {got or 'nothing'})",
            expected=wanted.describe(),
        )
    result.note("info", f"received after {time.perf_counter() - t0:.2f} s")
    return found[-1]


@executor("verify")
def verify_effects(rt: ScenarioRuntime, args: dict[str, Any], result: StepResult) -> Exchange | None:
    """No request: the assertions judge effects, or the previous step's exchange."""
    return rt.last
