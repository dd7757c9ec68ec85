"""The negative-case helpers change exactly one thing."""

from __future__ import annotations

import pytest

from testbed.core.errors import UsageError
from testbed.security import tampering
from testbed.security._jwt import parse_unverified
from testbed.security.client import make_client_assertion
from testbed.security.keys import PrivateJwk

from .conftest import NOW, TOKEN_URL


def test_helpers(es_key: PrivateJwk) -> None:
    good = make_client_assertion("c", TOKEN_URL, es_key, now=NOW, jti="j")
    original = parse_unverified(good)
    flipped = parse_unverified(tampering.tamper_signature(good))
    assert flipped.claims == original.claims and flipped.signature != original.signature
    changed = parse_unverified(tampering.tamper_claims(good, aud="https://x"))
    assert (
        changed.claims == {**original.claims, "aud": "https://x"} and changed.signature == original.signature
    )
    none = parse_unverified(tampering.with_alg_none(good))
    assert none.header["alg"] == "none" and none.signature == b"" and none.claims == original.claims
    unsigned = parse_unverified(tampering.make_unsigned_assertion("c", TOKEN_URL, now=NOW, jti="j"))
    assert unsigned.claims == original.claims and unsigned.header["alg"] == "none"
    assert tampering.tamper_signature("opaque-token") == "opaqueBtoken"
    with pytest.raises(UsageError, match="empty"):
        tampering.tamper_signature("")
    with pytest.raises(UsageError, match="not a compact JWS"):
        tampering.tamper_claims("abc", aud="x")


@pytest.mark.parametrize(
    "text",
    ["a.b", "a.b.c.d", "e30=.e30.", "W10.e30.", "e30.bm90IGpzb24.", "e30.e30.*", "e30." + "A" * 20_000 + "."],
)
def test_malformed_jwts_are_refused(text: str) -> None:
    from testbed.security._jwt import MalformedJwt

    with pytest.raises(MalformedJwt):
        parse_unverified(text)
    assert parse_unverified("e30.e30.").claims == {}
