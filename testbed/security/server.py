"""The SMR side of SMART Backend Services: the token endpoint, access-token checks and discovery JSON.

``TokenIssuer.token_endpoint`` authenticates a client by its signed assertion (RFC 7523
``private_key_jwt``, SMART ``client-confidential-asymmetric``) and grants SMART v1 system scopes;
``TokenIssuer.verify`` turns an ``Authorization`` header into a :class:`Principal` or raises
:class:`AuthError` (401; 403 comes from :meth:`Principal.require`).

Error statuses: a bad or missing ``grant_type``/``client_assertion_type``/``scope`` parameter is 400
(``invalid_request``/``unsupported_grant_type``/``invalid_scope``); anything wrong with the client's
authentication itself (unknown client, signature, algorithm, claims, replayed ``jti``) is 401
``invalid_client`` (SMART: "the server SHALL respond with an invalid_client error").

``faults`` builds deliberately broken SMRs for the security suite's own tests; both are off unless named:
``accept-any-token`` (any ``Bearer`` string passes verify() with every scope) and ``accept-alg-none``
(unsigned JWTs are accepted, as client assertions and as access tokens).
"""

from __future__ import annotations

import heapq
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import ECKey, RSAKey
from joserfc.jws import JWSRegistry

from testbed.core.errors import UsageError
from testbed.security._jwt import MalformedJwt, UnverifiedJwt, parse_unverified
from testbed.security.errors import AuthError
from testbed.security.keys import PrivateJwk, generate_signing_key, key_algorithm, public_jwks
from testbed.security.registry import ClientRegistration, ClientRegistry
from testbed.security.scopes import Principal, covered, parse_scope, split_scopes

__all__ = [
    "ASSERTION_ALGS",
    "FAULTS",
    "JWT_BEARER",
    "TOKEN_RESPONSE_HEADERS",
    "AuthError",
    "ClientRegistration",
    "ClientRegistry",
    "Principal",
    "TokenIssuer",
    "capability_security",
    "smart_configuration",
]

FAULTS = frozenset({"accept-any-token", "accept-alg-none"})
ASSERTION_ALGS = ("RS384", "ES384")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_S = 300
#: Headers every token response carries (RFC 6749 §5.1).
TOKEN_RESPONSE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
OAUTH_URIS_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
_ANY_PRINCIPAL = Principal("unauthenticated (accept-any-token fault)", "", frozenset({"system/*.*"}))
_CACHE_SIZE = 4096
_TOKEN_PARAMS = ("grant_type", "scope", "client_assertion_type", "client_assertion", "client_id")


class _OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


def _client_error(description: str) -> _OAuthError:
    return _OAuthError(401, "invalid_client", description)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _field(form: Mapping[str, Any], name: str) -> str | None:
    """A form parameter, refusing repeats (RFC 6749 §3.2) and anything but text (e.g. a file part)."""
    getlist = getattr(form, "getlist", None)  # multi-dicts (Starlette FormData) keep repeated fields
    if callable(getlist) and len(getlist(name)) > 1:
        raise _OAuthError(400, "invalid_request", f"parameter {name} is repeated")
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise _OAuthError(400, "invalid_request", f"parameter {name} must be a plain form field")
    return value


def _audience_matches(aud: object, expected: str) -> bool:
    if isinstance(aud, str):
        return aud == expected
    return isinstance(aud, list) and expected in aud


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def smart_configuration(token_url: str, scopes_supported: Iterable[str] = ()) -> dict[str, Any]:
    """The ``.well-known/smart-configuration`` JSON for a backend-services-only server."""
    scopes = sorted(set(scopes_supported) | {"system/*.read", "system/*.write", "system/*.*"})
    return {
        "token_endpoint": token_url,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": scopes,
        "capabilities": ["client-confidential-asymmetric", "permission-v1"],
    }


def capability_security(token_url: str) -> dict[str, Any]:
    """The CapabilityStatement ``rest[].security`` element naming the token endpoint (oauth-uris)."""
    return {
        "extension": [{"url": OAUTH_URIS_EXTENSION, "extension": [{"url": "token", "valueUri": token_url}]}],
        "service": [{"coding": [{"system": _SECURITY_SERVICE, "code": "SMART-on-FHIR"}]}],
        "description": "OAuth 2.0 client credentials with private_key_jwt (SMART Backend Services)",
    }


