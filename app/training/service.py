"""Training job lifecycle in the database: create, claim, progress, finish, cancel, reconcile.

Every state change is one conditional UPDATE or a short transaction, so API processes and any
number of workers can act on the same job without stepping on each other.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import pandas as pd
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.orm import Backtest, ModelVersion, Series, TrainingJob
from app.db.session import Database
from app.db.types import utcnow
from app.errors import (
    ErrorItem,
    InvalidSpec,
    JobNotCancellable,
    JobNotFound,
    PromotionRefused,
    SeriesGone,
)
from app.ml.backtest import check_folds
from app.ml.calendar import resolve_season_length
from app.ml.dataset import DatasetError, DatasetPlan, plan_dataset
from app.ml.spec import BacktestSpec, TrainingSpec
from app.registry import service as registry
from app.registry.promotion import PromotionRule, promote
from app.series import service as series_service

log = logging.getLogger(__name__)

FINISHED = ("succeeded", "failed", "cancelled")
DEFAULT_TARGETS = ("adj_close", "close", "value")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- API side


def resolve_target(series: Series, target: str | None) -> str:
    fields = [f.name for f in series.fields]
    if target is None:
        for candidate in DEFAULT_TARGETS:
            if candidate in fields:
                return candidate
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


def load_target(session: Session, series: Series, target: str) -> pd.Series:
    frame = series_service.read_frame(session, series, fields=[target])
    return frame[target]


def plan_or_422(values: pd.Series, spec: TrainingSpec, season_length: int) -> DatasetPlan:
    try:
        return plan_dataset(values, spec, season_length=season_length)
    except DatasetError as exc:
        raise InvalidSpec(str(exc)) from exc


def create_job(
    session: Session,
    settings: Settings,
    *,
    series_id: int,
    target: str | None,
    model_name: str | None,
    spec: TrainingSpec,
    promotion: dict[str, Any] | None = None,
) -> TrainingJob:
    """Validate the spec against the data (so impossible jobs never queue) and queue it."""
    series = session.get(Series, series_id)
    if series is None:
        raise InvalidSpec(
            f"No series with id {series_id}.",
            errors=[ErrorItem(loc="body.series_id", message="unknown series")],
        )
    if spec.epochs > settings.max_epochs:
        raise InvalidSpec(
            f"epochs {spec.epochs} is over the limit of {settings.max_epochs} "
            "(FORECAST_MAX_EPOCHS).",
            errors=[ErrorItem(loc="body.epochs", message="over FORECAST_MAX_EPOCHS")],
        )
    field = resolve_target(series, target)
    values = load_target(session, series, field)
    season_length = resolve_season_length(spec, series.frequency)
    plan = plan_or_422(values, spec, season_length)
    if spec.backtest is not None:
        # Without refit the version this job trains is scored: only on its holdout.
        earliest = None if spec.backtest.refit else plan.dates[plan.holdout_start]
        try:
            check_folds(values, spec, earliest, season_length=season_length)
        except DatasetError as exc:
            raise InvalidSpec(str(exc)) from exc
    job = TrainingJob(
        kind="train",
        promotion=promotion,
        status="queued",
        series_id=series.id,
        model_name=model_name or f"{series.name}-{spec.architecture}",
        target=field,
        spec=spec.model_dump(mode="json"),
        attempts=0,
        max_attempts=settings.job_max_attempts,
    )
    session.add(job)
    session.flush()
    return job


def create_backtest_job(
    session: Session, settings: Settings, version: ModelVersion, backtest: BacktestSpec
) -> TrainingJob:
    """Queue a walk-forward backtest of a ready version, after checking the folds fit its data.

    Without refit the version itself is scored, so every cutoff must lie at or after the start
    of its holdout (it never trained on those points)."""
    registry.require_ready(version)
    series = session.get(Series, version.series_id) if version.series_id is not None else None
    if series is None:
        raise SeriesGone(
            f"The series version {version.version} of '{version.model.name}' was trained on was "
            "deleted; there is no data to backtest on."
        )
    spec = TrainingSpec.model_validate({**version.spec, "backtest": backtest.model_dump()})
    values = load_target(session, series, version.target)
    season_length = resolve_season_length(spec, series.frequency)
    try:
        check_folds(
            values, spec, earliest_cutoff_date(version, backtest), season_length=season_length
        )
    except DatasetError as exc:
        raise InvalidSpec(str(exc)) from exc
    job = TrainingJob(
        kind="backtest",
        status="queued",
        series_id=series.id,
        model_name=version.model.name,
        target=version.target,
        spec=spec.model_dump(mode="json"),
        attempts=0,
        max_attempts=settings.job_max_attempts,
        model_version_id=version.id,
    )
    session.add(job)
    session.flush()
    return job


def earliest_cutoff_date(version: ModelVersion, backtest: BacktestSpec) -> pd.Timestamp | None:
    """Without refit, folds may start only where the version's holdout starts."""
    return None if backtest.refit else pd.Timestamp(version.metrics["holdout"]["start"])


