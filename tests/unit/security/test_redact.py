"""No secrets in evidence, logs or reports: redaction and detection."""

from __future__ import annotations

import json

import pytest

from testbed.security.client import make_client_assertion, token_form
from testbed.security.keys import PrivateJwk
from testbed.security.redact import (
    REDACTED,
    find_secrets,
    looks_secret,
    redact_form,
    redact_headers,
    redact_json,
    redact_text,
)
from testbed.security.server import TokenIssuer

from .conftest import NOW, TOKEN_URL


@pytest.fixture
def token(issuer: TokenIssuer) -> str:
    return issuer.issue_access_token("his-rabat", ["system/Patient.read"], now=NOW)


def test_headers(token: str) -> None:
    out = redact_headers(
        [
            ("Authorization", f"Bearer {token}"),
            ("Cookie", "session=abc"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
            ("X-Api-Key", "k-123"),
            ("X-Refresh-Token", "rt"),
            ("X-User-INPE", "10000001"),
            ("Content-Type", "application/fhir+json"),
        ]
    )
    assert out["Authorization"] == f"Bearer {REDACTED}"
    assert out["Cookie"] == REDACTED and out["Set-Cookie"] == f"{REDACTED}, {REDACTED}"
    assert out["X-Api-Key"] == REDACTED and out["X-Refresh-Token"] == REDACTED
    assert out["X-User-INPE"] == "10000001" and out["Content-Type"] == "application/fhir+json"
    assert not looks_secret(json.dumps(out))
    assert redact_headers({"X-Debug": f"echo {token}"})["X-Debug"] == f"echo {REDACTED}"


def test_httpx_headers_keep_repeats() -> None:
    import httpx

    headers = httpx.Headers([("set-cookie", "a=1"), ("set-cookie", "b=2"), ("accept", "x")])
    assert redact_headers(headers) == {"set-cookie": f"{REDACTED}, {REDACTED}", "accept": "x"}


def test_form_mapping_and_urlencoded(es_key: PrivateJwk) -> None:
    form = token_form("his-rabat", TOKEN_URL, es_key, ["system/Patient.read"])
    out = redact_form(form)
    assert out["client_assertion"] == REDACTED
    assert out["client_assertion_type"] == form["client_assertion_type"]
    assert out["grant_type"] == "client_credentials" and out["scope"] == "system/Patient.read"
    from urllib.parse import parse_qsl, urlencode

    text = redact_form(urlencode({**form, "client_secret": "s3cret!", "password": "pw"}))
    parsed = dict(parse_qsl(text))
    assert parsed["client_assertion"] == parsed["client_secret"] == parsed["password"] == REDACTED
    assert not looks_secret(text)


def test_json_tokens_and_private_jwk_members(es_key: PrivateJwk, token: str) -> None:
    body = {
        "access_token": token,
        "token_type": "bearer",
        "nested": [{"refresh_token": "r"}, {"id_token": "i"}, {"note": f"token was {token}"}],
        "key": es_key.as_dict(private=True),
        "resource": {"resourceType": "Patient", "id": "p1", "d": "not-a-jwk-member"},
    }
    out = redact_json(body)
    assert out["access_token"] == REDACTED and out["token_type"] == "bearer"
    assert out["nested"][0]["refresh_token"] == REDACTED and out["nested"][1]["id_token"] == REDACTED
    assert out["nested"][2]["note"] == f"token was {REDACTED}"
    assert out["key"]["d"] == REDACTED and out["key"]["x"] == body["key"]["x"]
    assert out["resource"]["d"] == "not-a-jwk-member"  # only JWK objects lose d/p/q...
    assert body["access_token"] == token  # the input is not mutated
    assert looks_secret(json.dumps(body)) and not looks_secret(json.dumps(out))


def test_text_with_explicit_secrets_and_patterns(es_key: PrivateJwk) -> None:
    assertion = make_client_assertion("c", TOKEN_URL, es_key)
    pem = es_key.as_pem(private=True).decode()
    text = f"sent {assertion}\nkey:\n{pem}\nAuthorization: Bearer abcdefgh12345678\npassword=hunter22"
    out = redact_text(text, ["hunter22", "ab"])
    assert assertion not in out and "PRIVATE KEY" not in out and "abcdefgh12345678" not in out
    assert "hunter22" not in out and "Bearer [redacted]" in out
    assert "ab" in redact_text("about", ["ab"])  # too short to redact safely
    assert redact_text(f"x {assertion}", [], patterns=False) == f"x {assertion}"


def test_detection(es_key: PrivateJwk, token: str) -> None:
    assert find_secrets(f"log: {token}") == ["jwt"]
    assert "pem-private-key" in find_secrets(es_key.as_pem(private=True).decode())
    assert "private-jwk" in find_secrets(json.dumps(es_key.as_dict(private=True)))
    assert "bearer" in find_secrets("Authorization: Bearer opaque-token-123")
    assert not looks_secret(es_key.as_pem(private=False).decode())
    assert not looks_secret(json.dumps(es_key.as_dict(private=False)))
    assert not looks_secret('{"resourceType": "Patient", "id": "eyJ-not.a-jwt"}')
    assert not looks_secret(json.dumps({"kty": "EC", "crv": "P-256"}) + ' "d": "abcdefghij"')
