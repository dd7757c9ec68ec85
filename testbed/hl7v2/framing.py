"""MLLP framing (``0x0B`` message ``0x1C 0x0D``): building frames and reading them back, defects named.

The incremental :class:`FrameDecoder` reports every framing defect as a :class:`FramingProblem` (bytes
outside a frame, a missing end block, FS without CR, an oversize frame) and carries on with the next
frame, so a reader never dies on broken input.
"""

from __future__ import annotations

from dataclasses import dataclass

from testbed.core.errors import InputError, TestbedError
from testbed.core.issues import Issue, IssueCode, Severity

VT, FS, CR = 0x0B, 0x1C, 0x0D
START, END = b"\x0b", b"\x1c\x0d"
DEFAULT_MAX_MESSAGE = 1 << 20
_HEAD_KEPT = 4096


class MLLPError(TestbedError):
    """An MLLP exchange failed (connection refused or closed, timeout)."""


class MLLPFramingError(MLLPError, InputError):
    """The peer's bytes are not a correct MLLP frame."""


@dataclass(frozen=True, slots=True)
class FramingProblem:
    """A framing defect: ``kind`` is garbage-before-start, no-start, missing-end, missing-cr or oversize."""

    kind: str
    detail: str
    offset: int
    head: bytes = b""


def frame(message: str | bytes) -> bytes:
    """Wrap a message in an MLLP frame (text is encoded as UTF-8)."""
    body = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    return START + body + END


def _next_block(data: bytes, start: int) -> int:
    """Index of the next start (0x0B) or end (0x1C) block byte at or after ``start``, else ``len(data)``."""
    vt = data.find(b"\x0b", start)
    fs = data.find(b"\x1c", start)
    found = [k for k in (vt, fs) if k >= 0]
    return min(found) if found else len(data)


