"""Security figures: SMART Backend Services token issue and access-token verification rates (one core).

- token_issue: a client signs an ES384 assertion and the issuer checks it and signs an access token
  (the full client_credentials round trip minus HTTP), per second;
- token_verify_first: verify() of tokens never seen before (signature check) per second;
- token_verify_cached: verify() of a token already verified (what most SMR requests pay) per second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from testbed.security.client import token_form  # noqa: E402
from testbed.security.keys import generate_client_key  # noqa: E402
from testbed.security.server import ClientRegistration, ClientRegistry, TokenIssuer  # noqa: E402

TOKEN_URL = "https://smr.bench/auth/token"


def _rate(step: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        step()
        count += 1
    return count / (time.perf_counter() - start)


def run(full: bool = False) -> list[dict]:
    """Figures as ``{"name", "value", "unit"}`` dicts."""
    seconds = 10.0 if full else 2.0
    key = generate_client_key("ES384")
    registry = ClientRegistry([ClientRegistration.from_key("bench", key, "10000001", ["system/*.*"])])
    issuer = TokenIssuer(registry, issuer="https://smr.bench/fhir")
    scopes = ["system/Patient.read"]

    def issue() -> None:
        status, body = issuer.token_endpoint(token_form("bench", TOKEN_URL, key, scopes), TOKEN_URL)
        if status != 200:
            raise RuntimeError(body)

    issue_rate = _rate(issue, seconds)
    fresh = [f"Bearer {issuer.issue_access_token('bench', scopes)}" for _ in range(int(seconds * 6000))]
    start = time.perf_counter()
    verified = 0
    for header in fresh:
        issuer.verify(header)
        verified += 1
        if time.perf_counter() - start > seconds:
            break
    first_rate = verified / (time.perf_counter() - start)
    header = fresh[0]
    cached_rate = _rate(lambda: issuer.verify(header), seconds)
    return [
        {"name": "token_issue", "value": round(issue_rate, 1), "unit": "tokens/s"},
        {"name": "token_verify_first", "value": round(first_rate, 1), "unit": "verifications/s"},
        {"name": "token_verify_cached", "value": round(cached_rate, 1), "unit": "verifications/s"},
    ]


if __name__ == "__main__":
    import json

    for figure in run(full="--full" in sys.argv):
        print(json.dumps(figure))
