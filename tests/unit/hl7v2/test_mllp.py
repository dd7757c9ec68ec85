"""MLLP framing, server and client: round trips on persistent connections, broken frames, timeouts, TLS."""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testbed.hl7v2 import parse_message
from testbed.hl7v2.ack import make_ack
from testbed.hl7v2.mllp import (
    FrameDecoder,
    FramingProblem,
    MLLPClient,
    MLLPError,
    MLLPFramingError,
    MLLPServer,
    frame,
    framing_issues,
    unframe,
)

from .conftest import Messages

MSG = "MSH|^~\\&|HIS|123456789|SMR|SMR|20250105||ADT^A04^ADT_A01|C1|P|2.5\rPID|1\r"


async def ack_handler(payload: bytes) -> str:
    return make_ack(payload, "AA", timestamp="20250105")


# ---------------------------------------------------------------- framing


def test_frame_and_unframe() -> None:
    data = frame(MSG) + frame("MSH|^~\\&|B\r")
    assert data.startswith(b"\x0bMSH") and data.endswith(b"\x1c\r")
    payloads, problems = unframe(data)
    assert payloads == [MSG.encode(), b"MSH|^~\\&|B\r"] and problems == []
    assert framing_issues(data) == []


def test_decoder_across_arbitrary_chunks() -> None:
    data = frame(MSG) * 3
    decoder = FrameDecoder()
    out: list[bytes | FramingProblem] = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
        if i == 5:
            assert decoder.in_frame
    assert out == [MSG.encode()] * 3 and not decoder.in_frame and decoder.close() == []


@pytest.mark.parametrize(
    ("data", "kind", "payloads"),
    [
        (b"junk" + frame(MSG), "garbage-before-start", 1),
        (MSG.encode() + b"\x1c\r", "no-start", 0),
        (b"\x0b" + MSG.encode(), "missing-end", 0),
        (b"\x0b" + MSG.encode() + b"\x1c", "missing-cr", 1),
        (b"\x0b" + MSG.encode() + b"\x1cX" + frame(MSG), "missing-cr", 2),
        (b"\x0bpartial" + frame(MSG), "missing-end", 1),
    ],
)
def test_broken_frames_are_named(data: bytes, kind: str, payloads: int) -> None:
    found, problems = unframe(data)
    assert [p.kind for p in problems][:1] == [kind] and len(found) == payloads
    issues = framing_issues(data)
    assert issues and all(
        i.requirements == ("MA-V2-022",) and i.rule == f"mllp:{p.kind}"
        for i, p in zip(issues, problems, strict=True)
    )
    assert "byte" in issues[0].location


def test_oversize_frame_is_dropped_and_the_next_one_read() -> None:
    big = frame("MSH|^~\\&|" + "x" * 200)
    found, problems = unframe(big + frame(MSG), max_message_size=100)
    assert [p.kind for p in problems] == ["oversize"] and found == [MSG.encode()]
    assert problems[0].head.startswith(b"MSH|")


def test_empty_stream() -> None:
    assert [i.rule for i in framing_issues(b"")] == ["mllp:empty"]


# ---------------------------------------------------------------- server and async client


def test_async_round_trips_on_one_connection() -> None:
    async def run() -> list[str]:
        async with (
            MLLPServer(ack_handler) as server,
            MLLPClient("127.0.0.1", server.port, timeout=5) as client,
        ):
            replies = [await client.asend(MSG.replace("|C1|", f"|C{n}|")) for n in range(5)]
            assert server.handled == 5
            return replies

    replies = asyncio.run(run())
    assert [parse_message(r).get("MSA-2") for r in replies] == [f"C{n}" for n in range(5)]


async def _raw_exchange(port: int, data: bytes, *, replies: int, timeout: float = 5) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    decoder = FrameDecoder()
    got: list[bytes] = []
    while len(got) < replies:
        chunk = await asyncio.wait_for(reader.read(65536), timeout)
        if not chunk:
            break
        got += [e for e in decoder.feed(chunk) if isinstance(e, bytes)]
    writer.close()
    return got


