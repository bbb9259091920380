"""``python -m app.serve`` with two server processes on one port: one embedded job pool (and a
takeover when its process dies), metrics summed over both, and a write to either one making
the forecast cache of both stale."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from tests.ledger.helpers import append
from tests.support.servers import api_server
from tests.training.helpers import (
    TINY,
    eventually,
    random_walk_series,
    start_job,
    wait_for,
    wait_until,
)

POOL_LINE = re.compile(r"this server process \(pid (\d+)\) runs the embedded job pool")


def pool_runners(log: Path) -> list[int]:
    return [int(pid) for pid in POOL_LINE.findall(log.read_text())]


def healthz_count(base_url: str) -> float:
    text = httpx.get(f"{base_url}/metrics").text  # a new connection: either process answers
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels["route"] == "/healthz":
                return sample.value
    return 0.0


def forecast_as_of(base_url: str) -> str:
    response = httpx.get(f"{base_url}/v1/forecast", params={"model": "walk-lstm"})
    assert response.status_code == 200, response.text
    as_of: str = response.json()["as_of"]
    return as_of


def test_two_server_processes_share_one_pool_the_metrics_and_the_cache(tmp_path: Path) -> None:
    log = tmp_path / "api.log"
    with (
        api_server(
            f"sqlite:///{tmp_path / 'service.db'}",
            log=log,
            api_workers="2",
            workers="1",  # one job at a time: two pools would run two at once
            forecast_cache_s="60",
            model_dir=str(tmp_path / "models"),
        ) as api,
        httpx.Client(base_url=api.base_url, timeout=30) as client,
    ):
        # Metrics: 20 requests on new connections, counted once whichever process answers.
        for _ in range(20):
            assert httpx.get(f"{api.base_url}/healthz").status_code == 200
        # A request is counted just after its response is sent: wait for the last one.
        eventually(lambda: healthz_count(api.base_url), lambda count: count == 20.0)
        assert [healthz_count(api.base_url) for _ in range(4)] == [20.0] * 4

        # One pool: jobs sent to either process run one after the other.
        series_id = random_walk_series(client, n=200)
        jobs = []
        for seed in (1, 2, 3):  # each on a new connection: either process takes it
            with httpx.Client(base_url=api.base_url) as fresh:
                jobs.append(start_job(fresh, series_id=series_id, **TINY, seed=seed))
        done = [wait_for(client, job["id"], timeout=180) for job in jobs]
        assert [job["status"] for job in done] == ["succeeded"] * 3, done
        spans = sorted((job["started_at"], job["finished_at"]) for job in done)
        for (_, finished), (started, _) in zip(spans, spans[1:], strict=False):
            assert started >= finished, spans
        (runner,) = pool_runners(log)

        # The cache: a write to either process, then every forecast from either is fresh.
        before = {forecast_as_of(api.base_url) for _ in range(10)}
        assert len(before) == 1
        last = pd.Timestamp(before.pop())
        day = last + pd.offsets.BDay(1)
        with httpx.Client(base_url=api.base_url) as fresh:
            append(fresh, series_id, day, 60.0)
        assert {forecast_as_of(api.base_url) for _ in range(10)} == {day.strftime("%Y-%m-%d")}

        # The process running the pool dies: the other takes over and runs the next job.
        os.kill(runner, signal.SIGKILL)
        runners = wait_until(lambda: len(pool_runners(log)) == 2 and pool_runners(log), 30)
        assert runners[1] != runner
        job = start_job(client, series_id=series_id, **TINY, seed=4)
        assert wait_for(client, job["id"], timeout=180)["status"] == "succeeded"
