"""Many small output files written by a background thread, so that disk work overlaps rendering.

Creating a file costs tens of microseconds of system time; a population writer creates about nine per
patient. The thread spends that time outside the interpreter lock while the caller renders the next
patient. The queue is bounded, so memory stays flat however many files are written, and the first
failure (a full disk, a folder removed under our feet) is raised in the caller as a :class:`UsageError`.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from types import TracebackType

from testbed.core.errors import UsageError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
_STOP = None


class FileQueue:
    """Writes ``(relative path, bytes)`` under a folder, in order, from one background thread.

    Use as a context manager: leaving it waits for every queued file to be on disk (or raises the first
    error). ``depth`` bounds how many files wait in memory.
    """

    def __init__(self, root: Path, depth: int = 256) -> None:
        self.root = root
        self._queue: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=depth)
        self._error: UsageError | None = None
        self._thread = threading.Thread(target=self._run, name="synthetic-files", daemon=True)
        self.written = 0

    def __enter__(self) -> FileQueue:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None and exc is None:
            raise self._error

    def put(self, rel: str, data: bytes) -> None:
        """Queue one file (``rel`` is relative to the root, with ``/`` separators).

        Raises:
            UsageError: an earlier file could not be written.
        """
        if self._error is not None:
            raise self._error
        self._queue.put((rel, data))

    def _run(self) -> None:
        root = os.fspath(self.root)
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue
            rel, data = item
            path = f"{root}/{rel}"
            try:
                fd = os.open(path, _FLAGS, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
                self.written += 1
            except OSError as exc:
                self._error = UsageError(f"Cannot write {path}: {exc.strerror or exc}.")
