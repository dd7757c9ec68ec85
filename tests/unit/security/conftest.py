"""Shared keys, registry and issuer for the security tests (keys are made once per session: RSA is slow)."""

from __future__ import annotations

import pytest

from testbed.security.keys import PrivateJwk, generate_client_key
from testbed.security.server import ClientRegistration, ClientRegistry, TokenIssuer

ISSUER = "https://smr.test/fhir"
TOKEN_URL = "https://smr.test/auth/token"
NOW = 1_800_000_000.0
INPE = "10000001"


@pytest.fixture(scope="session")
def es_key() -> PrivateJwk:
    return generate_client_key("ES384")


@pytest.fixture(scope="session")
def rs_key() -> PrivateJwk:
    return generate_client_key("RS384", kid="rsa-1")


@pytest.fixture
def registry(es_key: PrivateJwk, rs_key: PrivateJwk) -> ClientRegistry:
    return ClientRegistry(
        [
            ClientRegistration.from_key(
                "his-rabat", es_key, INPE, ["system/Patient.read", "system/Observation.*"], name="HIS Rabat"
            ),
            ClientRegistration.from_key("lis-fes", rs_key, "10000002", ["system/*.read"]),
        ]
    )


@pytest.fixture
def issuer(registry: ClientRegistry) -> TokenIssuer:
    return TokenIssuer(registry, issuer=ISSUER)
