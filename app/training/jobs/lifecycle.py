"""The job and batch state machines, one function per transition, each on the caller's
session. Nothing else writes ``training_job.status`` or ``training_batch.status``.

A job: created ``queued`` (:func:`create_job`) → ``running`` (:func:`claim`) → ``succeeded`` |
``failed`` | ``cancelled`` (:func:`finish`, :func:`cancel`). A running job whose worker died goes
back to ``queued`` while attempts remain (:func:`release_lost`); on shutdown the embedded pool
hands its running jobs back (:func:`hand_back`, the attempt not counted). Every transition is a
conditional UPDATE or a row read under a lock, so API processes and any number of workers can
act on the same job at once: exactly one of them wins.

A batch (:func:`create_batch`) follows its jobs: ``queued`` until one starts, ``running`` while
any is queued or running, ``done`` once none is. Every job transition of a batch's job settles
the batch under its row lock (:func:`_settle_batch`), always after the job's own row, so that
two workers finishing a batch's last two jobs at once agree and never deadlock.

The caller's unit of work commits (a worker commits each transition on its own, see
:mod:`app.training.jobs.runner`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Required, TypedDict, Unpack

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.db.column_records import PromotionOutcome, SkippedSeries
from app.db.orm import Backtest, ModelVersion, TrainingBatch, TrainingJob
from app.db.types import utcnow
from app.errors import JobNotCancellable
from app.hosts import this_host
from app.ml.progress import EpochProgress
from app.ml.results import BacktestResult
from app.ml.spec import BacktestSpec, Scope, TrainingSpec
from app.registry import versions
from app.registry.promotion import promote_for_job
from app.vocabulary import ACTIVE, FINISHED, BatchStatus, JobKind, JobStatus, VersionStatus

log = logging.getLogger(__name__)

FinalStatus = Literal[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]


def worker_id() -> str:
    """This process as a job's ``worker``: ``host:pid`` (the host with its PID namespace)."""
    return f"{this_host()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    """Outcome of trying to start a job: run it, retry later, or nothing to do."""

    kind: Literal["run", "busy", "skip"]
    retry_after_s: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """How a run ended and what it produced: a train job's new (pending) version, or a backtest
    job's result."""

    status: FinalStatus
    error: str | None = None
    version_id: int | None = None
    backtest: tuple[BacktestSpec, BacktestResult] | None = None


def _held_by(job_id: int, worker: str) -> list[ColumnElement[bool]]:
    return [
        TrainingJob.id == job_id,
        TrainingJob.worker == worker,
        TrainingJob.status == JobStatus.RUNNING,
    ]


def _rows(result: object) -> int:
    count: int = result.rowcount  # type: ignore[attr-defined]
    return count


class NewJob(TypedDict, total=False):
    """The columns a new job is created with (the rest start empty)."""

    kind: Required[JobKind]
    model_name: Required[str]
    target: Required[str]
    spec: Required[TrainingSpec]
    max_attempts: Required[int]
    series_id: int | None
    scope: Scope
    member_ids: list[int]
    model_version_id: int
    promotion: PromotionOutcome | None
    batch_id: int | None
    trigger: str | None


class NewBatch(TypedDict):
    """The columns a new batch is created with."""

    collection_id: int | None
    collection_name: str | None
    target: str | None
    spec: TrainingSpec
    model_prefix: str | None
    scope: Scope


def create_job(session: Session, **columns: Unpack[NewJob]) -> TrainingJob:
    """A new job, ``queued``; the caller sends its id to a queue once it is committed."""
    job = TrainingJob(status=JobStatus.QUEUED, attempts=0, **columns)
    session.add(job)
    session.flush()
    return job


def create_batch(session: Session, **columns: Unpack[NewBatch]) -> TrainingBatch:
    """A new batch, ``queued``, with no job yet (:func:`create_job` adds them)."""
    batch = TrainingBatch(status=BatchStatus.QUEUED, skipped=[], **columns)
    session.add(batch)
    session.flush()
    return batch


