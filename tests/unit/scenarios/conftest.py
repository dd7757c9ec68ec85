"""Helpers for the scenario engine tests: a Services object around an httpx.MockTransport."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from testbed.scenarios.auth import ClientCredentials, TokenProvider
from testbed.scenarios.model import Scenario, load_scenario
from testbed.scenarios.runner import run_scenario
from testbed.scenarios.services import Services
from testbed.scenarios.transport import ExchangeSink, HttpSession

BASE = "https://smr.test/some/base/fhir"


@pytest.fixture(scope="session")
def shared() -> Any:
    from testbed.scenarios.session import shared_validator

    return shared_validator()


@pytest.fixture(scope="session")
def national_content(shared: Any) -> Any:
    from testbed.national import NationalContent

    return NationalContent.from_registry(shared.context.registry)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"Content-Type": "application/fhir+json", **(headers or {})},
        content=json.dumps(body).encode(),
    )


class Server:
    """A scripted FHIR server: handler(request) -> response; records the requests it got."""

    def __init__(self, handler: Callable[[httpx.Request], httpx.Response]) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


@pytest.fixture
def make_services(shared: Any, national_content: Any, tmp_path: Path) -> Callable[..., Services]:
    def build(
        handler: Callable[[httpx.Request], httpx.Response], *, tokens: bool = False, **kw: Any
    ) -> Services:
        sink = ExchangeSink()
        http = HttpSession(BASE, sink=sink, transport=httpx.MockTransport(handler))
        provider = None
        if tokens:
            from testbed.security.keys import generate_client_key

            creds = {
                "primary": ClientCredentials("tb", generate_client_key("ES384"), "100000001", ("system/*.*",))
            }
            provider = TokenProvider(http, creds)
        return Services(
            validator=shared,
            national=national_content,
            sink=sink,
            http=http,
            tokens=provider,
            user_inpe="123456789",
            seed=1,
            workdir=tmp_path,
            inputs=frozenset({"target"}),
            audit_wait=0.2,
            **kw,
        )

    return build


@pytest.fixture
def write_scenario(tmp_path: Path) -> Callable[[str], Path]:
    counter = iter(range(1000))

    def write(text: str) -> Path:
        path = tmp_path / f"s{next(counter)}.scenario.yaml"
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return path

    return write


@pytest.fixture
def run(write_scenario: Callable[[str], Path]) -> Callable[..., Any]:
    def go(text: str, services: Services) -> Any:
        from testbed.scenarios.catalogue import load_catalogue

        scenario: Scenario = load_scenario(write_scenario(text), catalogue=load_catalogue())
        return run_scenario(scenario, services)

    return go
