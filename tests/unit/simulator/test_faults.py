"""Each fault switch changes exactly its behaviour (the broken SMRs that prove the suite can fail).

Every SMR (the sound one and one per fault) is run through the same probes; a probe is True when the
SMR behaves as the framework says. The sound SMR passes every probe; a broken one fails exactly the
probes of its fault.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from testbed.security.tampering import with_alg_none
from testbed.security.tlscontext import client_ssl_context, set_protocol_versions
from testbed.simulator import FAULTS, RunningSMR, start_smr
from tests.unit.simulator.conftest import ALL, Fhir, consent_for, example, new_patient, observation_for

if TYPE_CHECKING:
    from testbed.api import Validator
    from testbed.national import NationalContent
    from testbed.security.keys import PrivateJwk
    from testbed.security.server import ClientRegistration

Probe = Callable[[RunningSMR, Fhir, Fhir, dict[str, str]], bool]


def _validates(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    return a.post("Patient", example("Patient-ma-patient-invalid-no-gender")).status_code == 422


def _consent_on_read(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    read = b.get(f"Observation/{ids['obs']}").status_code
    found = b.get("Observation", params={"patient": ids["patient"]}).json()["total"]
    return read == 403 and found == 0


def _consent_on_include(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    bundle = b.get("Patient", params={"_id": ids["patient"], "_revinclude": "Observation:patient"}).json()
    return all(e["resource"]["resourceType"] != "Observation" for e in bundle.get("entry", []))


def _audits_writes(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    found = a.get("AuditEvent", params={"patient": ids["patient"], "subtype": "create"}).json()
    return bool(found["total"] >= 1)


def _audits_searches(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    a.get("Patient", params={"_id": ids["patient"]})
    found = a.get("AuditEvent", params={"patient": ids["patient"], "subtype": "search-type"}).json()
    return bool(found["total"] >= 1)


def _refuses_garbage_token(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    return (
        a.http.get(f"{smr.base_url}/Patient", headers={"Authorization": "Bearer garbage"}).status_code == 401
    )


def _refuses_unsigned_token(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    unsigned = with_alg_none(a.access_token())
    return (
        a.http.get(f"{smr.base_url}/Patient", headers={"Authorization": f"Bearer {unsigned}"}).status_code
        == 401
    )


def _sends_hsts(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    return "strict-transport-security" in a.http.get(f"{smr.base_url}/metadata").headers


def _refuses_tls10(smr: RunningSMR, a: Fhir, b: Fhir, ids: dict[str, str]) -> bool:
    assert smr.ca_file is not None
    legacy = client_ssl_context(smr.ca_file)
    set_protocol_versions(legacy, ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1)
    try:
        httpx.get(f"{smr.base_url}/metadata", verify=legacy, timeout=5)
    except httpx.HTTPError:
        return True
    return False


PROBES: dict[str, Probe] = {
    "validates": _validates,
    "consent-read": _consent_on_read,
    "consent-include": _consent_on_include,
    "audits-writes": _audits_writes,
    "audits-searches": _audits_searches,
    "refuses-garbage-token": _refuses_garbage_token,
    "refuses-unsigned-token": _refuses_unsigned_token,
    "sends-hsts": _sends_hsts,
    "refuses-tls10": _refuses_tls10,
}
BROKEN_BY = {
    "skip-validation": {"validates"},
    "ignore-consent": {"consent-read", "consent-include"},
    "ignore-consent-include": {"consent-include"},
    "no-audit": {"audits-writes", "audits-searches"},
    "no-audit-search": {"audits-searches"},
    "accept-any-token": {"refuses-garbage-token", "refuses-unsigned-token"},  # any Bearer string passes
    "accept-alg-none": {"refuses-unsigned-token"},
    "no-hsts": {"sends-hsts"},
    "tls10": {"refuses-tls10"},
}


def test_every_fault_is_covered() -> None:
    assert set(BROKEN_BY) == set(FAULTS)


@pytest.mark.parametrize("fault", [None, *sorted(FAULTS)])
def test_fault_breaks_exactly_its_behaviour(
    fault: str | None,
    ma_validator: Validator,
    registrations: list[ClientRegistration],
    key_a: PrivateJwk,
    key_b: PrivateJwk,
    national: NationalContent,
) -> None:
    faults = frozenset({fault}) if fault else frozenset()
    with start_smr(clients=registrations, validator=ma_validator, mllp_port=None, faults=faults) as smr:
        a, b = Fhir(smr, "his-a", key_a, ALL), Fhir(smr, "his-b", key_b, ALL)
        try:
            patient = a.create(new_patient(national))
            ids = {"patient": patient["id"], "obs": a.create(observation_for(patient["id"]))["id"]}
            a.create(consent_for(patient["id"]))
            results = {name: probe(smr, a, b, ids) for name, probe in PROBES.items()}
        finally:
            a.close()
            b.close()
    broken = {name for name, ok in results.items() if not ok}
    assert broken == (BROKEN_BY[fault] if fault else set())
