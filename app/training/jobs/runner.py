"""Run one job in a worker process (an embedded-pool process or a Celery worker): claim it,
hold its lease, run the pipeline, record how it ended. Each state change is its own short
transaction (:mod:`app.training.jobs.lifecycle`).

TensorFlow is imported only by :func:`app.training.pipelines.runtime.preload_training_code`
(in an idle worker process, or in a Celery worker's parent before it forks children: importing
is fork-safe, running a TF op is not) or lazily by the job itself. The API process imports this
module but never TensorFlow.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection

from app.config import Settings
from app.db.orm import TrainingJob
from app.db.session import UNREACHABLE, Database, through_outages
from app.logs import configure_logging, job_logging
from app.ml.dataset import DatasetError
from app.ml.progress import EpochProgress
from app.registry.publishing import discard_version
from app.registry.store import make_store
from app.training.jobs import lifecycle
from app.training.jobs.lifecycle import Claim, Outcome
from app.training.pipelines.control import Cancelled, JobFailed, Produced
from app.training.pipelines.global_model import load_global_input, train_global_and_register
from app.training.pipelines.per_series import backtest_version, load_input, train_and_register
from app.training.pipelines.runtime import preload_training_code
from app.vocabulary import JobKind, JobStatus

log = logging.getLogger(__name__)
READY = "ready"  # what a job process sends once it can take jobs


class _LeaseKeeper(threading.Thread):
    """Renews the job's lease every third of its length until stopped."""

    def __init__(self, db: Database, job_id: int, worker: str, lease_s: float) -> None:
        super().__init__(name=f"lease-{job_id}", daemon=True)
        self.db, self.job_id, self.worker, self.lease_s = db, job_id, worker, lease_s
        self.stopped = threading.Event()

    def run(self) -> None:
        with job_logging(self.job_id):  # threads start with an empty context
            while not self.stopped.wait(self.lease_s / 3):
                try:
                    with self.db.session_scope() as session:
                        if not lifecycle.renew_lease(
                            session, self.job_id, self.worker, self.lease_s
                        ):
                            return
                except UNREACHABLE as exc:  # an outage: the next renewal retries
                    log.warning("lease renewal of job %s failed: database unreachable (%s)",
                                self.job_id, type(exc).__name__)  # fmt: skip
                except Exception:  # a blip must not kill the job; the next renewal retries
                    log.exception("lease renewal failed for job %s", self.job_id)


class _Control:
    """The pipeline's view of the job's row: progress goes in, cancellation comes out."""

    def __init__(self, db: Database, job_id: int, worker: str) -> None:
        self.db, self.job_id, self.worker = db, job_id, worker

    def on_epoch(self, progress: EpochProgress) -> bool:
        try:
            with self.db.session_scope() as session:
                return lifecycle.record_progress(session, self.job_id, self.worker, progress)
        except UNREACHABLE:  # keep training: the lease says whether the job is still ours
            log.warning("job %s: database unreachable; epoch %s not recorded",
                        self.job_id, progress.epoch)  # fmt: skip
            return True

    def still_ours(self) -> bool:
        try:
            with self.db.session_scope() as session:
                return lifecycle.still_ours(session, self.job_id, self.worker)
        except UNREACHABLE:
            return True


def run_job(job_id: int, settings: Settings) -> Claim:
    """Claim and run a job to a final state. Returns the claim (``busy``: try again later)."""
    db = Database(settings.database_url)
    worker = lifecycle.worker_id()
    try:
        with job_logging(job_id):  # every log record of this job carries its id
            with db.session_scope() as session:
                claim = lifecycle.claim(session, job_id, worker, settings.job_lease_s)
            if claim.kind != "run":
                return claim
            log.info("job %s: running on %s", job_id, worker)
            keeper = _LeaseKeeper(db, job_id, worker, settings.job_lease_s)
            keeper.start()
            try:
                outcome = _execute(db, settings, job_id, worker)
            finally:
                keeper.stopped.set()
            finished = through_outages(lambda: _finish(db, job_id, worker, outcome))
            if not finished:
                log.warning("job %s: taken over by another worker; result discarded", job_id)
                if outcome.version_id is not None:
                    discard_version(db, make_store(settings), outcome.version_id)
            log.info("job %s: %s %s", job_id, outcome.status, outcome.error or "")
            return claim
    finally:
        db.dispose()


def _finish(db: Database, job_id: int, worker: str, outcome: Outcome) -> bool:
    with db.session_scope() as session:
        return lifecycle.finish(session, job_id, worker, outcome)


def _execute(db: Database, settings: Settings, job_id: int, worker: str) -> Outcome:
    """Train (and register) or backtest; map every failure to one readable line (traceback to
    the log)."""
    store = make_store(settings)
    control = _Control(db, job_id, worker)
    global_job = None
    try:
        with db.session_scope() as session:
            row = session.get(TrainingJob, job_id)
            if row is not None and row.scope == "global":
                global_job = load_global_input(session, row)
            else:
                job = load_input(session, job_id)
        produced: Produced
        if global_job is not None:
            produced = train_global_and_register(db, store, settings, global_job, control)
        elif job.kind == JobKind.BACKTEST:
            produced = backtest_version(store, settings, job, control)
        else:
            produced = train_and_register(db, store, settings, job, control)
        return Outcome(
            JobStatus.SUCCEEDED, version_id=produced.version_id, backtest=produced.backtest
        )
    except Cancelled:
        return Outcome(JobStatus.CANCELLED)
    except (JobFailed, DatasetError) as exc:  # DatasetError: the data changed since it queued
        return Outcome(JobStatus.FAILED, str(exc))
    except Exception as exc:
        if type(exc).__name__ == "SoftTimeLimitExceeded":
            return Outcome(
                JobStatus.FAILED, f"time limit of {settings.job_time_limit_s} s exceeded"
            )
        log.exception("job %s failed", job_id)
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        return Outcome(JobStatus.FAILED, f"{type(exc).__name__}: {first_line}")


def job_process_main(conn: Connection, settings: Settings) -> None:
    """Entry point of an embedded-pool process (spawned, never forked): import the training
    code and say READY, then run the job ids it is sent one at a time, answering each with its
    id once the job is committed, until it has run ``settings.jobs_per_process`` jobs or is
    sent None (shut down); then exit."""
    configure_logging(settings)
    # Ctrl-C in a terminal reaches the whole process group: the API's shutdown decides what
    # happens to a running job (finish within the grace period, else handed back), not SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    preload_training_code()  # before any job, so none waits for the ~3-6 s import
    conn.send(READY)
    parent = multiprocessing.parent_process()
    for _ in range(settings.jobs_per_process):
        while not conn.poll(1.0):
            if parent is not None and not parent.is_alive():
                return  # the API went away
        try:
            job_id = conn.recv()
        except EOFError:
            return
        if job_id is None:
            break
        started = time.perf_counter()
        claim = run_job(job_id, settings)
        log.info("job %s: done (%s) in %.1f s", job_id, claim.kind, time.perf_counter() - started)
        conn.send(job_id)
    # Every job is committed; skip interpreter teardown (TensorFlow's takes ~1 s).
    logging.shutdown()
    os._exit(0)
