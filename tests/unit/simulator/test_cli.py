"""``testbed smr serve``: prints where to connect, keeps acknowledged writes when killed, stops on Ctrl+C."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from click.testing import CliRunner

from testbed.cli.smr import smr_group
from tests.unit.simulator.conftest import new_patient

if TYPE_CHECKING:
    from testbed.national import NationalContent

LAUNCH = "from testbed.cli.smr import smr_group; smr_group()"


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    args = ["serve", "--port", "0", "--mllp-port", "-1", "--data-dir", str(data_dir), "--open"]
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl+C"):
            break
    fields = {line[:16].strip(): line[16:].strip() for line in lines if len(line) > 16}
    return proc, fields, "".join(lines)


def _end(proc: subprocess.Popen[str], how: signal.Signals) -> int:
    proc.send_signal(how)
    code = proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()
    return code


def test_serve_keeps_acknowledged_writes_when_killed(tmp_path: Path, national: NationalContent) -> None:
    proc, fields, text = _serve(tmp_path)
    try:
        assert "OPEN MODE" in text and "Token endpoint" in text
        base, ca = fields["FHIR base URL"], fields["CA certificate"].split()[0]
        assert base.startswith("https://127.0.0.1:") and base.endswith("/fhir")
        with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=30) as http:
            assert http.get(f"{base}/metadata").headers["x-testbed-open-mode"]
            created = [
                http.post(
                    f"{base}/Patient",
                    json=new_patient(national),
                    headers={"Content-Type": "application/fhir+json"},
                )
                for _ in range(5)
            ]
        assert [r.status_code for r in created] == [201] * 5
    finally:
        assert _end(proc, signal.SIGKILL) == -signal.SIGKILL  # no chance to flush anything more

    proc, fields, _ = _serve(tmp_path)
    try:
        base, ca = fields["FHIR base URL"], fields["CA certificate"].split()[0]
        with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=30) as http:
            for reply in created:
                assert http.get(f"{base}/Patient/{reply.json()['id']}").status_code == 200
    finally:
        assert _end(proc, signal.SIGINT) == 0


def test_bad_clients_file_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "clients.yaml"
    bad.write_text("clients: [{client_id: x}]\n", encoding="utf-8")
    result = CliRunner().invoke(smr_group, ["serve", "--clients", str(bad), "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "clients[0]" in result.output and "Traceback" not in result.output
