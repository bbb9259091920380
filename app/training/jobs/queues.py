"""Where job ids go after the job row is committed: the embedded pool, or Celery workers on any
machine (``FORECAST_BROKER_URL``)."""

from __future__ import annotations

from typing import Protocol

from app.config import Settings
from app.db.session import Database
from app.training.jobs.embedded_pool import EmbeddedQueue, LostHandler


class JobQueue(Protocol):
    # Why this process cannot run jobs (None: it can, or they run elsewhere).
    unavailable: str | None

    def start(self) -> None: ...
    def enqueue(self, job_id: int) -> None: ...
    def waiting(self) -> int | None:
        """Messages the broker holds for workers to take (None: unknown, or no broker)."""
        ...

    def stop(self) -> None: ...


def make_queue(settings: Settings, db: Database, on_lost: LostHandler) -> JobQueue:
    if settings.broker_url:
        return CeleryQueue(settings)
    return EmbeddedQueue(settings, db, on_lost)


class CeleryQueue:
    """Sends job ids to Celery workers on any machine."""

    unavailable: str | None = None

    def __init__(self, settings: Settings) -> None:
        from app.training.jobs.celery_app import make_celery

        self.celery = make_celery(settings)
        self.queue = settings.queue

    def start(self) -> None:
        pass

    def enqueue(self, job_id: int) -> None:
        from app.training.jobs.celery_app import TRAIN_TASK

        self.celery.send_task(TRAIN_TASK, args=[job_id])

    def waiting(self) -> int | None:
        try:
            with self.celery.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1)
                channel = connection.default_channel
                try:
                    return int(channel.queue_declare(queue=self.queue, passive=True).message_count)
                except connection.channel_errors:  # no such queue (NOT_FOUND): nothing waits
                    return 0
        except Exception:  # unreachable: nobody can say
            return None

    def stop(self) -> None:
        self.celery.close()
