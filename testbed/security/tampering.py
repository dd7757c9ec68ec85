"""Deliberately bad credentials for the security suite's negative cases (issue 10 item 2).

Each function makes exactly one thing wrong, so that a server's refusal can be attributed to it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from testbed.core.errors import UsageError
from testbed.security._jwt import (
    MalformedJwt,
    b64url_decode,
    b64url_encode,
    encode_unsigned,
    parse_unverified,
)


def _parse(token: str) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    try:
        parsed = parse_unverified(token)
    except MalformedJwt as exc:
        raise UsageError(f"cannot tamper with a token that is not a compact JWS ({exc})") from None
    return token.split("."), parsed.header, parsed.claims


def make_unsigned_assertion(
    client_id: str, token_url: str, *, lifetime_s: int = 300, jti: str | None = None, now: float | None = None
) -> str:
    """A client assertion with ``alg: none`` and no signature, otherwise correct."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + lifetime_s,
        "iat": issued,
        "jti": jti or secrets.token_urlsafe(24),
    }
    return encode_unsigned({"typ": "JWT"}, claims)


def with_alg_none(token: str) -> str:
    """The same header and claims re-encoded as ``alg: none`` with an empty signature."""
    _, header, claims = _parse(token)
    return encode_unsigned(header, claims)


def tamper_signature(token: str) -> str:
    """The same token with one bit of its signature flipped.

    An opaque (non-JWT) token gets one character changed in the middle instead, so that the
    "tampered token" case also applies to servers whose tokens are not JWTs.
    """
    try:
        parse_unverified(token)
    except MalformedJwt:
        if not token:
            raise UsageError("cannot tamper with an empty token") from None
        middle = len(token) // 2
        swapped = "B" if token[middle] != "B" else "C"
        return token[:middle] + swapped + token[middle + 1 :]
    parts, _, _ = _parse(token)
    signature = bytearray(b64url_decode(parts[2]) or b"\x00")
    signature[len(signature) // 2] ^= 0x01
    return f"{parts[0]}.{parts[1]}.{b64url_encode(bytes(signature))}"


def tamper_claims(token: str, **changes: Any) -> str:
    """The same header and signature over a payload with ``changes`` applied (e.g. ``scope="system/*.*"``)."""
    parts, _, claims = _parse(token)
    claims.update(changes)
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{parts[0]}.{payload}.{parts[2]}"
