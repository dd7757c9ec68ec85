"""The client side of SMART Backend Services: discovery, client assertions, token requests.

Used by the scenario engine to talk to a vendor's SMR and by tests to talk to the reference one.
The token endpoint is always discovered from the base URL — ``{base}/.well-known/smart-configuration``
first, then the CapabilityStatement's oauth-uris extension — never assumed (spec §5, SMR-T10).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError

from testbed.core.errors import UsageError
from testbed.security.errors import AuthDiscoveryError, TokenRequestError
from testbed.security.keys import PrivateJwk, key_algorithm
from testbed.security.redact import redact_text

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OAUTH_URIS_EXTENSION = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
_MAX_SHOWN = 200


@dataclass(frozen=True)
class SmartConfiguration:
    """What discovery found: the token endpoint and the advertised SMART metadata.

    ``source`` is the URL the token endpoint came from; ``notes`` records what was tried before it
    (for example a missing ``.well-known/smart-configuration`` when the CapabilityStatement was used).
    """

    token_endpoint: str
    source: str
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def from_well_known(self) -> bool:
        """Whether the configuration came from ``.well-known/smart-configuration``."""
        return self.source.endswith("/.well-known/smart-configuration")

    def problems(self) -> list[str]:
        """Ways this configuration falls short of SMART Backend Services as the framework asks (§5, §8)."""
        found: list[str] = []
        if not self.from_well_known:
            found.append(
                "no usable .well-known/smart-configuration; the token endpoint came from the "
                "CapabilityStatement only"
            )
            return found + self._transport_problems()
        if "private_key_jwt" not in self.token_endpoint_auth_methods_supported:
            found.append("token_endpoint_auth_methods_supported does not list private_key_jwt")
        if not {"RS384", "ES384"} & set(self.token_endpoint_auth_signing_alg_values_supported):
            found.append("token_endpoint_auth_signing_alg_values_supported lists neither RS384 nor ES384")
        if "client_credentials" not in self.grant_types_supported:
            found.append("grant_types_supported does not list client_credentials")
        if "client-confidential-asymmetric" not in self.capabilities:
            found.append("capabilities does not list client-confidential-asymmetric")
        return found + self._transport_problems()

    def _transport_problems(self) -> list[str]:
        if urlsplit(self.token_endpoint).scheme != "https":
            return [f"token_endpoint {self.token_endpoint} is not https (the assertion would cross in clear)"]
        return []


@dataclass(frozen=True)
class TokenResponse:
    """A successful token response; the access token never appears in ``repr``/``str``.

    ``problems`` lists deviations from SMART (token_type not bearer, expires_in or scope missing):
    the token is still returned so that a run can go on and report them.
    """

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None
    scope: str
    obtained_at: float = field(default_factory=time.time, compare=False)
    problems: tuple[str, ...] = ()

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (``Bearer <token>``)."""
        return f"Bearer {self.access_token}"

    @property
    def scopes(self) -> list[str]:
        """The granted scopes."""
        return self.scope.split()

    def expires_at(self) -> float | None:
        """When the token expires (epoch seconds), if the server said."""
        return None if self.expires_in is None else self.obtained_at + self.expires_in


def _shown(text: str) -> str:
    text = redact_text(text, ())
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _absolute(url: str, base: str, notes: list[str]) -> str:
    if urlsplit(url).scheme in ("http", "https"):
        return url
    resolved = urljoin(base + "/", url)
    notes.append(f"token endpoint {url!r} is relative; resolved against the base to {resolved}")
    return resolved


