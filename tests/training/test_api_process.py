"""The API process itself never loads TensorFlow: training happens in worker processes only."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx

from tests.support.servers import api_server
from tests.training.helpers import (
    TINY,
    cancel_and_wait,
    random_walk_series,
    start_job,
    wait_for,
    wait_for_attempt,
    wait_for_progress,
)


def test_api_process_stays_free_of_tensorflow(tmp_path: Path) -> None:
    with (
        api_server(f"sqlite:///{tmp_path}/api.db", model_dir=str(tmp_path / "models")) as api,
        httpx.Client(base_url=api.base_url, timeout=60) as client,
    ):
        series_id = random_walk_series(client)
        job = wait_for(client, start_job(client, series_id=series_id, **TINY)["id"])
        assert job["status"] == "succeeded"
        assert int(job["worker"].rpartition(":")[2]) != api.process.pid
        mapped = Path(f"/proc/{api.process.pid}/maps").read_text()
        assert "tensorflow" not in mapped
        assert "_pywrap_tensorflow" not in mapped


def test_jobs_in_flight_are_reconciled_after_an_api_restart(tmp_path: Path) -> None:
    """kill -9 the API and its job process mid-job; a new API on the same database requeues
    the job (attempt 2) instead of leaving it running forever."""
    settings = {
        "model_dir": str(tmp_path / "models"),
        "job_lease_s": "2",
        "reconcile_interval_s": "0.5",
    }
    url = f"sqlite:///{tmp_path}/api.db"
    with (
        api_server(url, **settings) as first,
        httpx.Client(base_url=first.base_url, timeout=60) as c,
    ):
        series_id = random_walk_series(c, n=600)
        job = start_job(c, series_id=series_id, epochs=500, patience=0, units=8, window=20,
                        ensemble=1, references=[])  # fmt: skip
        running = wait_for_progress(c, job["id"])
        os.kill(int(running["worker"].rpartition(":")[2]), signal.SIGKILL)
        first.process.kill()
        first.process.wait()
    with (
        api_server(url, **settings) as second,
        httpx.Client(base_url=second.base_url, timeout=60) as c,
    ):
        again = wait_for_attempt(c, job["id"], 2)
        assert again["worker"] != running["worker"]
        assert cancel_and_wait(c, job["id"])["status"] == "cancelled"
