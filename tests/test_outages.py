"""Dependencies going away under traffic: the service reaches PostgreSQL through a proxy the test
cuts for ten seconds while clients forecast and append and a job trains. Clients get 503
problems (never a 500, never a hang), /readyz names the database, everything answers again
within five seconds of its return, and no job, version or observation is lost or doubled.
(The object store's outage is in tests/registry/test_s3_store.py.)"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import LiveServer, server_settings, start_server, throwaway_postgres_database
from tests.outage import OutageProxy
from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, random_walk_series, start_job, wait_for, wait_until
from tests.training.test_celery import REDIS_URL, CeleryStack, require_redis

OUTAGE_S = 10
RECOVERY_S = 5
# The longest a request may take while the database is away (connect timeout 3 s, pool wait
# 10 s at worst); a request that takes longer is a hang.
STATED_TIMEOUT_S = 15


@dataclass
class Traffic:
    """Clients forecasting in a loop; every answer's status and time is kept."""

    client: httpx.Client
    model: str
    answers: list[tuple[float, int, float]] = field(default_factory=list)  # (at, status, took)
    stop: threading.Event = field(default_factory=threading.Event)

    def last_ok_after(self, moment: float) -> bool:
        return bool(self.answers) and self.answers[-1][1] == 200 and self.answers[-1][0] > moment

    def run(self) -> None:
        horizon = 0
        while not self.stop.is_set():
            horizon = horizon % 30 + 1  # a new response each time: the cache would hide nothing
            started = time.monotonic()
            try:
                status = self.client.get(
                    "/v1/forecast", params={"model": self.model, "horizon": horizon}
                ).status_code
            except httpx.TimeoutException:
                status = 0
            self.answers.append((started, status, time.monotonic() - started))
            time.sleep(0.02)


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[tuple[LiveServer, OutageProxy]]:
    with throwaway_postgres_database() as url:
        parsed = make_url(url)
        proxy = OutageProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        proxied = parsed.set(host="127.0.0.1", port=proxy.port)
        # The default lease (30 s) outlasts the outage, as in production.
        settings = server_settings(
            proxied.render_as_string(hide_password=False), tmp_path / "models", job_lease_s=30
        )
        server = start_server(settings)
        try:
            yield server, proxy
        finally:
            server.stop()
            proxy.close()


def observation_count(client: httpx.Client, series_id: int) -> int:
    count: int = client.get(f"/v1/series/{series_id}").json()["row_count"]
    return count


@pytest.mark.postgres
def test_a_postgres_outage_under_traffic(
    behind_proxy: tuple[LiveServer, OutageProxy],
) -> None:
    server, proxy = behind_proxy
    with httpx.Client(base_url=server.base_url, timeout=STATED_TIMEOUT_S + 5) as client:
        series_id = random_walk_series(client, n=1000)
        first = wait_for(
            client, start_job(client, series_id=series_id, model_name="m", **TINY)["id"]
        )
        assert first["status"] == "succeeded", first
        before = observation_count(client, series_id)
        # A job that trains into the outage (500 epochs on 1,000 days, ~10 s): its progress goes
        # unrecorded, and if it ends before the database returns, its registration waits.
        long_job = start_job(
            client, series_id=series_id, model_name="m", **{**TINY, "epochs": 500, "patience": None}
        )
        wait_until(lambda: client.get(f"/v1/training-jobs/{long_job['id']}").json()["progress"])

        traffic = Traffic(httpx.Client(base_url=server.base_url, timeout=STATED_TIMEOUT_S + 5), "m")
        runner = threading.Thread(target=traffic.run, daemon=True)
        runner.start()
        time.sleep(1)
        assert client.get(f"/v1/training-jobs/{long_job['id']}").json()["status"] == "running"
        with proxy.down():
            went = time.monotonic()
            time.sleep(2)
            ready = assert_problem(client.get("/readyz"), 503)
            assert ready["checks"]["database"].startswith("unreachable"), ready
            append = client.post(
                f"/v1/series/{series_id}/observations",
                json={"observations": [{"date": "2030-01-02", "close": 10.0}]},
            )
            problem = assert_problem(append, 503)
            assert problem["type"].endswith("/database-unavailable")
            assert append.headers["retry-after"] == "5"
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - went)))
        back, back_at = time.monotonic(), datetime.now(UTC)
        wait_until(lambda: client.get("/readyz").status_code == 200, timeout=RECOVERY_S)
        wait_until(
            lambda: (
                traffic.answers and traffic.answers[-1][1] == 200 and traffic.answers[-1][0] > back
            ),
            timeout=RECOVERY_S,
        )
        recovered = time.monotonic() - back
        time.sleep(1)
        traffic.stop.set()
        runner.join(timeout=STATED_TIMEOUT_S + 10)
        traffic.client.close()

        statuses = {status for _, status, _ in traffic.answers}
        assert statuses <= {200, 503}, sorted(statuses)
        assert max(took for _, _, took in traffic.answers) < STATED_TIMEOUT_S
        during = [s for at, s, _ in traffic.answers if went + 1 < at < back - 1]
        assert during, "no request was made during the outage"
        assert 503 in during
        assert recovered < RECOVERY_S

        # Nothing lost, nothing doubled: the refused append was not stored, its retry is.
        assert observation_count(client, series_id) == before
        retried = client.post(
            f"/v1/series/{series_id}/observations",
            json={"observations": [{"date": "2030-01-02", "close": 10.0}]},
        )
        assert retried.status_code == 200, retried.text
        assert observation_count(client, series_id) == before + 1
        done = wait_for(client, long_job["id"], timeout=180)
        assert done["status"] == "succeeded", done
        assert datetime.fromisoformat(done["finished_at"]) > back_at, "it did not span the outage"
        assert done["attempts"] == 1, "the outage cost the job its run"
        versions = client.get("/v1/models/m/versions").json()["items"]
        assert [(v["version"], v["status"]) for v in versions] == [(1, "ready"), (2, "ready")]