class TokenIssuer:
    """Token endpoint and access-token verifier of an SMR (SMART Backend Services).

    Args:
        registry: the registered clients.
        issuer: the ``iss`` of the access tokens (the SMR's FHIR base URL).
        signing_key: the access-token signing key; generated (ES256) when None.
        token_lifetime_s: access-token lifetime (SMART recommends at most 300 s).
        faults: deliberate defects for testing the security suite (see the module docstring).
        audience: the ``aud`` of access tokens; the issuer by default.
        clock_skew_s: tolerance for a client clock running ahead (``exp``/``nbf`` of assertions).

    Raises:
        UsageError: an unknown fault name or a non-positive lifetime.
    """

    def __init__(
        self,
        registry: ClientRegistry,
        *,
        issuer: str,
        signing_key: PrivateJwk | None = None,
        token_lifetime_s: int = 300,
        faults: frozenset[str] = frozenset(),
        audience: str | None = None,
        clock_skew_s: int = 10,
    ) -> None:
        unknown = set(faults) - FAULTS
        if unknown:
            raise UsageError(f"unknown security faults {sorted(unknown)}; known: {sorted(FAULTS)}")
        if token_lifetime_s <= 0:
            raise UsageError(f"token_lifetime_s must be positive, not {token_lifetime_s}")
        self.registry = registry
        self.issuer = issuer
        self.audience = audience or issuer
        self.signing_key = signing_key if signing_key is not None else generate_signing_key("ES256")
        self.signing_key.ensure_kid()
        self.alg = key_algorithm(self.signing_key)
        self.token_lifetime_s = token_lifetime_s
        self.faults = frozenset(faults)
        self.clock_skew_s = clock_skew_s
        self._jws_registry = JWSRegistry(algorithms=[self.alg])
        self._seen_jti: dict[tuple[str, str], float] = {}
        self._jti_expiry: list[tuple[float, tuple[str, str]]] = []  # heap: forget a jti once it expired
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ discovery
    def smart_configuration(self, token_url: str) -> dict[str, Any]:
        """The ``.well-known/smart-configuration`` JSON, listing the registered scopes."""
        return smart_configuration(token_url, self.registry.all_scopes())

    def public_jwks(self) -> dict[str, Any]:
        """The issuer's public JWK Set (for anyone who wants to check access tokens)."""
        return public_jwks(self.signing_key)

    # ------------------------------------------------------------------ token endpoint
    def token_endpoint(
        self, form: Mapping[str, str], token_url: str, now: float | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Answer a token request (``application/x-www-form-urlencoded`` body already parsed).

        Args:
            form: the request's form fields.
            token_url: the URL the request was sent to (the ``aud`` the assertion must carry).
            now: the current time (seconds since the epoch); the wall clock by default.

        Returns:
            ``(status, json_body)``: 200 with ``access_token``, ``token_type``, ``expires_in``,
            ``scope``; or 400/401 with ``error`` and ``error_description`` (RFC 6749 §5.2). Send
            :data:`TOKEN_RESPONSE_HEADERS` with either.
        """
        now = time.time() if now is None else now
        try:
            client, scopes = self._authenticate(form, token_url, now)
            self._check_granted(scopes, client)
        except _OAuthError as exc:
            return exc.status, {"error": exc.error, "error_description": exc.description}
        token = self.issue_access_token(client.client_id, scopes, now=now)
        return 200, {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime_s,
            "scope": " ".join(scopes),
        }

    def _authenticate(
        self, form: Mapping[str, str], token_url: str, now: float
    ) -> tuple[ClientRegistration, list[str]]:
        for name in _TOKEN_PARAMS:  # before anything is consumed (the jti), refuse a malformed request
            _field(form, name)
        grant_type = _field(form, "grant_type")
        if not grant_type:
            raise _OAuthError(400, "invalid_request", "grant_type is missing")
        if grant_type != "client_credentials":
            raise _OAuthError(
                400,
                "unsupported_grant_type",
                f"grant_type {_short(grant_type)} is unsupported; use client_credentials",
            )
        assertion_type = _field(form, "client_assertion_type")
        if assertion_type != JWT_BEARER:
            what = "is missing" if not assertion_type else f"is {_short(assertion_type)}"
            raise _OAuthError(400, "invalid_request", f"client_assertion_type {what}; expected {JWT_BEARER}")
        assertion = _field(form, "client_assertion")
        if not assertion:
            raise _OAuthError(400, "invalid_request", "client_assertion is missing")
        requested = self._requested_scopes(form)
        try:
            parsed = parse_unverified(assertion)
        except MalformedJwt as exc:
            raise _client_error(f"client_assertion is not a compact JWS: {exc}") from None
        alg = parsed.header.get("alg")
        unsigned = isinstance(alg, str) and alg.lower() == "none"
        if unsigned and "accept-alg-none" not in self.faults:
            raise _client_error("client_assertion uses alg none (unsigned); sign it with RS384 or ES384")
        if not unsigned and alg not in ASSERTION_ALGS:
            raise _client_error(f"client_assertion alg {_short(alg)} is not allowed; use RS384 or ES384")
        claims = parsed.claims
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise _client_error("client_assertion has no iss (it must be the client_id)")
        client = self.registry.get(iss)
        if client is None:
            raise _client_error(f"client {_short(iss)} is not registered")
        if _field(form, "client_id") not in (None, iss):
            raise _client_error("the client_id parameter differs from the assertion's iss")
        if not unsigned:
            self._check_assertion_signature(assertion, parsed, client, str(alg))
        self._check_assertion_claims(claims, client.client_id, token_url, now)
        return client, requested

    def _check_assertion_signature(
        self, assertion: str, parsed: UnverifiedJwt, client: ClientRegistration, alg: str
    ) -> None:
        kid = parsed.header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _client_error("client_assertion header has no kid (SMART requires it)")
        try:
            key = client.keyset.get_by_kid(kid)
        except (JoseError, ValueError):
            raise _client_error(f"no key with kid {_short(kid)} in the JWKS of {client.client_id}") from None
        fits = (alg == "RS384" and isinstance(key, RSAKey)) or (
            alg == "ES384" and isinstance(key, ECKey) and key.curve_name == "P-384"
        )
        if not fits:
            raise _client_error(f"the registered key {_short(kid)} ({key.key_type}) cannot verify alg {alg}")
        try:
            registry = JWSRegistry(algorithms=[alg], strict_check_header=False)
            jws.deserialize_compact(assertion, key, algorithms=[alg], registry=registry)
        except BadSignatureError:
            raise _client_error(f"client_assertion signature does not verify with key {kid}") from None
        except (JoseError, ValueError) as exc:
            raise _client_error(f"client_assertion cannot be verified: {exc}") from None

    def _check_assertion_claims(
        self, claims: dict[str, Any], client_id: str, token_url: str, now: float
    ) -> None:
        if claims.get("sub") != client_id:
            raise _client_error("client_assertion sub must equal iss (the client_id)")
        if not _audience_matches(claims.get("aud"), token_url):
            raise _client_error(
                f"client_assertion aud is {_short(claims.get('aud'))}; it must be the token "
                f"endpoint URL {token_url}"
            )
        exp = _number(claims.get("exp"))
        if exp is None:
            raise _client_error("client_assertion has no numeric exp")
        if exp <= now:
            raise _client_error(f"client_assertion expired {int(now - exp)} s ago")
        if exp - now > MAX_ASSERTION_LIFETIME_S + self.clock_skew_s:
            raise _client_error(
                f"client_assertion exp is {int(exp - now)} s ahead (max {MAX_ASSERTION_LIFETIME_S} s)"
            )
        nbf = claims.get("nbf")
        if nbf is not None and ((nbf := _number(nbf)) is None or nbf > now + self.clock_skew_s):
            raise _client_error("client_assertion is not valid yet (nbf)")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _client_error("client_assertion has no jti")
        with self._lock:
            while self._jti_expiry and self._jti_expiry[0][0] <= now:
                old_exp, old_key = heapq.heappop(self._jti_expiry)
                if self._seen_jti.get(old_key) == old_exp:
                    del self._seen_jti[old_key]
            previous = self._seen_jti.get((client_id, jti))
            if previous is not None and previous > now:
                raise _client_error(f"client_assertion jti {_short(jti)} was already used (replay)")
            self._seen_jti[(client_id, jti)] = exp
            heapq.heappush(self._jti_expiry, (exp, (client_id, jti)))

    def _requested_scopes(self, form: Mapping[str, str]) -> list[str]:
        requested = split_scopes(_field(form, "scope") or "")
        if not requested:
            raise _OAuthError(400, "invalid_request", "scope is missing (e.g. system/Patient.read)")
        malformed = [s for s in requested if parse_scope(s) is None]
        if malformed:
            raise _OAuthError(
                400,
                "invalid_scope",
                f"{malformed} are not SMART v1 system scopes (system/<Type>.read|write|*)",
            )
        return requested

    def _check_granted(self, requested: list[str], client: ClientRegistration) -> None:
        refused = [s for s in requested if not covered(s, client.scopes)]
        if refused:
            raise _OAuthError(400, "invalid_scope", f"{client.client_id} is not authorized for {refused}")

    # ------------------------------------------------------------------ access tokens
    def issue_access_token(
        self,
        client_id: str,
        scopes: Iterable[str],
        *,
        now: float | None = None,
        lifetime_s: int | None = None,
        audience: str | None = None,
    ) -> str:
        """Sign an access token (JWT, ``typ: at+jwt``) for a client.

        Also used by tests to make expired (``now`` in the past) or other-audience tokens.
        """
        now = time.time() if now is None else now
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "aud": audience or self.audience,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "iat": int(now),
            "exp": int(now) + (self.token_lifetime_s if lifetime_s is None else lifetime_s),
            "jti": secrets.token_urlsafe(16),
        }
        header = {"alg": self.alg, "kid": self.signing_key.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, self.signing_key, algorithms=[self.alg], default_type=None)

    def verify(self, authorization_header: str | None, *, now: float | None = None) -> Principal:
        """Check the ``Authorization: Bearer`` header of a request and say who is asking.

        Raises:
            AuthError: 401 when the header is missing or malformed, or the token is not one this issuer
                signed for this audience, is expired, or names a client no longer registered.
        """
        now = time.time() if now is None else now
        try:
            return self._verify(authorization_header, now)
        except AuthError:
            if "accept-any-token" in self.faults and (authorization_header or "").strip():
                return _ANY_PRINCIPAL
            raise

    def _verify(self, authorization_header: str | None, now: float) -> Principal:
        if not authorization_header or not authorization_header.strip():
            raise AuthError(401, "", "no Authorization header; send 'Authorization: Bearer <access token>'")
        scheme, _, token = authorization_header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError(401, "invalid_request", "the Authorization header must use the Bearer scheme")
        with self._lock:
            cached = self._cache.get(token)
        if cached is not None:
            return self._still_valid(cached[0], cached[1], now)
        try:
            parsed = parse_unverified(token)
        except MalformedJwt as exc:
            raise AuthError(401, "invalid_token", f"the access token is not a JWT: {exc}") from None
        alg = parsed.header.get("alg")
        unsigned = isinstance(alg, str) and alg.lower() == "none"
        if unsigned and "accept-alg-none" not in self.faults:
            raise AuthError(401, "invalid_token", "the access token is unsigned (alg none)")
        if not unsigned:
            if alg != self.alg:
                raise AuthError(401, "invalid_token", f"access token alg {_short(alg)} is not the issuer's")
            try:
                jws.deserialize_compact(token, self.signing_key, [self.alg], self._jws_registry)
            except (JoseError, ValueError):
                raise AuthError(401, "invalid_token", "the access token signature is invalid") from None
        claims = parsed.claims
        if claims.get("iss") != self.issuer:
            raise AuthError(401, "invalid_token", "the access token was issued by someone else")
        if not _audience_matches(claims.get("aud"), self.audience):
            aud = _short(claims.get("aud"))
            raise AuthError(401, "invalid_token", f"the access token is for another audience ({aud})")
        exp, client_id, scope = _number(claims.get("exp")), claims.get("client_id"), claims.get("scope")
        if exp is None or not isinstance(client_id, str) or not isinstance(scope, str):
            raise AuthError(401, "invalid_token", "the access token lacks exp, client_id or scope")
        client = self.registry.get(client_id)
        organization = client.organization_inpe if client else ""
        principal = Principal(client_id, organization, frozenset(scope.split()))
        principal = self._still_valid(principal, exp, now)
        if not unsigned:
            with self._lock:
                self._cache[token] = (principal, exp)
                if len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return principal

    def _still_valid(self, principal: Principal, exp: float, now: float) -> Principal:
        if exp <= now:
            raise AuthError(401, "invalid_token", f"the access token expired {int(now - exp)} s ago")
        client = self.registry.get(principal.client_id)
        if client is None:
            raise AuthError(401, "invalid_token", f"client {principal.client_id!r} is no longer registered")
        if client.organization_inpe != principal.organization_inpe:
            return Principal(principal.client_id, client.organization_inpe, principal.scopes)
        return principal
