"""Registered models, immutable numbered versions and aliases (in the spirit of MLflow's)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.orm import Backtest, ModelAlias, ModelVersion, RegisteredModel, TrainingJob
from app.db.session import Database
from app.errors import (
    AliasNotFound,
    ModelNotFound,
    VersionInUse,
    VersionNotFound,
    VersionNotReady,
)
from app.registry.store import ArtifactStore, bundle_key

log = logging.getLogger(__name__)
_VERSION_RETRIES = 20


def get_model(session: Session, name: str) -> RegisteredModel:
    model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
    if model is None:
        raise ModelNotFound(f"No model named '{name}'.")
    return model


def list_models(session: Session, *, limit: int, offset: int) -> tuple[list[RegisteredModel], int]:
    total = session.scalar(select(func.count()).select_from(RegisteredModel)) or 0
    stmt = select(RegisteredModel).order_by(RegisteredModel.name).limit(limit).offset(offset)
    return list(session.scalars(stmt)), total


def list_versions(session: Session, model: RegisteredModel) -> list[ModelVersion]:
    stmt = (
        select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version)
    )
    return list(session.scalars(stmt))


def latest_version(session: Session, model: RegisteredModel) -> ModelVersion | None:
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.status == "ready")
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def get_version(session: Session, name: str, version: int) -> ModelVersion:
    model = get_model(session, name)
    found = session.scalar(
        select(ModelVersion).where(
            ModelVersion.model_id == model.id, ModelVersion.version == version
        )
    )
    if found is None:
        raise VersionNotFound(f"Model '{name}' has no version {version}.")
    return found


def latest_backtest(session: Session, version: ModelVersion) -> Backtest | None:
    return session.scalar(
        select(Backtest)
        .where(Backtest.model_version_id == version.id)
        .order_by(Backtest.id.desc())
        .limit(1)
    )


def require_ready(version: ModelVersion) -> None:
    if version.status != "ready":
        raise VersionNotReady(
            f"Version {version.version} of '{version.model.name}' is {version.status}, not ready."
        )


def aliases_of(model: RegisteredModel, version: ModelVersion) -> list[str]:
    return sorted(a.alias for a in model.aliases if a.version_id == version.id)


def _get_or_create_model(session: Session, name: str) -> RegisteredModel:
    model = session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
    if model is not None:
        return model
    try:
        with session.begin_nested():
            model = RegisteredModel(name=name)
            session.add(model)
    except IntegrityError:  # created by a concurrent job
        return get_model(session, name)
    return model


def reserve_version(session: Session, name: str, **fields: Any) -> ModelVersion:
    """Insert a ``pending`` version numbered max+1; a concurrent insert of the same number
    violates the unique key, and we retry with the next number."""
    model = _get_or_create_model(session, name)
    for _ in range(_VERSION_RETRIES):
        number = (
            session.scalar(
                select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model.id)
            )
            or 0
        ) + 1
        try:
            with session.begin_nested():
                version = ModelVersion(
                    model_id=model.id, version=number, status="pending", **fields
                )
                session.add(version)
            return version
        except IntegrityError:
            log.info("version %s of %s taken concurrently; retrying", number, name)
    raise RuntimeError(f"could not reserve a version number for {name!r}")


def discard_version(db: Database, store: ArtifactStore, version_id: int) -> None:
    """A pending version whose job did not complete: mark it failed and remove its files."""
    with db.session_scope() as session:
        version = session.get(ModelVersion, version_id)
        if version is None or version.status != "pending":
            return
        version.status = "failed"
        key = bundle_key(version.model.name, version.version)
    store.delete(key)


def delete_version(session: Session, name: str, version: int) -> str:
    """Delete a version's row; returns its bundle key, to delete the files after commit."""
    found = get_version(session, name, version)
    if found.status == "pending":
        raise VersionNotReady(
            f"Version {version} of '{name}' is still being written by its job; try again when "
            "the job has finished."
        )
    backtesting = session.scalar(
        select(TrainingJob.id).where(
            TrainingJob.model_version_id == found.id,
            TrainingJob.kind == "backtest",
            TrainingJob.status.in_(("queued", "running")),
        )
    )
    if backtesting is not None:
        raise VersionInUse(
            f"Version {version} of '{name}' is being backtested by job {backtesting}; cancel "
            "that job or wait for it to finish."
        )
    aliases = aliases_of(found.model, found)
    if aliases:
        raise VersionInUse(
            f"Version {version} of '{name}' is the target of alias(es) {aliases}; move or delete "
            "them first."
        )
    session.delete(found)
    session.flush()
    return bundle_key(name, version)


def set_alias(session: Session, name: str, alias: str, version: int) -> ModelAlias:
    target = get_version(session, name, version)
    require_ready(target)
    existing = session.get(ModelAlias, (target.model_id, alias))
    if existing is None:
        try:
            with session.begin_nested():
                existing = ModelAlias(model_id=target.model_id, alias=alias, version_id=target.id)
                session.add(existing)
        except IntegrityError:  # created by a concurrent request: move it instead
            existing = session.get(ModelAlias, (target.model_id, alias), populate_existing=True)
            assert existing is not None
    existing.version_id = target.id
    session.flush()
    session.refresh(target.model, ["aliases"])
    return existing


def delete_alias(session: Session, name: str, alias: str) -> None:
    model = get_model(session, name)
    result = session.execute(
        delete(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise AliasNotFound(f"Model '{name}' has no alias '{alias}'.")