class FrameDecoder:
    """Incremental MLLP decoder: ``feed`` bytes, get complete payloads and framing problems, in order."""

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE) -> None:
        self.max_message_size = max_message_size
        self._buf = bytearray()
        self._state = "out"  # out | in | fs | skip
        self._garbage = bytearray()
        self._offset = 0
        self._frame_start = 0

    @property
    def in_frame(self) -> bool:
        """True while a frame has started and not ended."""
        return self._state in ("in", "fs", "skip", "skip-fs")

    def feed(self, data: bytes) -> list[bytes | FramingProblem]:
        """Consume bytes; return the payloads completed and the problems found."""
        out: list[bytes | FramingProblem] = []
        i, n = 0, len(data)
        while i < n:
            if self._state in ("in", "skip"):
                # Bulk path: ordinary payload bytes up to the next start/end block, never past the size limit.
                j = _next_block(data, i)
                if self._state == "in":
                    j = min(j, i + max(0, self.max_message_size - len(self._buf)))
                    self._buf += data[i:j]
                if j > i:
                    i = j
                    continue
            self._step(data[i], self._offset + i, out)
            i += 1
        self._offset += n
        return out

    def _step(self, b: int, pos: int, out: list[bytes | FramingProblem]) -> None:
        """One byte through the state machine (the bulk path in :meth:`feed` skips ordinary bytes)."""
        state = self._state
        if state == "in":
            if b == FS:
                self._state = "fs"
            elif b == VT:
                out.append(
                    self._problem(
                        "missing-end",
                        "a new start block (0x0B) arrived before the end block "
                        "(0x1C 0x0D) of the previous frame; that frame was dropped",
                        pos,
                        bytes(self._buf[:_HEAD_KEPT]),
                    )
                )
                self._buf.clear()
                self._frame_start = pos
            else:
                self._buf.append(b)
                if len(self._buf) > self.max_message_size:
                    out.append(
                        self._problem(
                            "oversize",
                            f"the frame exceeds {self.max_message_size} bytes; it was dropped",
                            pos,
                            bytes(self._buf[:_HEAD_KEPT]),
                        )
                    )
                    self._buf.clear()
                    self._state = "skip"
        elif state == "fs":
            out.append(bytes(self._buf))
            self._buf.clear()
            self._state = "out"
            if b != CR:
                out.append(
                    self._problem("missing-cr", f"the end block 0x1C is followed by 0x{b:02X}, not 0x0D", pos)
                )
                self._byte_out(b, pos, out)
        elif state == "skip":
            if b == FS:
                self._state = "skip-fs"
        elif state == "skip-fs":
            self._state = "out" if b == CR else "skip"
        else:
            self._byte_out(b, pos, out)

    def _byte_out(self, b: int, pos: int, out: list[bytes | FramingProblem]) -> None:
        if b == VT:
            if self._garbage.strip():
                out.append(self._garbage_problem(pos))
            self._garbage.clear()
            self._state = "in"
            self._frame_start = pos
        else:
            self._garbage.append(b)
            if len(self._garbage) > self.max_message_size:
                out.append(self._garbage_problem(pos))
                self._garbage.clear()

    def _garbage_problem(self, pos: int) -> FramingProblem:
        junk = bytes(self._garbage)
        start = pos - len(junk)
        if junk.rstrip(b"\r\n").endswith(b"\x1c") or junk.lstrip().startswith(b"MSH"):
            return FramingProblem(
                "no-start",
                f"{len(junk)} bytes arrived without a start block (0x0B) before them; they were dropped",
                start,
                junk[:_HEAD_KEPT],
            )
        return FramingProblem(
            "garbage-before-start",
            f"{len(junk)} bytes before the start block (0x0B) were dropped (first bytes {junk[:16]!r})",
            start,
            junk[:_HEAD_KEPT],
        )

    def _problem(self, kind: str, detail: str, pos: int, head: bytes = b"") -> FramingProblem:
        return FramingProblem(kind, detail, pos, head)

    def close(self) -> list[bytes | FramingProblem]:
        """End of stream: report a frame left open and bytes left outside any frame."""
        out: list[bytes | FramingProblem] = []
        if self._state == "fs":
            out.append(bytes(self._buf))
            out.append(
                self._problem(
                    "missing-cr", "the stream ended after 0x1C without the final 0x0D", self._offset
                )
            )
        elif self._state == "in":
            out.append(
                self._problem(
                    "missing-end",
                    "the stream ended inside a frame (no end block 0x1C 0x0D); the frame was dropped",
                    self._offset,
                    bytes(self._buf[:_HEAD_KEPT]),
                )
            )
        if self._garbage.strip():
            out.append(self._garbage_problem(self._offset))
        self._buf.clear()
        self._garbage.clear()
        self._state = "out"
        return out


def unframe(
    data: bytes, max_message_size: int = DEFAULT_MAX_MESSAGE
) -> tuple[list[bytes], list[FramingProblem]]:
    """Split a whole byte stream into payloads and framing problems."""
    decoder = FrameDecoder(max_message_size)
    events = decoder.feed(data) + decoder.close()
    return [e for e in events if isinstance(e, bytes)], [e for e in events if isinstance(e, FramingProblem)]


def framing_issues(data: bytes, *, requirements: tuple[str, ...] | None = None) -> list[Issue]:
    """Issues for the framing of a byte stream (one per problem; none for a clean stream of frames).

    Issues cite ``requirements``, by default the ``framing`` requirements of the v2 profile folder.
    """
    if requirements is None:
        from testbed.hl7v2.profile import profile_requirements

        requirements = profile_requirements().get("framing", ())
    payloads, problems = unframe(data)
    issues = [
        Issue(
            Severity.ERROR,
            IssueCode.STRUCTURE,
            f"byte {p.offset}",
            f"MLLP framing: {p.detail}.",
            f"mllp:{p.kind}",
            requirements,
        )
        for p in problems
    ]
    if not payloads and not problems:
        issues.append(
            Issue(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                "",
                "No MLLP frame in the data.",
                "mllp:empty",
                requirements,
            )
        )
    return issues
