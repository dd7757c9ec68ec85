"""Authorization (401/403), TLS and HSTS, evidence redaction, durability and concurrent writers."""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from testbed.core.errors import UsageError
from testbed.security.redact import looks_secret
from testbed.security.tls import ensure_local_ca
from testbed.security.tlscontext import client_ssl_context, set_protocol_versions
from testbed.simulator import start_smr
from tests.unit.simulator.conftest import ALL, Fhir, new_patient, pg_schema, trust
from tests.unit.simulator.test_rest import assert_outcome

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.national import NationalContent
    from testbed.security.keys import PrivateJwk
    from testbed.security.server import ClientRegistration
    from testbed.simulator import RunningSMR


def test_requests_without_a_valid_token_get_401(smr: RunningSMR, a: Fhir) -> None:
    http = a.http
    none = http.get(f"{smr.base_url}/Patient")
    assert_outcome(none, 401, "login")
    assert none.headers["www-authenticate"].startswith("Bearer")
    garbage = http.get(f"{smr.base_url}/Patient", headers={"Authorization": "Bearer not-a-token"})
    assert_outcome(garbage, 401)
    assert 'error="invalid_token"' in garbage.headers["www-authenticate"]
    token = a.access_token()
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_outcome(http.get(f"{smr.base_url}/Patient", headers={"Authorization": f"Bearer {tampered}"}), 401)
    assert "not-a-token" not in garbage.text and token not in none.text


def test_missing_scope_gets_403(smr: RunningSMR, key_b: PrivateJwk, national: NationalContent) -> None:
    reader = Fhir(smr, "reader-b", key_b, ["system/Patient.read"])
    try:
        assert reader.get("Patient", params={"_count": "1"}).status_code == 200
        assert_outcome(reader.post("Patient", new_patient(national)), 403, "forbidden")
        assert_outcome(reader.get("Observation"), 403)
    finally:
        reader.close()


def test_malformed_user_header_is_refused(a: Fhir) -> None:
    assert_outcome(a.get("Patient", headers={"X-User-INPE": "not-an-inpe"}), 400)
    assert_outcome(a.get("Patient", headers={"X-Purpose-Of-Use": "<script>"}), 400)