def test_server_survives_broken_frames() -> None:
    async def run() -> None:
        async with MLLPServer(ack_handler, max_message_size=2000) as server:
            port = server.port
            # garbage before the start block: recorded, the frame is still answered
            got = await _raw_exchange(port, b"hello" + frame(MSG), replies=1)
            assert parse_message(got[0]).get("MSA-1") == "AA"
            # a new start block before the end block: the broken frame is answered AR, the next AA
            broken = b"\x0b" + MSG.replace("|C1|", "|B1|").encode() + frame(MSG)
            got = await _raw_exchange(port, broken, replies=2)
            assert [(parse_message(g).get("MSA-1"), parse_message(g).get("MSA-2")) for g in got] == [
                ("AR", "B1"),
                ("AA", "C1"),
            ]
            # an oversize frame is answered AR from its header
            got = await _raw_exchange(port, frame(MSG + "NTE|" + "x" * 3000 + "\r") + frame(MSG), replies=2)
            assert [parse_message(g).get("MSA-1") for g in got] == ["AR", "AA"]
            err = parse_message(got[0]).segment("ERR")
            assert err is not None and "exceeds 2000 bytes" in err.value(8) and "MA-V2-022" in err.value(7)
            # binary junk that never becomes a frame, then a clean connection still works
            await _raw_exchange(port, bytes(range(256)), replies=0, timeout=0.2)
            assert (await _raw_exchange(port, frame(MSG), replies=1))[0]
            kinds = [p.kind for _, p in server.problems]
            assert kinds[:3] == ["garbage-before-start", "missing-end", "oversize"]
            assert "garbage-before-start" in kinds[3:]

    asyncio.run(run())


def test_handler_failure_is_answered_and_the_server_stays_up() -> None:
    calls = []

    async def flaky(payload: bytes) -> str:
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await ack_handler(payload)

    async def run() -> None:
        async with MLLPServer(flaky) as server, MLLPClient("127.0.0.1", server.port, timeout=5) as client:
            first = parse_message(await client.asend(MSG))
            assert first.get("MSA-1") == "AR" and "RuntimeError" in first.get("ERR-8")
            assert parse_message(await client.asend(MSG)).get("MSA-1") == "AA"

    asyncio.run(run())


def test_incomplete_frame_times_out_and_the_connection_closes() -> None:
    async def run() -> None:
        async with MLLPServer(ack_handler, frame_timeout=0.2) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x0b" + MSG.encode())
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 5)  # AR, then end of stream
            assert parse_message(unframe(data)[0][0]).get("MSA-1") == "AR"
            writer.close()
            assert [p.kind for _, p in server.problems] == ["missing-end"]

    asyncio.run(run())


# ---------------------------------------------------------------- blocking client, errors


@contextmanager
def serve_in_thread(handler=ack_handler, **kwargs) -> Iterator[MLLPServer]:  # type: ignore[no-untyped-def]
    loop = asyncio.new_event_loop()
    server = MLLPServer(handler, **kwargs)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_blocking_client_round_trips(msgs: Messages) -> None:
    with serve_in_thread() as server, MLLPClient("127.0.0.1", server.port, timeout=5) as client:
        for n in range(3):
            reply = client.send(msgs.adt().replace("MSG0001", f"M{n}"))
            assert parse_message(reply).get("MSA-2") == f"M{n}"
        assert server.handled == 3


@contextmanager
def raw_server(reply: bytes) -> Iterator[int]:
    """A TCP server that answers the first bytes it reads with ``reply`` as is, then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(5)
        listener.close()


def test_client_errors_are_clear() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    with pytest.raises(MLLPError, match="Cannot connect"):
        MLLPClient("127.0.0.1", free, timeout=1).send(MSG)

    for reply, message in ((b"junk\x1c\r", "without a start block"), (b"\x0bMSH|^~\\&|X", "inside a frame")):
        with raw_server(reply) as port, pytest.raises(MLLPFramingError, match=message):
            MLLPClient("127.0.0.1", port, timeout=2).send(MSG)
    with raw_server(b"") as port, pytest.raises(MLLPError, match="closed the connection"):
        MLLPClient("127.0.0.1", port, timeout=2).send(MSG)

    async def silent(payload: bytes) -> None:
        return None

    with serve_in_thread(silent) as server, pytest.raises(MLLPError, match="No reply"):
        MLLPClient("127.0.0.1", server.port, timeout=0.3).send(MSG)

    async def run() -> None:
        async with MLLPServer(silent) as server:
            with pytest.raises(MLLPError, match="No reply"):
                await MLLPClient("127.0.0.1", server.port, timeout=0.3).asend(MSG)

    asyncio.run(run())


# ---------------------------------------------------------------- TLS


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_round_trip(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    with serve_in_thread(ssl=server_ctx) as server:
        client = MLLPClient("localhost", server.port, timeout=5, ssl=client_ctx)
        try:
            assert parse_message(client.send(MSG)).get("MSA-1") == "AA"
        finally:
            client.close()