def get_job(session: Session, job_id: int) -> TrainingJob:
    job = session.get(TrainingJob, job_id)
    if job is None:
        raise JobNotFound(f"No training job with id {job_id}.")
    return job


def list_jobs(
    session: Session,
    *,
    status: str | None,
    kind: str | None,
    series_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[TrainingJob], int]:
    stmt = select(TrainingJob)
    if status:
        stmt = stmt.where(TrainingJob.status == status)
    if kind:
        stmt = stmt.where(TrainingJob.kind == kind)
    if series_id is not None:
        stmt = stmt.where(TrainingJob.series_id == series_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    page = stmt.order_by(TrainingJob.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(page)), total


def cancel_job(session: Session, job_id: int) -> TrainingJob:
    """A queued job is cancelled at once; a running one stops at its next epoch end."""
    job = get_job(session, job_id)
    if job.status in FINISHED:
        raise JobNotCancellable(f"Job {job_id} already {job.status}.")
    job.cancel_requested = True
    if job.status == "queued":
        job.status = "cancelled"
        job.finished_at = utcnow()
    session.flush()
    return job


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class Claim:
    """Outcome of trying to start a job: run it, retry later, or nothing to do."""

    kind: Literal["run", "busy", "skip"]
    retry_after_s: float = 0.0


def claim_job(db: Database, job_id: int, worker: str, lease_s: float) -> Claim:
    """Atomically move a job to ``running`` for this worker, if nobody else holds it."""
    now = utcnow()
    with db.session_scope() as session:
        claimed = session.execute(
            update(TrainingJob)
            .where(
                TrainingJob.id == job_id,
                TrainingJob.cancel_requested.is_(False),
                TrainingJob.attempts < TrainingJob.max_attempts,
                or_(
                    TrainingJob.status == "queued",
                    and_(TrainingJob.status == "running", TrainingJob.lease_expires_at < now),
                ),
            )
            .values(
                status="running",
                attempts=TrainingJob.attempts + 1,
                worker=worker,
                lease_expires_at=now + timedelta(seconds=lease_s),
                started_at=func.coalesce(TrainingJob.started_at, now),
                progress=None,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if claimed:
            return Claim("run")
        job = session.get(TrainingJob, job_id)
        if job is None or job.status in FINISHED:
            return Claim("skip")
        if job.status == "running" and job.lease_expires_at and job.lease_expires_at > now:
            return Claim("busy", (job.lease_expires_at - now).total_seconds() + 1)
        if job.status == "running":  # lease lapsed and no attempts left
            _fail_lost(job, "lease expired")
        return Claim("skip")


def renew_lease(db: Database, job_id: int, worker: str, lease_s: float) -> bool:
    """Extend our lease; False if the job is no longer ours (taken over or finished)."""
    with db.session_scope() as session:
        return bool(
            session.execute(
                update(TrainingJob)
                .where(
                    TrainingJob.id == job_id,
                    TrainingJob.worker == worker,
                    TrainingJob.status == "running",
                )
                .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
        )


def record_progress(db: Database, job_id: int, worker: str, progress: dict[str, Any]) -> bool:
    """Store per-epoch progress; returns False if the job should stop (cancel or takeover)."""
    with db.session_scope() as session:
        job = session.get(TrainingJob, job_id)
        if job is None or job.worker != worker or job.status != "running":
            return False
        job.progress = progress
        return not job.cancel_requested


def still_ours(db: Database, job_id: int, worker: str) -> bool:
    """False once the job was cancelled or taken over: the worker should stop."""
    with db.session_scope() as session:
        job = session.get(TrainingJob, job_id)
        return bool(
            job is not None
            and job.worker == worker
            and job.status == "running"
            and not job.cancel_requested
        )


def finish_job(
    db: Database,
    job_id: int,
    worker: str,
    status: Literal["succeeded", "failed", "cancelled"],
    *,
    error: str | None = None,
    version_id: int | None = None,
    backtest: dict[str, Any] | None = None,
) -> bool:
    """Final state, in one transaction with what the job produced: on success a train job's
    version becomes ``ready`` (and is promoted if the job asked for it and the rule holds),
    a backtest job's result row is written.

    Returns False (and changes nothing) when the job is no longer ours.
    """
    with db.session_scope() as session:
        done = session.execute(
            update(TrainingJob)
            .where(
                TrainingJob.id == job_id,
                TrainingJob.worker == worker,
                TrainingJob.status == "running",
            )
            .values(
                status=status,
                error=error,
                finished_at=utcnow(),
                lease_expires_at=None,
                **({"model_version_id": version_id} if version_id is not None else {}),
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if not done:
            return False
        if backtest is not None:  # before promotion: it is the evidence promotion looks at
            job = session.get(TrainingJob, job_id, populate_existing=True)
            assert job is not None
            if job.model_version_id is None:  # deleted while its backtest ran
                job.status = "failed"
                job.error = "the version was deleted while its backtest ran"
                return True
            session.add(Backtest(model_version_id=job.model_version_id, job_id=job_id, **backtest))
            session.flush()
        if version_id is not None:
            session.execute(
                update(ModelVersion)
                .where(ModelVersion.id == version_id)
                .values(status="ready")
                .execution_options(synchronize_session=False)
            )
            _promote_if_asked(session, job_id, version_id)
        return True


def _promote_if_asked(session: Session, job_id: int, version_id: int) -> None:
    job = session.get(TrainingJob, job_id, populate_existing=True)
    assert job is not None
    if not job.promotion:
        return
    version = session.get(ModelVersion, version_id, populate_existing=True)
    assert version is not None
    request = job.promotion
    rule = PromotionRule.model_validate(request["require"])
    try:
        _, checks = promote(session, version.model.name, request["alias"], version.version, rule)
        job.promotion = {**request, "promoted": True, "detail": None, "checks": checks}
    except PromotionRefused as exc:
        job.promotion = {
            **request,
            "promoted": False,
            "detail": exc.detail,
            "checks": exc.extra["checks"],
        }


# --------------------------------------------------------------------------- lost workers


def _fail_lost(job: TrainingJob, reason: str) -> None:
    job.status = "failed"
    job.error = f"worker lost ({reason}) after {job.attempts} attempt(s)"
    job.finished_at = utcnow()
    job.lease_expires_at = None


def release_lost_job(db: Database, job_id: int, worker: str | None, reason: str) -> bool:
    """The process running a job died: requeue it if attempts remain (True), else fail it."""
    with db.session_scope() as session:
        job = session.get(TrainingJob, job_id, with_for_update=True)
        if job is not None and job.status == "queued":
            return True  # the process died before claiming it: send it again
        if job is None or job.status != "running" or (worker and job.worker != worker):
            return False
        log.warning("job %s lost its worker %s: %s", job_id, job.worker, reason)
        if job.cancel_requested:
            job.status, job.finished_at, job.lease_expires_at = "cancelled", utcnow(), None
            return False
        if job.attempts >= job.max_attempts:
            _fail_lost(job, reason)
            return False
        job.status, job.worker, job.lease_expires_at = "queued", None, None
        job.enqueued_at = None
        return True


def hand_back_job(db: Database, job_id: int, worker: str) -> bool:
    """The service is shutting down and stopped the process running this job: queue it again
    with this attempt not counted (the next start runs it from the beginning). True if handed
    back; a job that was being cancelled is cancelled instead."""
    with db.session_scope() as session:
        job = session.get(TrainingJob, job_id, with_for_update=True)
        if job is None or job.status != "running" or job.worker != worker:
            return False
        if job.cancel_requested:
            job.status, job.finished_at, job.lease_expires_at = "cancelled", utcnow(), None
            return False
        job.status, job.worker, job.lease_expires_at = "queued", None, None
        job.attempts = max(0, job.attempts - 1)
        job.enqueued_at, job.progress = None, None
        if job.attempts == 0:
            job.started_at = None
        return True


def _local_process_gone(worker: str | None) -> bool:
    """True for a worker on this host whose process no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lost_jobs(db: Database) -> list[tuple[int, str | None, str]]:
    """Running jobs whose lease lapsed or whose local process is gone."""
    now = utcnow()
    with db.session_scope() as session:
        running = session.execute(
            select(TrainingJob.id, TrainingJob.worker, TrainingJob.lease_expires_at).where(
                TrainingJob.status == "running"
            )
        ).all()
    lost = []
    for job_id, worker, lease in running:
        if lease is not None and lease < now:
            lost.append((job_id, worker, "lease expired"))
        elif _local_process_gone(worker):
            lost.append((job_id, worker, "process gone"))
    return lost


def unsent_jobs(db: Database, older_than: datetime) -> list[int]:
    """Queued jobs never handed to a queue (the send failed or the process stopped first)."""
    with db.session_scope() as session:
        return list(
            session.scalars(
                select(TrainingJob.id).where(
                    TrainingJob.status == "queued",
                    TrainingJob.enqueued_at.is_(None),
                    TrainingJob.created_at < older_than,
                )
            )
        )


def queued_jobs(db: Database) -> list[int]:
    with db.session_scope() as session:
        stmt = select(TrainingJob.id).where(TrainingJob.status == "queued").order_by(TrainingJob.id)
        return list(session.scalars(stmt))


def mark_enqueued(db: Database, job_id: int) -> None:
    with db.session_scope() as session:
        session.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id)
            .values(enqueued_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def orphan_pending_versions(db: Database, older_than: datetime) -> list[ModelVersion]:
    """Pending versions whose job is no longer running: their files never became a version."""
    with db.session_scope() as session:
        stmt = (
            select(ModelVersion)
            .outerjoin(TrainingJob, TrainingJob.id == ModelVersion.job_id)
            .where(
                ModelVersion.status == "pending",
                ModelVersion.created_at < older_than,
                or_(TrainingJob.id.is_(None), TrainingJob.status != "running"),
            )
        )
        return list(session.scalars(stmt))
