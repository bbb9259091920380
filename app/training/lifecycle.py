"""The job state machine, one function per transition, each on the caller's session.

``queued → running → succeeded | failed | cancelled``. A running job whose worker died goes back
to ``queued`` while attempts remain (``release_lost``); on shutdown the embedded pool hands its
running jobs back (``hand_back``, the attempt not counted). Every transition is a conditional
UPDATE or a row read under a lock, so API processes and any number of workers can act on the same
job at once: exactly one of them wins. The caller's unit of work commits (a worker commits each
transition on its own, see :mod:`app.training.runner`).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.db.orm import Backtest, ModelVersion, TrainingJob
from app.db.types import utcnow
from app.errors import JobNotCancellable
from app.ml.progress import EpochProgress
from app.ml.records import BacktestResult
from app.ml.spec import BacktestSpec
from app.registry.promotion import promote_for_job
from app.vocabulary import FINISHED, JobStatus, VersionStatus

log = logging.getLogger(__name__)

FinalStatus = Literal[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]


def worker_id() -> str:
    """This process as a job's ``worker``: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


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
        .execution_options(synchronize_session=False)
    )
    if _rows(claimed):
        return Claim("run")
    job = session.get(TrainingJob, job_id, populate_existing=True)
    if job is None or job.status in FINISHED:
        return Claim("skip")
    if job.status == JobStatus.RUNNING and job.lease_expires_at and job.lease_expires_at > now:
        return Claim("busy", (job.lease_expires_at - now).total_seconds() + 1)
    if job.status == JobStatus.RUNNING:  # lease lapsed and no attempts left
        _fail_lost(job, "lease expired")
        session.flush()
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
        version = session.get(ModelVersion, outcome.version_id, populate_existing=True)
        assert version is not None
        version.status = VersionStatus.READY
        session.flush()
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
    session.flush()


def cancel_batch(session: Session, batch_id: int) -> None:
    """:func:`cancel` for every job of a batch at once, as conditional UPDATEs: a job that
    finishes or is claimed meanwhile is never overwritten (a claimed one stops at its next
    epoch, since it is asked to)."""
    active = (JobStatus.QUEUED, JobStatus.RUNNING)
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.batch_id == batch_id, TrainingJob.status.in_(active))
        .values(cancel_requested=True)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.batch_id == batch_id, TrainingJob.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, finished_at=utcnow(), lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


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
    session.flush()
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
    session.flush()
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


# --------------------------------------------------------------------------- what to repair


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
