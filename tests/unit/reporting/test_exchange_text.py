from __future__ import annotations

from testbed.reporting.exchanges import _render_text


def test_deep_json_body_renders_as_text_not_a_crash() -> None:
    deep = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"
    assert _render_text(deep, "application/fhir+json").startswith('{"a":[[')


def test_json_body_renders_indented_and_redacted() -> None:
    text = _render_text('{"access_token": "eyJhbGciOiJFUzI1NiJ9.e30.sig"}', "application/json")
    assert "eyJ" not in text and "\n" in text
