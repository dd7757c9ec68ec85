"""The demo client's commands.

``python -m examples.demo_client send-patient --smr URL --patient FILE --ca CA --client-id ID --key KEY``

Commands: ``send-patient`` (SMR-T1), ``send-document`` (SMR-T4), ``push`` (SMR-T6, SMR-T8),
``search-patient`` (SMR-T3), ``get-documents`` (SMR-T5), ``send-adt`` (SMR-T1 over HL7 v2 / MLLP).
Exit status 0 when the SMR accepted, 1 when it refused, 2 on a usage error.
"""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from examples.demo_client.smart import ClientError, SmrClient, load_key

_SCOPES = {
    "send-patient": ["system/Patient.write"],
    "send-document": [
        "system/Patient.write",
        "system/DocumentReference.write",
        "system/Binary.write",
        "system/Bundle.write",
    ],
    "search-patient": ["system/Patient.read"],
    "get-documents": ["system/DocumentReference.read", "system/Binary.read"],
}


def _smr_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            click.option("--smr", required=True, help="FHIR base URL of the SMR."),
            click.option(
                "--ca", type=click.Path(exists=True, dir_okay=False), help="CA certificate of the SMR."
            ),
            click.option("--client-id", required=True, help="Client id registered with the SMR."),
            click.option(
                "--key",
                required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                help="The client's private key (JWK JSON or PEM).",
            ),
            click.option("--user-inpe", help="INPE of the professional on whose behalf the request is made."),
        ]
    ):
        func = decorator(func)
    return func


def _client(kw: dict[str, Any]) -> SmrClient:
    return SmrClient(
        kw["smr"],
        client_id=kw["client_id"],
        key=load_key(kw["key"]),
        ca_file=kw["ca"],
        user_inpe=kw["user_inpe"],
    )


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _report(response: Any) -> None:
    location = response.headers.get("Location", "")
    click.echo(f"HTTP {response.status_code} {location}".rstrip())
    if response.status_code >= 400:
        click.echo(response.text[:2000], err=True)
        sys.exit(1)


def _run(kw: dict[str, Any], scopes: list[str], action: Callable[[SmrClient], Any]) -> None:
    client = _client(kw)
    try:
        client.authenticate(scopes)
        action(client)
    except (ClientError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        client.close()


@click.group()
def main() -> None:
    """A demo vendor client for the SMR (Source, Consumer and Identity source actors)."""


@main.command("send-patient")
@_smr_options
@click.option("--patient", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def send_patient(**kw: Any) -> None:
    """POST a Patient (SMR-T1)."""
    _run(
        kw,
        _SCOPES["send-patient"],
        lambda c: _report(c.request("POST", "Patient", body=_read(kw["patient"]))),
    )


@main.command("send-document")
@_smr_options
@click.option(
    "--document",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An MABundleDocumentSubmission transaction Bundle.",
)
def send_document(**kw: Any) -> None:
    """POST a document submission transaction to the base (SMR-T4)."""
    _run(kw, _SCOPES["send-document"], lambda c: _report(c.request("POST", "", body=_read(kw["document"]))))


@main.command("push")
@_smr_options
@click.option("--resource", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def push(**kw: Any) -> None:
    """POST one resource to its type's endpoint (SMR-T6 clinical data, SMR-T8 Consent)."""
    resource = _read(kw["resource"])
    rtype = str(resource.get("resourceType"))
    _run(kw, [f"system/{rtype}.write"], lambda c: _report(c.request("POST", rtype, body=resource)))


@main.command("search-patient")
@_smr_options
@click.option("--identifier", required=True, help="system|value, e.g. the INS.")
def search_patient(**kw: Any) -> None:
    """GET Patient?identifier= and print the ids found (SMR-T3)."""

    def action(c: SmrClient) -> None:
        response = c.request("GET", "Patient", params={"identifier": kw["identifier"]})
        _report(response)
        for entry in response.json().get("entry") or []:
            click.echo(f"Patient/{entry['resource'].get('id')}")

    _run(kw, _SCOPES["search-patient"], action)


@main.command("get-documents")
@_smr_options
@click.option("--patient", required=True, help="The patient reference (Patient/<id>).")
def get_documents(**kw: Any) -> None:
    """GET DocumentReference?patient= and each document's Binary (SMR-T5)."""

    def action(c: SmrClient) -> None:
        response = c.request("GET", "DocumentReference", params={"patient": kw["patient"]})
        _report(response)
        for entry in response.json().get("entry") or []:
            for content in entry["resource"].get("content") or []:
                url = content.get("attachment", {}).get("url", "")
                if "Binary/" in url:
                    binary = c.request("GET", "Binary/" + url.split("Binary/")[-1])
                    click.echo(f"{url}: HTTP {binary.status_code}, {len(binary.content)} bytes")

    _run(kw, _SCOPES["get-documents"], action)


@main.command("send-adt")
@click.option("--mllp", "address", required=True, help="host:port of the SMR's MLLP listener.")
@click.option(
    "--message",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The HL7 v2 message (ER7).",
)
def send_adt(address: str, message: Path) -> None:
    """Send an HL7 v2 message over MLLP and print the ACK (SMR-T1 identity feed)."""
    host, _, port = address.rpartition(":")
    text = message.read_text(encoding="utf-8").strip().replace("\r\n", "\r").replace("\n", "\r") + "\r"
    frame = b"\x0b" + text.encode("utf-8") + b"\x1c\r"
    try:
        with socket.create_connection((host, int(port)), timeout=15) as sock:
            sock.sendall(frame)
            reply = b""
            while not reply.endswith(b"\x1c\r"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    ack = reply.strip(b"\x0b\x1c\r").decode("utf-8", "replace")
    click.echo(ack.replace("\r", "\n"))
    msa = next((s for s in ack.split("\r") if s.startswith("MSA")), "MSA|")
    sys.exit(0 if msa.split("|")[1:2] == ["AA"] else 1)
