"""Shared SMRs, clients and synthetic content for the simulator tests.

One SMR (module scope) serves most tests; tests that need a fresh or broken SMR start their own with
the session's validator (starting one takes a fraction of a second once the validator is loaded).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from testbed.security.client import make_client_assertion
from testbed.security.keys import PrivateJwk, generate_client_key
from testbed.security.server import JWT_BEARER, ClientRegistration
from testbed.simulator import RunningSMR, start_smr

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.national import NationalContent

EXAMPLES = Path(__file__).resolve().parents[3] / "profiles" / "ma.smr.core" / "package" / "example"
ORG_A, ORG_B = "100200300", "100200301"
USER_A = "200300400"
ALL = ["system/*.read", "system/*.write"]


def example(name: str) -> dict[str, Any]:
    """A content example (profiles/ma.smr.core/package/example), without its id."""
    data = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    data.pop("id", None)
    return data


def trust(smr: RunningSMR) -> ssl.SSLContext | bool:
    """What an httpx client of this SMR verifies the server with (its local CA)."""
    return ssl.create_default_context(cafile=str(smr.ca_file)) if smr.ca_file else False


class Fhir:
    """An httpx client for one registered backend client of an SMR (token fetched on first use)."""

    def __init__(
        self, smr: RunningSMR, client_id: str | None, key: PrivateJwk | None, scopes: list[str]
    ) -> None:
        self.smr = smr
        self.client_id = client_id
        self.key = key
        self.scopes = scopes
        self.http = httpx.Client(verify=trust(smr), timeout=30)
        self.token: str | None = None
        self.user: str | None = USER_A

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        out = {"Accept": "application/fhir+json"}
        if self.client_id is not None:
            out["Authorization"] = f"Bearer {self.access_token()}"
        if self.user:
            out["X-User-INPE"] = self.user
        out.update(extra or {})
        return out

    def access_token(self) -> str:
        if self.token is None:
            assert self.key is not None and self.client_id is not None
            form = {
                "grant_type": "client_credentials",
                "scope": " ".join(self.scopes),
                "client_assertion_type": JWT_BEARER,
                "client_assertion": make_client_assertion(self.client_id, self.smr.token_url, self.key),
            }
            reply = self.http.post(self.smr.token_url, data=form)
            assert reply.status_code == 200, reply.text
            self.token = reply.json()["access_token"]
        return self.token

    def url(self, path: str) -> str:
        return f"{self.smr.base_url}/{path}" if path else self.smr.base_url

    def get(self, path: str, params: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(self.url(path), params=params, headers=self.headers(headers))

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        hdrs = {"Content-Type": "application/fhir+json", **(headers or {})}
        return self.http.post(self.url(path), content=content, headers=self.headers(hdrs))

    def put(self, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        hdrs = {"Content-Type": "application/fhir+json", **(headers or {})}
        return self.http.put(
            self.url(path), content=json.dumps(body).encode("utf-8"), headers=self.headers(hdrs)
        )

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(self.url(path), headers=self.headers())

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        reply = self.post(resource["resourceType"], resource)
        assert reply.status_code == 201, reply.text
        return dict(reply.json())

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def key_a() -> PrivateJwk:
    return generate_client_key("ES384")


@pytest.fixture(scope="session")
def key_b() -> PrivateJwk:
    return generate_client_key("ES384")


@pytest.fixture(scope="session")
def registrations(key_a: PrivateJwk, key_b: PrivateJwk) -> list[ClientRegistration]:
    return [
        ClientRegistration.from_key("his-a", key_a, ORG_A, ALL),
        ClientRegistration.from_key("his-b", key_b, ORG_B, ALL),
        ClientRegistration.from_key("reader-b", key_b, ORG_B, ["system/Patient.read"]),
    ]


PG_ENV = "TESTBED_TEST_PG"
"""A PostgreSQL URL (``postgresql+psycopg://user:pw@host/db``) to run the tests on PostgreSQL too."""


@contextlib.contextmanager
def pg_schema() -> Iterator[str]:
    """A database URL on a fresh PostgreSQL schema (dropped afterwards); skips when none is configured."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"set {PG_ENV} to a PostgreSQL URL to run the PostgreSQL tests")
    import sqlalchemy as sa

    schema = f"smr_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL at {PG_ENV} is not reachable: {exc.orig}")
    try:
        scoped = sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield scoped.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()


BACKENDS = ["sqlite"] + (
    [pytest.param("postgresql", marks=pytest.mark.slow)] if os.environ.get(PG_ENV) else []
)
"""Storage backends the tests run on: SQLite, and PostgreSQL when ``TESTBED_TEST_PG`` names one."""


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (SQLite in the data folder) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
    else:
        with pg_schema() as url:
            yield url


@pytest.fixture(scope="module", params=BACKENDS)
def smr(
    request: pytest.FixtureRequest, ma_validator: Validator, registrations: list[ClientRegistration]
) -> Iterator[RunningSMR]:
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(pg_schema()) if request.param == "postgresql" else None
        running = stack.enter_context(
            start_smr(clients=registrations, validator=ma_validator, mllp_port=None, db_url=db_url)
        )
        yield running


@pytest.fixture(scope="module")
def a(smr: RunningSMR, key_a: PrivateJwk) -> Iterator[Fhir]:
    client = Fhir(smr, "his-a", key_a, ALL)
    yield client
    client.close()


@pytest.fixture(scope="module")
def b(smr: RunningSMR, key_b: PrivateJwk) -> Iterator[Fhir]:
    client = Fhir(smr, "his-b", key_b, ALL)
    client.user = "200300401"
    yield client
    client.close()


_SERIAL = iter(range(1, 10**6))
_BASE = random.SystemRandom().randrange(1_000_000_000, 8_000_000_000)


def new_patient(national: NationalContent, *, ins: bool = True, cnie: bool = True) -> dict[str, Any]:
    """A valid MAPatient with identifiers no other test uses (INS with a correct key, CNIE)."""
    patient = example("Patient-ma-patient-valid-full")
    n = next(_SERIAL)
    body = str(_BASE + n)
    identifiers = []
    if ins:
        identifiers.append(
            {"system": national.identifier("ins").uri, "value": body + f"{97 - int(body) % 97:02d}"}
        )
    if cnie:
        letters = chr(65 + (_BASE // 7 + n // 100_000) % 26) + chr(65 + (_BASE // 11) % 26)
        identifiers.append(
            {"system": national.identifier("cnie").uri, "value": f"{letters}{(_BASE + n) % 100_000:06d}"}
        )
    patient["identifier"] = identifiers
    patient["name"][0]["family"] = f"Family{n}"
    return patient


def observation_for(patient_id: str) -> dict[str, Any]:
    """A valid MAObservationLab about ``Patient/patient_id``."""
    obs = example("Observation-ma-observation-lab-valid")
    obs["subject"] = {"reference": f"Patient/{patient_id}"}
    obs.pop("encounter", None)
    obs.pop("performer", None)
    return obs


def consent_for(patient_id: str, org_id: str | None = None) -> dict[str, Any]:
    """An MAConsentSMR objection (provision deny) of ``Patient/patient_id``."""
    consent = example("Consent-ma-consent-smr-valid")
    consent["patient"] = {"reference": f"Patient/{patient_id}"}
    if org_id:
        consent["organization"] = [{"reference": f"Organization/{org_id}"}]
    return copy.deepcopy(consent)
