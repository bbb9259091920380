"""Test fixtures: a real uvicorn server per database backend, reached over real HTTP.

Backends: a SQLite file in a temp dir, and a throwaway PostgreSQL database created for the
session (``CREATE DATABASE``) and dropped at the end (``DROP DATABASE … WITH (FORCE)``).
PostgreSQL tests are skipped with a reason when the server is unreachable, except under
``CI=true`` where that is a failure.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import orm  # noqa: F401  (registers every table on Base.metadata)
from app.db.base import Base
from app.db.migrate import upgrade_to_head
from app.db.session import make_engine
from app.main import create_app
from tests.objectstore import S3Server, moto_server
from tests.support.databases import ADMIN_POSTGRES_URL, postgres_database
from tests.support.servers import free_port

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.sqlite_only``: a test of what the database does not change (a network's
    numbers, an image) runs once, on SQLite; its PostgreSQL variants are deselected."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        stacks = ("live_server", "celery_stack", "s3_live_server")
        backend = next((params[name] for name in stacks if name in params), None)
        marked = item.get_closest_marker("sqlite_only") is not None
        (drop if marked and backend == "postgres" else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def postgres_unavailable_reason() -> str | None:
    try:
        engine = create_engine(ADMIN_POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL at {make_url(ADMIN_POSTGRES_URL).render_as_string()} unreachable: {exc}"
    return None


@contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """CREATE DATABASE test_<random>; yield its URL; DROP DATABASE … WITH (FORCE)."""
    reason = postgres_unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    with postgres_database("test") as url:
        yield url


@contextmanager
def empty_database(backend: str, tmp: Path) -> Iterator[str]:
    """URL of a new, empty database on the backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / f'forecast-{uuid.uuid4().hex[:8]}.db'}"
        return
    with throwaway_postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, unmigrated database for this one test."""
    with empty_database(request.param, tmp_path) as url:
        yield url


def server_settings(database_url: str, model_dir: Path, **overrides: object) -> Settings:
    """Settings for a test server: small limits and fast failure detection."""
    values: dict[str, object] = {
        "database_url": database_url,
        "model_dir": model_dir,
        "max_upload_mb": 2,
        "workers": 2,
        "max_epochs": 1000,
        "job_lease_s": 3,
        "reconcile_interval_s": 0.5,
        "tf_threads": 1,
        "ledger_flush_s": 0.2,
        "log_level": "WARNING",  # keep pytest's captured output to what matters
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class LiveServer:
    """A running service: its base URL, its settings and the thread serving it."""

    base_url: str
    settings: Settings
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_server(settings: Settings) -> LiveServer:
    port = free_port()
    app = create_app(settings)
    # log_config=None: uvicorn leaves the logging that create_app configured alone (its
    # dictConfig would otherwise replace it for every app built later in this process).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return LiveServer(f"http://127.0.0.1:{port}", settings, app, server, thread)


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One server per backend for the whole session (migrated on start, like production)."""
    tmp = tmp_path_factory.mktemp(f"srv-{request.param}")
    with empty_database(request.param, tmp) as url:
        settings = server_settings(url, tmp / "models")
        server = start_server(settings)
        yield server
        server.stop()


@pytest.fixture
def backend(live_server: LiveServer) -> str:
    return make_url(live_server.settings.database_url).get_backend_name()


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client to the live server; every table is emptied after the test."""
    with httpx.Client(base_url=live_server.base_url, timeout=60) as http:
        yield http
    # The ledger writes what the test was served from a thread; write it now, so that its
    # transaction cannot interleave with the TRUNCATE below.
    record = live_server.app.state.forecasting.record
    if hasattr(record, "flush"):
        record.flush()
    truncate_all(live_server.settings.database_url)


def truncate_all(url: str, attempts: int = 5) -> None:
    """Empty every table. TRUNCATE takes its locks table by table, so a server thread still
    writing (a job's heartbeat, the reconciler) can deadlock with it; PostgreSQL then cancels one
    side, and when that side is ours we simply try again."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    engine = create_engine(url)
    try:
        for attempt in range(attempts):
            try:
                with engine.begin() as conn:
                    if engine.dialect.name == "postgresql":
                        conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                    else:
                        for table in tables:
                            conn.execute(text(f"DELETE FROM {table}"))
                return
            except OperationalError as error:
                deadlock = getattr(error.orig, "sqlstate", None) == "40P01"
                if not deadlock or attempt == attempts - 1:
                    raise
                time.sleep(0.1 * (attempt + 1))
    finally:
        engine.dispose()


# ------------------------------------------------------------------ service-level tests
# Services and lifecycle transitions run on a session bound to one transaction that is rolled
# back after each test: no server, milliseconds per test, on both databases.


def _savepoints_on_sqlite(engine: Engine) -> None:
    """pysqlite starts transactions lazily and lets SAVEPOINT begin (and RELEASE commit) one;
    SQLAlchemy's documented recipe makes it emit BEGIN itself, so nested transactions nest."""

    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A database at the migration head, shared by the service-level tests of a backend."""
    with empty_database(request.param, tmp_path_factory.mktemp(f"db-{request.param}")) as url:
        engine = make_engine(url)
        upgrade_to_head(engine)
        if engine.dialect.name == "sqlite":
            engine.dispose()
            _savepoints_on_sqlite(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def session(migrated_engine: Engine) -> Iterator[Session]:
    """A session in a transaction that is rolled back after the test; the code under test may
    flush, nest (savepoints) and commit (a savepoint is released) as it likes."""
    with migrated_engine.connect() as conn:
        outer = conn.begin()
        with Session(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as db_session:
            yield db_session
        outer.rollback()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3-protocol server (moto's) for the whole session; the standard AWS variables
    point at it, as an operator would set them."""
    with moto_server() as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.environment.items():
            patch.setenv(name, value)
        yield server