def record_skipped(session: Session, batch: TrainingBatch, skipped: list[SkippedSeries]) -> None:
    """The series a batch could not give a job, with the reason."""
    batch.skipped = skipped
    session.flush()


def claim(session: Session, job_id: int, worker: str, lease_s: float) -> Claim:
    """``queued`` (or ``running`` with a lapsed lease) → ``running`` for this worker, counting
    an attempt. A job whose lease lapsed with no attempts left is failed instead."""
    now = utcnow()
    claimed = session.execute(
        update(TrainingJob)
        .where(
            TrainingJob.id == job_id,
            TrainingJob.cancel_requested.is_(False),
            TrainingJob.attempts < TrainingJob.max_attempts,
            or_(
                TrainingJob.status == JobStatus.QUEUED,
                and_(TrainingJob.status == JobStatus.RUNNING, TrainingJob.lease_expires_at < now),
            ),
        )
        .values(
            status=JobStatus.RUNNING,
            attempts=TrainingJob.attempts + 1,
            worker=worker,
            lease_expires_at=now + timedelta(seconds=lease_s),
            started_at=func.coalesce(TrainingJob.started_at, now),
            progress=None,
        )
        .returning(TrainingJob.batch_id)
        .execution_options(synchronize_session=False)
    ).first()
    if claimed is not None:
        _settle_batch(session, claimed.batch_id)
        return Claim("run")
    job = session.get(TrainingJob, job_id, populate_existing=True)
    if job is None or job.status in FINISHED:
        return Claim("skip")
    if job.status == JobStatus.RUNNING and job.lease_expires_at and job.lease_expires_at > now:
        return Claim("busy", (job.lease_expires_at - now).total_seconds() + 1)
    if job.status == JobStatus.RUNNING:  # lease lapsed and no attempts left
        _fail_lost(job, "lease expired")
        _settle_batch(session, job.batch_id)
    return Claim("skip")


def renew_lease(session: Session, job_id: int, worker: str, lease_s: float) -> bool:
    """Extend our lease; False if the job is no longer ours (taken over or finished)."""
    renewed = session.execute(
        update(TrainingJob)
        .where(*_held_by(job_id, worker))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_s))
        .execution_options(synchronize_session=False)
    )
    return bool(_rows(renewed))


def record_progress(session: Session, job_id: int, worker: str, progress: EpochProgress) -> bool:
    """Store per-epoch progress; False if the job should stop (cancelled or taken over)."""
    job = session.get(TrainingJob, job_id, populate_existing=True)
    if job is None or job.worker != worker or job.status != JobStatus.RUNNING:
        return False
    job.progress = progress
    session.flush()
    return not job.cancel_requested


def still_ours(session: Session, job_id: int, worker: str) -> bool:
    """False once the job was cancelled or taken over: the worker should stop."""
    job = session.get(TrainingJob, job_id, populate_existing=True)
    return bool(
        job is not None
        and job.worker == worker
        and job.status == JobStatus.RUNNING
        and not job.cancel_requested
    )


def finish(session: Session, job_id: int, worker: str, outcome: Outcome) -> bool:
    """``running`` → final, with what the run produced, in one transaction: on success a train
    job's version becomes ``ready`` (and is promoted if the job asked and the rule holds), a
    backtest job's result row is written. False (nothing changed) when the job is not ours."""
    done = session.execute(
        update(TrainingJob)
        .where(*_held_by(job_id, worker))
        .values(
            status=outcome.status,
            error=outcome.error,
            finished_at=utcnow(),
            lease_expires_at=None,
            **({"model_version_id": outcome.version_id} if outcome.version_id is not None else {}),
        )
        .execution_options(synchronize_session=False)
    )
    if not _rows(done):
        return False
    job = session.get(TrainingJob, job_id, populate_existing=True)
    assert job is not None
    _settle_batch(session, job.batch_id)
    if outcome.backtest is not None:  # before promotion: it is the evidence promotion reads
        if job.model_version_id is None:  # the version was deleted while its backtest ran
            job.status = JobStatus.FAILED
            job.error = "the version was deleted while its backtest ran"
            session.flush()
            return True
        spec, result = outcome.backtest
        session.add(
            Backtest(model_version_id=job.model_version_id, job_id=job_id, spec=spec, result=result)
        )
        session.flush()
    if outcome.version_id is not None:
        version = versions.mark_ready(session, outcome.version_id)
        if job.promotion is not None:
            job.promotion = promote_for_job(session, version, job.promotion)
    session.flush()
    return True


