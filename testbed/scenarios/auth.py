"""Access tokens for the testbed's requests: discovery once, one token per (client, scopes), bad tokens.

A step's ``auth`` says which credentials to present: ``default`` (the primary client with its
configured scopes), ``none``, or ``{client: other, scopes: [...], token: valid|malformed|tampered}``.
The token endpoint is discovered from the base (``.well-known/smart-configuration``, then the
CapabilityStatement), never assumed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from testbed.core.errors import TestbedError
from testbed.scenarios.results import StepError, StepSkipped
from testbed.scenarios.transport import HttpSession, TransportFailure
from testbed.security.client import SmartConfiguration, discover, request_token
from testbed.security.keys import PrivateJwk
from testbed.security.tampering import tamper_signature, with_alg_none

MALFORMED_TOKEN = "not-a-token.testbed"  # noqa: S105 - deliberately invalid, for negative tests
MINTED_TOKENS = ("expired", "other-audience")
"""Bad tokens only the token's issuer can sign: made by :attr:`TokenProvider.minters`, when it has one."""


@dataclass(frozen=True)
class ClientCredentials:
    """A backend client the testbed authenticates as (registered with the system under test)."""

    client_id: str
    key: PrivateJwk
    organization_inpe: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AuthChoice:
    """A step's ``auth``: which client, which scopes, and whether to spoil the token."""

    mode: str = "default"  # default | none | custom
    client: str = "primary"
    scopes: tuple[str, ...] | None = None
    token: str = "valid"  # valid | malformed | tampered | alg-none | expired | other-audience

    @classmethod
    def parse(cls, value: Any) -> AuthChoice:
        """Read the ``auth`` value of a step (already schema-checked)."""
        if value is None or value == "default":
            return cls()
        if value == "none":
            return cls(mode="none")
        assert isinstance(value, Mapping)
        scopes = value.get("scopes")
        return cls(
            mode="custom",
            client=str(value.get("client", "primary")),
            scopes=tuple(scopes) if scopes is not None else None,
            token=str(value.get("token", "valid")),
        )

    def describe(self, granted: tuple[str, ...] | None = None) -> dict[str, Any]:
        """What the exchange record says about the credentials presented (never the token)."""
        if self.mode == "none":
            return {"mode": "none"}
        info: dict[str, Any] = {"mode": "bearer", "client": self.client, "token": self.token}
        if granted is not None:
            info["scopes"] = list(granted)
        return info


class TokenProvider:
    """Discovers the token endpoint of ``session``'s base and obtains tokens for the configured clients."""

    def __init__(self, session: HttpSession, clients: Mapping[str, ClientCredentials]) -> None:
        self.session = session
        self.clients = dict(clients)
        self._config: SmartConfiguration | None = None
        self._tokens: dict[tuple[str, tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()
        self.minters: dict[str, Callable[[ClientCredentials, tuple[str, ...]], str]] = {}

    def configuration(self) -> SmartConfiguration:
        """The discovered SMART configuration (discovered on first use).

        Raises:
            StepError: discovery failed (the scenario cannot be judged; the T10 scenarios judge it).
        """
        if self._config is None:
            try:
                self._config = discover(self.session.base_url, self.session.client)
            except TransportFailure as exc:
                raise StepError(f"cannot discover the token endpoint: {exc}") from None
            except TestbedError as exc:
                raise StepError(f"cannot discover the token endpoint: {exc}") from None
        return self._config

    def client(self, name: str) -> ClientCredentials:
        """The credentials called ``name`` (``primary``, ``other``).

        Raises:
            StepSkipped: no such client is configured (an input of the scenario is missing).
        """
        creds = self.clients.get(name)
        if creds is None:
            raise StepSkipped(f"Missing the following required inputs: {name} client credentials")
        return creds

    def token(self, client: str, scopes: tuple[str, ...] | None) -> tuple[str, tuple[str, ...]]:
        """An access token for ``client`` with ``scopes`` (its configured scopes by default), cached.

        Returns:
            The token and the scopes granted.

        Raises:
            StepError: the token endpoint refused or could not be reached.
        """
        creds = self.client(client)
        wanted = tuple(scopes) if scopes is not None else creds.scopes
        key = (client, wanted)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None:
                expires = cached.expires_at()
                if expires is None or expires - 30 > time.time():
                    return cached.access_token, tuple(cached.scopes)
        config = self.configuration()
        try:
            response = request_token(self.session.client, config, creds.client_id, creds.key, list(wanted))
        except TransportFailure as exc:
            raise StepError(f"cannot obtain an access token for client {creds.client_id!r}: {exc}") from None
        except TestbedError as exc:
            raise StepError(f"cannot obtain an access token for client {creds.client_id!r}: {exc}") from None
        with self._lock:
            self._tokens[key] = response
        return response.access_token, tuple(response.scopes)

    def authorization(self, choice: AuthChoice) -> tuple[str | None, dict[str, Any], str | None]:
        """The ``Authorization`` header for a step's choice.

        Returns:
            (header value or None, the description kept in the exchange, the raw token for echo checks).
        """
        if choice.mode == "none":
            return None, choice.describe(), None
        if choice.token == "malformed":
            self.client(choice.client)
            return f"Bearer {MALFORMED_TOKEN}", choice.describe(), MALFORMED_TOKEN
        if choice.token in MINTED_TOKENS:
            creds = self.client(choice.client)
            minter = self.minters.get(choice.token)
            if minter is None:
                raise StepSkipped(
                    f"Missing the following required inputs: an {choice.token} access token "
                    "(only the embedded reference SMR can sign one for the testbed)"
                )
            wanted = tuple(choice.scopes) if choice.scopes is not None else creds.scopes
            minted = minter(creds, wanted)
            return f"Bearer {minted}", choice.describe(wanted), minted
        token, granted = self.token(choice.client, choice.scopes)
        if choice.token == "tampered":
            token = tamper_signature(token)
        elif choice.token == "alg-none":
            try:
                token = with_alg_none(token)
            except TestbedError:
                raise StepSkipped(
                    "the access tokens of this SMR are not JWTs: an unsigned copy cannot be made"
                ) from None
        return f"Bearer {token}", choice.describe(granted), token