def test_a_redis_outage_delays_jobs_and_loses_none(tmp_path: Path) -> None:
    """Jobs queued while the broker is away stay queued in the database; the API answers at
    once, forecasts go on, and once Redis returns the reconciler sends them and a worker that
    reconnected runs each exactly once."""
    require_redis()
    redis_url = make_url(REDIS_URL)
    proxy = OutageProxy(redis_url.host or "127.0.0.1", redis_url.port or 6379)
    broker = f"redis://127.0.0.1:{proxy.port}/{redis_url.database or 0}"
    queue = f"outage-{uuid.uuid4().hex[:8]}"
    settings = server_settings(
        f"sqlite:///{tmp_path / 'api.db'}", tmp_path / "models", broker_url=broker, queue=queue
    )
    api = start_server(settings)
    env = {**os.environ, "FORECAST_DATABASE_URL": settings.database_url,
           "FORECAST_BROKER_URL": broker, "FORECAST_QUEUE": queue,
           "FORECAST_MODEL_DIR": str(settings.model_dir), "FORECAST_TF_THREADS": "1"}  # fmt: skip
    stack = CeleryStack(api, env, [])
    stack.start_worker()
    try:
        with httpx.Client(base_url=api.base_url, timeout=STATED_TIMEOUT_S + 5) as client:
            series_id = random_walk_series(client)
            first = start_job(client, series_id=series_id, model_name="r", **TINY)
            assert wait_for(client, first["id"], timeout=180)["status"] == "succeeded"
            with proxy.down():
                started = time.monotonic()
                queued = [
                    start_job(client, series_id=series_id, model_name="r", **TINY) for _ in range(2)
                ]
                assert time.monotonic() - started < STATED_TIMEOUT_S
                ready = assert_problem(client.get("/readyz"), 503)
                assert ready["checks"]["broker"].startswith("unreachable"), ready
                forecast = client.get("/v1/forecast", params={"model": "r"})
                assert forecast.status_code == 200, forecast.text
                time.sleep(OUTAGE_S - (time.monotonic() - started))
                for job in queued:
                    status = client.get(f"/v1/training-jobs/{job['id']}").json()["status"]
                    assert status == "queued"
            wait_until(lambda: client.get("/readyz").status_code == 200, timeout=RECOVERY_S)
            done = [wait_for(client, job["id"], timeout=180) for job in queued]
            assert [(j["status"], j["attempts"]) for j in done] == [("succeeded", 1)] * 2, done
            versions = client.get("/v1/models/r/versions").json()["items"]
            assert [(v["version"], v["status"]) for v in versions] == [
                (1, "ready"), (2, "ready"), (3, "ready"),
            ]  # fmt: skip
    finally:
        stack.stop()
        proxy.close()
