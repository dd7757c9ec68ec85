"""The whole suite against the reference SMR on PostgreSQL (issue 6: SQLite and PostgreSQL alike).

Runs when ``TESTBED_TEST_PG`` names a database URL (for example
``postgresql+psycopg://testbed:testbed@127.0.0.1:5432/testbed_test``); the schema is emptied first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from testbed.cli import main

PG = os.environ.get("TESTBED_TEST_PG")


@pytest.mark.slow
@pytest.mark.skipif(not PG, reason="TESTBED_TEST_PG is not set: no PostgreSQL to run the suite against")
def test_the_whole_suite_passes_on_postgresql(tmp_path: Path) -> None:
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(str(PG))
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--smr-db", str(PG), "--out", str(out), "--seed", "9"])
    assert result.exit_code == 0, result.output[-3000:]
    summary = json.loads((out / "run.json").read_text())["summary"]
    assert summary["required_failed"] == []
