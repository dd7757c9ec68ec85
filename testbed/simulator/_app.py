"""The ASGI application: base path, body limit, discovery, token endpoint, authorization, evidence.

Served by uvicorn. Bodies are read raw and bounded (``MAX_BODY``): a larger body is drained without
being kept (up to ``DRAIN_LIMIT``, so the client still gets its 413) and refused. Everything outside the
base path is a 404 OperationOutcome, so a client that assumes the root fails visibly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from testbed.identifiers import IdentifierRule
from testbed.security.redact import redact_form, redact_headers, redact_json, redact_text
from testbed.security.server import TOKEN_RESPONSE_HEADERS, AuthError, TokenIssuer
from testbed.simulator._caller import Caller
from testbed.simulator._context import FhirRequest
from testbed.simulator._evidence import EvidenceLog, body_text
from testbed.simulator._outcome import FhirError, Reply, invalid, operation_outcome
from testbed.simulator._service import FhirService, internal_error

log = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024
DRAIN_LIMIT = 256 * 1024 * 1024
_JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
_ACCEPTED = {*_JSON_TYPES, "*/*", "application/*"}
_JSON_FORMATS = {"json", *_JSON_TYPES}
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(slots=True)
class AppSettings:
    """What the app layer needs besides the FHIR service."""

    base_path: str
    base_url: str
    token_url: str
    open_mode: bool
    hsts: str | None
    user_header: str
    purpose_header: str
    btg_code: str
    inpe_rule: IdentifierRule | None
    statement: Callable[[], dict[str, Any]]


class SmrApp:
    """The ASGI application of one simulated SMR."""

    def __init__(
        self, service: FhirService, issuer: TokenIssuer, evidence: EvidenceLog, settings: AppSettings
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.evidence = evidence
        self.s = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started, clock = datetime.now(UTC), time.perf_counter()
        request = Request(scope, receive)
        body, too_large = await _read_body(request)
        record: dict[str, Any] = {"request_body": body, "response_body": None, "skip": False}
        try:
            reply = await self._handle(request, body, too_large, record)
        except Exception as exc:  # noqa: BLE001 - never a traceback to the client; the log has it
            log.exception("the SMR simulator failed on %s %s", request.method, request.url.path)
            reply = internal_error(exc)
        response = self._response(reply)
        if not record["skip"]:
            self._record(request, response, reply, record, started, clock)
        await response(scope, receive, send)

    # ------------------------------------------------------------------ routing

    async def _handle(self, request: Request, body: bytes, too_large: bool, record: dict[str, Any]) -> Reply:
        path = request.url.path
        if path != self.s.base_path and not path.startswith(self.s.base_path + "/"):
            return _oo(
                404,
                "not-found",
                f"Nothing is served at {path}; the FHIR base URL is {self.s.base_url}.",
                "Resource",
            )
        parts = [p for p in path[len(self.s.base_path) :].split("/") if p]
        if too_large:
            limit = f"{MAX_BODY // (1024 * 1024)} MB"
            return _oo(
                413, "too-long", f"The request body is larger than {limit}; it was not read.", "Resource"
            )
        method = request.method
        if parts == ["metadata"]:
            return self._negotiated(request, parts) or (
                Reply(200, self.s.statement())
                if method == "GET"
                else _not_allowed("GET", "CapabilityStatement")
            )
        if parts == [".well-known", "smart-configuration"]:
            if method != "GET":
                return _not_allowed("GET", "Resource")
            return Reply(
                200, self.issuer.smart_configuration(self.s.token_url), media_type="application/json"
            )
        if parts == ["auth", "token"]:
            return self._token(request, body, record)
        if parts == ["_testbed", "exchanges"]:
            record["skip"] = True
            return self._exchanges(request)
        refused = self._negotiated(request, parts) or self._content_type(request, parts, body)
        if refused is not None:
            return refused
        try:
            caller = self._caller(request)
        except AuthError as exc:
            code = "login" if exc.status == 401 else "forbidden"
            reply = _oo(exc.status, code, exc.description, parts[0] if parts else "Resource")
            reply.headers["WWW-Authenticate"] = exc.www_authenticate
            return reply
        except FhirError as err:
            return err.reply()
        fhir = FhirRequest(
            method,
            parts,
            parse_qsl(request.url.query, keep_blank_values=True),
            request.headers,
            body,
            str(request.url),
            _prefer(request.headers.get("prefer", "")),
        )
        if method == "GET" and len(parts) in (2, 4) and parts[1] != "_search":
            reply = self.service.dispatch(fhir, caller)  # a point read: cheaper here than in a worker thread
        else:
            reply = await anyio.to_thread.run_sync(self.service.dispatch, fhir, caller)
        for future in fhir.pending:
            try:
                await asyncio.wrap_future(future)
            except Exception as exc:  # noqa: BLE001 - no access is served that the audit trail missed
                log.exception("an AuditEvent could not be committed; the reply is withheld")
                return internal_error(exc)
        return reply

    def _caller(self, request: Request) -> Caller:
        user = request.headers.get(self.s.user_header)
        if user is not None:
            user = user.strip()
            found = self.s.inpe_rule.check(user, self.s.user_header) if self.s.inpe_rule else []
            if found or not user:
                reason = found[0].message if found else "it is empty"
                raise invalid(
                    f"The {self.s.user_header} header must be the INPE of a professional: {reason}",
                    "Resource",
                )
        purpose = (request.headers.get(self.s.purpose_header) or "").strip()
        if purpose and not (purpose.isalpha() and purpose.isupper() and len(purpose) <= 16):
            raise invalid(
                f"The {self.s.purpose_header} header must be a v3 ActReason code such as TREAT or BTG.",
                "Resource",
            )
        address = request.client.host if request.client else "unknown"
        if self.s.open_mode:
            return Caller(None, None, user, purpose or "TREAT", purpose == self.s.btg_code, None, address)
        principal = self.issuer.verify(request.headers.get("authorization"))
        org = principal.organization_inpe or None
        return Caller(
            principal.client_id, org, user, purpose or "TREAT", purpose == self.s.btg_code, principal, address
        )

    def _token(self, request: Request, body: bytes, record: dict[str, Any]) -> Reply:
        if request.method != "POST":
            return _not_allowed("POST", "Resource")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        record["request_body"] = str(redact_form(text)).encode("utf-8")
        form = dict(parse_qsl(text, keep_blank_values=True))
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            status, answer = (
                400,
                {
                    "error": "invalid_request",
                    "error_description": "the token request must be application/x-www-form-urlencoded",
                },
            )
        else:
            status, answer = self.issuer.token_endpoint(form, self.s.token_url)
        record["response_body"] = json.dumps(redact_json(answer)).encode("utf-8")
        return Reply(status, answer, dict(TOKEN_RESPONSE_HEADERS), "application/json")

    def _exchanges(self, request: Request) -> Reply:
        host = request.client.host if request.client else ""
        if host not in _LOOPBACK:
            return _oo(
                403, "forbidden", "The exchange log is served to the loopback interface only.", "Resource"
            )
        since = request.query_params.get("since", "0")
        found = self.evidence.since(int(since) if since.isdigit() else 0)
        return Reply(200, {"count": len(found), "exchanges": found}, media_type="application/json")

    def _negotiated(self, request: Request, parts: list[str]) -> Reply | None:
        fmt = request.query_params.get("_format")
        if fmt is not None and fmt.strip().lower() not in _JSON_FORMATS:
            return _oo(
                406,
                "not-supported",
                f"_format={fmt} is not served; this SMR speaks FHIR JSON only.",
                "Resource",
            )
        accept = request.headers.get("accept", "")
        binary_read = len(parts) >= 2 and parts[0] == "Binary" and request.method == "GET"
        if not accept.strip() or binary_read or fmt is not None:
            return None
        kinds = {p.split(";")[0].strip().lower() for p in accept.split(",")}
        if kinds & _ACCEPTED:
            return None
        return _oo(
            406, "not-supported", f"Accept: {accept} cannot be served; use application/fhir+json.", "Resource"
        )

    @staticmethod
    def _content_type(request: Request, parts: list[str], body: bytes) -> Reply | None:
        if request.method not in ("POST", "PUT") or not body.strip() or parts[-1:] == ["_search"]:
            return None
        header = request.headers.get("content-type", "")
        kind, _, params = header.partition(";")
        charset = dict(parse_qsl(params.replace(";", "&").replace(" ", ""))).get("charset", "utf-8")
        if kind.strip().lower() in _JSON_TYPES and charset.lower() in ("utf-8", "utf8"):
            return None
        shown = header or "(none)"
        return _oo(
            415,
            "not-supported",
            f"Content-Type {shown} is not accepted; send application/fhir+json (UTF-8).",
            "Resource",
        )

    # ------------------------------------------------------------------ reply and evidence

    def _response(self, reply: Reply) -> Response:
        if isinstance(reply.body, dict):
            content = json.dumps(reply.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            media = f"{reply.media_type}; charset=utf-8"
        else:
            content = reply.body or b""
            media = reply.media_type
        headers = dict(reply.headers)
        headers.setdefault("Cache-Control", "no-store")
        headers["X-Content-Type-Options"] = "nosniff"
        if self.s.hsts:
            headers["Strict-Transport-Security"] = self.s.hsts
        if self.s.open_mode:
            headers["X-Testbed-Open-Mode"] = "no authorization: every request is accepted without a token"
        return Response(
            content, status_code=reply.status, headers=headers, media_type=media if content else None
        )

    def _record(
        self,
        request: Request,
        response: Response,
        reply: Reply,
        record: dict[str, Any],
        started: datetime,
        clock: float,
    ) -> None:
        request_body = record["request_body"]
        response_body = record["response_body"] if record["response_body"] is not None else response.body
        client = f"{request.client.host}:{request.client.port}" if request.client else "unknown"
        url = urlsplit(str(request.url))
        exchange = {
            "id": str(uuid.uuid4()),
            "protocol": "http",
            "started": started.isoformat(timespec="milliseconds"),
            "finished": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "duration_ms": round((time.perf_counter() - clock) * 1000, 3),
            "client": client,
            "request": {
                "method": request.method,
                "url": url.geturl(),
                "headers": _headers(request.headers.items()),
                **_redacted_body(request_body),
            },
            "response": {
                "status": reply.status,
                "headers": _headers(response.headers.items()),
                **_redacted_body(bytes(response_body)),
            },
        }
        self.evidence.record(exchange)


async def _read_body(request: Request) -> tuple[bytes, bool]:
    declared = request.headers.get("content-length")
    too_large = bool(declared and declared.isdigit() and int(declared) > MAX_BODY)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            too_large = True
        if too_large:
            chunks.clear()
            if size > DRAIN_LIMIT:
                break
            continue
        chunks.append(chunk)
    return (b"" if too_large else b"".join(chunks)), too_large


_SECRET_HINTS = ("eyJ", "PRIVATE KEY", "Bearer ", "Basic ", "bearer ", "basic ")
_SECRET_NAME_HINTS = (
    "auth",
    "cookie",
    "token",
    "secret",
    "assertion",
    "password",
    "passwd",
    "key",
    "session",
)


def _headers(items: Any) -> dict[str, str]:
    """Headers for the evidence, secrets redacted (the costly patterns only where a secret may hide)."""
    out: dict[str, str] = {}
    for name, value in items:
        lowered = name.lower()
        if any(h in lowered for h in _SECRET_NAME_HINTS) or any(h in value for h in _SECRET_HINTS):
            value = redact_headers({name: value})[name]
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def _redacted_body(data: bytes | None) -> dict[str, Any]:
    if not data:
        return body_text(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return body_text(data)
    if any(hint in text for hint in _SECRET_HINTS):  # the patterns are costly; most bodies hold none
        text = redact_text(text, ())
    return body_text(text.encode("utf-8"))


def _prefer(header: str) -> dict[str, str]:
    out = {}
    for part in header.replace(",", ";").split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def _oo(status: int, code: str, message: str, expression: str) -> Reply:
    return Reply(
        status,
        operation_outcome(
            [{"severity": "error", "code": code, "diagnostics": message, "expression": [expression]}]
        ),
    )


def _not_allowed(allowed: str, expression: str) -> Reply:
    reply = _oo(405, "not-supported", f"Only {allowed} is allowed here.", expression)
    reply.headers["Allow"] = allowed
    return reply
