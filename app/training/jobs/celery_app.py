"""Celery application for distributed training: ``celery -A app.training.jobs.celery_app worker``.

The queue carries only job ids; the database says what to train and records what happened.
Settings (measured, see docs/architecture.md): acks late + reject on worker lost, so a killed
worker's job is redelivered; prefetch 1; up to ``FORECAST_JOBS_PER_PROCESS`` tasks per child
process, as in the embedded pool (a job whose networks have its predecessor's graph skips
TensorFlow's trace; a fresh child bounds memory); soft/hard time limits per job; a visibility
timeout longer than any allowed job, so Redis never redelivers a job that is still running.

On SIGTERM a worker shuts down warm: it takes no new job and exits when the running one is
finished (nothing here traps the signal). If it is killed first (a second SIGTERM, SIGKILL
after the orchestrator's stop timeout), the job's lease lapses and the API's reconciler
requeues it (one attempt spent); the unacknowledged message is also redelivered later, and
finds the job running or finished, so it never runs twice at once.
"""

from __future__ import annotations

import logging

from celery import Celery, Task
from celery.signals import setup_logging, worker_init

from app.config import Settings
from app.logs import configure_logging

TRAIN_TASK = "forecast.train"
log = logging.getLogger(__name__)


def make_celery(settings: Settings) -> Celery:
    app = Celery("forecast", broker=settings.broker_url or "redis://127.0.0.1:6379/0")
    hard_limit = settings.job_time_limit_s + 60
    app.conf.update(
        task_default_queue=settings.queue,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_max_tasks_per_child=settings.jobs_per_process,
        worker_concurrency=1,
        task_soft_time_limit=settings.job_time_limit_s,
        task_time_limit=hard_limit,
        broker_transport_options={"visibility_timeout": 2 * hard_limit},
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


settings = Settings()
celery = make_celery(settings)


@setup_logging.connect
def _configure_logging(**_: object) -> None:
    """Our format (FORECAST_LOG_FORMAT/LEVEL) instead of Celery's; connecting to this signal
    also keeps Celery from reconfiguring logging or redirecting stdout."""
    configure_logging(settings)


@worker_init.connect
def _preload_training_code(**_: object) -> None:
    """Import TensorFlow once in the worker's parent so each forked child starts warm.

    Importing is fork-safe; running a TF op in the parent is not, and nothing here does.
    """
    from app.registry.store import make_store
    from app.training.pipelines.runtime import preload_training_code

    # Bundles go where the API looks only if both have the same FORECAST_ARTIFACT_STORE: said
    # once at start, where a mismatch is found when forecasts answer 503 bundle-corrupt.
    log.info(
        "worker for queue %s stores bundles in %s", settings.queue, make_store(settings).location
    )
    preload_training_code()


@celery.task(name=TRAIN_TASK, bind=True, max_retries=None)
def train(self: Task, job_id: int) -> None:
    """Run a job; if another worker still holds its lease, try again once the lease lapses."""
    from app.training.jobs.runner import run_job

    claim = run_job(job_id, settings)
    if claim.kind == "busy":
        raise self.retry(countdown=claim.retry_after_s)