def cancel(session: Session, job: TrainingJob) -> None:
    """A queued job is cancelled at once; a running one is asked to stop (at its next epoch end
    or fold), and ends ``cancelled`` when it does."""
    if job.status in FINISHED:
        raise JobNotCancellable(f"Job {job.id} already {job.status}.")
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        _cancel(job)
    _settle_batch(session, job.batch_id)


def cancel_batch(session: Session, batch_id: int) -> None:
    """:func:`cancel` for every job of a batch at once, as conditional UPDATEs: a job that
    finishes or is claimed meanwhile is never overwritten (a claimed one stops at its next
    epoch, since it is asked to). A batch with nothing left to cancel stays as it is (not
    marked cancelled: every job of it finished on its own)."""
    asked = session.execute(
        update(TrainingJob)
        .where(TrainingJob.batch_id == batch_id, TrainingJob.status.in_(ACTIVE))
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    if not asked.rowcount:  # type: ignore[attr-defined]
        return
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.batch_id == batch_id, TrainingJob.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow(), lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    batch = _settle_batch(session, batch_id)
    if batch is not None:
        batch.cancel_requested = True
        session.flush()


def release_lost(session: Session, job_id: int, worker: str | None, reason: str) -> bool:
    """The process running a job died (or its lease lapsed): ``queued`` again while attempts
    remain (True: send it again), else ``failed``; ``cancelled`` if a cancel was asked. A job
    still ``queued`` (its process died before claiming it) only needs sending again (True)."""
    job = session.get(TrainingJob, job_id, with_for_update=True, populate_existing=True)
    if job is not None and job.status == JobStatus.QUEUED:
        return True
    if job is None or job.status != JobStatus.RUNNING or (worker and job.worker != worker):
        return False
    log.warning("job %s lost its worker %s: %s", job_id, job.worker, reason)
    requeued = False
    if job.cancel_requested:
        _cancel(job)
    elif job.attempts >= job.max_attempts:
        _fail_lost(job, reason)
    else:
        _requeue(job, count_attempt=True)
        requeued = True
    _settle_batch(session, job.batch_id)
    return requeued


def hand_back(session: Session, job_id: int, worker: str) -> bool:
    """The service is shutting down and stopped the process running this job: ``queued`` again
    with this attempt not counted, so the next start runs it from the beginning. True if handed
    back; a job that was being cancelled is cancelled instead."""
    job = session.get(TrainingJob, job_id, with_for_update=True, populate_existing=True)
    if job is None or job.status != JobStatus.RUNNING or job.worker != worker:
        return False
    handed_back = not job.cancel_requested
    if handed_back:
        _requeue(job, count_attempt=False)
    else:
        _cancel(job)
    _settle_batch(session, job.batch_id)
    return handed_back


def mark_enqueued(session: Session, job_id: int) -> None:
    """The job's id reached the queue (the reconciler resends queued jobs that never did)."""
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job_id)
        .values(enqueued_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _cancel(job: TrainingJob) -> None:
    job.status, job.finished_at, job.lease_expires_at = JobStatus.CANCELLED, utcnow(), None


def _fail_lost(job: TrainingJob, reason: str) -> None:
    job.status = JobStatus.FAILED
    job.error = f"worker lost ({reason}) after {job.attempts} attempt(s)"
    job.finished_at = utcnow()
    job.lease_expires_at = None


def _requeue(job: TrainingJob, *, count_attempt: bool) -> None:
    """Back to ``queued`` for another run; without ``count_attempt`` the run that just ended is
    not counted (a hand-back), and a job that never completed a counted run looks unstarted."""
    job.status, job.worker, job.lease_expires_at, job.enqueued_at = (
        JobStatus.QUEUED,
        None,
        None,
        None,
    )
    if not count_attempt:
        job.attempts = max(0, job.attempts - 1)
        job.progress = None
        if job.attempts == 0:
            job.started_at = None


def _settle_batch(session: Session, batch_id: int | None) -> TrainingBatch | None:
    """The batch's state from its jobs', read under the batch's row lock (taken after the
    job's: every transition locks in that order). Flushes."""
    session.flush()
    if batch_id is None:
        return None
    batch = session.get(TrainingBatch, batch_id, with_for_update=True, populate_existing=True)
    if batch is None:
        return None
    active, started = session.execute(
        select(
            func.count().filter(TrainingJob.status.in_(ACTIVE)),
            func.count(TrainingJob.started_at),
        ).where(TrainingJob.batch_id == batch_id)
    ).one()
    if not active:
        batch.status = BatchStatus.DONE
    else:
        batch.status = BatchStatus.RUNNING if started else BatchStatus.QUEUED
    session.flush()
    return batch


# --------------------------------------------------------------------------- what to repair


def _local_process_gone(worker: str | None) -> bool:
    """True for a worker whose process ids are this process' (same host, same PID namespace)
    and whose process no longer exists."""
    if not worker or ":" not in worker:
        return False
    host, _, pid = worker.rpartition(":")
    if host != this_host() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def lost_jobs(session: Session) -> list[tuple[int, str | None, str]]:
    """Running jobs whose lease lapsed or whose local process is gone: (id, worker, reason)."""
    now = utcnow()
    running = session.execute(
        select(TrainingJob.id, TrainingJob.worker, TrainingJob.lease_expires_at).where(
            TrainingJob.status == JobStatus.RUNNING
        )
    ).all()
    lost = []
    for job_id, worker, lease in running:
        if lease is not None and lease < now:
            lost.append((job_id, worker, "lease expired"))
        elif _local_process_gone(worker):
            lost.append((job_id, worker, "process gone"))
    return lost


def unsent_jobs(session: Session, older_than: datetime) -> list[int]:
    """Queued jobs never handed to a queue (the send failed or the process stopped first)."""
    stmt = select(TrainingJob.id).where(
        TrainingJob.status == JobStatus.QUEUED,
        TrainingJob.enqueued_at.is_(None),
        TrainingJob.created_at < older_than,
    )
    return list(session.scalars(stmt))


def stranded_jobs(session: Session, sent_before: datetime) -> list[int]:
    """Queued jobs sent to the queue before ``sent_before``: while the broker still holds
    messages they are waiting their turn; once it holds none, their messages were lost."""
    stmt = select(TrainingJob.id).where(
        TrainingJob.status == JobStatus.QUEUED,
        TrainingJob.enqueued_at < sent_before,
    )
    return list(session.scalars(stmt.order_by(TrainingJob.id)))


def queued_jobs(session: Session) -> list[int]:
    stmt = select(TrainingJob.id).where(TrainingJob.status == JobStatus.QUEUED)
    return list(session.scalars(stmt.order_by(TrainingJob.id)))


def orphan_pending_versions(session: Session, older_than: datetime) -> list[int]:
    """Pending versions whose job is no longer running: their files never became a version."""
    stmt = (
        select(ModelVersion.id)
        .outerjoin(TrainingJob, TrainingJob.id == ModelVersion.job_id)
        .where(
            ModelVersion.status == VersionStatus.PENDING,
            ModelVersion.created_at < older_than,
            or_(TrainingJob.id.is_(None), TrainingJob.status != JobStatus.RUNNING),
        )
    )
    return list(session.scalars(stmt))
