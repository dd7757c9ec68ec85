"""Token endpoint and access-token checks: each check with a passing and a failing case."""

from __future__ import annotations

from typing import Any

import pytest

from testbed.core.errors import InputError, UsageError
from testbed.security import tampering
from testbed.security.client import make_client_assertion
from testbed.security.errors import AuthError
from testbed.security.keys import PrivateJwk, generate_client_key, generate_signing_key, public_jwks
from testbed.security.server import (
    JWT_BEARER,
    ClientRegistration,
    ClientRegistry,
    Principal,
    TokenIssuer,
    capability_security,
    smart_configuration,
)

from .conftest import INPE, ISSUER, NOW, TOKEN_URL


def _form(
    key: PrivateJwk, scopes: str = "system/Patient.read", client_id: str = "his-rabat", **kw: Any
) -> dict:
    assertion = kw.pop("assertion", None) or make_client_assertion(client_id, TOKEN_URL, key, now=NOW, **kw)
    return {
        "grant_type": "client_credentials",
        "scope": scopes,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }


def _post(issuer: TokenIssuer, form: dict, now: float = NOW) -> tuple[int, dict]:
    return issuer.token_endpoint(form, TOKEN_URL, now=now)


def _token(issuer: TokenIssuer, key: PrivateJwk, scopes: str = "system/Patient.read") -> str:
    status, body = _post(issuer, _form(key, scopes))
    assert status == 200, body
    return str(body["access_token"])


# ----------------------------------------------------------------------------- token endpoint


def test_good_request_gets_a_bearer_token(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    status, body = _post(issuer, _form(es_key, "system/Patient.read system/Observation.write"))
    assert status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 300
    assert body["scope"] == "system/Patient.read system/Observation.write"
    principal = issuer.verify(f"Bearer {body['access_token']}", now=NOW + 1)
    assert principal == Principal(
        "his-rabat", INPE, frozenset({"system/Patient.read", "system/Observation.write"})
    )


def test_rs384_client_is_accepted(issuer: TokenIssuer, rs_key: PrivateJwk) -> None:
    status, body = _post(issuer, _form(rs_key, "system/Encounter.read", client_id="lis-fes"))
    assert status == 200, body


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
        ({"grant_type": ""}, 400, "invalid_request"),
        ({"client_assertion_type": "urn:other"}, 400, "invalid_request"),
        ({"client_assertion": ""}, 400, "invalid_request"),
        ({"client_assertion": "not.a.jwt!"}, 401, "invalid_client"),
        ({"scope": ""}, 400, "invalid_request"),
        ({"scope": "patient/Patient.read"}, 400, "invalid_scope"),
        ({"scope": "system/Patient.write"}, 400, "invalid_scope"),
        ({"scope": "system/Patient.read system/Condition.read"}, 400, "invalid_scope"),
        ({"client_id": "someone-else"}, 401, "invalid_client"),
    ],
)
def test_bad_parameters_are_refused(
    issuer: TokenIssuer, es_key: PrivateJwk, change: dict, status: int, error: str
) -> None:
    got_status, body = _post(issuer, {**_form(es_key), **change})
    assert (got_status, body["error"]) == (status, error)
    assert body["error_description"]


