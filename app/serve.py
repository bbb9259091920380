"""``python -m app.serve``: the API in ``FORECAST_API_WORKERS`` server processes (one per core
unless set), as ``make run`` and the compose ``api`` service start it.

With more than one process, they share a fresh directory (``FORECAST_API_SHARED_DIR``, removed
on exit): the Prometheus metrics of all of them (``PROMETHEUS_MULTIPROC_DIR`` inside it), and
the count of writes that makes every process's forecast cache stale. One of them runs the
embedded job pool (app.training.jobs.embedded_pool); each migrates under a lock (app.db.migrate).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import uvicorn

from app.config import Settings

APP = "app.main:create_app"


def server_processes(settings: Settings) -> int:
    return settings.api_workers or len(os.sched_getaffinity(0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    args = parser.parse_args(argv)
    workers = server_processes(Settings())
    shared = Path(tempfile.mkdtemp(prefix="forecast-api-")) if workers > 1 else None
    if shared is not None:
        (shared / "metrics").mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared / "metrics")
        os.environ["FORECAST_API_SHARED_DIR"] = str(shared)
    try:
        uvicorn.run(
            APP,
            factory=True,
            host=args.host,
            port=args.port,
            workers=workers,
            log_level=args.log_level,
            access_log=args.access_log,
        )
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    main()
