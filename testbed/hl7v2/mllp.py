"""MLLP (Minimal Lower Layer Protocol) transport: an asyncio server and a client (async and blocking).

A frame is ``0x0B`` (VT, start block), the message, ``0x1C 0x0D`` (FS CR, end block). The incremental
:class:`FrameDecoder` reports every framing defect as a :class:`FramingProblem` (bytes outside a frame,
a missing end block, FS without CR, an oversize frame) and carries on with the next frame, so the
server never dies on broken input: it records the problem, answers ``AR`` when it can still read the
message header, and keeps serving. Connections are persistent; TLS is an optional ``ssl`` context.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as ssl_module
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from testbed.core.issues import Issue, IssueCode, Severity
from testbed.hl7v2.framing import (
    DEFAULT_MAX_MESSAGE,
    FrameDecoder,
    FramingProblem,
    MLLPError,
    MLLPFramingError,
    frame,
    framing_issues,
    unframe,
)
from testbed.hl7v2.message import Hl7v2ParseError, decode

__all__ = [
    "FrameDecoder",
    "FramingProblem",
    "MLLPClient",
    "MLLPError",
    "MLLPFramingError",
    "MLLPServer",
    "frame",
    "framing_issues",
    "unframe",
]

log = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[str | bytes | None]]


class MLLPServer:
    """An asyncio MLLP server: every complete frame goes to ``handler``, whose reply is framed back.

    Args:
        handler: ``async handler(payload: bytes) -> reply`` (str, bytes, or None for no reply).
        host: Address to bind (tests use 127.0.0.1).
        port: Port (0: any free port; read :attr:`port` after :meth:`start`).
        ssl: A server-side TLS context, or None for plain TCP.
        max_message_size: Frames larger than this are dropped (and answered AR when possible).
        idle_timeout: Seconds an idle connection stays open.
        frame_timeout: Seconds a started frame may take to complete.
        requirements: What the ERR of an AR for a broken frame cites (default: the ``framing`` requirements
            of the v2 profile folder, none when there is no such folder).
    """

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl: ssl_module.SSLContext | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
        idle_timeout: float = 300.0,
        frame_timeout: float = 30.0,
        requirements: tuple[str, ...] | None = None,
    ) -> None:
        self.handler = handler
        self.requirements = requirements if requirements is not None else _framing_requirements()
        self.host = host
        self.port = port
        self.ssl = ssl
        self.max_message_size = max_message_size
        self.idle_timeout = idle_timeout
        self.frame_timeout = frame_timeout
        self.problems: deque[tuple[str, FramingProblem]] = deque(maxlen=1000)
        self.handled = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Bind and start serving."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting, close open connections and wait for them."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()  # the connection's read ends, and its task with it
            if self._tasks:
                _done, pending = await asyncio.wait(set(self._tasks), timeout=5)
                for task in pending:
                    task.cancel()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> MLLPServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _record(self, peer: str, problem: FramingProblem) -> None:
        self.problems.append((peer, problem))
        log.warning("MLLP framing problem from %s: %s (%s)", peer, problem.kind, problem.detail)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        peer = str(writer.get_extra_info("peername"))
        decoder = FrameDecoder(self.max_message_size)
        try:
            while True:
                timeout = self.frame_timeout if decoder.in_frame else self.idle_timeout
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except TimeoutError:
                    for event in decoder.close():
                        if isinstance(event, FramingProblem):
                            self._record(peer, event)
                            await self._reject(writer, event)
                    break
                events = decoder.feed(data) if data else decoder.close()
                for event in events:
                    if isinstance(event, FramingProblem):
                        self._record(peer, event)
                        await self._reject(writer, event)
                    else:
                        await self._answer(writer, event)
                if not data:
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("MLLP connection from %s ended: %s", peer, exc)
        finally:
            if task is not None:
                self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, writer: asyncio.StreamWriter, payload: bytes) -> None:
        self.handled += 1
        try:
            reply = await self.handler(payload)
        except Exception as exc:  # noqa: BLE001 - a handler defect must not take the server down
            log.exception("MLLP handler failed")
            reply = _reject_ack(
                payload, f"The receiver failed to process the message ({type(exc).__name__})."
            )
        if reply is not None:
            writer.write(frame(reply))
            await writer.drain()

    async def _reject(self, writer: asyncio.StreamWriter, problem: FramingProblem) -> None:
        if problem.kind in ("oversize", "missing-end") and problem.head:
            reply = _reject_ack(problem.head, f"MLLP framing: {problem.detail}.", self.requirements)
            if reply is not None and not writer.is_closing():
                writer.write(frame(reply))
                with contextlib.suppress(ConnectionError):
                    await writer.drain()


def _framing_requirements() -> tuple[str, ...]:
    from testbed.core.errors import PackageError
    from testbed.hl7v2.profile import profile_requirements

    try:
        return profile_requirements().get("framing", ())
    except PackageError:
        return ()


def _reject_ack(payload: bytes, text: str, requirements: tuple[str, ...] = ()) -> str | None:
    from testbed.hl7v2.ack import make_ack
    from testbed.hl7v2.message import parse_message

    head = payload.split(b"\r", 1)[0].split(b"\n", 1)[0]
    try:
        message = parse_message(head.decode("utf-8", errors="replace"))
    except Hl7v2ParseError:
        return None
    issue = Issue(Severity.ERROR, IssueCode.STRUCTURE, "", text, "mllp:framing", requirements)
    return make_ack(message, "AR", [issue])


class MLLPClient:
    """An MLLP client with a persistent connection: ``await asend(msg)`` or, blocking, ``send(msg)``.

    Args:
        host: Server address.
        port: Server port.
        timeout: Seconds to connect and to wait for each reply.
        ssl: A client-side TLS context, or None.
        max_message_size: Replies larger than this are a framing error.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float = 10.0,
        *,
        ssl: ssl_module.SSLContext | None = None,
        max_message_size: int = DEFAULT_MAX_MESSAGE,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl = ssl
        self.max_message_size = max_message_size
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder(max_message_size)
        self._pending: list[bytes] = []

    # ---------------------------------------------------------------- asyncio

    async def aconnect(self) -> None:
        """Open the connection (done by the first :meth:`asend` otherwise)."""
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, ssl=self.ssl), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise MLLPError(f"Cannot connect to MLLP {self.host}:{self.port}: {exc or 'timeout'}.") from None

    async def asend(self, message: str | bytes) -> str:
        """Send one message and wait for its reply (decoded per the reply's MSH-18).

        Raises:
            MLLPError: connection refused or closed, or no reply in time.
            MLLPFramingError: the reply is not a correct MLLP frame.
        """
        if self._writer is None:
            await self.aconnect()
        assert self._reader is not None and self._writer is not None
        try:
            self._writer.write(frame(message))
            await self._writer.drain()
            while True:
                payload = self._take()
                if payload is not None:
                    return _text(payload)
                data = await asyncio.wait_for(self._reader.read(65536), self.timeout)
                self._absorb(data)
        except TimeoutError:
            await self.aclose()
            raise MLLPError(f"No reply from {self.host}:{self.port} within {self.timeout} s.") from None
        except ConnectionError as exc:
            await self.aclose()
            raise MLLPError(f"The MLLP connection to {self.host}:{self.port} failed: {exc}.") from None
        except MLLPError:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the asyncio connection."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None
        self._decoder = FrameDecoder(self.max_message_size)

    async def __aenter__(self) -> MLLPClient:
        await self.aconnect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---------------------------------------------------------------- blocking

    def connect(self) -> None:
        """Open the blocking connection (done by the first :meth:`send` otherwise)."""
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise MLLPError(f"Cannot connect to MLLP {self.host}:{self.port}: {exc}.") from None
        self._sock = self.ssl.wrap_socket(sock, server_hostname=self.host) if self.ssl else sock

    def send(self, message: str | bytes) -> str:
        """Send one message on the blocking connection and return the reply.

        Raises:
            MLLPError: connection refused or closed, or no reply in time.
            MLLPFramingError: the reply is not a correct MLLP frame.
        """
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        try:
            self._sock.sendall(frame(message))
            while True:
                payload = self._take()
                if payload is not None:
                    return _text(payload)
                self._absorb(self._sock.recv(65536))
        except TimeoutError:
            self.close()
            raise MLLPError(f"No reply from {self.host}:{self.port} within {self.timeout} s.") from None
        except OSError as exc:
            self.close()
            raise MLLPError(f"The MLLP connection to {self.host}:{self.port} failed: {exc}.") from None
        except MLLPError:
            self.close()
            raise

    def close(self) -> None:
        """Close the blocking connection."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self._decoder = FrameDecoder(self.max_message_size)

    def __enter__(self) -> MLLPClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- shared

    def _take(self) -> bytes | None:
        return self._pending.pop(0) if self._pending else None

    def _absorb(self, data: bytes) -> None:
        events = self._decoder.feed(data) if data else self._decoder.close()
        for event in events:
            if isinstance(event, FramingProblem):
                raise MLLPFramingError(f"Bad MLLP reply from {self.host}:{self.port}: {event.detail}.")
            self._pending.append(event)
        if not data and not self._pending:
            raise MLLPError(f"{self.host}:{self.port} closed the connection without replying.")


def _text(payload: bytes) -> str:
    try:
        return decode(payload)[0]
    except Hl7v2ParseError as exc:
        raise MLLPFramingError(f"The reply cannot be decoded: {exc}") from None
