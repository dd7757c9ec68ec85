"""The background file queue of the population writer: every file lands, a failure is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from testbed.core.errors import UsageError
from testbed.synthetic._files import FileQueue


def test_every_queued_file_is_on_disk_when_the_block_ends(tmp_path: Path) -> None:
    (tmp_path / "cda").mkdir()
    with FileQueue(tmp_path, depth=4) as files:
        for n in range(50):
            files.put(f"cda/{n}.xml", f"<doc n='{n}'/>".encode() * (n + 1))
    assert files.written == 50
    assert (tmp_path / "cda" / "49.xml").read_bytes() == b"<doc n='49'/>" * 50
    assert (tmp_path / "cda" / "0.xml").read_bytes() == b"<doc n='0'/>"


def test_a_file_rewritten_is_truncated(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"a much longer previous content")
    with FileQueue(tmp_path) as files:
        files.put("a.txt", b"short")
    assert (tmp_path / "a.txt").read_bytes() == b"short"


def test_an_unwritable_file_is_a_usage_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"Cannot write .*missing/x\.xml"):
        with FileQueue(tmp_path) as files:
            files.put("missing/x.xml", b"<x/>")
    assert not (tmp_path / "missing").exists()


def test_the_error_reaches_the_caller_on_the_next_put(tmp_path: Path) -> None:
    files = FileQueue(tmp_path, depth=1)
    with pytest.raises(UsageError):
        with files:
            files.put("missing/x.xml", b"<x/>")
            files._thread.join(timeout=0.01)
            while files._error is None and files._thread.is_alive():
                files._thread.join(timeout=0.01)
            files.put("ok.xml", b"<ok/>")
    assert not (tmp_path / "ok.xml").exists()
