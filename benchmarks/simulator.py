"""Benchmarks of the reference SMR simulator (issue 6): throughput, concurrency without loss, hostile input.

``run(full=False)`` returns a list of ``{"name", "value", "unit"}``:

- FHIR reads/s with authorization, the consent check and a durable AuditEvent per read;
- validated Patient creates/s (MAPatient validation, INS duplicate check, audit);
- 50 concurrent clients creating and reading Observations for 10 s (60 s with ``full``): requests/s,
  and the lost and duplicated writes found by counting afterwards (both must be 0);
- hostile inputs (malformed JSON, XML with a DTD, a CDA with an external entity, a 50 MB body, deep
  nesting, MLLP garbage): how many got a clean error, and whether the server still answers.

The SMR runs in this process (as the scenario engine runs it); the clients run in separate processes
(``python -c``), so that they do not compete with the server for this interpreter's lock.
Usage: ``python benchmarks/simulator.py [--full]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from testbed.api import Validator  # noqa: E402
from testbed.hl7v2.mllp import MLLPClient, frame  # noqa: E402
from testbed.national import NationalContent  # noqa: E402
from testbed.security.client import make_client_assertion  # noqa: E402
from testbed.security.keys import generate_client_key  # noqa: E402
from testbed.security.server import JWT_BEARER, ClientRegistration  # noqa: E402
from testbed.simulator import RunningSMR, start_smr  # noqa: E402

EXAMPLES = ROOT / "profiles" / "ma.smr.core" / "package" / "example"
ORG = "100200300"
BENCH_SYSTEM = "urn:oid:2.16.504.1.1.9.100200300"

_WORKER = r"""
import json, socket, ssl, sys, threading, time
from urllib.parse import urlsplit
cfg = json.loads(sys.stdin.read())
ctx = ssl.create_default_context(cafile=cfg["ca"])
lock = threading.Lock()
out = {"statuses": {}, "created": [], "errors": 0}


class Conn:
    # A minimal keep-alive HTTPS/1.1 client: light enough that the clients do not starve the server.
    def __init__(self, url):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in cfg["headers"].items())
        self.sock = None
        self.buf = b""

    def request(self, method, path, body=b""):
        if self.sock is None:
            raw = socket.create_connection((self.host, self.port))
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = ctx.wrap_socket(raw, server_hostname=self.host)
            self.buf = b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.sock.sendall(head.encode() + body)
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._recv()
        self.buf = rest[length:]
        return status, rest[:length]

    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed")
        return data


def note(status, created=None):
    with lock:
        out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1
        if created:
            out["created"].append(created)


def worker(tid):
    conn = Conn(cfg["url"])
    path = urlsplit(cfg["url"]).path
    if cfg["mode"] == "get":
        for _ in range(cfg["count"]):
            note(conn.request("GET", path)[0])
    elif cfg["mode"] == "post":
        for body in cfg["bodies"][tid]:
            note(conn.request("POST", path, json.dumps(body).encode())[0])
    else:
        deadline = time.monotonic() + cfg["seconds"]
        n = 0
        while time.monotonic() < deadline:
            n += 1
            body = json.loads(cfg["template"])
            value = f"{cfg['tag']}-{tid}-{n}"
            body["identifier"] = [{"system": cfg["system"], "value": value}]
            try:
                status, reply = conn.request("POST", path, json.dumps(body).encode())
            except (OSError, ValueError):
                conn.sock = None
                with lock:
                    out["errors"] += 1
                continue
            created = json.loads(reply)["id"] if status == 201 else None
            note(status, [created, value] if created else None)
            if created:
                note(conn.request("GET", f"{path}/{created}")[0])


threads = [threading.Thread(target=worker, args=(t,)) for t in range(cfg["threads"])]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
"""


def _clients(configs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
    """Run one client process per config at once; their outputs and the wall time."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        for _ in configs
    ]
    for proc, cfg in zip(procs, configs, strict=True):
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(cfg))
        proc.stdin.close()
    outputs = []
    for proc in procs:
        assert proc.stdout is not None
        outputs.append(json.loads(proc.stdout.read()))
        proc.stdout.close()
        proc.wait()
    return outputs, time.perf_counter() - started


