"""Fuzzing the reference SMR's HTTP endpoints with hostile requests: never a 5xx, and it stays up.

Requests carry a valid token (or none, or a broken one) so that they reach the FHIR layer, the token
endpoint and discovery alike.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from testbed.api import Validator
from testbed.security.client import discover, request_token
from testbed.security.keys import generate_client_key
from testbed.security.registry import ClientRegistration

from .inputs import fhir_pool, http_request

POOL = fhir_pool()


class Target:
    def __init__(self, smr: Any, client: httpx.Client, token: str) -> None:
        self.smr, self.client, self.token = smr, client, token

    def send(self, rng: random.Random) -> httpx.Response:
        method, path, query, headers, body = http_request(POOL, rng)
        auth = rng.random()
        if auth < 0.8:
            headers["Authorization"] = f"Bearer {self.token}"
        elif auth < 0.9:
            headers["Authorization"] = rng.choice(
                ["Bearer", "Basic x", "Bearer a.b.c", "Bearer " + "x" * 9000]
            )
        if rng.random() < 0.5:
            headers["X-User-INPE"] = rng.choice(["200000001", "12", "x" * 30, ""])
        url = f"{self.smr.base_url}/{path}"
        return self.client.request(method, url, params=query, headers=headers, content=body or None)


@pytest.fixture(scope="module")
def target(ma_validator: Validator) -> Iterator[Target]:
    from testbed.simulator import start_smr

    key = generate_client_key("ES384")
    scopes = ["system/*.read", "system/*.write"]
    client_reg = ClientRegistration.from_key("fuzz", key, "100000017", scopes, name="fuzz")
    with start_smr(clients=(client_reg,), validator=ma_validator, mllp_port=None) as smr:
        with httpx.Client(verify=ssl.create_default_context(cafile=str(smr.ca_file)), timeout=30) as client:
            token = request_token(client, discover(smr.base_url, client), "fuzz", key, scopes).access_token
            yield Target(smr, client, token)


@settings(max_examples=50, deadline=10000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.randoms(use_true_random=False))
def test_hostile_requests_never_get_a_5xx(target: Target, rng: random.Random) -> None:
    response = target.send(rng)
    assert response.status_code < 500, (response.request.method, response.request.url, response.text[:500])


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "Patient", [("_page_token", "é" * 10)]),  # once a 500: a non-ASCII page token
        ("GET", "Patient", [("_page_token", "a.é")]),
        ("GET", "Patient", [("_count", "99999999999999999999")]),
        ("GET", "Patient/" + "a" * 5000, []),
        ("GET", "Patient", [("_include", "*"), ("_revinclude", "*")]),
        ("DELETE", "AuditEvent/x", []),
    ],
)
def test_known_hostile_requests_get_a_4xx_or_a_bundle(
    target: Target, method: str, path: str, query: list[tuple[str, Any]]
) -> None:
    response = target.client.request(
        method,
        f"{target.smr.base_url}/{path}",
        params=query,
        headers={"Authorization": f"Bearer {target.token}", "Accept": "application/fhir+json"},
    )
    assert response.status_code < 500, response.text[:300]


def test_the_smr_is_still_up_after_the_fuzzing(target: Target) -> None:
    """Runs after the fuzzing above (same module-scoped SMR)."""
    response = target.client.get(f"{target.smr.base_url}/metadata")
    assert response.status_code == 200 and response.json()["resourceType"] == "CapabilityStatement"
