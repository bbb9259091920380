"""Logging for every process of the service: the API, embedded job processes, Celery workers.

``FORECAST_LOG_FORMAT=text`` (default) writes one readable line per record,
``FORECAST_LOG_FORMAT=json`` one JSON object per line. Records carry the request id of the
HTTP request (``request_id``) or the training job (``job_id``) they were written for, from
context variables set by the request middleware and by the worker.

The API writes its own access line per request (logger ``app.access``: method, path, route
template, status, duration, request id) instead of uvicorn's, which is silenced. It follows
uvicorn's switches: ``--log-level warning`` hides it, ``--no-access-log`` turns it off.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from asgi_correlation_id import correlation_id
from pythonjsonlogger.json import JsonFormatter

from app.config import Settings

job_id_var: ContextVar[int | None] = ContextVar("job_id", default=None)

ACCESS_LOGGER = "app.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "message")
_CONTEXT = ("request_id", "job_id")


@contextmanager
def job_logging(job_id: int) -> Iterator[None]:
    """Every record written inside the block carries ``job_id``."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` / ``job_id`` from the current context to each record (when set)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = correlation_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        job_id = job_id_var.get()
        if job_id is not None and not hasattr(record, "job_id"):
            record.job_id = job_id
        return True


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [request_id=… job_id=…]: message``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        context = " ".join(
            f"{key}={getattr(record, key)}" for key in _CONTEXT if hasattr(record, key)
        )
        record.context = f" [{context}]" if context else ""
        return super().format(record)


def json_formatter() -> logging.Formatter:
    """``{"time", "level", "logger", "message", …extra fields (request_id, job_id, status…)}``."""
    return JsonFormatter(
        list(JSON_FIELDS),
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
    )


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each record (so a replaced stderr,
    as under pytest's capture, is followed rather than written to after it was closed)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(settings: Settings) -> None:
    """Route every logger through one stderr handler in the configured format and level.

    Idempotent: calling it again (another app in the same process) replaces our handler.
    Handlers that others put on the root logger (pytest's capture) are left alone.
    """
    level = logging.getLevelName(settings.log_level)
    handler = _StderrHandler()
    handler.setLevel(level)
    handler.setFormatter(json_formatter() if settings.log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)

    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own lines go through our handler
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    _replace_uvicorn_access_log()
    logging.captureWarnings(True)  # Python warnings become records in the same format


def _replace_uvicorn_access_log() -> None:
    """Silence uvicorn's access line (ours has the route and request id), keeping its
    switches: the level it was given and ``--no-access-log`` (no handlers, no propagation)."""
    uvicorn_access = logging.getLogger("uvicorn.access")
    access = logging.getLogger(ACCESS_LOGGER)
    replaced = any(isinstance(h, _Silenced) for h in uvicorn_access.handlers)
    if not replaced:
        turned_off = not uvicorn_access.handlers and not uvicorn_access.propagate
        access.setLevel(logging.CRITICAL + 1 if turned_off else uvicorn_access.level)
    uvicorn_access.handlers = [_Silenced()]
    uvicorn_access.propagate = False


class _Silenced(logging.NullHandler):
    """Marks uvicorn's access logger as replaced by ours."""
