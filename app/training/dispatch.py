"""Hands committed jobs to the queue and repairs what crashes leave behind.

The reconciler runs in every API process, every ``reconcile_interval_s``:
- a running job whose worker is gone (lease lapsed, or its local process died) is requeued if
  attempts remain, else failed with "worker lost";
- a queued job that never reached the queue is sent (again);
- a pending version whose job is no longer running is marked failed and its files removed.
All three are idempotent, so several API processes may run them at once.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from app.config import Settings
from app.db.session import Database
from app.db.types import utcnow
from app.registry.service import discard_version
from app.registry.store import make_store
from app.training import service
from app.training.queue import JobQueue, make_queue

log = logging.getLogger(__name__)
_UNSENT_GRACE = timedelta(seconds=5)
_PENDING_GRACE = timedelta(minutes=1)


class Dispatcher:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.store = make_store(settings.model_dir)
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
        service.mark_enqueued(self.db, job_id)

    def _lost(self, job_id: int, worker: str | None, reason: str) -> None:
        if service.release_lost_job(self.db, job_id, worker, reason):
            self.submit(job_id)

    def reconcile(self) -> None:
        for job_id, worker, reason in service.lost_jobs(self.db):
            self._lost(job_id, worker, reason)
        for job_id in service.unsent_jobs(self.db, utcnow() - _UNSENT_GRACE):
            self.submit(job_id)
        for version in service.orphan_pending_versions(self.db, utcnow() - _PENDING_GRACE):
            discard_version(self.db, self.store, version.id)

    def _resume_queued(self) -> None:
        """An embedded queue lives in memory: after a restart, queued jobs must be resent."""
        for job_id in service.queued_jobs(self.db):
            self.submit(job_id)

    def _loop(self) -> None:
        resumed = bool(self.settings.broker_url)
        while True:
            try:
                if not resumed:
                    self._resume_queued()
                    resumed = True
                self.reconcile()
            except Exception:
                log.exception("reconciliation failed; retrying next round")
            if self._stop.wait(self.settings.reconcile_interval_s):
                return
