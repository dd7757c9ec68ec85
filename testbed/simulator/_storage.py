"""Storage of the simulated SMR: SQLAlchemy Core tables, one writer thread with group commit.

Every write runs as a *job* on one writer thread: the writer takes every job waiting, runs them in one
transaction, commits once, and only then answers the jobs; when one of them fails, everything is
rolled back and each job runs again in its own transaction, so that a failing job fails alone (jobs
are pure functions of the database and their prepared input, so running one again is safe).
Acknowledged writes are therefore durable before any reply (SQLite: WAL, ``synchronous=FULL``), writers
never race (conditional creates and duplicate checks are atomic), and concurrent clients share the
cost of one ``fsync``. Readers use pooled connections; SQLite WAL lets them read while the writer works.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from testbed.core.errors import UsageError

log = logging.getLogger(__name__)
T = TypeVar("T")

metadata = sa.MetaData()

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False, index=True),
    sa.Column("last_updated", sa.String(40), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("method", sa.String(8), nullable=False, default="POST"),
    sa.Column("author_org", sa.String(64)),
    sa.Column("patient_id", sa.String(64), index=True),
    sa.Column("content", sa.JSON),
)

history = sa.Table(
    "history",
    metadata,
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("last_updated", sa.String(40), nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("method", sa.String(8), nullable=False),
    sa.Column("content", sa.JSON),
)

search_index = sa.Table(
    "search_index",
    metadata,
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("param", sa.String(64), nullable=False),
    sa.Column("system", sa.Text),
    sa.Column("value", sa.Text),
    sa.Column("lo", sa.String(32)),
    sa.Column("hi", sa.String(32)),
    sa.Index("ix_search_value", "type", "param", "value"),
    sa.Index("ix_search_owner", "type", "id"),
)

objections = sa.Table(
    "objections",
    metadata,
    sa.Column("consent_id", sa.String(64), primary_key=True),
    sa.Column("patient_id", sa.String(64), nullable=False, index=True),
)

merges = sa.Table(
    "merges",
    metadata,
    sa.Column("patient_id", sa.String(64), primary_key=True),
    sa.Column("survivor_id", sa.String(64), nullable=False, index=True),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(512), nullable=False),
)


def make_engine(db_url: str) -> Engine:
    """An engine for ``db_url``: SQLite (WAL, synchronous=FULL, savepoints that work) or PostgreSQL.

    Raises:
        UsageError: the URL is not a database SQLAlchemy can open.
    """
    try:
        url = sa.engine.make_url(db_url)
    except sa.exc.ArgumentError as exc:
        raise UsageError(
            f"'{db_url}' is not a database URL (e.g. sqlite:///smr.db, postgresql+psycopg://...)."
        ) from exc
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=48,
        )
        _sqlite_events(engine)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.get_driver_name() in ("", "psycopg2"):
            url = url.set(drivername="postgresql+psycopg")
        return sa.create_engine(url, pool_size=8, max_overflow=48, pool_pre_ping=True)
    raise UsageError(f"Unsupported database '{url.get_backend_name()}': use sqlite:/// or postgresql://.")


def _sqlite_events(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below drive transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA cache_size=-32768")  # 32 MB of page cache per connection
        cursor.execute("PRAGMA wal_autocheckpoint=4000")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get("snapshot", True):  # snapshot=False: one statement, autocommit, no BEGIN/COMMIT
            conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("immediate", False) else "BEGIN")


@dataclass(slots=True)
class _Job:
    func: Callable[[Connection], Any]
    future: concurrent.futures.Future[Any]


_STOP = object()


class Writer:
    """The one writer thread (see the module docstring)."""

    def __init__(self, engine: Engine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._queue: queue.Queue[Any] = queue.Queue()
        self._max_batch = max_batch
        self._thread = threading.Thread(target=self._run, name="smr-writer", daemon=True)
        self._stopped = False
        self._job_hooks: list[Callable[[], None]] = []
        self._thread.start()

    def submit(self, func: Callable[[Connection], T]) -> concurrent.futures.Future[T]:
        """Queue a job; the future resolves once the job's batch is committed."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._stopped:
            future.set_exception(RuntimeError("the SMR storage is closed"))
            return future
        self._queue.put(_Job(func, future))
        return future

    def run(self, func: Callable[[Connection], T], timeout: float = 60.0) -> T:
        """Run a job and wait for its committed result (re-raising its exception)."""
        return self.submit(func).result(timeout)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """From inside a job: call ``hook`` once the job's batch is committed (not if the job fails)."""
        self._job_hooks.append(hook)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every job queued so far is committed."""
        self.run(lambda _conn: None, timeout)

    def stop(self) -> None:
        """Finish the queued jobs and end the thread."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(_STOP)
            self._thread.join(timeout=60)

    def _run(self) -> None:
        conn: Connection | None = None
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            try:
                if conn is None:
                    conn = self._engine.connect().execution_options(immediate=True)
                self._run_batch(conn, batch)
            except Exception as exc:  # noqa: BLE001 - the writer must outlive a broken connection
                log.exception("the SMR storage failed on a batch of %d writes; reconnecting", len(batch))
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
                if conn is not None:
                    with contextlib.suppress(Exception):
                        conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def _run_batch(self, conn: Connection, batch: list[_Job]) -> None:
        if len(batch) > 1 and self._together(conn, batch):
            return
        for job in batch:  # one job, or a batch in which a job failed: each in its own transaction
            self._alone(conn, job)

    def _together(self, conn: Connection, batch: list[_Job]) -> bool:
        """Run a batch in one transaction; False (all rolled back) as soon as one job raises."""
        results: list[Any] = []
        hooks: list[Callable[[], None]] = []
        transaction = conn.begin()
        try:
            for job in batch:
                self._job_hooks = []
                results.append(job.func(conn))
                hooks.extend(self._job_hooks)
        except BaseException:  # noqa: BLE001 - the jobs are run again one by one
            transaction.rollback()
            return False
        try:
            transaction.commit()
        except Exception as exc:  # noqa: BLE001 - the commit failed: no job of the batch is durable
            log.exception("the SMR storage could not commit a batch of %d writes", len(batch))
            for job in batch:
                job.future.set_exception(exc)
            return True
        for hook in hooks:
            hook()
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)
        return True

    def _alone(self, conn: Connection, job: _Job) -> None:
        self._job_hooks = []
        try:
            with conn.begin():
                result = job.func(conn)
        except BaseException as exc:  # noqa: BLE001 - delivered to the job's caller (nothing committed)
            job.future.set_exception(exc)
            return
        for hook in self._job_hooks:
            hook()
        job.future.set_result(result)


