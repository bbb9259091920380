"""SIGTERM on a real API process (embedded workers): it answers the request in flight, exits
promptly, and the job it was running is handed back (queued, attempt not counted) rather than
left running; the next start finishes it. Also checks the JSON logs of the API and its job
process on the way."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from app.db.orm import TrainingJob
from tests.support.servers import api_server
from tests.training.helpers import TINY, random_walk_series, wait_for, wait_for_progress

GRACE_S = 0.0  # no time to finish: the running job is always handed back
EXIT_BOUND_S = 20.0


def slow_upload(url: str, seconds: float) -> httpx.Response:
    """POST a small series as a chunked body that takes ``seconds`` to send."""
    body = json.dumps(
        {
            "name": "late",
            "observations": [{"date": f"2016-02-{d:02d}", "v": d} for d in range(1, 29)],
        }
    ).encode()
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)]

    def paced() -> Iterator[bytes]:
        for chunk in chunks:
            yield chunk
            time.sleep(seconds / len(chunks))

    return httpx.post(
        url, content=paced(), headers={"content-type": "application/json"}, timeout=60
    )


def job_row(database_url: str, job_id: int) -> TrainingJob:
    engine = create_engine(database_url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            job = session.get(TrainingJob, job_id)
    finally:
        engine.dispose()
    assert job is not None
    return job


def json_records(log: Path) -> list[dict[str, Any]]:
    records = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


@pytest.mark.slow
def test_sigterm_hands_back_the_running_job_and_a_restart_finishes_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/api.db"
    log = tmp_path / "api.log"
    settings = {
        "model_dir": str(tmp_path / "models"),
        "shutdown_grace_s": str(GRACE_S),
        "log_format": "json",
        "job_lease_s": "3",
        "reconcile_interval_s": "0.5",
        "tf_threads": "1",
    }
    with api_server(url, log=log, **settings) as first:
        with httpx.Client(base_url=first.base_url, timeout=60) as client:
            series_id = random_walk_series(client, n=400)
            # Long enough to be still running 0.3 s after its first epoch (SIGTERM stops it at
            # once: no grace), short enough for the restart to finish it in seconds.
            spec = {"series_id": series_id, "epochs": 60, "patience": 0, "units": 8,
                    "window": 20, "ensemble": 1, "references": []}  # fmt: skip
            started = client.post(
                "/v1/training-jobs", json=spec, headers={"X-Request-ID": "start-job-1"}
            )
            assert started.status_code == 202, started.text
            assert started.headers["x-request-id"] == "start-job-1"
            job = started.json()
            running = wait_for_progress(client, job["id"])
        job_pid = int(running["worker"].rpartition(":")[2])
        # An upload still being sent when SIGTERM arrives is answered before the API exits.
        with ThreadPoolExecutor(1) as pool:
            upload = pool.submit(slow_upload, f"{first.base_url}/v1/series", seconds=1.0)
            time.sleep(0.3)
            stopped = time.monotonic()
            first.process.send_signal(signal.SIGTERM)
            drained = upload.result(timeout=30)
        assert drained.status_code == 201, drained.text
        code = first.process.wait(timeout=EXIT_BOUND_S + 10)
        took = time.monotonic() - stopped

    assert took < EXIT_BOUND_S, f"the API took {took:.1f} s to stop"
    assert code in (0, -signal.SIGTERM), code
    assert not Path(f"/proc/{job_pid}").exists(), "the job process outlived the API"
    after_stop = job_row(url, job["id"])
    assert after_stop.status == "queued"  # handed back, never left running
    assert (after_stop.attempts, after_stop.worker, after_stop.progress) == (0, None, None)

    records = json_records(log)
    assert any(
        r.get("logger") == "app.access" and r.get("request_id") == "start-job-1"
        and r.get("status") == 202 and r.get("route") == "/v1/training-jobs"
        for r in records
    )  # fmt: skip
    worker_lines = [r for r in records if r.get("job_id") == job["id"]]
    assert any("running on" in r["message"] for r in worker_lines), records[-20:]

    with api_server(url, log=log, **settings) as second:
        with httpx.Client(base_url=second.base_url, timeout=60) as client:
            done = wait_for(client, job["id"], timeout=240)
            assert done["status"] == "succeeded", done
            assert done["attempts"] == 1  # the handed-back run did not count
            for _ in range(2):
                forecast = client.post("/v1/forecast", json={"model": done["model_name"]})
                assert forecast.status_code == 200, forecast.text
            metrics = {
                sample.name + json.dumps(sample.labels, sort_keys=True): sample.value
                for family in text_string_to_metric_families(client.get("/metrics").text)
                for sample in family.samples
            }
            # The next job runs in the same job process (FORECAST_JOBS_PER_PROCESS): no new
            # process, no second TensorFlow import.
            spec = {"series_id": series_id, "model_name": "again", **TINY}
            again = wait_for(client, client.post("/v1/training-jobs", json=spec).json()["id"])
            assert again["status"] == "succeeded", again
            assert again["worker"] == done["worker"]
    assert metrics['forecast_jobs{"state": "succeeded"}'] == 1
    assert metrics['forecast_jobs{"state": "running"}'] == 0
    assert metrics["forecast_training_duration_seconds_count{}"] == 1
    assert metrics["forecast_latency_seconds_count{}"] == 2
    assert metrics["forecast_bundle_cache_misses_total{}"] == 1
    assert metrics["forecast_bundle_cache_hits_total{}"] == 1
    assert metrics["forecast_bundle_cache_versions{}"] == 1
