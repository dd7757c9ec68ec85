"""Hostile payloads for the robustness scenarios (spec §8): built on demand, each wrong in one way.

HTTP kinds (sent as the body of a request, with a valid token so that the server has to read them):
``malformed-json``, ``invalid-utf8``, ``deep-json``, ``huge-body`` (streamed, never held in memory),
``xxe-cda`` and ``billion-laughs-cda`` (a document submission whose CDA declares a DTD). MLLP kinds (raw
bytes on the listener's socket): ``mllp-missing-end``, ``mllp-no-start``, ``mllp-garbage``,
``mllp-oversize``, ``mllp-not-hl7``.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from testbed.scenarios.results import StepError

HTTP_KINDS = ("malformed-json", "invalid-utf8", "deep-json", "huge-body", "xxe-cda", "billion-laughs-cda")
MLLP_KINDS = ("mllp-missing-end", "mllp-no-start", "mllp-garbage", "mllp-oversize", "mllp-not-hl7")
CDA_KINDS = ("xxe-cda", "billion-laughs-cda")
XXE_TARGET = "file:///etc/passwd"
XXE_CANARY = r"root:[^:\s]*:0:0:"
"""What ``/etc/passwd`` holds on any Unix system: seen in a reply, the external entity was resolved."""
_CHUNK = 1 << 16
_VT, _END = b"\x0b", b"\x1c\x0d"


@dataclass
class HttpPayload:
    """A hostile HTTP body: bytes, or a stream of ``size`` bytes produced on demand."""

    kind: str
    description: str
    content_type: str
    content: bytes = b""
    size: int = 0
    canary: str | None = None
    _stream_head: bytes = field(default=b"", repr=False)
    _stream_fill: bytes = field(default=b"", repr=False)
    _stream_tail: bytes = field(default=b"", repr=False)

    @property
    def streamed(self) -> bool:
        """Whether the body is produced chunk by chunk (``chunks``) rather than held (``content``)."""
        return bool(self._stream_fill)

    def chunks(self, sent: list[int], digest: Any) -> Iterator[bytes]:
        """The streamed body; counts the bytes handed out in ``sent[0]`` and hashes them into ``digest``."""
        yield self._count(self._stream_head, sent, digest)
        filler = self.size - len(self._stream_head) - len(self._stream_tail)
        block = self._stream_fill * (_CHUNK // len(self._stream_fill))
        while filler > 0:
            piece = block[: min(filler, len(block))]
            filler -= len(piece)
            yield self._count(piece, sent, digest)
        yield self._count(self._stream_tail, sent, digest)

    @staticmethod
    def _count(piece: bytes, sent: list[int], digest: Any) -> bytes:
        sent[0] += len(piece)
        digest.update(piece)
        return piece


def malformed_json(resource_type: str) -> HttpPayload:
    """A resource cut off in the middle of an array (not JSON at all)."""
    body = f'{{"resourceType":"{resource_type}","name":[{{"family":"Testbed","given":["Hostile"'.encode()
    return HttpPayload("malformed-json", "JSON cut off inside an array", "application/fhir+json", body)


def invalid_utf8(resource_type: str) -> HttpPayload:
    """A resource whose string holds bytes that are not UTF-8 (an overlong encoding and 0xFF)."""
    body = (
        f'{{"resourceType":"{resource_type}","name":[{{"family":"Test'.encode()
        + b"\xc0\xaf\xff\xfe"
        + b'"}]}'
    )
    return HttpPayload("invalid-utf8", "a string holding 0xC0 0xAF 0xFF 0xFE", "application/fhir+json", body)


def deep_json(resource_type: str, depth: int) -> HttpPayload:
    """A resource whose extension nests ``depth`` levels deep (each level a well-formed extension)."""
    if depth < 1:
        raise StepError(f"hostile deep-json: depth must be at least 1, not {depth}")
    head = b'{"url":"urn:testbed:deep","extension":['
    body = (
        f'{{"resourceType":"{resource_type}","extension":['.encode()
        + head * depth
        + b'{"url":"urn:testbed:deep","valueString":"bottom"}'
        + b"]}" * depth
        + b"]}"
    )
    return HttpPayload("deep-json", f"an extension nested {depth} levels deep", "application/fhir+json", body)


def huge_body(resource_type: str, size: int) -> HttpPayload:
    """A well-formed resource of ``size`` bytes (a narrative of one letter repeated), streamed."""
    head = (
        f'{{"resourceType":"{resource_type}","text":{{"status":"generated",'
        '"div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">'
    ).encode()
    tail = b'</div>"}}'
    if size <= len(head) + len(tail):
        raise StepError(f"hostile huge-body: size must exceed {len(head) + len(tail)} bytes")
    mb = size / (1024 * 1024)
    return HttpPayload(
        "huge-body",
        f"a {mb:g} MB resource (streamed)",
        "application/fhir+json",
        size=size,
        _stream_head=head,
        _stream_fill=b"A",
        _stream_tail=tail,
    )


def _with_dtd(cda: bytes, dtd: str, reference: str) -> bytes:
    """The CDA with an internal DTD subset and an entity reference in its first ``title``."""
    text = cda.decode("utf-8")
    declaration = re.match(r"\s*<\?xml[^>]*\?>", text)
    start = declaration.end() if declaration else 0
    root = re.search(r"<(?:[A-Za-z_][\w.-]*:)?ClinicalDocument\b", text[start:])
    name = root.group(0)[1:] if root else "ClinicalDocument"
    text = f"{text[:start]}\n<!DOCTYPE {name} [{dtd}]>{text[start:]}"
    title = re.search(r"<title(\s[^>]*)?>", text)
    if title is not None:
        return (text[: title.end()] + reference + text[title.end() :]).encode("utf-8")
    opened = re.search(r"<(?:[A-Za-z_][\w.-]*:)?ClinicalDocument\b[^>]*>", text)
    if opened is None:
        raise StepError("the fixture's document is not a ClinicalDocument")
    return (text[: opened.end()] + reference + text[opened.end() :]).encode("utf-8")


def xxe_cda(cda: bytes) -> bytes:
    """The CDA declaring an external entity (``/etc/passwd``) and using it in its title."""
    return _with_dtd(cda, f'<!ENTITY xxe SYSTEM "{XXE_TARGET}">', "&xxe;")


def billion_laughs_cda(cda: bytes) -> bytes:
    """The CDA declaring the "billion laughs" entity (10^9 copies of ``lol`` once expanded)."""
    entities = ['<!ENTITY lol0 "lol">']
    for n in range(1, 10):
        entities.append(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">')
    return _with_dtd(cda, "".join(entities), "&lol9;")


def hostile_submission(bundle: dict[str, Any], kind: str) -> tuple[dict[str, Any], str]:
    """A document submission Bundle whose Binary holds a hostile CDA (``xxe-cda``, ``billion-laughs-cda``).

    The DocumentReference's attachment ``size`` and ``hash`` are made to fit the new CDA, so that a
    refusal can only come from the DTD.

    Raises:
        StepError: the Bundle has no Binary with data.
    """
    binary = next(
        (
            e["resource"]
            for e in bundle.get("entry") or []
            if isinstance(e, dict)
            and isinstance(e.get("resource"), dict)
            and e["resource"].get("resourceType") == "Binary"
            and e["resource"].get("data")
        ),
        None,
    )
    if binary is None:
        raise StepError("the fixture's document submission has no Binary holding the CDA")
    cda = base64.b64decode(binary["data"])
    hostile = xxe_cda(cda) if kind == "xxe-cda" else billion_laughs_cda(cda)
    binary["data"] = base64.b64encode(hostile).decode("ascii")
    for entry in bundle["entry"]:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "DocumentReference":
            continue
        for content in resource.get("content") or []:
            attachment = content.get("attachment") if isinstance(content, dict) else None
            if not isinstance(attachment, dict):
                continue
            if "size" in attachment:
                attachment["size"] = len(hostile)
            if "hash" in attachment:
                attachment["hash"] = base64.b64encode(hashlib.sha1(hostile).digest()).decode("ascii")  # noqa: S324 - FHIR Attachment.hash is SHA-1
    what = (
        f"a CDA declaring an external entity ({XXE_TARGET})"
        if kind == "xxe-cda"
        else "a CDA declaring the billion-laughs entity expansion"
    )
    return bundle, what


@dataclass(frozen=True)
class MllpPayload:
    """Bytes for the MLLP listener; ``half_close``: end the sending side afterwards (the peer sees EOF)."""

    kind: str
    description: str
    data: bytes
    half_close: bool = True


def minimal_message(control_id: str) -> str:
    """An MSH-only HL7 v2.5 message (any receiver can answer it with an acknowledgement)."""
    return f"MSH|^~\\&|TESTBED|TESTBED|RECEIVER|RECEIVER|20260101000000||ADT^A01^ADT_A01|{control_id}|P|2.5\r"


def mllp_payload(kind: str, message: str, *, size: int, seed: int | str) -> MllpPayload:
    """The broken bytes of an MLLP ``kind`` around ``message`` (ER7 text)."""
    text = re.sub(r"\r?\n", "\r", message.strip()) + "\r"
    body = text.encode("utf-8")
    if kind == "mllp-missing-end":
        return MllpPayload(kind, "a frame with no end block (0x1C 0x0D)", _VT + body)
    if kind == "mllp-no-start":
        return MllpPayload(kind, "a message with no start block (0x0B)", body + _END)
    if kind == "mllp-garbage":
        rng = random.Random(seed)
        junk = bytes(rng.randrange(256) for _ in range(4096)).replace(_VT, b"\x00")
        return MllpPayload(kind, "4 KB of random bytes outside any frame", junk)
    if kind == "mllp-not-hl7":
        return MllpPayload(
            kind, "a frame holding JSON, not HL7 v2", _VT + b'{"resourceType":"Patient"}' + _END
        )
    if kind == "mllp-oversize":
        segment = b"NTE|1||" + b"A" * max(size - len(body), 1) + b"\r"
        mb = size / (1024 * 1024)
        return MllpPayload(kind, f"a {mb:g} MB frame", _VT + body + segment + _END, half_close=False)
    raise StepError(f"unknown MLLP hostile payload {kind!r}; known: {', '.join(MLLP_KINDS)}")


def preview(data: bytes, limit: int = 4096) -> str:
    """Bytes as text for the exchange record (Latin-1, so that every byte shows), cut at ``limit``."""
    shown = data[:limit].decode("latin-1")
    return shown if len(data) <= limit else f"{shown}… [{len(data)} bytes in all]"
