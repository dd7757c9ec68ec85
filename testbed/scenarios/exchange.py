"""Recorded exchanges: one request and its reply, secrets redacted, named by the SHA-256 of its JSON.

An exchange file (``exchanges/<sha256>.json`` in a run folder) holds the RFC 8785 (JCS) canonical JSON
of :meth:`Exchange.to_json`, so the file's SHA-256 is its name. Bodies are kept as JSON when they parse,
as text when they are UTF-8, else base64; bodies over :data:`MAX_BODY` bytes are cut (with their full
size and SHA-256 recorded). Authorization headers, tokens, client assertions and private keys are
redacted before anything is kept (:mod:`testbed.security.redact`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import rfc8785

from testbed.security.redact import redact_form, redact_headers, redact_json, redact_text

FORMAT = "testbed-exchange/1"
MAX_BODY = 1_000_000


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON bytes of ``value``."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def body_json(content: bytes, content_type: str | None) -> dict[str, Any]:
    """The recorded form of a body: ``{"format": json|text|base64|form|empty, "value": …}``, redacted."""
    if not content:
        return {"format": "empty"}
    out: dict[str, Any] = {}
    if len(content) > MAX_BODY:
        out.update(truncated=True, size=len(content), sha256=sha256_hex(content))
        content = content[:MAX_BODY]
    ctype = (content_type or "").split(";")[0].strip().lower()
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        out.update(format="base64", value=base64.b64encode(content).decode("ascii"))
        return out
    if ctype == "application/x-www-form-urlencoded":
        out.update(format="form", value=redact_form(dict(parse_qsl(text, keep_blank_values=True))))
        return out
    if "json" in ctype or (not ctype and text.lstrip()[:1] in "{["):
        try:
            out.update(format="json", value=redact_json(json.loads(text)))
            return out
        except (ValueError, RecursionError):
            pass  # not JSON, or nested too deeply to hold as a value: recorded as text
    out.update(format="text", value=redact_text(text, ()))
    return out


def body_bytes(body: dict[str, Any]) -> bytes:
    """The bytes of a recorded body (JSON re-serialised; redacted values stay redacted)."""
    fmt = body.get("format")
    value = body.get("value")
    if fmt == "json":
        return json.dumps(value, ensure_ascii=False).encode()
    if fmt == "text":
        return str(value).encode()
    if fmt == "base64":
        return base64.b64decode(str(value))
    if fmt == "form":
        from urllib.parse import urlencode

        return urlencode(value or {}).encode()
    return b""


@dataclass(slots=True)
class Exchange:
    """One request/reply pair.

    Attributes:
        protocol: ``http`` or ``mllp``.
        direction: ``outbound`` (the testbed asked the system under test) or ``inbound`` (the system
            under test asked the testbed's simulator).
        request: ``{method, url, base, path, headers, body}`` (http) or ``{message}`` (mllp).
        response: ``{status, headers, body, elapsed_ms}`` or ``{message}``; None when none came.
        error: the transport error when no reply came (connection refused, TLS, timeout).
        auth: how the testbed authenticated (``{"mode": "default", "client": "primary", "scopes": [...]}``).
        started: ISO 8601 time the request left.
        raw_reply: the reply bytes before redaction, kept in memory only (to prove that no token is
            echoed); never written out.
    """

    protocol: str
    direction: str
    request: dict[str, Any]
    response: dict[str, Any] | None = None
    error: str | None = None
    auth: dict[str, Any] | None = None
    started: str = ""
    notes: list[str] = field(default_factory=list)
    raw_reply: bytes = field(default=b"", repr=False)
    _id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON document written to the exchange file."""
        data: dict[str, Any] = {
            "format": FORMAT,
            "protocol": self.protocol,
            "direction": self.direction,
            "started": self.started,
            "request": self.request,
        }
        if self.response is not None:
            data["response"] = self.response
        if self.error is not None:
            data["error"] = self.error
        if self.auth is not None:
            data["auth"] = self.auth
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    @property
    def id(self) -> str:
        """SHA-256 of the canonical JSON: the exchange's name."""
        if self._id is None:
            self._id = sha256_hex(canonical(self.to_json()))
        return self._id

    @property
    def status(self) -> int | None:
        """The HTTP status of the reply, if any."""
        return None if self.response is None else self.response.get("status")

    def reply_json(self) -> Any:
        """The reply body as JSON, or None."""
        return _json_value(self.response)

    def request_json(self) -> Any:
        """The request body as JSON, or None."""
        return _json_value(self.request)

    def header(self, name: str, *, direction: str = "response") -> str | None:
        """A header of the reply (or of the request), case-insensitive."""
        part = self.response if direction == "response" else self.request
        headers = (part or {}).get("headers") or {}
        for key, value in headers.items():
            if key.lower() == name.lower():
                return str(value)
        return None

    def curl(self, *, cacert: str | None = None, exchange_file: str | None = None) -> str:
        """A curl command that sends this request again (the token as ``$TOKEN``)."""
        req = self.request
        parts = ["curl", "-sS", "-i", "-X", str(req.get("method", "GET"))]
        if cacert:
            parts += ["--cacert", cacert]
        for name, value in (req.get("headers") or {}).items():
            lowered = name.lower()
            if lowered in ("host", "content-length", "accept-encoding", "connection", "user-agent"):
                continue
            if lowered == "authorization":
                parts += ["-H", "Authorization: Bearer $TOKEN"]
                continue
            parts += ["-H", f"{name}: {value}"]
        parts.append(str(req.get("url", "")))
        command = " ".join(_quote(p) for p in parts)
        body = req.get("body") or {}
        if body.get("format", "empty") != "empty":
            if exchange_file:
                command = (
                    f"jq -j '.request.body.value' {shlex.quote(exchange_file)} | {command} --data-binary @-"
                )
                if body.get("format") == "json":
                    command = command.replace("jq -j '.request.body.value'", "jq -c '.request.body.value'", 1)
            else:
                command += " --data-binary " + shlex.quote(body_bytes(body).decode("utf-8", "replace"))
        return command


def _quote(part: str) -> str:
    # keep $TOKEN expandable by the shell
    if "$TOKEN" in part:
        return '"' + part.replace('"', '\\"') + '"'
    return shlex.quote(part)


def _json_value(part: dict[str, Any] | None) -> Any:
    if not part:
        return None
    body = part.get("body") or {}
    return body.get("value") if body.get("format") == "json" else None


def record_headers(headers: Any) -> dict[str, str]:
    """Headers as kept in evidence: secrets redacted, names as sent."""
    return redact_headers(headers)


def exchange_from_json(data: dict[str, Any]) -> Exchange:
    """Rebuild an :class:`Exchange` from its JSON (an exchange file)."""
    return Exchange(
        protocol=str(data.get("protocol", "http")),
        direction=str(data.get("direction", "outbound")),
        request=dict(data.get("request") or {}),
        response=data.get("response"),
        error=data.get("error"),
        auth=data.get("auth"),
        started=str(data.get("started", "")),
        notes=list(data.get("notes") or []),
    )