def test_hsts_on_every_response_and_plaintext_refused(smr: RunningSMR, a: Fhir) -> None:
    for reply in (a.http.get(f"{smr.base_url}/metadata"), a.http.get(f"{smr.base_url}/Patient")):
        assert reply.headers["strict-transport-security"].startswith("max-age=")
    plain = smr.base_url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/metadata", timeout=5)
    host, port = smr.base_url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(4096)
    assert b"HTTP/1.1 30" not in answer and b"Location" not in answer  # no redirect, no FHIR content
    legacy = client_ssl_context(smr.ca_file)
    set_protocol_versions(legacy, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{smr.base_url}/metadata", verify=legacy, timeout=5)


def test_evidence_records_exchanges_without_secrets(smr: RunningSMR, a: Fhir) -> None:
    a.get("Patient", params={"_count": "1"})
    token_calls = [e for e in smr.evidence if e["request"]["url"] == smr.token_url]
    assert token_calls, "the token request is recorded"
    last = smr.evidence[-1]
    assert last["request"]["method"] == "GET" and last["response"]["status"] == 200
    assert last["request"]["headers"]["authorization"] == "Bearer [redacted]"
    for exchange in smr.evidence:
        assert not looks_secret(str(exchange)), exchange["request"]["url"]
    admin = a.http.get(f"{smr.base_url}/_testbed/exchanges", params={"since": str(last["seq"] - 1)}).json()
    assert admin["exchanges"][0]["id"] == last["id"]


def test_acknowledged_writes_survive_a_restart(
    tmp_path: Path,
    db_url: str | None,
    ma_validator: Validator,
    registrations: list[ClientRegistration],
    key_a: PrivateJwk,
    national: NationalContent,
) -> None:
    options = {"data_dir": tmp_path, "clients": registrations, "validator": ma_validator, "db_url": db_url}
    with start_smr(mllp_port=None, **options) as first:
        client = Fhir(first, "his-a", key_a, ALL)
        created = [client.create(new_patient(national))["id"] for _ in range(5)]
        client.close()
    with start_smr(mllp_port=None, **options) as second:
        client = Fhir(second, "his-a", key_a, ALL)
        assert all(client.get(f"Patient/{pid}").status_code == 200 for pid in created)
        assert second.ca_file == first.ca_file
        client.close()


def test_concurrent_writers_lose_and_duplicate_nothing(
    db_url: str | None,
    ma_validator: Validator,
    registrations: list[ClientRegistration],
    key_a: PrivateJwk,
    national: NationalContent,
) -> None:
    with start_smr(clients=registrations, validator=ma_validator, mllp_port=None, db_url=db_url) as smr:
        client = Fhir(smr, "his-a", key_a, ALL)
        token = client.access_token()
        patients = [new_patient(national) for _ in range(100)]
        statuses: list[int] = []
        lock = threading.Lock()

        def writer(batch: list[dict]) -> None:
            with httpx.Client(verify=trust(smr), timeout=60) as http:
                for patient in batch:
                    ins = patient["identifier"][0]
                    reply = http.post(
                        f"{smr.base_url}/Patient",
                        json=patient,
                        headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/fhir+json",
                            "If-None-Exist": f"identifier={ins['system']}|{ins['value']}",
                        },
                    )
                    with lock:
                        statuses.append(reply.status_code)

        # 20 threads x 10 creates; every patient is sent by two threads, so conditional creates race
        threads = [threading.Thread(target=writer, args=(patients[i::10],)) for i in range(10)]
        threads += [threading.Thread(target=writer, args=(patients[i::10][::-1],)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(statuses) == 200 and statuses.count(201) == 100 and statuses.count(200) == 100
        assert client.get("Patient", params={"_summary": "count"}).json()["total"] == 100
        client.close()


@pytest.mark.slow
def test_postgresql_backend_is_reachable() -> None:
    """Says, as a skip, when the PostgreSQL variants of these tests did not run (TESTBED_TEST_PG unset)."""
    with pg_schema() as url:
        assert url.startswith("postgresql")


def test_a_failed_start_leaves_nothing_running(ma_validator: Validator) -> None:
    before = threading.active_count()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(UsageError, match="Cannot listen"):
            start_smr(port=taken.getsockname()[1], validator=ma_validator, mllp_port=None)
    assert threading.active_count() == before


def test_unknown_fault_is_a_usage_error(ma_validator: Validator) -> None:
    with pytest.raises(UsageError, match="no-such-fault"):
        start_smr(faults=frozenset({"no-such-fault"}), validator=ma_validator, mllp_port=None)


def test_mutual_tls_requires_a_client_certificate(tmp_path: Path, ma_validator: Validator) -> None:
    with start_smr(
        data_dir=tmp_path, validator=ma_validator, mllp_port=None, open_mode=True, mtls=True
    ) as smr:
        assert smr.ca_file is not None
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{smr.base_url}/metadata", verify=client_ssl_context(smr.ca_file), timeout=5).read()
        cert = ensure_local_ca(tmp_path / "ca").issue_client_cert("his-a")
        reply = httpx.get(f"{smr.base_url}/metadata", verify=client_ssl_context(smr.ca_file, cert), timeout=5)
        assert reply.status_code == 200


def test_a_given_server_certificate_is_used(tmp_path: Path, ma_validator: Validator) -> None:
    other = ensure_local_ca(tmp_path / "other-ca")
    cert, key = other.issue_server_cert(["localhost"], ["127.0.0.1"])
    with start_smr(
        data_dir=tmp_path / "smr",
        validator=ma_validator,
        mllp_port=None,
        open_mode=True,
        tls_cert=cert,
        tls_key=key,
    ) as smr:
        assert smr.ca_file is None
        reply = httpx.get(f"{smr.base_url}/metadata", verify=client_ssl_context(other.ca_file), timeout=5)
        assert reply.status_code == 200