def _from_capability_statement(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("resourceType") != "CapabilityStatement":
        return None
    rests = body.get("rest")
    for rest in rests if isinstance(rests, list) else []:
        security = rest.get("security") if isinstance(rest, dict) else None
        extensions = security.get("extension") if isinstance(security, dict) else None
        for ext in extensions if isinstance(extensions, list) else []:
            if not isinstance(ext, dict) or ext.get("url") != OAUTH_URIS_EXTENSION:
                continue
            for sub in ext.get("extension") or []:
                if (
                    isinstance(sub, dict)
                    and sub.get("url") == "token"
                    and isinstance(sub.get("valueUri"), str)
                ):
                    return str(sub["valueUri"])
    return None


def _get(client: httpx.Client, url: str, accept: str, tried: list[str]) -> httpx.Response | None:
    try:
        response = client.get(url, headers={"Accept": accept})
    except httpx.HTTPError as exc:
        tried.append(f"GET {url} failed ({type(exc).__name__}: {_shown(str(exc))})")
        return None
    if response.status_code != 200:
        tried.append(f"GET {url} answered HTTP {response.status_code}")
        return None
    return response


def discover(base_url: str, client: httpx.Client) -> SmartConfiguration:
    """Find the token endpoint of the server at ``base_url`` (taken as given, any path).

    Tries ``GET {base}/.well-known/smart-configuration``, then ``GET {base}/metadata`` and the
    CapabilityStatement's ``rest[].security`` oauth-uris ``token`` extension.

    Raises:
        AuthDiscoveryError: neither gave a token endpoint; the message lists each URL and its answer.
    """
    base = base_url.rstrip("/")
    tried: list[str] = []
    well_known = f"{base}/.well-known/smart-configuration"
    response = _get(client, well_known, "application/json", tried)
    if response is not None:
        body = _json_or_none(response)
        endpoint = body.get("token_endpoint") if isinstance(body, dict) else None
        if isinstance(endpoint, str) and endpoint:
            notes: list[str] = []
            return SmartConfiguration(
                token_endpoint=_absolute(endpoint, base, notes),
                source=well_known,
                token_endpoint_auth_methods_supported=_strings(
                    body.get("token_endpoint_auth_methods_supported")
                ),
                token_endpoint_auth_signing_alg_values_supported=_strings(
                    body.get("token_endpoint_auth_signing_alg_values_supported")
                ),
                grant_types_supported=_strings(body.get("grant_types_supported")),
                scopes_supported=_strings(body.get("scopes_supported")),
                capabilities=_strings(body.get("capabilities")),
                notes=tuple(notes),
                raw=body,
            )
        what = "is not a JSON object" if not isinstance(body, dict) else "has no token_endpoint string"
        tried.append(f"GET {well_known} answered 200 but the body {what}")
    metadata = f"{base}/metadata"
    response = _get(client, metadata, "application/fhir+json", tried)
    if response is not None:
        body = _json_or_none(response)
        endpoint = _from_capability_statement(body)
        if endpoint:
            notes = list(tried)
            return SmartConfiguration(
                _absolute(endpoint, base, notes), metadata, notes=tuple(notes), raw=body
            )
        tried.append(
            f"GET {metadata} answered 200 but holds no CapabilityStatement rest.security "
            f"extension {OAUTH_URIS_EXTENSION} with a 'token' valueUri"
        )
    raise AuthDiscoveryError(
        f"no token endpoint could be discovered from {base}: "
        + "; ".join(tried)
        + ". The server must serve .well-known/smart-configuration (or the CapabilityStatement oauth-uris)."
    )


def make_client_assertion(
    client_id: str,
    token_url: str,
    key: PrivateJwk,
    *,
    alg: str | None = None,
    lifetime_s: int = 300,
    jti: str | None = None,
    now: float | None = None,
) -> str:
    """Sign a client assertion (RFC 7523; SMART ``client-confidential-asymmetric``).

    Args:
        client_id: ``iss`` and ``sub``.
        token_url: ``aud`` (the token endpoint URL).
        key: the client's private key; its ``kid`` goes in the header.
        alg: ``RS384`` or ``ES384`` (default: the key's own algorithm). Other values exist only so that
            tests can prove a server refuses them.
        lifetime_s: seconds until ``exp`` (SMART allows at most 300; more only for negative tests).
        jti: the assertion id (random by default; reuse one to test replay protection).
        now: the issue time (epoch seconds); pass a past time for an expired assertion.

    Raises:
        UsageError: ``alg: none`` (use ``tampering.make_unsigned_assertion``) or a key that cannot
            sign with ``alg``.
    """
    alg = alg or key_algorithm(key)
    if alg.lower() == "none":
        raise UsageError("make_client_assertion signs; for alg none use tampering.make_unsigned_assertion")
    issued = int(time.time() if now is None else now)
    key.ensure_kid()
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": issued + lifetime_s,
        "iat": issued,
        "jti": jti or secrets.token_urlsafe(24),
    }
    try:
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, claims, key, algorithms=[alg])
    except (JoseError, ValueError) as exc:
        raise UsageError(
            f"cannot sign a client assertion with alg {alg} and a {key.key_type} key ({exc})"
        ) from None


