"""Client side: discovery (httpx.MockTransport), assertions, token requests against a TokenIssuer."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest
from joserfc import jwt

from testbed.core.errors import UsageError
from testbed.security.client import (
    SmartBackendAuth,
    SmartConfiguration,
    TokenResponse,
    discover,
    make_client_assertion,
    request_token,
)
from testbed.security.errors import AuthDiscoveryError, TokenRequestError
from testbed.security.keys import PrivateJwk
from testbed.security.redact import looks_secret
from testbed.security.server import TokenIssuer, capability_security, smart_configuration

from .conftest import NOW, TOKEN_URL

BASE = "https://vendor.test/any/path/fhir"
Handler = Callable[[httpx.Request], httpx.Response]


def _client(routes: dict[str, httpx.Response | Handler]) -> tuple[httpx.Client, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        seen.append(f"{request.method} {url}")
        route = routes.get(url)
        if route is None:
            return httpx.Response(404, json={"resourceType": "OperationOutcome"})
        return route(request) if callable(route) else route

    return httpx.Client(transport=httpx.MockTransport(handle)), seen


def _capability(token_url: str | None) -> dict:
    rest: dict = {"mode": "server"}
    if token_url:
        rest["security"] = capability_security(token_url)
    return {"resourceType": "CapabilityStatement", "rest": [rest]}


def test_discovery_from_well_known(issuer: TokenIssuer) -> None:
    client, seen = _client(
        {
            f"{BASE}/.well-known/smart-configuration": httpx.Response(
                200, json=issuer.smart_configuration(TOKEN_URL)
            )
        }
    )
    config = discover(BASE + "/", client)
    assert config.token_endpoint == TOKEN_URL and config.from_well_known
    assert config.token_endpoint_auth_methods_supported == ("private_key_jwt",)
    assert config.problems() == []
    assert seen == [f"GET {BASE}/.well-known/smart-configuration"]  # base taken as given, trailing / dropped


def test_discovery_falls_back_to_the_capability_statement() -> None:
    client, seen = _client({f"{BASE}/metadata": httpx.Response(200, json=_capability("https://auth.test/t"))})
    config = discover(BASE, client)
    assert config.token_endpoint == "https://auth.test/t"
    assert config.source == f"{BASE}/metadata" and not config.from_well_known
    assert "HTTP 404" in config.notes[0]
    assert any("CapabilityStatement only" in p for p in config.problems())


def test_discovery_failure_names_every_attempt() -> None:
    client, _ = _client(
        {
            f"{BASE}/.well-known/smart-configuration": httpx.Response(200, text="<html>"),
            f"{BASE}/metadata": httpx.Response(200, json=_capability(None)),
        }
    )
    with pytest.raises(AuthDiscoveryError) as exc:
        discover(BASE, client)
    message = str(exc.value)
    assert f"{BASE}/.well-known/smart-configuration answered 200 but the body is not a JSON object" in message
    assert f"{BASE}/metadata answered 200 but holds no CapabilityStatement" in message


def test_discovery_reports_connection_errors() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    with pytest.raises(AuthDiscoveryError, match="ConnectError"):
        discover(BASE, client)


def test_relative_token_endpoint_is_resolved_and_noted() -> None:
    doc = smart_configuration("../auth/token")
    client, _ = _client({f"{BASE}/.well-known/smart-configuration": httpx.Response(200, json=doc)})
    config = discover(BASE, client)
    assert config.token_endpoint == "https://vendor.test/any/path/auth/token"
    assert "relative" in config.notes[0]


def test_configuration_problems_are_listed() -> None:
    config = SmartConfiguration("http://vendor.test/token", f"{BASE}/.well-known/smart-configuration")
    problems = " | ".join(config.problems())
    for fragment in (
        "private_key_jwt",
        "RS384",
        "client_credentials",
        "client-confidential-asymmetric",
        "https",
    ):
        assert fragment in problems


def test_client_assertion_claims(es_key: PrivateJwk) -> None:
    assertion = make_client_assertion("his-rabat", TOKEN_URL, es_key, now=NOW, jti="abc")
    token = jwt.decode(assertion, es_key, algorithms=["ES384"])
    assert token.header == {"alg": "ES384", "kid": es_key.kid, "typ": "JWT"}
    assert token.claims == {
        "iss": "his-rabat",
        "sub": "his-rabat",
        "aud": TOKEN_URL,
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "jti": "abc",
    }
    first, second = (make_client_assertion("c", TOKEN_URL, es_key) for _ in range(2))
    assert (
        jwt.decode(first, es_key, ["ES384"]).claims["jti"]
        != jwt.decode(second, es_key, ["ES384"]).claims["jti"]
    )
    with pytest.raises(UsageError, match="make_unsigned_assertion"):
        make_client_assertion("c", TOKEN_URL, es_key, alg="none")
    with pytest.raises(UsageError, match="cannot sign"):
        make_client_assertion("c", TOKEN_URL, es_key, alg="RS384")


def _token_route(issuer: TokenIssuer, forms: list[dict[str, str]]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = dict(parse_qsl(request.content.decode()))
        forms.append(form)
        status, body = issuer.token_endpoint(form, str(request.url))
        return httpx.Response(status, json=body)

    return handle


def test_request_token_end_to_end(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    forms: list[dict[str, str]] = []
    client, _ = _client({TOKEN_URL: _token_route(issuer, forms)})
    config = SmartConfiguration(TOKEN_URL, "x/.well-known/smart-configuration")
    token = request_token(client, config, "his-rabat", es_key, ["system/Patient.read"])
    assert forms[0]["grant_type"] == "client_credentials"
    assert forms[0]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert forms[0]["scope"] == "system/Patient.read"
    assert token.scopes == ["system/Patient.read"] and token.problems == ()
    assert issuer.verify(token.authorization).client_id == "his-rabat"
    assert (
        token.access_token not in repr(token)
        and not looks_secret(repr(token))
        and not looks_secret(str(token))
    )


def test_refused_token_request_keeps_status_and_error(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    client, _ = _client({TOKEN_URL: _token_route(issuer, [])})
    config = SmartConfiguration(TOKEN_URL, "x")
    with pytest.raises(TokenRequestError) as exc:
        request_token(client, config, "his-rabat", es_key, ["system/Condition.write"])
    assert (exc.value.status, exc.value.error) == (400, "invalid_scope")
    with pytest.raises(TokenRequestError, match="without an access_token"):
        request_token(
            _client({TOKEN_URL: httpx.Response(200, json={})})[0], config, "c", es_key, ["system/*.read"]
        )


def test_deviant_token_response_is_kept_with_problems(es_key: PrivateJwk) -> None:
    client, _ = _client(
        {TOKEN_URL: httpx.Response(200, json={"access_token": "opaque-123", "token_type": "mac"})}
    )
    token = request_token(client, SmartConfiguration(TOKEN_URL, "x"), "c", es_key, ["system/*.read"])
    assert token.access_token == "opaque-123" and token.expires_at() is None
    assert len(token.problems) == 3


def test_error_description_echoing_a_secret_is_redacted(es_key: PrivateJwk) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        assertion = dict(parse_qsl(request.content.decode()))["client_assertion"]
        return httpx.Response(401, json={"error": "invalid_client", "error_description": f"bad {assertion}"})

    client, _ = _client({TOKEN_URL: echo})
    with pytest.raises(TokenRequestError) as exc:
        request_token(client, SmartConfiguration(TOKEN_URL, "x"), "c", es_key, ["system/*.read"])
    assert not looks_secret(str(exc.value)) and "[redacted]" in str(exc.value)


def test_smart_backend_auth_fetches_and_reuses_a_token(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    forms: list[dict[str, str]] = []

    def patient(request: httpx.Request) -> httpx.Response:
        principal = issuer.verify(request.headers.get("authorization"))
        return httpx.Response(200, json={"resourceType": "Patient", "by": principal.client_id})

    client, _ = _client({TOKEN_URL: _token_route(issuer, forms), f"{BASE}/Patient/1": patient})
    auth = SmartBackendAuth(SmartConfiguration(TOKEN_URL, "x"), "his-rabat", es_key, ["system/Patient.read"])
    for _ in range(3):
        assert client.get(f"{BASE}/Patient/1", auth=auth).json()["by"] == "his-rabat"
    assert len(forms) == 1
    assert isinstance(auth.token, TokenResponse)
