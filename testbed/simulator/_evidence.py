"""Evidence: every exchange with the simulated SMR, recorded with secrets redacted.

Records are JSON lines appended to ``evidence.jsonl`` in the data folder (written and flushed before
the reply is sent, not synced: they survive the process being killed, not a power loss) and indexed in
memory, so an exchange is in the log as soon as its reply has gone. A record is a dict::

    {"seq", "id", "protocol": "http"|"mllp", "started", "finished", "duration_ms", "client",
     "request": {"method", "url", "headers", "body", "body_size"},
     "response": {"status", "headers", "body", "body_size"}}

Bodies are text (UTF-8; other bytes as ``base64:...``), kept whole up to ``MAX_BODY`` characters and
cut beyond (``body_truncated``: true, with the SHA-256 of the whole body).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

MAX_BODY = 10 * 1024 * 1024
FILE_NAME = "evidence.jsonl"


def body_text(data: bytes | None, *, limit: int = MAX_BODY) -> dict[str, Any]:
    """The evidence form of a body: text, size and, when cut, the digest of the whole."""
    if data is None:
        return {"body": None, "body_size": 0}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = "base64:" + base64.b64encode(data).decode("ascii")
    out: dict[str, Any] = {"body": text[:limit], "body_size": len(data)}
    if len(text) > limit:
        out["body_truncated"] = True
        out["body_sha256"] = hashlib.sha256(data).hexdigest()
    return out


class EvidenceLog(Sequence[dict[str, Any]]):
    """The exchanges recorded by one SMR: a read-only, list-like view over its evidence file.

    A restart on the same data folder keeps the earlier records (numbering continues).
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / FILE_NAME
        self._lock = threading.Lock()
        self._offsets: list[int] = []
        if self.path.is_file():
            self._reindex()
        self._file = self.path.open("ab")

    def record(self, exchange: dict[str, Any]) -> int:
        """Append one exchange (already redacted); its sequence number (1-based)."""
        with self._lock:
            if self._file.closed:
                return 0
            seq = len(self._offsets) + 1
            line = json.dumps({"seq": seq, **exchange}, ensure_ascii=False, separators=(",", ":"))
            self._offsets.append(self._file.tell())
            self._file.write(line.encode("utf-8") + b"\n")
            self._file.flush()
            return seq

    def since(self, seq: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Exchanges with a sequence number above ``seq``, oldest first (at most ``limit``)."""
        with self._lock:
            offsets = self._offsets[max(seq, 0) : max(seq, 0) + limit]
        if not offsets:
            return []
        out = []
        with self.path.open("rb") as handle:
            handle.seek(offsets[0])
            for _ in offsets:
                out.append(json.loads(handle.readline()))
        return out

    def last(self) -> dict[str, Any] | None:
        """The most recent exchange."""
        count = len(self)
        return self.since(count - 1, 1)[0] if count else None

    def close(self) -> None:
        """Stop recording."""
        with self._lock:
            self._file.close()

    def __len__(self) -> int:
        return len(self._offsets)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        count = len(self)
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(count))]
        position = index + count if index < 0 else index
        if not 0 <= position < count:
            raise IndexError("evidence index out of range")
        return self.since(position, 1)[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.since(0, limit=len(self)))

    def _reindex(self) -> None:
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # the last record was cut by a crash: drop it
            with self.path.open("r+b") as handle:
                handle.truncate(end)
        offset = 0
        for line in data[:end].splitlines(keepends=True):
            self._offsets.append(offset)
            offset += len(line)