def _token(smr: RunningSMR, key: Any) -> str:
    form = {
        "grant_type": "client_credentials",
        "scope": "system/*.read system/*.write",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": make_client_assertion("bench", smr.token_url, key),
    }
    reply = httpx.post(smr.token_url, data=form, verify=ssl.create_default_context(cafile=str(smr.ca_file)))
    return str(reply.json()["access_token"])


def _example(name: str) -> dict[str, Any]:
    data = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    data.pop("id", None)
    return data


def _patients(national: NationalContent, count: int, start: int) -> list[dict[str, Any]]:
    out = []
    for n in range(start, start + count):
        body = str(3_000_000_000 + n)
        patient = _example("Patient-ma-patient-valid-full")
        patient["identifier"] = [
            {"system": national.identifier("ins").uri, "value": body + f"{97 - int(body) % 97:02d}"},
            {"system": national.identifier("cnie").uri, "value": f"BE{n % 1_000_000:06d}"},
        ]
        out.append(patient)
    return out


def _count(http: httpx.Client, base: str, params: dict[str, str]) -> int:
    return int(http.get(f"{base}/Observation", params={**params, "_summary": "count"}).json()["total"])


def run(full: bool = False) -> list[dict[str, Any]]:
    """Run every simulator benchmark; see the module docstring."""
    validator = Validator()
    national = NationalContent.from_registry(validator.context.registry)
    key = generate_client_key("ES384")
    client = ClientRegistration.from_key("bench", key, ORG, ["system/*.read", "system/*.write"])
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="smr-bench-") as folder,
        start_smr(data_dir=Path(folder), clients=[client], validator=validator) as smr,
    ):
        token = _token(smr, key)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/fhir+json",
            "Accept": "application/fhir+json",
            "X-User-INPE": "200300400",
        }
        ca = str(smr.ca_file)
        http = httpx.Client(verify=ssl.create_default_context(cafile=ca), headers=headers, timeout=120)
        patient = http.post(f"{smr.base_url}/Patient", json=_patients(national, 1, 0)[0]).json()
        obs = _example("Observation-ma-observation-lab-valid")
        obs["subject"] = {"reference": f"Patient/{patient['id']}"}
        target = http.post(f"{smr.base_url}/Observation", json=obs).json()
        objector = http.post(f"{smr.base_url}/Patient", json=_patients(national, 1, 1)[0]).json()
        consent = _example("Consent-ma-consent-smr-valid")
        consent["patient"] = {"reference": f"Patient/{objector['id']}"}
        http.post(f"{smr.base_url}/Consent", json=consent)

        reads = 1500 if full else 600
        cpu = time.process_time()
        per = [
            {
                "ca": ca,
                "headers": headers,
                "mode": "get",
                "url": f"{smr.base_url}/Observation/{target['id']}",
                "count": reads // 16,
                "threads": 8,
            }
            for _ in range(2)
        ]
        outputs, wall = _clients(per)
        done = sum(o["statuses"].get("200", 0) for o in outputs)
        results.append(
            {"name": "smr_reads_per_s_auth_consent_audit", "value": round(done / wall, 1), "unit": "req/s"}
        )
        results.append(
            {
                "name": "smr_read_cpu_ms",
                "value": round((time.process_time() - cpu) * 1000 / max(done, 1), 2),
                "unit": "ms",
            }
        )

        creates = 800 if full else 400
        patients = _patients(national, creates, 10)
        bodies = [[patients[i] for i in range(j, creates, 16)] for j in range(16)]
        per = [
            {
                "ca": ca,
                "headers": headers,
                "mode": "post",
                "url": f"{smr.base_url}/Patient",
                "bodies": bodies[k * 8 : k * 8 + 8],
                "threads": 8,
            }
            for k in range(2)
        ]
        cpu = time.process_time()
        outputs, wall = _clients(per)
        done = sum(o["statuses"].get("201", 0) for o in outputs)
        results.append(
            {"name": "smr_validated_patient_creates_per_s", "value": round(done / wall, 1), "unit": "req/s"}
        )
        results.append(
            {
                "name": "smr_create_cpu_ms",
                "value": round((time.process_time() - cpu) * 1000 / max(done, 1), 2),
                "unit": "ms",
            }
        )

        seconds = 60 if full else 10
        template = json.dumps(obs)
        per = [
            {
                "ca": ca,
                "headers": headers,
                "mode": "mixed",
                "url": f"{smr.base_url}/Observation",
                "template": template,
                "system": BENCH_SYSTEM,
                "tag": f"p{k}",
                "seconds": seconds,
                "threads": 10,
            }
            for k in range(5)
        ]
        outputs, wall = _clients(per)
        acknowledged = [c for o in outputs for c in o["created"]]
        requests = sum(sum(o["statuses"].values()) for o in outputs)
        stored = _count(http, smr.base_url, {"identifier": f"{BENCH_SYSTEM}|"})
        ids = {c[0] for c in acknowledged}
        lost = len(acknowledged) - min(stored, len(acknowledged))
        duplicated = max(0, stored - len(ids)) + (len(acknowledged) - len(ids))
        results.append(
            {"name": "smr_50_clients_requests_per_s", "value": round(requests / wall, 1), "unit": "req/s"}
        )
        results.append({"name": "smr_50_clients_lost_writes", "value": lost, "unit": "count"})
        results.append({"name": "smr_50_clients_duplicated_writes", "value": duplicated, "unit": "count"})
        results.append(
            {
                "name": "smr_50_clients_transport_errors",
                "value": sum(o["errors"] for o in outputs),
                "unit": "count",
            }
        )

        clean, total = _hostile(smr, http)
        alive = http.get(f"{smr.base_url}/metadata").status_code == 200
        results.append({"name": "smr_hostile_inputs_refused_cleanly", "value": clean, "unit": f"of {total}"})
        results.append({"name": "smr_alive_after_hostile_inputs", "value": int(alive), "unit": "bool"})
        http.close()
    return results


