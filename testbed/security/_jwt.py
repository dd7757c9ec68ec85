"""Reading a compact JWT before its signature is checked (to pick the key and refuse bad algorithms)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

MAX_JWT_LENGTH = 16_384
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class MalformedJwt(ValueError):
    """The text is not a compact JWS whose header and payload are JSON objects."""


@dataclass(frozen=True, slots=True)
class UnverifiedJwt:
    """The parts of a compact JWS, decoded but NOT verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url decoding without padding; raises MalformedJwt on anything else."""
    if not _B64URL.fullmatch(text):
        raise MalformedJwt("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedJwt("not base64url") from exc


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(part))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJwt(f"the {what} is not JSON") from exc
    if not isinstance(value, dict):
        raise MalformedJwt(f"the {what} is not a JSON object")
    return value


def parse_unverified(token: str) -> UnverifiedJwt:
    """Split and decode a compact JWS without checking its signature.

    Raises:
        MalformedJwt: not three base64url parts, too long, or header/payload not JSON objects.
    """
    if len(token) > MAX_JWT_LENGTH:
        raise MalformedJwt(f"longer than {MAX_JWT_LENGTH} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJwt(f"a compact JWS has 3 dot-separated parts, found {len(parts)}")
    header = _json_object(parts[0], "header")
    claims = _json_object(parts[1], "payload")
    signature = b64url_decode(parts[2])
    return UnverifiedJwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def encode_unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Encode an unsecured JWT (``alg: none``, empty signature, RFC 7519 §6) — only for negative tests."""
    head = b64url_encode(json.dumps({**header, "alg": "none"}, separators=(",", ":")).encode())
    body = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{body}."