def test_repeated_or_non_text_parameters_are_refused(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    from starlette.datastructures import FormData

    form = _form(es_key)
    status, body = _post(issuer, FormData([*form.items(), ("scope", "system/*.*")]))  # type: ignore[arg-type]
    assert (status, body["error"]) == (400, "invalid_request") and "repeated" in body["error_description"]
    status, body = _post(issuer, FormData(list(form.items())))  # type: ignore[arg-type]
    assert status == 200
    status, body = _post(issuer, {**form, "client_assertion": b"bytes"})
    assert (status, body["error"]) == (400, "invalid_request")


def test_wildcard_registration_covers_specific_scopes(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    assert _post(issuer, _form(es_key, "system/Observation.read"))[0] == 200
    assert _post(issuer, _form(es_key, "system/Observation.*"))[0] == 200
    assert _post(issuer, _form(es_key, "system/*.read"))[0] == 400


def test_unknown_client_is_refused(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    status, body = _post(issuer, _form(es_key, client_id="nobody"))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "not registered" in body["error_description"]


def test_signature_from_another_key_is_refused(issuer: TokenIssuer) -> None:
    other = generate_client_key("ES384", kid=None)
    status, body = _post(issuer, _form(other))
    assert (status, body["error"]) == (401, "invalid_client")


def test_tampered_assertion_signature_is_refused(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    good = make_client_assertion("his-rabat", TOKEN_URL, es_key, now=NOW)
    status, body = _post(issuer, _form(es_key, assertion=tampering.tamper_signature(good)))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "signature" in body["error_description"]
    forged = tampering.tamper_claims(good, iss="lis-fes", sub="lis-fes")
    assert _post(issuer, _form(es_key, assertion=forged))[0] == 401


def test_alg_none_assertion_is_refused_unless_the_fault_is_on(
    registry: ClientRegistry, es_key: PrivateJwk
) -> None:
    unsigned = tampering.make_unsigned_assertion("his-rabat", TOKEN_URL, now=NOW)
    status, body = _post(TokenIssuer(registry, issuer=ISSUER), _form(es_key, assertion=unsigned))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "alg none" in body["error_description"]
    broken = TokenIssuer(registry, issuer=ISSUER, faults=frozenset({"accept-alg-none"}))
    assert _post(broken, _form(es_key, assertion=unsigned))[0] == 200


def test_disallowed_algorithms_are_refused(issuer: TokenIssuer) -> None:
    es256 = generate_client_key("ES256")
    reg = ClientRegistration.from_key("es256-client", es256, INPE, ["system/*.read"])
    issuer.registry.add(reg)
    status, body = _post(issuer, _form(es256, client_id="es256-client"))
    assert (status, body["error"]) == (401, "invalid_client")
    assert "ES256" in body["error_description"]


def test_assertion_without_kid_is_refused(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    from joserfc import jwt

    claims = {"iss": "his-rabat", "sub": "his-rabat", "aud": TOKEN_URL, "exp": int(NOW) + 60, "jti": "x1"}
    no_kid = jwt.encode({"alg": "ES384"}, claims, es_key, algorithms=["ES384"])
    status, body = _post(issuer, _form(es_key, assertion=no_kid))
    assert status == 401 and "kid" in body["error_description"]


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"sub": "other"}, "sub must equal iss"),
        ({"aud": "https://smr.test/other"}, "aud"),
        ({"aud": None}, "aud"),
        ({"exp": None}, "exp"),
        ({"exp": int(NOW) - 1}, "expired"),
        ({"exp": int(NOW) + 3600}, "ahead"),
        ({"jti": None}, "jti"),
        ({"nbf": int(NOW) + 600}, "nbf"),
    ],
)
def test_bad_assertion_claims_are_refused(
    issuer: TokenIssuer, es_key: PrivateJwk, claims: dict, fragment: str
) -> None:
    from joserfc import jwt

    base = {"iss": "his-rabat", "sub": "his-rabat", "aud": TOKEN_URL, "exp": int(NOW) + 60, "jti": "j-1"}
    body_claims = {k: v for k, v in {**base, **claims}.items() if v is not None}
    assertion = jwt.encode({"alg": "ES384", "kid": es_key.kid}, body_claims, es_key, algorithms=["ES384"])
    status, body = _post(issuer, _form(es_key, assertion=assertion))
    assert (status, body["error"]) == (401, "invalid_client")
    assert fragment in body["error_description"]
    assert (
        _post(
            issuer,
            _form(
                es_key,
                assertion=jwt.encode({"alg": "ES384", "kid": es_key.kid}, base, es_key, algorithms=["ES384"]),
            ),
        )[0]
        == 200
    )


def test_audience_may_be_a_list_holding_the_token_url(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    from joserfc import jwt

    claims = {"iss": "his-rabat", "sub": "his-rabat", "aud": [TOKEN_URL], "exp": int(NOW) + 60, "jti": "l-1"}
    assertion = jwt.encode({"alg": "ES384", "kid": es_key.kid}, claims, es_key, algorithms=["ES384"])
    assert _post(issuer, _form(es_key, assertion=assertion))[0] == 200


def test_expired_assertion_from_make_client_assertion(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    old = make_client_assertion("his-rabat", TOKEN_URL, es_key, now=NOW - 400)
    assert _post(issuer, _form(es_key, assertion=old))[1]["error"] == "invalid_client"


def test_replayed_jti_is_refused_within_its_lifetime(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    assertion = make_client_assertion("his-rabat", TOKEN_URL, es_key, jti="once", now=NOW)
    assert _post(issuer, _form(es_key, assertion=assertion))[0] == 200
    status, body = _post(issuer, _form(es_key, assertion=assertion), now=NOW + 5)
    assert (status, body["error"]) == (401, "invalid_client")
    assert "replay" in body["error_description"]
    # the same jti in a new assertion is still a replay while the first one lives
    again = make_client_assertion("his-rabat", TOKEN_URL, es_key, jti="once", now=NOW + 10)
    assert _post(issuer, _form(es_key, assertion=again), now=NOW + 10)[0] == 401
    # once the first assertion has expired, the jti may be seen again
    later = make_client_assertion("his-rabat", TOKEN_URL, es_key, jti="once", now=NOW + 400)
    assert _post(issuer, _form(es_key, assertion=later), now=NOW + 400)[0] == 200


def test_error_bodies_never_echo_the_assertion(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    assertion = make_client_assertion("his-rabat", TOKEN_URL, es_key, now=NOW - 400)
    _, body = _post(issuer, _form(es_key, assertion=assertion))
    assert assertion not in str(body) and assertion.split(".")[2] not in str(body)


# ----------------------------------------------------------------------------- verify


def test_missing_or_malformed_header_is_401(issuer: TokenIssuer) -> None:
    with pytest.raises(AuthError) as missing:
        issuer.verify(None)
    assert missing.value.status == 401 and missing.value.error == ""
    assert missing.value.www_authenticate == 'Bearer realm="testbed"'
    for header in ("", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not-a-jwt"):
        with pytest.raises(AuthError) as bad:
            issuer.verify(header, now=NOW)
        assert bad.value.status == 401


def test_expired_token_is_401(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    token = _token(issuer, es_key)
    assert issuer.verify(f"Bearer {token}", now=NOW + 299).client_id == "his-rabat"
    with pytest.raises(AuthError, match="expired") as exc:
        issuer.verify(f"Bearer {token}", now=NOW + 300)
    assert exc.value.status == 401 and exc.value.error == "invalid_token"
    assert 'error="invalid_token"' in exc.value.www_authenticate


def test_token_for_another_audience_is_401(issuer: TokenIssuer) -> None:
    other = issuer.issue_access_token(
        "his-rabat", ["system/Patient.read"], now=NOW, audience="https://other.test"
    )
    with pytest.raises(AuthError, match="another audience"):
        issuer.verify(f"Bearer {other}", now=NOW)
    mine = issuer.issue_access_token("his-rabat", ["system/Patient.read"], now=NOW)
    assert issuer.verify(f"Bearer {mine}", now=NOW).scopes == {"system/Patient.read"}


def test_token_from_another_issuer_is_401(registry: ClientRegistry, issuer: TokenIssuer) -> None:
    foreign = TokenIssuer(registry, issuer=ISSUER).issue_access_token("his-rabat", ["system/*.*"], now=NOW)
    with pytest.raises(AuthError, match="signature"):
        issuer.verify(f"Bearer {foreign}", now=NOW)
    same_key_other_iss = TokenIssuer(
        registry, issuer="https://evil.test", signing_key=issuer.signing_key, audience=ISSUER
    )
    with pytest.raises(AuthError, match="issued by someone else"):
        issuer.verify(f"Bearer {same_key_other_iss.issue_access_token('his-rabat', [], now=NOW)}", now=NOW)


def test_tampered_token_is_401(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    token = _token(issuer, es_key)
    assert issuer.verify(f"Bearer {token}", now=NOW).allows("Patient", "read")
    for bad in (tampering.tamper_signature(token), tampering.tamper_claims(token, scope="system/*.*")):
        with pytest.raises(AuthError, match="signature") as exc:
            issuer.verify(f"Bearer {bad}", now=NOW)
        assert exc.value.status == 401


def test_alg_none_token_is_401_unless_the_fault_is_on(registry: ClientRegistry, issuer: TokenIssuer) -> None:
    token = issuer.issue_access_token("his-rabat", ["system/Patient.read"], now=NOW)
    with pytest.raises(AuthError, match="alg none"):
        issuer.verify(f"Bearer {tampering.with_alg_none(token)}", now=NOW)
    broken = TokenIssuer(registry, issuer=ISSUER, faults=frozenset({"accept-alg-none"}))
    forged = tampering.with_alg_none(broken.issue_access_token("his-rabat", ["system/*.*"], now=NOW))
    assert broken.verify(f"Bearer {forged}", now=NOW).allows("Condition", "write")


def test_accept_any_token_fault(registry: ClientRegistry) -> None:
    broken = TokenIssuer(registry, issuer=ISSUER, faults=frozenset({"accept-any-token"}))
    principal = broken.verify("Bearer whatever", now=NOW)
    assert principal.allows("Patient", "write")
    with pytest.raises(AuthError):  # no credentials at all is still refused
        broken.verify(None)
    good = broken.issue_access_token("lis-fes", ["system/*.read"], now=NOW)
    assert broken.verify(f"Bearer {good}", now=NOW).client_id == "lis-fes"


def test_unknown_fault_is_a_usage_error(registry: ClientRegistry) -> None:
    with pytest.raises(UsageError, match="accept-alg-none"):
        TokenIssuer(registry, issuer=ISSUER, faults=frozenset({"accept-everything"}))
    with pytest.raises(UsageError):
        TokenIssuer(registry, issuer=ISSUER, token_lifetime_s=0)


def test_unregistered_client_token_stops_working(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    token = _token(issuer, es_key)
    assert issuer.verify(f"Bearer {token}", now=NOW).organization_inpe == INPE  # also caches it
    issuer.registry.remove("his-rabat")
    with pytest.raises(AuthError, match="no longer registered"):
        issuer.verify(f"Bearer {token}", now=NOW)


def test_ed25519_issuer_key(registry: ClientRegistry, es_key: PrivateJwk) -> None:
    issuer = TokenIssuer(registry, issuer=ISSUER, signing_key=generate_signing_key("Ed25519"))
    token = _token(issuer, es_key)
    assert issuer.verify(f"Bearer {token}", now=NOW).client_id == "his-rabat"
    assert issuer.public_jwks()["keys"][0]["crv"] == "Ed25519"


# ----------------------------------------------------------------------------- scopes and principal


def test_principal_allows_and_require() -> None:
    p = Principal("c", INPE, frozenset({"system/Patient.read", "system/Observation.*", "system/*.write"}))
    assert p.allows("Patient", "read") and not p.allows("Condition", "read")
    assert p.allows("Observation", "read") and p.allows("Observation", "write")
    assert p.allows("Condition", "write")
    p.require("Patient", "read")
    with pytest.raises(AuthError) as exc:
        p.require("Condition", "read")
    assert (exc.value.status, exc.value.error) == (403, "insufficient_scope")
    assert Principal("c", INPE, frozenset({"system/*.read"})).allows("AuditEvent", "read")
    assert not Principal("c", INPE, frozenset({"user/*.*", "system/Patient.rs"})).allows("Patient", "read")
    with pytest.raises(ValueError):
        p.allows("Patient", "delete")  # type: ignore[arg-type]


def test_missing_scope_gives_403_through_principal(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    principal = issuer.verify(f"Bearer {_token(issuer, es_key)}", now=NOW)
    with pytest.raises(AuthError) as exc:
        principal.require("Patient", "write")
    assert exc.value.status == 403


# ----------------------------------------------------------------------------- registry


def test_registration_refuses_private_keys_and_bad_scopes(es_key: PrivateJwk) -> None:
    with pytest.raises(InputError, match="PUBLIC"):
        ClientRegistration("c", {"keys": [es_key.as_dict(private=True)]}, INPE, frozenset({"system/*.read"}))
    with pytest.raises(InputError, match="not SMART v1"):
        ClientRegistration("c", public_jwks(es_key), INPE, frozenset({"patient/*.read"}))
    with pytest.raises(InputError, match="JWK Set"):
        ClientRegistration("c", {"keys": []}, INPE, frozenset())
    with pytest.raises(InputError, match="client_id"):
        ClientRegistration(" ", public_jwks(es_key), INPE, frozenset())
    registry = ClientRegistry()
    registry.add(ClientRegistration("c", public_jwks(es_key), INPE, frozenset({"system/*.read"})))
    with pytest.raises(UsageError, match="already registered"):
        registry.add(ClientRegistration("c", public_jwks(es_key), INPE, frozenset()))


def test_registry_file_with_inline_and_file_jwks(
    tmp_path: Any, es_key: PrivateJwk, rs_key: PrivateJwk
) -> None:
    import json

    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "lis.jwks.json").write_text(json.dumps(public_jwks(rs_key)))
    (tmp_path / "clients.yaml").write_text(
        "clients:\n"
        f"  - client_id: his\n    organization_inpe: '{INPE}'\n"
        "    scopes: system/Patient.read system/*.write\n"
        f"    jwks: {json.dumps(public_jwks(es_key))}\n"
        "  - client_id: lis\n    name: Labo\n    organization_inpe: '2'\n    scopes: [system/Observation.*]\n"
        "    jwks_file: keys/lis.jwks.json\n"
    )
    registry = ClientRegistry.load(tmp_path / "clients.yaml")
    assert len(registry) == 2 and "his" in registry
    assert registry.get("his").scopes == {"system/Patient.read", "system/*.write"}  # type: ignore[union-attr]
    assert registry.get("lis").name == "Labo"  # type: ignore[union-attr]
    round_trip = tmp_path / "again.json"
    round_trip.write_text(json.dumps(registry.to_dict()))
    assert {c.client_id for c in ClientRegistry.load(round_trip)} == {"his", "lis"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("clients: 3\n", "'clients' list"),
        ("clients:\n  - client_id: x\n", "clients[0]: missing"),
        ("clients:\n  - {client_id: x, organization_inpe: '1', scopes: [system/*.read]}\n", "exactly one of"),
        (
            "clients:\n  - {client_id: x, organization_inpe: 1, scopes: system/*.read, jwks_file: n.json}\n",
            "cannot read jwks_file",
        ),
        ("clients: [\n", "not valid YAML"),
    ],
)
def test_registry_file_errors_name_the_entry(tmp_path: Any, text: str, fragment: str) -> None:
    path = tmp_path / "clients.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        ClientRegistry.load(path)
    with pytest.raises(InputError, match="cannot read"):
        ClientRegistry.load(tmp_path / "absent.yaml")


# ----------------------------------------------------------------------------- discovery documents


def test_smart_configuration_document(issuer: TokenIssuer) -> None:
    doc = issuer.smart_configuration(TOKEN_URL)
    assert doc["token_endpoint"] == TOKEN_URL
    assert doc["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert doc["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert doc["grant_types_supported"] == ["client_credentials"]
    assert "client-confidential-asymmetric" in doc["capabilities"]
    assert "system/Patient.read" in doc["scopes_supported"]
    assert smart_configuration(TOKEN_URL)["scopes_supported"] == [
        "system/*.*",
        "system/*.read",
        "system/*.write",
    ]
    security = capability_security(TOKEN_URL)
    assert security["extension"][0]["extension"] == [{"url": "token", "valueUri": TOKEN_URL}]


def test_token_response_and_public_jwks_hold_no_private_material(issuer: TokenIssuer) -> None:
    jwks = issuer.public_jwks()
    assert all("d" not in k for k in jwks["keys"])


def test_a_refused_malformed_request_does_not_consume_the_assertion(
    issuer: TokenIssuer, es_key: PrivateJwk
) -> None:
    form = _form(es_key)
    assert _post(issuer, {**form, "scope": ""})[0] == 400
    assert _post(issuer, {**form, "scope": "user/*.read"})[0] == 400
    assert _post(issuer, form)[0] == 200


def test_expired_jtis_are_forgotten(issuer: TokenIssuer, es_key: PrivateJwk) -> None:
    for i in range(5):
        assertion = make_client_assertion("his-rabat", TOKEN_URL, es_key, jti=f"j{i}", now=NOW, lifetime_s=60)
        assert _post(issuer, _form(es_key, assertion=assertion))[0] == 200
    later = make_client_assertion("his-rabat", TOKEN_URL, es_key, jti="late", now=NOW + 120)
    assert _post(issuer, _form(es_key, assertion=later), now=NOW + 120)[0] == 200
    assert set(issuer._seen_jti) == {("his-rabat", "late")}
