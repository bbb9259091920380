"""Registered models, immutable numbered versions and aliases (in the spirit of MLflow's).

Services take the caller's session and only flush; the caller's unit of work commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.orm import (
    Backtest,
    Collection,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    Series,
    TrainingBatch,
    TrainingJob,
)
from app.db.rows import from_row
from app.db.session import lock_for_write, savepoint
from app.errors import (
    AliasNotFound,
    BacktestNotFound,
    ErrorItem,
    InvalidSpec,
    ModelNotFound,
    VersionInUse,
    VersionNotFound,
    VersionNotReady,
    found,
)
from app.ml.spec import Scope
from app.pagination import PageParams, fetch_page, ordering, starts_with
from app.registry.bundle import ExportedVersion
from app.vocabulary import JobKind, JobStatus, VersionStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSummary:
    """A registered model with its aliases (→ version numbers) and highest ready version."""

    name: str
    aliases: dict[str, int]
    latest_version: int | None
    created_at: datetime
    updated_at: datetime


def get_model(session: Session, name: str, *, for_update: bool = False) -> RegisteredModel:
    """The model; ``for_update``: locked until the transaction ends (on SQLite the database)."""
    stmt = select(RegisteredModel).where(RegisteredModel.name == name)
    if for_update:
        lock_for_write(session)
        stmt = stmt.with_for_update()
    return found(session.scalar(stmt), ModelNotFound(f"No model named '{name}'."))


def summarize(session: Session, models: list[RegisteredModel]) -> list[ModelSummary]:
    """Aliases and latest versions of several models in two queries, whatever their number."""
    ids = [m.id for m in models]
    aliases: dict[int, dict[str, int]] = {i: {} for i in ids}
    for model_id, alias, number in session.execute(
        select(ModelAlias.model_id, ModelAlias.alias, ModelVersion.version)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(ModelAlias.model_id.in_(ids))
        .order_by(ModelAlias.alias)
    ):
        aliases[model_id][alias] = number
    latest = dict(
        session.execute(
            select(ModelVersion.model_id, func.max(ModelVersion.version))
            .where(ModelVersion.model_id.in_(ids), ModelVersion.status == VersionStatus.READY)
            .group_by(ModelVersion.model_id)
        ).all()
    )
    return [
        ModelSummary(m.name, aliases[m.id], latest.get(m.id), m.created_at, m.updated_at)
        for m in models
    ]


MODEL_SORTS = {
    "name": RegisteredModel.name,
    "created_at": RegisteredModel.created_at,
    "updated_at": RegisteredModel.updated_at,
}


def of_collection(collection: str) -> ColumnElement[bool]:
    """A model with a version trained on a series of ``collection`` (or, a global model, on
    the collection)."""
    trained_on = (
        select(ModelVersion.id)
        .join(Series, Series.id == ModelVersion.series_id)
        .join(Collection, Collection.id == Series.collection_id)
        .where(ModelVersion.model_id == RegisteredModel.id, Collection.name == collection)
    )
    global_on = (
        select(ModelVersion.id)
        .join(TrainingJob, TrainingJob.id == ModelVersion.job_id)
        .join(TrainingBatch, TrainingBatch.id == TrainingJob.batch_id)
        .join(Collection, Collection.id == TrainingBatch.collection_id)
        .where(ModelVersion.model_id == RegisteredModel.id, Collection.name == collection)
    )
    return or_(trained_on.exists(), global_on.exists())


def list_models(
    session: Session,
    paging: PageParams,
    *,
    prefix: str | None = None,
    collection: str | None = None,
    sort: str = "name",
) -> tuple[list[ModelSummary], int]:
    """A page of models, optionally those whose name starts with ``prefix`` and those with a
    version trained on a series of ``collection`` (or, a global model, on the collection)."""
    stmt = select(RegisteredModel)
    if prefix:
        stmt = stmt.where(starts_with(RegisteredModel.name, prefix))
    if collection is not None:
        stmt = stmt.where(of_collection(collection))
    models, total = fetch_page(
        session, stmt, paging, ordering(sort, MODEL_SORTS, RegisteredModel.id)
    )
    return summarize(session, models), total


def list_versions(
    session: Session, model: RegisteredModel, paging: PageParams, *, newest_first: bool = False
) -> tuple[list[ModelVersion], int]:
    """A page of the model's versions by number."""
    number = ModelVersion.version.desc() if newest_first else ModelVersion.version.asc()
    stmt = select(ModelVersion).where(ModelVersion.model_id == model.id)
    return fetch_page(session, stmt, paging, [number])


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