def token_form(
    client_id: str, token_url: str, key: PrivateJwk, scopes: Iterable[str], *, assertion: str | None = None
) -> dict[str, str]:
    """The form fields of a client-credentials token request (a fresh assertion unless one is given)."""
    return {
        "grant_type": "client_credentials",
        "scope": " ".join(scopes),
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion or make_client_assertion(client_id, token_url, key),
    }


def token_request(
    config: SmartConfiguration, client_id: str, key: PrivateJwk, scopes: Iterable[str]
) -> httpx.Request:
    """The HTTP request for a token (form POST to the discovered endpoint)."""
    form = token_form(client_id, config.token_endpoint, key, scopes)
    return httpx.Request("POST", config.token_endpoint, data=form, headers={"Accept": "application/json"})


def parse_token_response(response: httpx.Response) -> TokenResponse:
    """Read a token endpoint's answer.

    Raises:
        TokenRequestError: a non-200 status (with the server's ``error`` code) or no access token.
    """
    body = _json_or_none(response)
    if response.status_code != 200:
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        described = str(body.get("error_description", "")) if isinstance(body, dict) else response.text
        raise TokenRequestError(
            f"the token endpoint {response.request.url} refused the request: HTTP {response.status_code}"
            f" {error or '(no error code)'} {_shown(described)}".rstrip(),
            status=response.status_code,
            error=error,
        )
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("access_token"), str)
        or not body["access_token"]
    ):
        raise TokenRequestError(
            f"the token endpoint {response.request.url} answered 200 without an access_token",
            status=200,
        )
    problems = []
    token_type = body.get("token_type")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        problems.append(f"token_type is {token_type!r}; SMART requires 'bearer'")
    expires_in = body.get("expires_in")
    if not isinstance(expires_in, int) or isinstance(expires_in, bool):
        problems.append("expires_in is missing or not an integer")
        expires_in = None
    scope = body.get("scope")
    if not isinstance(scope, str):
        problems.append("scope is missing from the token response")
        scope = ""
    return TokenResponse(
        body["access_token"], str(token_type or ""), expires_in, scope, problems=tuple(problems)
    )


def request_token(
    client: httpx.Client, config: SmartConfiguration, client_id: str, key: PrivateJwk, scopes: list[str]
) -> TokenResponse:
    """Obtain an access token with client credentials and ``private_key_jwt``.

    Raises:
        TokenRequestError: the server refused (status and OAuth error code kept) or could not be reached.
    """
    request = token_request(config, client_id, key, scopes)
    try:
        response = client.send(request)
    except httpx.HTTPError as exc:
        raise TokenRequestError(
            f"the token endpoint {config.token_endpoint} could not be reached "
            f"({type(exc).__name__}: {_shown(str(exc))})"
        ) from None
    return parse_token_response(response)


class SmartBackendAuth(httpx.Auth):
    """httpx authentication that gets a token on first use and again shortly before it expires."""

    requires_response_body = True

    def __init__(
        self,
        config: SmartConfiguration,
        client_id: str,
        key: PrivateJwk,
        scopes: list[str],
        *,
        refresh_margin_s: float = 30,
    ) -> None:
        self.config, self.client_id, self.key, self.scopes = config, client_id, key, scopes
        self.refresh_margin_s = refresh_margin_s
        self.token: TokenResponse | None = None
        self._lock = threading.Lock()

    def _fresh(self) -> bool:
        if self.token is None:
            return False
        expires = self.token.expires_at()
        return expires is None or expires - self.refresh_margin_s > time.time()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add ``Authorization: Bearer``, fetching a token first when needed."""
        with self._lock:
            token = self.token if self._fresh() else None
        if token is None:
            response = yield token_request(self.config, self.client_id, self.key, self.scopes)
            token = parse_token_response(response)
            with self._lock:
                self.token = token
        request.headers["Authorization"] = token.authorization
        yield request
