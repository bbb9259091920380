"""Training-job use cases of the API: create (after checking the spec against the data, so an
impossible job never queues), read, list, cancel. State changes go through
:mod:`app.training.jobs.lifecycle`; services flush, the request commits."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.column_records import PromotionOutcome
from app.db.orm import (
    Backtest,
    Collection,
    ModelVersion,
    RegisteredModel,
    Series,
    TrainingBatch,
    TrainingJob,
)
from app.errors import ErrorItem, InvalidSpec, JobNotFound, SeriesGone, SeriesNotFound, found
from app.ml.backtest import check_folds
from app.ml.calendar import resolve_season_length
from app.ml.dataset import DatasetError
from app.ml.defaults import Resolved, resolve
from app.ml.spec import BacktestSpec, TrainingSpec
from app.pagination import PageParams, fetch_page, ordering, starts_with
from app.registry import service as registry
from app.series import service as series_service
from app.training.jobs import lifecycle
from app.vocabulary import JobKind, JobStatus, model_name_part

DEFAULT_TARGETS = ("adj_close", "close", "price", "value", "y")


@dataclass(frozen=True)
class JobView:
    """A job with the version it produced or evaluates (name, number) and, for a succeeded
    backtest job, the id of its result."""

    job: TrainingJob
    version: tuple[str, int] | None
    backtest_id: int | None


def default_model_name(series: Series, kind: str) -> str:
    return f"{model_name_part(series.name)}-{kind}"


def resolve_target(series: Series, target: str | None) -> str:
    fields = [f.name for f in series.fields]
    if target is None:
        for candidate in DEFAULT_TARGETS:
            if candidate in fields:
                return candidate
        if len(fields) == 1:
            return fields[0]
        raise InvalidSpec(
            f"Series '{series.name}' has none of {list(DEFAULT_TARGETS)}; name a target among "
            f"{fields}.",
            errors=[ErrorItem(loc="body.target", message="no default target field")],
        )
    if target not in fields:
        raise InvalidSpec(
            f"Series '{series.name}' has no field '{target}'; its fields are {fields}.",
            errors=[ErrorItem(loc="body.target", message="unknown field")],
        )
    return target


def resolve_or_422(values: pd.Series, spec: TrainingSpec, frequency: str | None) -> Resolved:
    """The spec's choices made on the data and its split planned, or a 422 saying why not."""
    try:
        return resolve(values, spec, frequency)
    except DatasetError as exc:
        raise InvalidSpec(str(exc)) from exc


def _check_folds_or_422(
    values: pd.Series, spec: TrainingSpec, earliest: pd.Timestamp | None, season_length: int
) -> None:
    try:
        check_folds(values, spec, earliest, season_length=season_length)
    except DatasetError as exc:
        raise InvalidSpec(str(exc)) from exc


def check_epochs(settings: Settings, spec: TrainingSpec) -> None:
    if spec.epochs > settings.max_epochs:
        raise InvalidSpec(
            f"epochs {spec.epochs} is over the limit of {settings.max_epochs} "
            "(FORECAST_MAX_EPOCHS).",
            errors=[ErrorItem(loc="body.epochs", message="over FORECAST_MAX_EPOCHS")],
        )


def create_job(
    session: Session,
    settings: Settings,
    *,
    series_id: int,
    target: str | None,
    model_name: str | None,
    spec: TrainingSpec,
    promotion: PromotionOutcome | None = None,
    batch: TrainingBatch | None = None,
    trigger: str | None = None,
) -> TrainingJob:
    """Validate the spec against the data (so impossible jobs never queue) and queue it
    (``trigger``: the retrain policy rule that fired, with its numbers)."""
    series = session.get(Series, series_id)
    if series is None:
        raise SeriesNotFound(
            f"No series with id {series_id}.",
            errors=[ErrorItem(loc="body.series_id", message="unknown series")],
        )
    check_epochs(settings, spec)
    field = resolve_target(series, target)
    values = series_service.read_field(session, series, field)
    resolved = resolve_or_422(values, spec, series.frequency)
    plan = resolved.plan
    if spec.backtest is not None:
        # Without refit the version this job trains is scored: only on its holdout.
        earliest = None if spec.backtest.refit else plan.dates[plan.holdout_start]
        season_length = resolved.spec.season_length or 1
        _check_folds_or_422(values, resolved.spec, earliest, season_length)
    name = model_name or default_model_name(series, spec.kind)
    registry.require_scope(session, name, "series")
    return lifecycle.create_job(
        session,
        kind=JobKind.TRAIN,
        series_id=series.id,
        model_name=name,
        target=field,
        spec=spec,
        max_attempts=settings.job_max_attempts,
        promotion=promotion,
        batch_id=batch.id if batch is not None else None,
        trigger=trigger,
    )