def _hostile(smr: RunningSMR, http: httpx.Client) -> tuple[int, int]:
    base = smr.base_url
    xxe = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><ClinicalDocument>&x;</ClinicalDocument>'
    binary = {"resourceType": "Binary", "contentType": "text/xml", "data": base64.b64encode(xxe).decode()}
    cases = [
        (http.post(f"{base}/Patient", content=b'{"resourceType": "Patient", "name": [}'), 400),
        (http.post(f"{base}/Patient", content=xxe, headers={"Content-Type": "application/fhir+xml"}), 415),
        (http.post(f"{base}/Binary", json=binary), 422),
        (http.post(f"{base}/Patient", content=b'{"a":' * 100_000 + b"1" + b"}" * 100_000), 400),
        (http.post(f"{base}/Patient", content=b"\xc3\x28\xa0\xa1"), 400),
        (http.post(f"{base}/Patient", content=os.urandom(16) + b" " * (50 * 1024 * 1024)), 413),
    ]
    clean = sum(
        1 for reply, status in cases if reply.status_code == status and "OperationOutcome" in reply.text
    )
    assert smr.mllp_address is not None
    with socket.create_connection(smr.mllp_address, timeout=10) as sock:
        sock.sendall(b"\x00garbage" + frame(b"MSH|not really") + b"\x0b" + os.urandom(4096))
    adt = (
        "MSH|^~\\&|BENCH|100200300|SMR|SMR|20250101120000+0100||ADT^A31^ADT_A05|B1|P|2.5|||AL|NE|MAR|"
        "UNICODE UTF-8\r"
        "EVN|A31|20250101120000+0100\rPID|1||X|||\rPV1|1|N\r"
    )
    with MLLPClient(*smr.mllp_address) as client:
        ack = client.send(adt)
    clean += int("MSA|A" in ack)
    return clean, len(cases) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="longer runs (60 s concurrency)")
    for figure in run(full=parser.parse_args().full):
        print(json.dumps(figure), flush=True)


if __name__ == "__main__":
    main()
