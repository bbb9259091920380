"""Savepoints nest on both databases with the service's own engine (``make_engine``, without
the test sessions' recipe): what a savepoint wrote goes with the unit of work around it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.db.migrate import upgrade_to_head
from app.db.orm import RegisteredModel
from app.db.session import Database, savepoint


@pytest.fixture
def database(empty_database_url: str) -> Iterator[Database]:
    db = Database(empty_database_url)
    upgrade_to_head(db.engine)
    yield db
    db.dispose()


def names(db: Database) -> list[str]:
    with db.session_scope() as session:
        return list(session.scalars(select(RegisteredModel.name).order_by(RegisteredModel.name)))


def test_a_savepoint_before_any_write_is_undone_with_its_unit_of_work(database: Database) -> None:
    """As when a job registers its model name (a savepoint: another job may register it at the
    same moment) and dies before its commit: the model may not stay. On SQLite the savepoint,
    the unit's first write, used to open a transaction of its own and commit on release."""

    def register_then_die() -> None:
        with database.session_scope() as session:
            assert session.scalar(select(RegisteredModel)) is None  # a read: no write yet
            with savepoint(session):
                session.add(RegisteredModel(name="orphan"))
            raise RuntimeError("the job died before its commit")

    with pytest.raises(RuntimeError):
        register_then_die()
    assert names(database) == []


def test_a_refused_savepoint_keeps_what_was_written_before_it(database: Database) -> None:
    with database.session_scope() as session:
        session.add(RegisteredModel(name="first"))
        session.flush()
        with pytest.raises(IntegrityError), savepoint(session):
            session.add(RegisteredModel(name="first"))  # unique name: refused
        session.add(RegisteredModel(name="second"))
    assert names(database) == ["first", "second"]
    with database.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(RegisteredModel)) == 2
