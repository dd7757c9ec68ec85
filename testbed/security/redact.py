"""Keeping secrets out of evidence, logs and reports (issue 10 item 7; spec §8 "no secrets").

Every function returns a redacted copy and never mutates its input. ``looks_secret``/``find_secrets``
let tests assert that an output holds no token, assertion or private key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_SECRET_WORDS = (
    "token",
    "secret",
    "assertion",
    "password",
    "passwd",
    "api-key",
    "apikey",
    "api_key",
    "session",
)
_NOT_SECRET_FIELDS = frozenset({"client_assertion_type", "token_type", "token_endpoint", "grant_type"})
_SECRET_JSON_KEYS = frozenset(
    {
        "access_token",
        "client_assertion",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "assertion",
    }
)
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})

_JWT = re.compile(
    r"eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)?"
)
_PEM_PRIVATE = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----.*?(?:-----END \1-----|\Z)", re.DOTALL
)
_BEARER = re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWK_PRIVATE = re.compile(
    r'"kty"\s*:[^{}]*?"(?:d|k)"\s*:\s*"[A-Za-z0-9_-]{8,}"|"(?:d|k)"\s*:\s*"[A-Za-z0-9_-]{8,}"[^{}]*"kty"'
)


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered in _SECRET_HEADERS:
        return True
    if lowered in _NOT_SECRET_FIELDS:
        return False
    return any(word in lowered for word in _SECRET_WORDS)


def _pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> Iterable[tuple[str, str]]:
    if isinstance(headers, Mapping):
        items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
        return list(items)
    return list(headers)


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers with secret values replaced.

    ``Authorization`` keeps its scheme (``Bearer [redacted]``) so evidence still shows how the client
    authenticated; ``Cookie``, ``Set-Cookie`` and any header whose name mentions a token, secret,
    assertion, password, API key or session are replaced whole. Repeated headers are joined with ``, ``.
    """
    out: dict[str, str] = {}
    for name, value in _pairs(headers):
        text = str(value)
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            scheme, _, rest = text.strip().partition(" ")
            text = f"{scheme} {REDACTED}" if rest else REDACTED
        elif _secret_name(name):
            text = REDACTED
        else:
            text = redact_text(text, ())
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


def redact_form(form: Mapping[str, str] | str) -> Any:
    """Form fields (a mapping, or an urlencoded string) with secret fields replaced; same shape back.

    ``client_assertion``, ``client_secret``, ``access_token``, ``password`` … are replaced;
    ``client_assertion_type`` and ``grant_type`` are kept (they are not secret).
    """
    if isinstance(form, str):
        pairs = parse_qsl(form, keep_blank_values=True)
        return urlencode([(k, REDACTED if _secret_name(k) else redact_text(v, ())) for k, v in pairs])
    return {k: REDACTED if _secret_name(k) else redact_text(str(v), ()) for k, v in form.items()}


def redact_json(obj: Any) -> Any:
    """A JSON value with tokens, assertions and private JWK members replaced, at any depth.

    Keys ``access_token``, ``client_assertion``, ``refresh_token``, ``id_token``, ``client_secret``,
    ``password``; in any object with a ``kty`` (a JWK) the private members ``d p q dp dq qi k oth``;
    and any string that looks like a JWT or a PEM private key.
    """
    if isinstance(obj, Mapping):
        is_jwk = "kty" in obj
        out = {}
        for key, value in obj.items():
            if key in _SECRET_JSON_KEYS or (is_jwk and key in _PRIVATE_JWK_MEMBERS):
                out[key] = REDACTED
            else:
                out[key] = redact_json(value)
        return out
    if isinstance(obj, list):
        return [redact_json(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, ())
    return obj


def redact_text(text: str, secrets: Iterable[str], *, patterns: bool = True) -> str:
    """Text with each given secret replaced, and (``patterns``) JWTs, bearer credentials and PEM private keys.

    Secrets shorter than 4 characters are ignored (replacing them would shred ordinary text).
    """
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    if patterns:
        text = _PEM_PRIVATE.sub(REDACTED, text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        text = _JWT.sub(REDACTED, text)
    return text


def find_secrets(text: str) -> list[str]:
    """The kinds of secret found in ``text``: ``jwt``, ``pem-private-key``, ``bearer``, ``private-jwk``."""
    found = []
    if _JWT.search(text):
        found.append("jwt")
    if _PEM_PRIVATE.search(text):
        found.append("pem-private-key")
    if _BEARER.search(text):
        found.append("bearer")
    if _JWK_PRIVATE.search(text):
        found.append("private-jwk")
    return found


def looks_secret(text: str) -> bool:
    """Whether ``text`` holds something that must never be written out (JWT, PEM private key, …)."""
    return bool(find_secrets(text))