def create_backtest_job(
    session: Session, settings: Settings, version: ModelVersion, backtest: BacktestSpec
) -> TrainingJob:
    """Queue a walk-forward backtest of a ready version, after checking the folds fit its data.

    Without refit the version itself is scored, so every cutoff must lie at or after the start
    of its holdout (it never trained on those points)."""
    registry.require_ready(version)
    if version.bundle.kind == "combination" and backtest.refit:
        raise InvalidSpec(
            f"Version {version.version} of '{version.model.name}' is a combination chosen by "
            "an auto tournament; a refit backtest would run the tournament again in every "
            "fold. Ask for refit false to score the version itself.",
            errors=[ErrorItem(loc="body.refit", message="refit a combination")],
        )
    if version.scope == "global":
        raise InvalidSpec(
            f"Version {version.version} of '{version.model.name}' is a global model; backtests "
            "of global models are not supported yet (its members report compares it per series)."
        )
    series = session.get(Series, version.series_id) if version.series_id is not None else None
    if series is None:
        raise SeriesGone(
            f"The series version {version.version} of '{version.model.name}' was trained on was "
            "deleted; there is no data to backtest on."
        )
    spec = version.spec.model_copy(update={"backtest": backtest})
    values = series_service.read_field(session, series, version.target)
    season_length = resolve_season_length(spec, series.frequency)
    _check_folds_or_422(values, spec, earliest_cutoff_date(version, backtest), season_length)
    return lifecycle.create_job(
        session,
        kind=JobKind.BACKTEST,
        series_id=series.id,
        model_name=version.model.name,
        target=version.target,
        spec=spec,
        max_attempts=settings.job_max_attempts,
        model_version_id=version.id,
    )


def earliest_cutoff_date(version: ModelVersion, backtest: BacktestSpec) -> pd.Timestamp | None:
    """Without refit, folds may start only where the version's holdout starts."""
    return None if backtest.refit else pd.Timestamp(version.metrics.holdout.start)


def get_job(session: Session, job_id: int) -> TrainingJob:
    return found(
        session.get(TrainingJob, job_id), JobNotFound(f"No training job with id {job_id}.")
    )


def views(session: Session, jobs: list[TrainingJob]) -> list[JobView]:
    """Each job with its version reference and backtest id, in two queries for any number."""
    version_ids = {j.model_version_id for j in jobs if j.model_version_id is not None}
    refs: dict[int, tuple[str, int]] = {}
    if version_ids:
        rows = session.execute(
            select(ModelVersion.id, RegisteredModel.name, ModelVersion.version)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
            .where(ModelVersion.id.in_(version_ids))
        )
        refs = {version_id: (name, number) for version_id, name, number in rows}
    succeeded_backtests = [
        j.id for j in jobs if j.kind == JobKind.BACKTEST and j.status == JobStatus.SUCCEEDED
    ]
    backtests: dict[int | None, int] = {}
    if succeeded_backtests:
        backtests = dict(
            session.execute(
                select(Backtest.job_id, Backtest.id).where(Backtest.job_id.in_(succeeded_backtests))
            ).all()
        )
    return [
        JobView(
            job,
            refs.get(job.model_version_id) if job.model_version_id is not None else None,
            backtests.get(job.id),
        )
        for job in jobs
    ]


JOB_SORTS = {
    "id": TrainingJob.id,
    "created_at": TrainingJob.created_at,
    "finished_at": TrainingJob.finished_at,
    "model_name": TrainingJob.model_name,
}


def list_jobs(
    session: Session,
    *,
    status: JobStatus | None,
    kind: JobKind | None,
    series_id: int | None,
    paging: PageParams,
    batch_id: int | None = None,
    collection: str | None = None,
    model_prefix: str | None = None,
    sort: str = "-id",
) -> tuple[list[JobView], int]:
    stmt = select(TrainingJob)
    if status:
        stmt = stmt.where(TrainingJob.status == status)
    if kind:
        stmt = stmt.where(TrainingJob.kind == kind)
    if series_id is not None:
        stmt = stmt.where(TrainingJob.series_id == series_id)
    if batch_id is not None:
        stmt = stmt.where(TrainingJob.batch_id == batch_id)
    if collection is not None:  # a member's job, or a global job on the collection
        member = (
            select(Series.id)
            .join(Collection)
            .where(Series.id == TrainingJob.series_id, Collection.name == collection)
        )
        on_collection = (
            select(TrainingBatch.id)
            .join(Collection)
            .where(
                TrainingBatch.id == TrainingJob.batch_id,
                TrainingJob.scope == "global",
                Collection.name == collection,
            )
        )
        stmt = stmt.where(or_(member.exists(), on_collection.exists()))
    if model_prefix:
        stmt = stmt.where(starts_with(TrainingJob.model_name, model_prefix))
    jobs, total = fetch_page(
        session, stmt, paging, ordering(sort, JOB_SORTS, TrainingJob.id.desc())
    )
    return views(session, jobs), total


def cancel_job(session: Session, job_id: int) -> TrainingJob:
    job = get_job(session, job_id)
    lifecycle.cancel(session, job)
    return job
