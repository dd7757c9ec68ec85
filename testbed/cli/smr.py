"""``testbed smr serve``: run the reference SMR simulator until interrupted."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from testbed.core.errors import TestbedError

DEFAULT_DATA_DIR = Path("~/.local/share/testbed/smr")
FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("smr")
def smr_group() -> None:
    """Run the reference SMR simulator (the SMR that client products talk to)."""


@smr_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8443, show_default=True, type=click.IntRange(0, 65535), help="HTTPS port (0: any)."
)
@click.option(
    "--mllp-port",
    default=2575,
    show_default=True,
    type=click.IntRange(-1, 65535),
    help="HL7 v2 MLLP port (0: any, -1: no MLLP listener).",
)
@click.option(
    "--db", "db_url", help="Database URL (postgresql+psycopg://...); SQLite in the data folder by default."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder for the database and the local certificate authority.",
)
@click.option("--tls-cert", type=FILE, help="Server certificate (PEM) instead of one from the local CA.")
@click.option("--tls-key", type=FILE, help="Key of --tls-cert (PEM).")
@click.option("--no-tls", is_flag=True, help="Plain HTTP (development only; the framework requires TLS).")
@click.option("--mtls", is_flag=True, help="Require client certificates issued by the local CA.")
@click.option(
    "--clients",
    "clients_file",
    type=FILE,
    help="Client registry (YAML/JSON: clients with client_id, organization_inpe, scopes, jwks).",
)
@click.option("--open", "open_mode", is_flag=True, help="No authorization (development only; said loudly).")
@click.option("--fault", "faults", multiple=True, hidden=True, help="A deliberate defect (for the suite).")
def serve_command(
    host: str,
    port: int,
    mllp_port: int,
    db_url: str | None,
    data_dir: Path,
    tls_cert: Path | None,
    tls_key: Path | None,
    no_tls: bool,
    mtls: bool,
    clients_file: Path | None,
    open_mode: bool,
    faults: tuple[str, ...],
) -> None:
    """Serve the SMR: FHIR R4 over HTTPS (SMART Backend Services) and HL7 v2 over MLLP.

    Runs until interrupted (Ctrl+C). Every acknowledged write is on disk before its reply.
    """
    from testbed.security.server import ClientRegistry
    from testbed.simulator import start_smr

    try:
        clients = list(ClientRegistry.load(clients_file)) if clients_file else []
        smr = start_smr(
            data_dir=data_dir.expanduser().resolve(),
            host=host,
            port=port,
            mllp_port=None if mllp_port < 0 else mllp_port,
            db_url=db_url,
            tls=not no_tls,
            open_mode=open_mode,
            clients=clients,
            faults=frozenset(faults),
            tls_cert=tls_cert,
            tls_key=tls_key,
            mtls=mtls,
        )
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    _banner(smr, clients_file, len(clients))
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        click.echo("stopping the SMR simulator ...")
        smr.stop()


def _banner(smr: object, clients_file: Path | None, count: int) -> None:
    from testbed.simulator import RunningSMR

    assert isinstance(smr, RunningSMR)
    if smr.open_mode:
        click.secho(
            "WARNING: OPEN MODE - no authorization: any request is accepted without a token.", fg="red"
        )
    click.echo(f"FHIR base URL   {smr.base_url}")
    click.echo(f"CapabilityStmt  {smr.base_url}/metadata")
    click.echo(f"SMART discovery {smr.base_url}/.well-known/smart-configuration")
    click.echo(f"Token endpoint  {smr.token_url}")
    if smr.ca_file is not None:
        click.echo(f"CA certificate  {smr.ca_file}  (clients must trust it: curl --cacert, httpx verify=)")
    elif smr.base_url.startswith("https:"):
        click.echo("CA certificate  the issuer of --tls-cert (clients must trust it)")
    if smr.mllp_address is not None:
        click.echo(f"HL7 v2 MLLP     {smr.mllp_address[0]}:{smr.mllp_address[1]}")
    click.echo(f"Database        {smr.db_url}")
    where = f"from {clients_file}" if clients_file else "(none: pass --clients FILE)"
    click.echo(f"Clients         {count} registered {where}")
    if not smr.open_mode:
        click.echo(
            "To get a token: POST the token endpoint a form with grant_type=client_credentials, "
            "scope='system/Patient.read ...', client_assertion_type="
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer and client_assertion=<a JWT signed "
            "RS384/ES384 with your registered key, aud = the token endpoint>; then send "
            "'Authorization: Bearer <access_token>'."
        )
    click.echo("Press Ctrl+C to stop.")


@smr_group.command("client-add")
@click.option(
    "--clients",
    "clients_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Client registry to create or extend (YAML).",
)
@click.option("--client-id", required=True, help="The OAuth client id.")
@click.option("--org", "organization", required=True, help="INPE of the client's organization.")
@click.option(
    "--scopes",
    default="system/*.read system/*.write",
    show_default=True,
    help="Space-separated SMART v1 system scopes.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the new private key (JWK JSON, owner-only); keep it secret.",
)
def client_add_command(
    clients_file: Path, client_id: str, organization: str, scopes: str, key_file: Path
) -> None:
    """Make a key pair for a backend client and register its public key in a client registry file."""
    import yaml

    from testbed.security.keys import generate_client_key, save_private_key
    from testbed.security.server import ClientRegistration, ClientRegistry

    try:
        registry = ClientRegistry.load(clients_file) if clients_file.is_file() else ClientRegistry()
        key = generate_client_key("ES384")
        registry.add(ClientRegistration.from_key(client_id, key, organization, scopes.split()))
        save_private_key(key, key_file)
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
    clients_file.write_text(yaml.safe_dump(registry.to_dict(), sort_keys=False), encoding="utf-8")
    click.echo(
        f"registered {client_id} (organization {organization}) in {clients_file}; private key: {key_file}"
    )


@smr_group.command("assertion")
@click.option("--client-id", required=True, help="The OAuth client id.")
@click.option(
    "--key", "key_file", type=FILE, required=True, help="The client's private key (JWK JSON or PEM)."
)
@click.option("--aud", "token_url", required=True, help="The token endpoint (from the smart-configuration).")
def assertion_command(client_id: str, key_file: Path, token_url: str) -> None:
    """Print a fresh client assertion (a signed JWT, valid 5 minutes) for a token request."""
    from testbed.security.client import make_client_assertion
    from testbed.security.keys import load_private_key

    try:
        click.echo(make_client_assertion(client_id, token_url, load_private_key(key_file)))
    except TestbedError as exc:
        raise click.ClickException(str(exc)) from exc
