"""What clients sent to the testbed's simulator, as :class:`~testbed.scenarios.exchange.Exchange` objects.

The simulator keeps an evidence log (secrets already redacted) of every exchange; a scenario marks the
log before it triggers the client and then waits for a matching exchange to arrive after the mark.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from testbed.scenarios.exchange import Exchange, body_json


class EvidenceSource(Protocol):
    """The simulator's evidence log (``RunningSMR.evidence``)."""

    def since(self, seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class InboundFilter:
    """Which inbound exchange a ``wait_inbound`` step waits for."""

    channel: str = "fhir"
    method: str | None = None
    path: str | None = None
    resource_type: str | None = None
    message_type: str | None = None
    query: str | None = None

    def matches(self, ex: Exchange) -> bool:
        if self.channel == "mllp":
            if ex.protocol != "mllp":
                return False
            return self.message_type is None or message_type(str(ex.request.get("message", ""))).startswith(
                self.message_type
            )
        if ex.protocol != "http":
            return False
        if self.method and ex.request.get("method") != self.method:
            return False
        if (
            self.path is not None
            and re.fullmatch(self.path, str(ex.request.get("path", "")).split("?")[0]) is None
        ):
            return False
        if self.query is not None:
            query = str(ex.request.get("path", "")).partition("?")[2]
            if re.search(self.query, unquote(query)) is None:
                return False
        if self.resource_type:
            body = ex.request_json()
            return isinstance(body, dict) and body.get("resourceType") == self.resource_type
        return True

    def describe(self) -> str:
        if self.channel == "mllp":
            return f"an HL7 v2 message{' ' + self.message_type if self.message_type else ''}"
        parts = [self.method or "any request", self.path or "(any path)"]
        if self.query:
            parts.append(f"with a query matching {self.query!r}")
        if self.resource_type:
            parts.append(f"with a {self.resource_type}")
        return " ".join(parts)


def message_type(er7: str) -> str:
    """MSH-9 of an ER7 message (``ADT^A04^ADT_A01``), or an empty string."""
    first = re.split(r"[\r\n]+", er7.strip(), maxsplit=1)[0] if er7 else ""
    if not first.startswith("MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3])
    return fields[8] if len(fields) > 8 else ""


class SimulatorLink:
    """Reads the simulator's evidence log as inbound exchanges (paths relative to its FHIR base)."""

    def __init__(self, evidence: EvidenceSource, base_url: str) -> None:
        self.evidence = evidence
        self.base_path = urlsplit(base_url).path.rstrip("/")
        self._last_seq = 0

    def mark(self) -> int:
        """The sequence number of the last recorded exchange (wait for what comes after it)."""
        records = self.evidence.since(self._last_seq, limit=10**6)
        if records:
            self._last_seq = int(records[-1]["seq"])
        return self._last_seq

    def since(self, mark: int) -> list[Exchange]:
        """The exchanges recorded after ``mark``, oldest first."""
        return [to_exchange(r, self.base_path) for r in self.evidence.since(mark, limit=10**6)]

    def wait(
        self, mark: int, wanted: InboundFilter, *, timeout: float, count: int = 1, poll: float = 0.1
    ) -> tuple[list[Exchange], list[Exchange]]:
        """Wait until ``count`` exchanges matching ``wanted`` arrived after ``mark`` (or the timeout).

        Returns:
            (the matching exchanges, every exchange after the mark).
        """
        deadline = time.monotonic() + timeout
        while True:
            seen = self.since(mark)
            found = [ex for ex in seen if wanted.matches(ex)]
            if len(found) >= count or time.monotonic() >= deadline:
                return found, seen
            time.sleep(poll)


def to_exchange(record: dict[str, Any], base_path: str) -> Exchange:
    """One evidence record of the simulator as an inbound :class:`Exchange`."""
    req = record.get("request") or {}
    resp = record.get("response") or {}
    protocol = str(record.get("protocol", "http"))
    if protocol == "mllp":
        request: dict[str, Any] = {"message": _text(req.get("body", req.get("message")))}
        response: dict[str, Any] | None = (
            {"message": _text(resp.get("body", resp.get("message")))} if resp else None
        )
    else:
        url = str(req.get("url", ""))
        split = urlsplit(url)
        path = split.path
        if base_path and path.startswith(base_path):
            path = path[len(base_path) :]
        path = path.lstrip("/") + (f"?{split.query}" if split.query else "")
        headers = dict(req.get("headers") or {})
        request = {
            "method": req.get("method"),
            "url": url,
            "path": path,
            "headers": headers,
            "body": _body(req.get("body"), headers),
        }
        response = None
        if resp:
            rheaders = dict(resp.get("headers") or {})
            response = {
                "status": resp.get("status"),
                "headers": rheaders,
                "body": _body(resp.get("body"), rheaders),
            }
    ex = Exchange(protocol, "inbound", request, response, started=str(record.get("started", "")))
    if record.get("client"):
        ex.auth = {"client": str(record["client"])}
    return ex


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _body(text: Any, headers: dict[str, Any]) -> dict[str, Any]:
    if text is None or text == "":
        return {"format": "empty"}
    ctype = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), None)
    return body_json(str(text).encode("utf-8"), ctype)
