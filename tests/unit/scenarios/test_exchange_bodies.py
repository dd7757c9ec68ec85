from __future__ import annotations

from testbed.scenarios.exchange import body_json


def test_json_nested_too_deeply_is_recorded_as_text_not_a_crash() -> None:
    deep = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    recorded = body_json(deep, "application/fhir+json")
    assert recorded["format"] == "text"


def test_json_body_is_recorded_as_json_with_secrets_redacted() -> None:
    recorded = body_json(b'{"access_token": "eyJhbGciOiJFUzI1NiJ9.e30.sig", "x": 1}', "application/json")
    assert recorded["format"] == "json"
    assert recorded["value"]["x"] == 1
    assert "eyJ" not in str(recorded["value"])
