"""The embedded job pool: job processes spawned by the API (never forked), one pool per host
and database whatever the number of server processes."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path

from filelock import FileLock, Timeout

from app.config import Settings
from app.db.session import UNREACHABLE, Database
from app.training.jobs import lifecycle
from app.training.jobs.lifecycle import Outcome
from app.training.jobs.runner import READY, job_process_main
from app.vocabulary import JobStatus

log = logging.getLogger(__name__)
# How often the process running the pool looks for queued jobs in the database (those sent to
# another server process, or waiting since before a restart), and how often the others check
# whether it is still there.
_POLL_S = 0.5
_FOLLOW_S = 1.0
# Called with (job_id, worker, reason) when a job's process died without finishing it.
LostHandler = Callable[[int, str, str], None]


def training_unavailable() -> str | None:
    """Why this environment cannot train (the ``train`` extra is missing, as in the API's
    Docker image), or None. Looks the modules up without importing them."""
    for module in ("tensorflow", "keras", "tf2onnx"):
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        if found is None:
            return f"{module} is not installed (the train extra)"
    return None


@dataclass
class _JobProcess:
    """A spawned job process (:func:`job_process_main`). It says ``READY`` once it has imported
    the training code, then runs the job ids it is sent one at a time, answering each with its
    id when the job is committed, up to ``settings.jobs_per_process`` of them."""

    process: BaseProcess
    conn: Connection
    ready: bool = False
    jobs_run: int = 0

    def message(self) -> object | None:
        """The next message if one has arrived (None if not, or if the process is gone)."""
        try:
            if self.conn.poll():
                received: object = self.conn.recv()
                return received
        except (EOFError, OSError):
            pass
        return None

    def close(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()


@dataclass
class _Running:
    job_id: int
    worker: _JobProcess
    started: float


class EmbeddedQueue:
    """Jobs run in processes spawned by the API (never forked), ``settings.workers`` at a time.

    A job process runs one job at a time, so a crash or ``kill -9`` is seen at once from its
    exit code and affects that job only (requeued while attempts remain, else failed); a job
    over the time limit is killed. A process runs up to ``settings.jobs_per_process`` jobs, then
    exits and is replaced (memory stays bounded). A spare is started only when a slot is free
    and no process is idle, or when a running process is on its last job, so a job starts
    without waiting for the TensorFlow import and no import runs for nothing.

    One pool per host and database, however many server processes there are: the process
    holding a file lock in ``model_dir`` runs it, the others only record jobs as queued (it
    takes them from the database), and one of them takes over within a second when it exits.
    """

    def __init__(self, settings: Settings, db: Database, on_lost: LostHandler) -> None:
        self.settings = settings
        self.db = db
        self.on_lost = on_lost
        self._pending: queue.Queue[int] = queue.Queue()
        self._running: dict[int, _Running] = {}
        # Ids sent again while an earlier run of the same job was still going (its lease lapsed):
        # dispatched once that run is over.
        self._resent: set[int] = set()
        self._idle: list[_JobProcess] = []
        self._idle_deaths = 0  # in a row: a process that cannot even start is not respawned at once
        self._spawn_after = 0.0
        self.unavailable: str | None = None
        self._stop = threading.Event()
        self._context = multiprocessing.get_context("spawn")
        self._thread = threading.Thread(target=self._loop, name="embedded-jobs", daemon=True)
        self._pool_lock = FileLock(pool_lock_path(settings), thread_local=False)
        self._lock_error_logged = False
        self.leading = False
        self._next_poll = 0.0
        self._database_down = False

    def start(self) -> None:
        self.unavailable = training_unavailable()
        if self.unavailable is not None:  # jobs stay queued for a process that can run them
            log.error(
                "this process cannot train: %s; install it, or set FORECAST_BROKER_URL to send "
                "jobs to Celery workers",
                self.unavailable,
            )
            return
        self._thread.start()

    def waiting(self) -> int | None:
        return None  # no broker: the pool's own queue is never lost while the API runs

    def enqueue(self, job_id: int) -> None:
        if self.leading:  # else the leading process finds it in the database
            self._pending.put(job_id)

    def stop(self) -> None:
        """Stop dispatching. Running jobs get ``shutdown_grace_s`` to finish; a job still
        running then (or whose process died meanwhile, e.g. from the same SIGTERM) is stopped
        and handed back: ``queued`` again with its attempt not counted, so the next start runs
        it. Never left ``running``; jobs waiting in memory are queued in the database already."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for idle in self._idle:  # nothing to lose
            idle.close()
        running = list(self._running.values())
        for run in running:  # read between jobs: exit once the running one is done
            try:
                run.worker.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + self.settings.shutdown_grace_s
        for run in running:
            run.worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for run in running:
            finished = run.worker.message() == run.job_id
            run.worker.close()
            if not finished:
                self._hand_back(run)
        if self.leading:
            self._pool_lock.release()

    def _hand_back(self, run: _Running) -> None:
        try:
            with self.db.session_scope() as session:
                handed_back = lifecycle.hand_back(
                    session, run.job_id, _worker_of(run.worker.process)
                )
            if handed_back:
                log.info("job %s handed back: it runs again when the service starts", run.job_id)
        except Exception:  # the reconciler of the next start treats it as lost instead
            log.exception("could not hand back job %s", run.job_id)

    def _lead(self) -> bool:
        """Whether this process runs the pool (taking it over when its runner is gone)."""
        if not self.leading:
            try:
                Path(self._pool_lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
                self._pool_lock.acquire(timeout=0)
            except Timeout:
                return False
            except OSError as exc:  # /readyz names the unwritable directory
                if not self._lock_error_logged:
                    log.error("no job runs until the embedded pool's lock can be taken: %s", exc)
                self._lock_error_logged = True
                return False
            self.leading = True
            log.info("this server process (pid %d) runs the embedded job pool", os.getpid())
        return True

    def _take_queued(self) -> None:
        """Queue the jobs the database holds as queued, when all sent here are dispatched and
        a slot is free."""
        if (
            time.monotonic() < self._next_poll
            or not self._pending.empty()
            or len(self._running) >= self.settings.workers
        ):
            return
        self._next_poll = time.monotonic() + _POLL_S
        try:
            with self.db.session_scope() as session:
                queued = lifecycle.queued_jobs(session)
        except UNREACHABLE as exc:  # an outage: one line, not one per poll
            if not self._database_down:
                log.warning("queued jobs not read: database unreachable (%s)",
                            type(exc).__name__)  # fmt: skip
            self._database_down = True
            return
        self._database_down = False
        for job_id in queued:
            if job_id not in self._running:
                self._pending.put(job_id)

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._lead():
                self._stop.wait(_FOLLOW_S)
                continue
            try:
                self._take_queued()
                self._reap()
                self._keep_idle_processes()
                if self._ready() and len(self._running) < self.settings.workers:
                    job_id = self._pending.get(timeout=0.05)
                    if job_id in self._running:
                        self._resent.add(job_id)
                    else:
                        self._dispatch(job_id)
                else:
                    time.sleep(0.05)
            except queue.Empty:
                continue
            except Exception:
                log.exception("embedded job dispatcher error")

    def _ready(self) -> list[_JobProcess]:
        return [p for p in self._idle if p.ready]

    def _keep_idle_processes(self) -> None:
        """Mark idle processes that finished importing as ready, replace those that died (with
        backoff), keep no more idle than the free slots need (each holds TensorFlow, ~400 MB),
        and start a spare when one will be needed."""
        for idle in list(self._idle):
            if not idle.ready and idle.message() == READY:
                idle.ready = True
            if not idle.process.is_alive():
                idle.close()
                self._idle.remove(idle)
                self._idle_deaths += 1
                delay = min(30.0, 0.5 * 2**self._idle_deaths)
                self._spawn_after = time.monotonic() + delay
                log.warning(
                    "an idle job process exited (code %s); starting another in %.1f s",
                    idle.process.exitcode,
                    delay,
                )
        while len(self._idle) > max(1, self.settings.workers - len(self._running)):
            most_used = max(self._idle, key=lambda p: p.jobs_run)  # it holds the most memory
            self._idle.remove(most_used)
            most_used.close()
        last_jobs = any(
            r.worker.jobs_run >= self.settings.jobs_per_process for r in self._running.values()
        )
        needed = len(self._running) < self.settings.workers or last_jobs
        if not self._idle and needed and time.monotonic() >= self._spawn_after:
            self._idle.append(self._start_process())

    def _start_process(self) -> _JobProcess:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=job_process_main,
            args=(theirs, self.settings),
            name="job-worker",
        )
        process.start()
        theirs.close()
        return _JobProcess(process, ours)

    def _dispatch(self, job_id: int) -> None:
        # The most used ready process: its TensorFlow runtime is warm, and the others stay
        # fresh for later.
        worker = max(self._ready(), key=lambda p: p.jobs_run)
        self._idle.remove(worker)
        try:
            worker.conn.send(job_id)
        except OSError:  # it died between the check and the send
            worker.close()
            self._pending.put(job_id)
            return
        worker.jobs_run += 1
        self._running[job_id] = _Running(job_id, worker, time.monotonic())

    def _reap(self) -> None:
        for job_id, run in list(self._running.items()):
            worker = run.worker
            if worker.message() == job_id:  # done and committed
                self._over(job_id)
                self._idle_deaths = 0
                if worker.jobs_run < self.settings.jobs_per_process:
                    self._idle.append(worker)
                else:  # it exits by itself after its last job
                    worker.process.join(timeout=1)
                    worker.close()
            elif not worker.process.is_alive():
                self._over(job_id)
                code = worker.process.exitcode
                worker.close()
                reason = f"killed by signal {-code}" if code and code < 0 else f"exit code {code}"
                self.on_lost(job_id, _worker_of(worker.process), reason)
            elif time.monotonic() - run.started > self.settings.job_time_limit_s:
                self._over(job_id)
                worker.close()
                try:
                    self._time_limit(job_id, run)
                except Exception:  # its lease lapses; the reconciler retries or fails it
                    log.exception("could not fail job %s after its time limit", job_id)

    def _over(self, job_id: int) -> None:
        """The run of ``job_id`` ended; if the job was sent again meanwhile, dispatch it now
        (its claim decides whether there is anything left to run)."""
        del self._running[job_id]
        if job_id in self._resent:
            self._resent.discard(job_id)
            self._pending.put(job_id)

    def _time_limit(self, job_id: int, run: _Running) -> None:
        error = f"time limit of {self.settings.job_time_limit_s} s exceeded"
        with self.db.session_scope() as session:
            lifecycle.finish(
                session, job_id, _worker_of(run.worker.process), Outcome(JobStatus.FAILED, error)
            )


def pool_lock_path(settings: Settings) -> Path:
    """The lock the server processes of one host and database share for the embedded pool."""
    digest = hashlib.sha256(settings.database_url.encode()).hexdigest()[:16]
    return settings.model_dir / f".embedded-pool-{digest}.lock"


def _worker_of(process: BaseProcess) -> str:
    """The worker id the job process recorded when it claimed the job (host:pid)."""
    return f"{lifecycle.worker_id().rpartition(':')[0]}:{process.pid}"
