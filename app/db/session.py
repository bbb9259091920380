"""Engine and session factory; one :class:`Database` per process (or per test app)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from tenacity import Retrying as _Retrying
from tenacity import (
    before_sleep_log,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
# What a database that went away (restart, failover, partition) raises.
UNREACHABLE = (OperationalError, InterfaceError)
# How long a job keeps retrying the writes it cannot lose (its lease is renewed meanwhile).
OUTAGE_PATIENCE_S = 120

SQLITE_BUSY_TIMEOUT_S = 30
# Enough pooled connections for every thread of the request threadpool (40) and the
# background threads: an overflow connection is closed after use, and reconnecting under
# load cost more than the queries themselves.
POOL_SIZE = 48
CONNECT_TIMEOUT_S = 3
POOL_TIMEOUT_S = 10


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=POOL_SIZE - 10,
            # A database that is down costs a request seconds, not the OS's minutes of retries.
            pool_timeout=POOL_TIMEOUT_S,
            # A peer that vanished without closing (a partition, a dead host) is found by TCP
            # keepalives in about 20 s instead of hanging a thread for the OS's two hours.
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_S,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 3,
                "keepalives_count": 3,
            },
        )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=SQLITE_BUSY_TIMEOUT_S,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # WAL persists in the file; set it only if needed (it takes a write lock).
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


@contextmanager
def savepoint(session: Session) -> Iterator[SessionTransaction]:
    """``session.begin_nested()``, nested on SQLite too. pysqlite sends BEGIN only before the
    first INSERT, UPDATE or DELETE, so a SAVEPOINT before any write opened a transaction of its
    own and releasing it committed at once: a rollback of the session afterwards kept what the
    savepoint wrote. A BEGIN first (:func:`lock_for_write`) makes it nest as on PostgreSQL."""
    lock_for_write(session)
    with session.begin_nested() as nested:
        yield nested


def lock_for_write(session: Session) -> None:
    """On SQLite, the database's write lock from now to the end of the transaction (BEGIN
    IMMEDIATE, waiting out the busy timeout) where none is open yet: what ``SELECT … FOR
    UPDATE`` does for a row on PostgreSQL (a no-op there). pysqlite begins a transaction only
    at the first write, so two requests that read, decide and then write interleaved: both
    appended the same date, the second failing on the unique key."""
    connection = session.connection()
    driver = connection.connection.dbapi_connection
    if connection.dialect.name == "sqlite" and not getattr(driver, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """Owns the engine; hands out sessions that commit once per unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


def through_outages(write: Callable[[], T]) -> T:
    """Run ``write`` (one unit of work), retrying while the database is unreachable, for up to
    OUTAGE_PATIENCE_S: a job's result must not be lost to a database restart. Each attempt
    is its own transaction, so a retry only re-runs what did not commit; ``write`` must be
    safe to run again after a commit whose acknowledgement was lost (the job writes are
    conditional on the job's state, and a stray pending version is failed by the reconciler)."""
    retrying = _Retrying(
        retry=retry_if_exception_type(UNREACHABLE),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(OUTAGE_PATIENCE_S),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    )
    return retrying(write)
