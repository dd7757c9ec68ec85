"""Testing a vendor's SMR at a target URL with a vendor configuration (here: a reference SMR started
apart, as a vendor would run theirs), and replaying one of its exchanges with a fresh token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from testbed.cli.run import replay_command, run_command
from testbed.core.errors import UsageError
from testbed.scenarios.schema import ScenarioSchemaError, content_dir
from testbed.scenarios.vendor import load_vendor_config


@pytest.fixture(scope="module")
def vendor_smr(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Any, Path]]:
    from testbed.scenarios.embedded import default_scopes
    from testbed.scenarios.session import shared_validator
    from testbed.security.keys import generate_client_key, save_private_key
    from testbed.security.registry import ClientRegistration
    from testbed.simulator import start_smr

    folder = tmp_path_factory.mktemp("vendor")
    validator = shared_validator()
    from testbed.national import NationalContent

    scopes = default_scopes(
        validator.context.registry, NationalContent.from_registry(validator.context.registry)
    )
    clients = []
    for name, inpe in (("tb-a", "100000011"), ("tb-b", "100000022")):
        key = generate_client_key("RS384")
        save_private_key(key, folder / f"{name}.jwk")
        clients.append(ClientRegistration.from_key(name, key, inpe, scopes))
    smr = start_smr(data_dir=folder / "smr", clients=tuple(clients), validator=validator, mllp_port=None)
    config = folder / "vendor.yaml"
    config.write_text(f"""
vendor: ACME
product: ACME SMR
version: "2.0"
actors: [SMR]
roles: {{user_inpe: "123456780"}}
endpoints: {{fhir: "{smr.base_url}"}}
tls: {{ca_bundle: "{smr.ca_file}"}}
credentials: {{client_id: tb-a, private_key: tb-a.jwk, organization_inpe: "100000011"}}
other_credentials: {{client_id: tb-b, private_key: tb-b.jwk, organization_inpe: "100000022"}}
""")
    yield smr, config
    smr.stop()


def test_a_vendor_smr_is_tested_with_its_configuration(vendor_smr: tuple[Any, Path], tmp_path: Path) -> None:
    smr, config = vendor_smr
    smr_dir = content_dir() / "smr"
    scenarios = [
        smr_dir / "t1-create-patient.scenario.yaml",
        smr_dir / "t8-objection-read.scenario.yaml",
        smr_dir / "t10-missing-scope-403.scenario.yaml",
    ]
    args = ["--vendor-config", str(config), "--out", str(tmp_path / "run"), "--seed", "5"]
    for s in scenarios:
        args += ["--scenarios", str(s)]
    result = CliRunner().invoke(run_command, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["sut"]["vendor"] == "ACME" and record["sut"]["embedded"] is False
    assert record["sut"]["fhir"] == smr.base_url
    assert {s["result"] for s in record["scenarios"]} == {"pass"}

    post = next(
        json.loads(p.read_text())
        for p in (tmp_path / "run" / "exchanges").iterdir()
        if '"method":"POST"' in p.read_text() and '"path":"Patient"' in p.read_text()
    )
    assert post["request"]["headers"]["x-user-inpe"] == "123456780"
    exchange = next(
        p for p in (tmp_path / "run" / "exchanges").iterdir() if '"path":"Patient/' in p.read_text()
    )
    replayed = CliRunner().invoke(replay_command, [str(exchange), "--vendor-config", str(config)])
    assert replayed.exit_code == 0, replayed.output
    assert "same status" in replayed.output


def test_vendor_configuration_errors_name_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("vendor: ACME\nproduct: P\nversion: '1'\nactors: [SMR]\nendpoint: {fhir: https://x}\n")
    with pytest.raises(
        ScenarioSchemaError, match=r"bad\.yaml:5: unknown key 'endpoint'; did you mean 'endpoints'"
    ):
        load_vendor_config(bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "vendor: A\nproduct: P\nversion: '1'\nactors: [SMR]\n"
        "credentials: {client_id: x, private_key: nowhere.jwk}\n"
    )
    with pytest.raises(UsageError, match="credentials.private_key"):
        load_vendor_config(missing)