class Storage:
    """The database of one simulated SMR: engine, schema, writer."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.engine = make_engine(db_url)
        metadata.create_all(self.engine)
        self.writer = Writer(self.engine)

    @classmethod
    def sqlite_file(cls, folder: Path) -> Storage:
        """The default SQLite database file of a data folder."""
        folder.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{folder / 'smr.db'}")

    def read(self, func: Callable[[Connection], T]) -> T:
        """Run ``func`` in one read transaction (a consistent snapshot)."""
        with self.engine.connect() as conn, conn.begin():
            return func(conn)

    def query(self, func: Callable[[Connection], T]) -> T:
        """Run ``func`` without a transaction of its own (for a single read statement: cheaper)."""
        with self.engine.connect().execution_options(snapshot=False) as conn:
            return func(conn)

    def setting(self, key: str, default: Callable[[], str]) -> str:
        """A persistent setting, created from ``default()`` on first use."""

        def job(conn: Connection) -> str:
            row = conn.execute(sa.select(settings.c.value).where(settings.c.key == key)).first()
            if row is not None:
                return str(row[0])
            value = default()
            conn.execute(settings.insert().values(key=key, value=value))
            return value

        return self.writer.run(job)

    def close(self) -> None:
        """Stop the writer and release the connections."""
        self.writer.stop()
        self.engine.dispose()