def get_ready_version(session: Session, name: str, version: int) -> ModelVersion:
    found = get_version(session, name, version)
    require_ready(found)
    return found


def require_ready(version: ModelVersion) -> None:
    if version.status != VersionStatus.READY:
        raise VersionNotReady(
            f"Version {version.version} of '{version.model.name}' is {version.status}, not ready."
        )


def aliases_of(version: ModelVersion) -> list[str]:
    return sorted(a.alias for a in version.model.aliases if a.version_id == version.id)


def list_backtests(
    session: Session, version: ModelVersion, paging: PageParams
) -> tuple[list[Backtest], int]:
    """A page of the version's backtests, newest first."""
    stmt = select(Backtest).where(Backtest.model_version_id == version.id)
    return fetch_page(session, stmt, paging, [Backtest.id.desc()])


def latest_backtest(session: Session, version: ModelVersion) -> Backtest | None:
    stmt = select(Backtest).where(Backtest.model_version_id == version.id)
    return session.scalar(stmt.order_by(Backtest.id.desc()).limit(1))


def get_backtest(session: Session, version: ModelVersion, backtest_id: int) -> Backtest:
    backtest = session.get(Backtest, backtest_id)
    if backtest is None or backtest.model_version_id != version.id:
        raise BacktestNotFound(
            f"Version {version.version} of '{version.model.name}' has no backtest {backtest_id}."
        )
    return backtest


def require_scope(session: Session, name: str, scope: Scope) -> None:
    """A model's versions are all of one scope: a global model's pooled holdout metrics and a
    single series' are not comparable (its promotion gate compares versions)."""
    other = session.scalar(
        select(ModelVersion.scope)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(
            RegisteredModel.name == name,
            ModelVersion.scope != scope,
            ModelVersion.status != VersionStatus.FAILED,  # no files, nothing to compare with
        )
        .limit(1)
    )
    if other is not None:
        raise InvalidSpec(
            f"Model '{name}' holds versions of scope '{other}'; a model of scope '{scope}' "
            "needs another name.",
            errors=[ErrorItem(loc="body.model_name", message=f"a model of scope '{other}'")],
        )


def delete_version(session: Session, name: str, version: int) -> ModelVersion:
    """Delete a version's row; returns it (its bundle key and id tell the caller which files and
    cached bundle to drop once this is committed)."""
    found = get_version(session, name, version)
    if found.status == VersionStatus.PENDING:
        raise VersionNotReady(
            f"Version {version} of '{name}' is pending: its job is still writing it, or its "
            "files are being removed after the job failed; try again later."
        )
    backtesting = session.scalar(
        select(TrainingJob.id).where(
            TrainingJob.model_version_id == found.id,
            TrainingJob.kind == JobKind.BACKTEST,
            TrainingJob.status.in_((JobStatus.QUEUED, JobStatus.RUNNING)),
        )
    )
    if backtesting is not None:
        raise VersionInUse(
            f"Version {version} of '{name}' is being backtested by job {backtesting}; cancel "
            "that job or wait for it to finish."
        )
    aliases = aliases_of(found)
    if aliases:
        raise VersionInUse(
            f"Version {version} of '{name}' is the target of alias(es) {aliases}; move or delete "
            "them first."
        )
    session.delete(found)
    session.flush()
    return found


def set_alias(session: Session, name: str, alias: str, version: int) -> ModelAlias:
    target = get_ready_version(session, name, version)
    existing = session.get(ModelAlias, (target.model_id, alias))
    if existing is None:
        try:
            with savepoint(session):
                existing = ModelAlias(model_id=target.model_id, alias=alias, version_id=target.id)
                session.add(existing)
        except IntegrityError:  # created by a concurrent request: move it instead
            existing = session.get(ModelAlias, (target.model_id, alias), populate_existing=True)
            assert existing is not None
    existing.version_id = target.id
    session.flush()
    session.refresh(target.model, ["aliases"])
    return existing


def get_alias(session: Session, name: str, alias: str) -> int:
    """The version number ``alias`` of model ``name`` points to."""
    model = get_model(session, name)
    number = session.scalar(
        select(ModelVersion.version)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
    )
    return found(number, AliasNotFound(f"Model '{name}' has no alias '{alias}'."))


def delete_alias(session: Session, name: str, alias: str) -> None:
    model = get_model(session, name)
    result = session.execute(
        delete(ModelAlias).where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise AliasNotFound(f"Model '{name}' has no alias '{alias}'.")


def exported(version: ModelVersion) -> ExportedVersion:
    """What a downloaded archive says about the version besides its files."""
    return from_row(ExportedVersion, version, model=version.model.name)
