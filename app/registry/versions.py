"""The model version state machine, one function per transition, on the caller's session.
Nothing else writes ``model_version.status``.

``pending`` (:func:`reserve`: a number is given and the bundle's files are being published) →
``ready`` (:func:`mark_ready`: in the transaction that marks its job succeeded, or at once for
an import) | ``failed`` (:func:`fail_pending`: the job did not complete, and its files are gone:
the caller removes them first, so a version whose files could not be removed stays ``pending``
for the reconciler to try again).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.orm import ModelVersion, RegisteredModel
from app.db.session import savepoint
from app.registry import service
from app.registry.store import bundle_key
from app.vocabulary import VersionStatus


def _get_or_create_model(session: Session, name: str) -> RegisteredModel:
    model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
    if model is not None:
        return model
    try:
        with savepoint(session):
            model = RegisteredModel(name=name)
            session.add(model)
    except IntegrityError:  # created by a concurrent job
        return service.get_model(session, name)
    return model


def reserve(session: Session, name: str, **fields: Any) -> ModelVersion:
    """Insert a ``pending`` version with the model's next number. The counter is bumped in one
    statement (on PostgreSQL it locks the model row until commit, so concurrent jobs of one
    model get consecutive numbers); a number is never given twice, even after a delete."""
    model = _get_or_create_model(session, name)
    number = session.execute(
        update(RegisteredModel)
        .where(RegisteredModel.id == model.id)
        .values(last_version=RegisteredModel.last_version + 1)
        .returning(RegisteredModel.last_version)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    # Checked again now that the model's row is locked: a job of the other scope may have
    # registered a version since this one was queued.
    service.require_scope(session, name, fields.get("scope", "series"))
    version = ModelVersion(
        model_id=model.id, version=number, status=VersionStatus.PENDING, **fields
    )
    session.add(version)
    session.flush()
    return version


def pending_key(session: Session, version_id: int) -> str | None:
    """The bundle key of a version still ``pending`` (None: nothing to discard)."""
    version = session.get(ModelVersion, version_id)
    if version is None or version.status != VersionStatus.PENDING:
        return None
    return bundle_key(version.model.name, version.version)


def fail_pending(session: Session, version_id: int) -> None:
    """A pending version whose job did not complete, its files removed: ``failed``."""
    version = session.get(ModelVersion, version_id, populate_existing=True)
    if version is not None and version.status == VersionStatus.PENDING:
        version.status = VersionStatus.FAILED
        session.flush()


def mark_ready(session: Session, version_id: int) -> ModelVersion:
    """``pending`` → ``ready``: its files are all in place and its job (or import) succeeded."""
    version = session.get(ModelVersion, version_id, populate_existing=True)
    assert version is not None
    version.status = VersionStatus.READY
    session.flush()
    return version
