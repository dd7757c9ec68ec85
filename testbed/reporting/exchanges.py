"""Recorded exchanges as the reports show them: request and reply, secrets redacted, bodies bounded.

Exchanges are redacted again when shown, whatever the scenario engine already did (defence in
depth): headers through :func:`testbed.security.redact.redact_headers`, JSON bodies through
``redact_json``, form bodies through ``redact_form``, anything else (HL7 v2, XML, text, URLs) through
``redact_text``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from testbed.reporting.evidence import exchange_key
from testbed.reporting.runrecord import EXCHANGES_DIR
from testbed.security.redact import redact_form, redact_headers, redact_json, redact_text

MAX_BODY = 6000


@dataclass(frozen=True, slots=True)
class Message:
    """One side of an exchange, ready to print."""

    line: str
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class ExchangeView:
    """One recorded exchange, redacted."""

    name: str
    protocol: str = ""
    started: str = ""
    request: Message | None = None
    response: Message | None = None
    missing: bool = False
    direction: str = ""


def redact_url(url: str) -> str:
    """A URL with secret query parameters (``access_token=`` ...) and embedded credentials redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url, ())
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    query = urlencode(_redact_pairs(parse_qsl(parts.query, keep_blank_values=True)), safe="[]|/:,")
    return redact_text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), ())


def _redact_pairs(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Form or query fields with secret values redacted (field names kept, repeats kept)."""
    return [(k, str(redact_form({k: v})[k])) for k, v in pairs]


def _content_type(headers: Mapping[str, str]) -> str:
    return next((str(v).lower() for k, v in headers.items() if k.lower() == "content-type"), "")


_BODY_FORMATS = ("json", "text", "form", "base64", "empty")


def _unwrap(body: Any) -> tuple[Any, str, bool]:
    """The value of a recorded body (``{"format": ..., "value": ...}``), a content-type hint, truncation."""
    if isinstance(body, Mapping) and body.get("format") in _BODY_FORMATS:
        fmt, value, cut = body["format"], body.get("value"), bool(body.get("truncated"))
        if fmt == "form" and isinstance(value, Mapping):
            return "\n".join(f"{k}={v}" for k, v in _redact_pairs(list(value.items()))), "", cut
        if fmt == "base64":
            return f"[binary body, base64, {len(str(value or ''))} characters]", "", cut
        return ("" if fmt == "empty" else value), "", cut
    return body, "", False


def render_body(body: Any, content_type: str = "", *, limit: int = MAX_BODY) -> tuple[str, bool]:
    """A body as redacted, pretty text, cut at ``limit`` characters; returns (text, truncated)."""
    body, _, recorded_cut = _unwrap(body)
    if body is None or body == "":
        return "", recorded_cut
    if isinstance(body, dict | list):
        text = json.dumps(redact_json(body), indent=2, ensure_ascii=False)
    elif not isinstance(body, str):
        text = redact_text(str(body), ())
    else:
        text = _render_text(body, content_type)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > limit:
        return text[:limit], True
    return text, recorded_cut


def _render_text(body: str, content_type: str) -> str:
    stripped = body.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            return json.dumps(redact_json(json.loads(body)), indent=2, ensure_ascii=False)
        except (json.JSONDecodeError, RecursionError):
            pass
    if "x-www-form-urlencoded" in content_type:
        return "\n".join(f"{k}={v}" for k, v in _redact_pairs(parse_qsl(body, keep_blank_values=True)))
    return redact_text(body, ())


def _headers(raw: Any) -> dict[str, str]:
    if isinstance(raw, Mapping):
        return redact_headers({str(k): str(v) for k, v in raw.items()})
    if isinstance(raw, list):
        return redact_headers(
            [(str(p[0]), str(p[1])) for p in raw if isinstance(p, list | tuple) and len(p) == 2]
        )
    return {}


def _http(data: Mapping[str, Any], limit: int) -> tuple[Message | None, Message | None]:
    request = response = None
    req = data.get("request")
    if isinstance(req, Mapping):
        headers = _headers(req.get("headers"))
        body, cut = render_body(req.get("body"), _content_type(headers), limit=limit)
        line = f"{req.get('method', '')} {redact_url(str(req.get('url', '')))}".strip()
        request = Message(line, tuple(headers.items()), body, cut)
    rep = data.get("response")
    if isinstance(rep, Mapping):
        headers = _headers(rep.get("headers"))
        body, cut = render_body(rep.get("body"), _content_type(headers), limit=limit)
        status = rep.get("status")
        line = f"HTTP {status} {rep.get('reason', '')}".strip() if status is not None else ""
        response = Message(line, tuple(headers.items()), body, cut)
    return request, response


def _mllp(data: Mapping[str, Any], limit: int) -> tuple[Message | None, Message | None]:
    out: list[Message | None] = []
    for side in ("request", "response"):
        part = data.get(side)
        if not isinstance(part, Mapping):
            out.append(None)
            continue
        text, cut = render_body(part.get("message", ""), "x-application/hl7-v2+er7", limit=limit)
        peer = str(part.get("address") or part.get("peer") or "")
        out.append(Message(f"MLLP {peer}".strip(), (), text, cut))
    return out[0], out[1]


def load_exchange(run_dir: Path, reference: str, *, limit: int = MAX_BODY) -> ExchangeView:
    """Read one exchange of a run folder and redact it for display (``missing`` when absent)."""
    name = exchange_key(reference)
    path = Path(run_dir) / EXCHANGES_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return ExchangeView(name=name, missing=True)
    if not isinstance(data, Mapping):
        return ExchangeView(name=name, missing=True)
    protocol = str(data.get("protocol") or "http")
    request, response = (_mllp if protocol == "mllp" else _http)(data, limit)
    if response is None and data.get("error"):
        response = Message(f"no reply: {redact_text(str(data['error']), ())}")
    direction = str(data.get("direction") or "")
    return ExchangeView(name, protocol, str(data.get("started", "")), request, response, direction=direction)


__all__ = ["ExchangeView", "Message", "load_exchange", "redact_url", "render_body"]
