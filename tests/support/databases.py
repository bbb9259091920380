"""Throwaway databases: a SQLite file, or a PostgreSQL database created and dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_POSTGRES_URL = os.environ.get(
    "FORECAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """``CREATE DATABASE <prefix>_<random>``; its URL; ``DROP DATABASE … WITH (FORCE)``."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database(backend: str, directory: Path, prefix: str = "bench") -> Iterator[str]:
    """A new empty database: a SQLite file in ``directory``, or a throwaway PostgreSQL one."""
    if backend != "sqlite":
        with postgres_database(prefix) as url:
            yield url
        return
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{prefix}-{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm", ".migrate.lock"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
