"""Every job-state transition, on the service level: a session in a rolled-back transaction on
each database, no server, no worker process (the end-to-end tests run those)."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.db.orm import Backtest, TrainingBatch, TrainingJob
from app.db.types import utcnow
from app.errors import JobNotCancellable
from app.ml.progress import EpochProgress
from app.ml.results import BacktestResult
from app.ml.spec import BacktestSpec, TrainingSpec
from app.training.jobs import lifecycle
from app.training.jobs.lifecycle import Outcome
from app.vocabulary import BatchStatus, JobKind, JobStatus, VersionStatus
from tests import factories
from tests.factories import WORKER

LEASE_S = 30.0
OTHER = "host-b:202"


def reread(session: Session, job: TrainingJob) -> TrainingJob:
    found = session.get(TrainingJob, job.id, populate_existing=True)
    assert found is not None
    return found


def running(session: Session, **fields: object) -> TrainingJob:
    """A job claimed by WORKER."""
    job = factories.job(session, **fields)
    assert lifecycle.claim(session, job.id, WORKER, LEASE_S).kind == "run"
    return reread(session, job)


def lapse_lease(session: Session, job: TrainingJob) -> None:
    session.execute(
        update(TrainingJob)
        .where(TrainingJob.id == job.id)
        .values(lease_expires_at=utcnow() - timedelta(seconds=1))
    )


# ------------------------------------------------------------------------------ create


def test_a_new_job_is_queued_and_unstarted(session: Session) -> None:
    job = lifecycle.create_job(
        session,
        kind=JobKind.TRAIN,
        model_name="m",
        target="close",
        spec=TrainingSpec(),
        max_attempts=3,
        series_id=None,
        trigger="rule fired",
    )
    job = reread(session, job)
    assert (job.status, job.attempts, job.max_attempts) == (JobStatus.QUEUED, 0, 3)
    assert (job.started_at, job.worker, job.trigger) == (None, None, "rule fired")


# ------------------------------------------------------------------------------ claim


def test_claim_moves_a_queued_job_to_running_for_this_worker(session: Session) -> None:
    job = factories.job(session)
    before = utcnow()
    assert lifecycle.claim(session, job.id, WORKER, LEASE_S) == lifecycle.Claim("run")
    job = reread(session, job)
    assert (job.status, job.worker, job.attempts) == (JobStatus.RUNNING, WORKER, 1)
    assert job.started_at is not None
    assert job.started_at >= before
    assert job.lease_expires_at is not None
    assert job.lease_expires_at >= before + timedelta(seconds=LEASE_S - 1)


def test_a_job_held_by_a_live_lease_is_busy_for_others(session: Session) -> None:
    job = running(session)
    claim = lifecycle.claim(session, job.id, OTHER, LEASE_S)
    assert claim.kind == "busy"
    assert LEASE_S - 1 <= claim.retry_after_s <= LEASE_S + 1
    assert reread(session, job).worker == WORKER


def test_a_lapsed_lease_is_claimed_again_as_the_next_attempt(session: Session) -> None:
    job = running(session)
    first_start = job.started_at
    lapse_lease(session, job)
    assert lifecycle.claim(session, job.id, OTHER, LEASE_S).kind == "run"
    job = reread(session, job)
    assert (job.worker, job.attempts, job.started_at) == (OTHER, 2, first_start)


def test_a_lapsed_lease_without_attempts_left_fails_the_job(session: Session) -> None:
    job = running(session, max_attempts=1)
    lapse_lease(session, job)
    assert lifecycle.claim(session, job.id, OTHER, LEASE_S).kind == "skip"
    job = reread(session, job)
    assert job.status == JobStatus.FAILED
    assert job.error == "worker lost (lease expired) after 1 attempt(s)"


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_finished_jobs_are_skipped(session: Session, status: JobStatus) -> None:
    job = factories.job(session, status=status)
    assert lifecycle.claim(session, job.id, WORKER, LEASE_S).kind == "skip"
    assert reread(session, job).status == status


def test_a_missing_job_is_skipped(session: Session) -> None:
    assert lifecycle.claim(session, 987_654, WORKER, LEASE_S).kind == "skip"


# ------------------------------------------------------------------------------ while running


def test_only_the_holder_renews_the_lease(session: Session) -> None:
    job = running(session)
    lapse_lease(session, job)
    assert not lifecycle.renew_lease(session, job.id, OTHER, LEASE_S)
    assert lifecycle.renew_lease(session, job.id, WORKER, LEASE_S)
    lease = reread(session, job).lease_expires_at
    assert lease is not None
    assert lease > utcnow()


def test_progress_is_stored_until_a_cancel_is_asked(session: Session) -> None:
    job = running(session)
    progress = EpochProgress(epoch=1, epochs=5, loss=0.5, val_loss=None, elapsed_s=1, eta_s=4)
    assert lifecycle.record_progress(session, job.id, WORKER, progress)
    assert reread(session, job).progress == progress
    assert lifecycle.still_ours(session, job.id, WORKER)
    assert not lifecycle.record_progress(session, job.id, OTHER, progress)
    lifecycle.cancel(session, reread(session, job))
    assert not lifecycle.record_progress(session, job.id, WORKER, progress)
    assert not lifecycle.still_ours(session, job.id, WORKER)


# ------------------------------------------------------------------------------ finish


def test_success_makes_the_version_ready_in_the_same_transaction(session: Session) -> None:
    job = running(session)
    pending = factories.version(session, status=VersionStatus.PENDING, job_id=job.id)
    outcome = Outcome(JobStatus.SUCCEEDED, version_id=pending.id)
    assert lifecycle.finish(session, job.id, WORKER, outcome)
    job = reread(session, job)
    assert (job.status, job.model_version_id, job.lease_expires_at) == (
        JobStatus.SUCCEEDED,
        pending.id,
        None,
    )
    assert job.finished_at is not None
    session.refresh(pending)
    assert pending.status == VersionStatus.READY


def test_a_failure_records_its_reason(session: Session) -> None:
    job = running(session)
    assert lifecycle.finish(session, job.id, WORKER, Outcome(JobStatus.FAILED, "boom"))
    job = reread(session, job)
    assert (job.status, job.error) == (JobStatus.FAILED, "boom")


def test_a_job_taken_over_cannot_be_finished_by_its_old_worker(session: Session) -> None:
    job = running(session)
    lapse_lease(session, job)
    lifecycle.claim(session, job.id, OTHER, LEASE_S)
    assert not lifecycle.finish(session, job.id, WORKER, Outcome(JobStatus.SUCCEEDED))
    assert reread(session, job).status == JobStatus.RUNNING


def _result() -> BacktestResult:
    return BacktestResult(
        windows=1, step=1, horizon=1, refit=True, season_length=1, cancelled=False, folds=[],
        aggregate=None, forecasts=None,
    )  # fmt: skip


def test_a_backtest_result_is_stored_with_its_version(session: Session) -> None:
    tested = factories.version(session)
    job = running(session, kind=JobKind.BACKTEST, model_version_id=tested.id)
    outcome = Outcome(JobStatus.SUCCEEDED, backtest=(BacktestSpec(windows=1), _result()))
    assert lifecycle.finish(session, job.id, WORKER, outcome)
    stored = session.query(Backtest).filter_by(job_id=job.id).one()
    assert (stored.model_version_id, stored.spec.windows, stored.result) == (
        tested.id,
        1,
        _result(),
    )


def test_a_backtest_of_a_deleted_version_fails(session: Session) -> None:
    job = running(session, kind=JobKind.BACKTEST, model_version_id=None)
    outcome = Outcome(JobStatus.SUCCEEDED, backtest=(BacktestSpec(), _result()))
    assert lifecycle.finish(session, job.id, WORKER, outcome)
    job = reread(session, job)
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        "the version was deleted while its backtest ran",
    )
    assert session.query(Backtest).filter_by(job_id=job.id).count() == 0


def test_promotion_asked_by_the_job_moves_the_alias_when_the_rule_holds(session: Session) -> None:
    job = running(session, promotion=factories.promotion())
    better = factories.version(
        session, model_rmse=0.9, naive_rmse=1.0, status=VersionStatus.PENDING
    )
    assert lifecycle.finish(
        session, job.id, WORKER, Outcome(JobStatus.SUCCEEDED, version_id=better.id)
    )
    outcome = reread(session, job).promotion
    assert outcome is not None
    assert outcome.promoted is True
    assert [(c.check, c.holds) for c in outcome.checks] == [("beats_naive", True)]
    assert {a.alias: a.version_id for a in better.model.aliases} == {"champion": better.id}


def test_promotion_refused_by_the_rule_keeps_the_alias_and_says_why(session: Session) -> None:
    job = running(session, promotion=factories.promotion())
    worse = factories.version(session, model_rmse=1.1, naive_rmse=1.0, status=VersionStatus.PENDING)
    assert lifecycle.finish(
        session, job.id, WORKER, Outcome(JobStatus.SUCCEEDED, version_id=worse.id)
    )
    outcome = reread(session, job).promotion
    assert outcome is not None
    assert outcome.promoted is False
    assert outcome.detail is not None
    assert "does not pass the rule" in outcome.detail
    assert [(c.check, c.holds, c.candidate, c.naive) for c in outcome.checks] == [
        ("beats_naive", False, 1.1, 1.0)
    ]
    assert worse.model.aliases == []
    session.refresh(worse)
    assert worse.status == VersionStatus.READY  # the version is kept, only the alias stays


# ------------------------------------------------------------------------------ cancel


def test_a_queued_job_is_cancelled_at_once(session: Session) -> None:
    job = factories.job(session)
    lifecycle.cancel(session, job)
    job = reread(session, job)
    assert (job.status, job.cancel_requested) == (JobStatus.CANCELLED, True)
    assert job.finished_at is not None
    assert lifecycle.claim(session, job.id, WORKER, LEASE_S).kind == "skip"


def test_a_running_job_is_asked_to_stop(session: Session) -> None:
    job = running(session)
    lifecycle.cancel(session, job)
    job = reread(session, job)
    assert (job.status, job.cancel_requested) == (JobStatus.RUNNING, True)


def test_a_finished_job_cannot_be_cancelled(session: Session) -> None:
    job = factories.job(session, status=JobStatus.SUCCEEDED)
    with pytest.raises(JobNotCancellable, match="already succeeded"):
        lifecycle.cancel(session, job)


def new_batch(session: Session) -> TrainingBatch:
    return lifecycle.create_batch(
        session,
        collection_id=None,
        collection_name=None,
        target=None,
        spec=TrainingSpec(),
        model_prefix=None,
        scope="series",
    )


def test_a_batch_cancel_never_overwrites_what_finished(session: Session) -> None:
    batch = new_batch(session)
    queued, active, done = (factories.job(session, batch_id=batch.id) for _ in range(3))
    assert lifecycle.claim(session, active.id, WORKER, LEASE_S).kind == "run"
    assert lifecycle.claim(session, done.id, WORKER, LEASE_S).kind == "run"
    assert lifecycle.finish(session, done.id, WORKER, Outcome(JobStatus.SUCCEEDED))
    other_batch = factories.job(session)
    lifecycle.cancel_batch(session, batch.id)
    jobs = [reread(session, j) for j in (queued, active, done, other_batch)]
    states = [(j.status, j.cancel_requested) for j in jobs]
    assert states == [
        (JobStatus.CANCELLED, True),
        (JobStatus.RUNNING, True),  # stops at its next epoch
        (JobStatus.SUCCEEDED, False),
        (JobStatus.QUEUED, False),
    ]
    assert reread(session, queued).finished_at is not None


# ------------------------------------------------------------------------------ lost workers


def test_a_lost_job_is_queued_again_while_attempts_remain(session: Session) -> None:
    job = running(session)
    assert lifecycle.release_lost(session, job.id, WORKER, "exit code 1")
    job = reread(session, job)
    assert (job.status, job.worker, job.lease_expires_at, job.enqueued_at) == (
        JobStatus.QUEUED,
        None,
        None,
        None,
    )
    assert job.attempts == 1  # the lost run counts


def test_a_lost_job_without_attempts_left_fails(session: Session) -> None:
    job = running(session, max_attempts=1)
    assert not lifecycle.release_lost(session, job.id, WORKER, "killed by signal 9")
    job = reread(session, job)
    assert (job.status, job.error) == (
        JobStatus.FAILED,
        "worker lost (killed by signal 9) after 1 attempt(s)",
    )


def test_a_lost_job_that_was_being_cancelled_is_cancelled(session: Session) -> None:
    job = running(session)
    lifecycle.cancel(session, job)
    assert not lifecycle.release_lost(session, job.id, WORKER, "exit code 1")
    assert reread(session, job).status == JobStatus.CANCELLED


def test_release_ignores_jobs_of_other_workers_and_resends_unclaimed_ones(
    session: Session,
) -> None:
    job = running(session)
    assert not lifecycle.release_lost(session, job.id, OTHER, "exit code 1")
    assert reread(session, job).status == JobStatus.RUNNING
    queued = factories.job(session)
    assert lifecycle.release_lost(session, queued.id, WORKER, "exit code 1")


def test_hand_back_queues_the_job_without_counting_the_attempt(session: Session) -> None:
    job = running(session)
    progress = EpochProgress(epoch=1, epochs=5, loss=0.5, val_loss=None, elapsed_s=1, eta_s=4)
    lifecycle.record_progress(session, job.id, WORKER, progress)
    assert lifecycle.hand_back(session, job.id, WORKER)
    job = reread(session, job)
    assert (job.status, job.attempts, job.started_at, job.progress, job.worker) == (
        JobStatus.QUEUED,
        0,
        None,
        None,
        None,
    )


def test_hand_back_of_a_retried_job_keeps_its_first_start(session: Session) -> None:
    job = running(session)
    lapse_lease(session, job)
    lifecycle.claim(session, job.id, OTHER, LEASE_S)
    assert lifecycle.hand_back(session, job.id, OTHER)
    job = reread(session, job)
    assert (job.attempts, job.status) == (1, JobStatus.QUEUED)
    assert job.started_at is not None


def test_hand_back_of_a_job_being_cancelled_cancels_it(session: Session) -> None:
    job = running(session)
    lifecycle.cancel(session, job)
    assert not lifecycle.hand_back(session, job.id, WORKER)
    assert reread(session, job).status == JobStatus.CANCELLED


# ------------------------------------------------------------------------------ what to repair


def test_the_reconciler_finds_lapsed_leases_unsent_jobs_and_orphan_versions(
    session: Session,
) -> None:
    lapsed = running(session)
    lapse_lease(session, lapsed)
    healthy = running(session)
    assert (lapsed.id, WORKER, "lease expired") in lifecycle.lost_jobs(session)
    assert healthy.id not in {job_id for job_id, _, _ in lifecycle.lost_jobs(session)}

    unsent = factories.job(session, created_at=utcnow() - timedelta(minutes=1))
    sent = factories.job(session, created_at=utcnow() - timedelta(minutes=1))
    lifecycle.mark_enqueued(session, sent.id)
    cutoff = utcnow() - timedelta(seconds=5)
    assert unsent.id in lifecycle.unsent_jobs(session, cutoff)
    assert sent.id not in lifecycle.unsent_jobs(session, cutoff)
    assert {unsent.id, sent.id} <= set(lifecycle.queued_jobs(session))

    orphan = factories.version(session, status=VersionStatus.PENDING, job_id=None)
    in_progress = factories.version(session, status=VersionStatus.PENDING, job_id=healthy.id)
    later = utcnow() + timedelta(seconds=1)
    orphans = lifecycle.orphan_pending_versions(session, later)
    assert orphan.id in orphans
    assert in_progress.id not in orphans


# ------------------------------------------------------------------------------ batches


def batch_status(session: Session, batch: TrainingBatch) -> BatchStatus:
    found = session.get(TrainingBatch, batch.id, populate_existing=True)
    assert found is not None
    return found.status


def test_a_batch_is_queued_until_a_job_starts_and_done_when_none_is_active(
    session: Session,
) -> None:
    batch = new_batch(session)
    first, second = (factories.job(session, batch_id=batch.id) for _ in range(2))
    assert batch_status(session, batch) == BatchStatus.QUEUED
    assert lifecycle.claim(session, first.id, WORKER, LEASE_S).kind == "run"
    assert batch_status(session, batch) == BatchStatus.RUNNING
    assert lifecycle.finish(session, first.id, WORKER, Outcome(JobStatus.SUCCEEDED))
    assert batch_status(session, batch) == BatchStatus.RUNNING  # the second is still queued
    lifecycle.cancel(session, reread(session, second))
    assert batch_status(session, batch) == BatchStatus.DONE


def test_a_batch_whose_only_started_job_is_handed_back_is_queued_again(
    session: Session,
) -> None:
    batch = new_batch(session)
    job = running(session, batch_id=batch.id)
    assert batch_status(session, batch) == BatchStatus.RUNNING
    assert lifecycle.hand_back(session, job.id, WORKER)
    assert batch_status(session, batch) == BatchStatus.QUEUED  # as if it never started


def test_a_batch_of_lost_jobs_ends_when_the_last_one_fails(session: Session) -> None:
    batch = new_batch(session)
    job = running(session, batch_id=batch.id, max_attempts=1)
    assert not lifecycle.release_lost(session, job.id, WORKER, "exit code 1")
    assert reread(session, job).status == JobStatus.FAILED
    assert batch_status(session, batch) == BatchStatus.DONE


def test_a_cancelled_batch_is_done_once_its_running_job_stops(session: Session) -> None:
    batch = new_batch(session)
    job = running(session, batch_id=batch.id)
    factories.job(session, batch_id=batch.id)
    lifecycle.cancel_batch(session, batch.id)
    assert batch_status(session, batch) == BatchStatus.RUNNING
    assert session.get(TrainingBatch, batch.id).cancel_requested  # type: ignore[union-attr]
    assert lifecycle.finish(session, job.id, WORKER, Outcome(JobStatus.CANCELLED))
    assert batch_status(session, batch) == BatchStatus.DONE


def test_a_process_is_gone_only_where_its_ids_are_ours() -> None:
    """A worker on another PID namespace of the same host name (host networking, a pod) is
    never judged by this one's process table: only its lease says it is lost."""
    exited = subprocess.Popen([sys.executable, "-c", "pass"])
    exited.wait()
    here = lifecycle.worker_id().rpartition(":")[0]
    assert here.startswith(f"{socket.gethostname()}/pidns-")
    assert lifecycle._local_process_gone(f"{here}:{exited.pid}")
    assert not lifecycle._local_process_gone(lifecycle.worker_id())  # alive: this process
    elsewhere = f"{socket.gethostname()}/pidns-1:{exited.pid}"
    assert not lifecycle._local_process_gone(elsewhere)
    assert not lifecycle._local_process_gone(f"{socket.gethostname()}:{exited.pid}")
