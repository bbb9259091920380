"""Bring the schema to the latest Alembic revision, safely from several processes at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Arbitrary constant: the key of the PostgreSQL advisory lock held while migrating.
PG_MIGRATION_LOCK_KEY = 7_240_151_337


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    database = make_url(str(engine.url)).database
    if not database or database == ":memory:":
        yield
        return
    with FileLock(f"{database}.migrate.lock"):
        yield


def upgrade_to_head(engine: Engine) -> None:
    """Run pending migrations. Concurrent callers serialise on a lock and the later ones no-op.

    PostgreSQL: a transaction-scoped advisory lock around the (transactional) upgrade.
    SQLite: a file lock next to the database file.
    """
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        return
    with _sqlite_file_lock(engine), engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
        # migrations/env.py turned foreign keys off for batch migrations (possible outside a
        # transaction only); this pooled connection is reused, so they go back on.
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()
