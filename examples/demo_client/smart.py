"""SMART Backend Services, client side, written out plainly: what a vendor's product must do.

1. Discover the token endpoint from ``{base}/.well-known/smart-configuration`` (never assume it).
2. Sign a client assertion (RFC 7523) with the client's private key, ES384 or RS384.
3. POST ``grant_type=client_credentials`` with the assertion and the SMART v1 system scopes wanted.
4. Send FHIR requests with ``Authorization: Bearer <token>`` and the professional's INPE header.

Only httpx and joserfc are used, so that the program shows the protocol and not the testbed's library.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class ClientError(Exception):
    """The SMR refused or could not be reached; the message says which request and what came back."""


def load_key(path: Path) -> ECKey | RSAKey:
    """Read a private key: JWK JSON or PEM."""
    data = path.read_bytes()
    if data.lstrip().startswith(b"{"):
        obj = json.loads(data)
        return ECKey.import_key(obj) if obj.get("kty") == "EC" else RSAKey.import_key(obj)
    try:
        return ECKey.import_key(data)
    except ValueError:
        return RSAKey.import_key(data)


class SmrClient:
    """A backend client of one SMR base URL."""

    def __init__(
        self,
        base: str,
        *,
        client_id: str,
        key: ECKey | RSAKey,
        ca_file: str | None,
        user_inpe: str | None = None,
        user_header: str = "X-User-INPE",
    ) -> None:
        self.base = base.rstrip("/")
        self.client_id = client_id
        self.key = key
        self.user_inpe = user_inpe
        self.user_header = user_header
        self.http = httpx.Client(verify=ca_file or True, timeout=30.0)
        self._token: str | None = None

    def close(self) -> None:
        self.http.close()

    def token_endpoint(self) -> str:
        response = self.http.get(
            f"{self.base}/.well-known/smart-configuration", headers={"Accept": "application/json"}
        )
        if response.status_code != 200:
            raise ClientError(f"GET .well-known/smart-configuration answered {response.status_code}")
        endpoint = response.json().get("token_endpoint")
        if not isinstance(endpoint, str):
            raise ClientError("the SMART configuration has no token_endpoint")
        return endpoint

    def authenticate(self, scopes: list[str]) -> None:
        url = self.token_endpoint()
        alg = "ES384" if isinstance(self.key, ECKey) else "RS384"
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": url,
            "iat": now,
            "exp": now + 240,
            "jti": secrets.token_urlsafe(18),
        }
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if self.key.kid:
            header["kid"] = self.key.kid
        assertion = jwt.encode(header, claims, self.key, algorithms=[alg])
        form = {
            "grant_type": "client_credentials",
            "scope": " ".join(scopes),
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
        }
        response = self.http.post(url, data=form, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise ClientError(f"the token endpoint answered {response.status_code}: {response.text[:300]}")
        self._token = response.json()["access_token"]

    def request(
        self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None
    ) -> httpx.Response:
        if self._token is None:
            raise ClientError("authenticate first")
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/fhir+json"}
        if self.user_inpe:
            headers[self.user_header] = self.user_inpe
        content = None
        if body is not None:
            headers["Content-Type"] = "application/fhir+json"
            content = json.dumps(body, ensure_ascii=False).encode("utf-8")
        url = (
            path if path.startswith("https://") else f"{self.base}/{path.lstrip('/')}" if path else self.base
        )
        return self.http.request(method, url, headers=headers, content=content, params=params)
