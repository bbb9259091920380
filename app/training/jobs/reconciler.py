"""Hands committed jobs to the queue and repairs what crashes leave behind.

The reconciler runs in every API process, every ``reconcile_interval_s``:
- a running job whose worker is gone (lease lapsed, or its local process died) is requeued if
  attempts remain, else failed with "worker lost";
- a queued job that never reached the queue is sent (again), and so is one sent more than six
  rounds ago while the broker holds no message at all (lost: a broker restarted without its
  data, or failed over); a message sent twice finds its job running or finished the second
  time, so it never runs twice;
- a pending version whose job is no longer running is marked failed and its files removed.
All three are idempotent, so several API processes may run them at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from app.config import Settings
from app.db.session import UNREACHABLE, Database
from app.db.types import utcnow
from app.registry.publishing import discard_version
from app.registry.store import make_store
from app.training.jobs import lifecycle
from app.training.jobs.queues import JobQueue, make_queue

log = logging.getLogger(__name__)
_UNSENT_GRACE = timedelta(seconds=5)
_PENDING_GRACE = timedelta(minutes=1)


class Dispatcher:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.store = make_store(settings)
        self.queue: JobQueue = make_queue(settings, db, self._lost)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reconciler", daemon=True)

    def start(self) -> None:
        self.queue.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.queue.stop()

    def submit(self, job_id: int) -> None:
        """Send a committed job to the queue (the reconciler resends it if this fails)."""
        try:
            self.queue.enqueue(job_id)
        except Exception:
            log.exception("could not enqueue job %s; the reconciler will retry", job_id)
            return
        with self.db.session_scope() as session:
            lifecycle.mark_enqueued(session, job_id)

    def _lost(self, job_id: int, worker: str | None, reason: str) -> None:
        with self.db.session_scope() as session:
            send_again = lifecycle.release_lost(session, job_id, worker, reason)
        if send_again:
            self.submit(job_id)

    def reconcile(self) -> None:
        with self.db.session_scope() as session:
            lost = lifecycle.lost_jobs(session)
        for job_id, worker, reason in lost:
            self._lost(job_id, worker, reason)
        with self.db.session_scope() as session:
            unsent = lifecycle.unsent_jobs(session, utcnow() - _UNSENT_GRACE)
        for job_id in unsent:
            self.submit(job_id)
        sent_before = utcnow() - timedelta(seconds=6 * self.settings.reconcile_interval_s)
        with self.db.session_scope() as session:
            stranded = lifecycle.stranded_jobs(session, sent_before)
        if stranded and self.queue.waiting() == 0:
            log.warning("jobs %s are queued but the broker holds no message: sent again",
                        stranded)  # fmt: skip
            for job_id in stranded:
                self.submit(job_id)
        with self.db.session_scope() as session:
            orphans = lifecycle.orphan_pending_versions(session, utcnow() - _PENDING_GRACE)
        problem = self.store.problem() if orphans else None
        if problem is not None:  # one short probe, not a delete per orphan that hangs
            log.warning("%d pending version(s) wait for the artifact store: %s",
                        len(orphans), problem)  # fmt: skip
            return
        for version_id in orphans:
            discard_version(self.db, self.store, version_id)

    def _loop(self) -> None:
        while True:
            try:
                self.reconcile()
            except UNREACHABLE as exc:  # an outage: one line a round, not a traceback
                log.warning("reconciliation skipped: database unreachable (%s)",
                            type(exc).__name__)  # fmt: skip
            except Exception:
                log.exception("reconciliation failed; retrying next round")
            if self._stop.wait(self.settings.reconcile_interval_s):
                return
