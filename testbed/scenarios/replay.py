"""Re-sending a recorded exchange (``testbed replay``) and comparing the two replies.

The recorded request is sent again to the same path under a base URL (the recorded one, or another
given): with a fresh token for the same client and scopes (tokens are never recorded), spoiled again
when the original was a deliberately bad token, and with a fresh client assertion when the original
was a token request (the recorded assertion is redacted).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testbed.core.errors import UsageError
from testbed.scenarios.auth import AuthChoice, TokenProvider
from testbed.scenarios.exchange import Exchange, body_bytes, exchange_from_json
from testbed.scenarios.transport import HttpSession, TransportFailure
from testbed.security.redact import REDACTED


def load_exchange(path: Path) -> Exchange:
    """Read an exchange file.

    Raises:
        UsageError: not a readable exchange file.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable exchange file ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != "testbed-exchange/1":
        raise UsageError(f"{path}: not a testbed exchange file (format testbed-exchange/1)")
    return exchange_from_json(data)


@dataclass
class ReplayResult:
    """The recorded exchange and the new one (None when nothing came back: ``error`` says why)."""

    recorded: Exchange
    replayed: Exchange | None
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def same_status(self) -> bool:
        return self.replayed is not None and self.replayed.status == self.recorded.status


def _choice(recorded: Exchange) -> AuthChoice:
    auth = recorded.auth or {}
    had_header = recorded.header("Authorization", direction="request") is not None
    if auth.get("mode") == "none" or (not auth and not had_header):
        return AuthChoice(mode="none")
    scopes = auth.get("scopes")
    return AuthChoice(
        mode="custom",
        client=str(auth.get("client", "primary")),
        scopes=tuple(scopes) if scopes else None,
        token=str(auth.get("token", "valid")),
    )


def replay(recorded: Exchange, http: HttpSession, tokens: TokenProvider | None) -> ReplayResult:
    """Send ``recorded``'s request again through ``http`` (a base URL with its TLS settings)."""
    if recorded.protocol != "http":
        raise UsageError(
            "only HTTP exchanges can be replayed here (send HL7 v2 messages with an MLLP client)"
        )
    req = recorded.request
    notes = []
    path = req.get("path")
    if path is None:
        url = str(req.get("url", ""))
        if not url.startswith(http.base_url + "/"):
            notes.append(f"the recorded URL {url} is not under {http.base_url}; sent to it as recorded")
        target = url
    else:
        target = http.url(str(path))
    headers = {
        k: v
        for k, v in (req.get("headers") or {}).items()
        if k.lower() not in ("authorization", "content-length", "host", "accept-encoding", "connection")
    }
    body = dict(req.get("body") or {"format": "empty"})
    if body.get("format") == "form" and isinstance(body.get("value"), dict):
        form = dict(body["value"])
        if form.get("client_assertion") == REDACTED and tokens is not None:
            from testbed.security.client import make_client_assertion

            creds = tokens.client(str((recorded.auth or {}).get("client", "primary")))
            form["client_assertion"] = make_client_assertion(creds.client_id, target, creds.key)
            notes.append("the client assertion was redacted: a fresh one was signed for the replay")
        body["value"] = form
    content = body_bytes(body) if body.get("format") != "empty" else None
    if content is not None and REDACTED.encode() in content:
        notes.append("the recorded body holds redacted values; they are sent as '[redacted]'")
    choice = _choice(recorded)
    if tokens is not None and choice.mode != "none":
        value, _, _ = tokens.authorization(choice)
        if value:
            headers["Authorization"] = value
    elif choice.mode != "none":
        notes.append("the original request carried a token; no credentials are configured for the replay")
    try:
        new = http.send(
            str(req.get("method", "GET")),
            target,
            headers=headers,
            content=content,
            auth_info=choice.describe(),
        )
    except TransportFailure as exc:
        return ReplayResult(recorded, None, str(exc), tuple(notes))
    return ReplayResult(recorded, new, None, tuple(notes))


def body_text(ex: Exchange | None) -> str:
    """The reply body for display: pretty JSON, or text."""
    if ex is None or ex.response is None:
        return ""
    body = ex.response.get("body") or {}
    if body.get("format") == "json":
        return json.dumps(body.get("value"), ensure_ascii=False, indent=2, sort_keys=True)
    value: Any = body.get("value", "")
    return str(value)


def diff(result: ReplayResult) -> str:
    """A unified diff of the two reply bodies (empty when equal)."""
    old, new = body_text(result.recorded).splitlines(), body_text(result.replayed).splitlines()
    return "\n".join(difflib.unified_diff(old, new, "recorded", "replayed", lineterm=""))
