"""Distributed training through Celery and a real Redis, with real worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import (
    BACKENDS,
    LiveServer,
    empty_database,
    in_ci,
    server_settings,
    start_server,
)
from tests.training.helpers import (
    TINY,
    cancel_and_wait,
    eventually,
    random_walk_series,
    start_job,
    wait_for,
    wait_for_attempt,
    wait_for_progress,
)

REDIS_URL = os.environ.get("FORECAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]


def require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"Redis at {REDIS_URL} unreachable: {exc}"
        if in_ci():
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


@dataclass
class CeleryStack:
    api: LiveServer
    env: dict[str, str]
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self) -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "app.training.jobs.celery_app:celery", "worker",
             "--loglevel", "INFO", "--hostname", f"w{len(self.workers)}-{uuid.uuid4().hex[:6]}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=self.env, start_new_session=True,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        """Kill the workers (and their children), then stop the API."""
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        self.api.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def celery_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryStack]:
    """An API server with a Celery broker and two worker processes, on its own database."""
    require_redis()
    tmp = tmp_path_factory.mktemp(f"celery-{request.param}")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    with empty_database(request.param, tmp) as url:
        settings = server_settings(url, tmp / "models", broker_url=REDIS_URL, queue=queue)
        api = start_server(settings)
        env = {
            **os.environ,
            "FORECAST_DATABASE_URL": url,
            "FORECAST_BROKER_URL": REDIS_URL,
            "FORECAST_QUEUE": queue,
            "FORECAST_MODEL_DIR": str(tmp / "models"),
            "FORECAST_JOB_LEASE_S": "3",
            "FORECAST_TF_THREADS": "1",
        }
        stack = CeleryStack(api, env, [])
        stack.start_worker()
        stack.start_worker()
        try:
            yield stack
        finally:
            stack.stop()
            redis.Redis.from_url(REDIS_URL).delete(queue)


@pytest.fixture
def celery_client(celery_stack: CeleryStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=celery_stack.api.base_url, timeout=60) as http:
        yield http


def test_jobs_spread_over_two_workers(celery_client: httpx.Client) -> None:
    series_id = random_walk_series(celery_client, name="celery-walk")
    jobs = [
        start_job(celery_client, series_id=series_id, model_name="celery-shared", **TINY)
        for _ in range(4)
    ]
    done = [wait_for(celery_client, j["id"], timeout=180) for j in jobs]
    assert [j["status"] for j in done] == ["succeeded"] * 4, done
    assert sorted(j["model_version"]["version"] for j in done) == [1, 2, 3, 4]
    # Each worker runs its jobs in one child process (FORECAST_JOBS_PER_PROCESS, 10 here): the
    # four jobs ran in at most two processes, one of them at least twice (a child per job
    # would make four processes of one job each).
    per_process = Counter(j["worker"] for j in done)
    assert len(per_process) <= 2, per_process
    assert max(per_process.values()) >= 2, per_process


def test_killed_worker_child_is_retried(celery_client: httpx.Client) -> None:
    series_id = celery_client.get("/v1/series").json()["items"][0]["id"]
    job = start_job(
        celery_client, series_id=series_id, model_name="celery-kill", epochs=500,
        patience=0, units=8, window=20, ensemble=1, references=[],
    )  # fmt: skip
    first = wait_for_progress(celery_client, job["id"])
    os.kill(int(first["worker"].rpartition(":")[2]), signal.SIGKILL)
    second = wait_for_attempt(celery_client, job["id"], 2)
    assert second["worker"] != first["worker"]
    assert cancel_and_wait(celery_client, job["id"])["status"] == "cancelled"


def test_lost_worker_is_reconciled_by_the_api(
    celery_client: httpx.Client, celery_stack: CeleryStack
) -> None:
    """A whole worker killed (parent and child): the lease lapses, the API requeues the job."""
    series_id = celery_client.get("/v1/series").json()["items"][0]["id"]
    job = start_job(
        celery_client, series_id=series_id, model_name="celery-lost", epochs=500,
        patience=0, units=8, window=20, ensemble=1, references=[],
    )  # fmt: skip
    running = wait_for(celery_client, job["id"], {"running"}, timeout=120)
    child_pid = int(running["worker"].rpartition(":")[2])
    owner = next(w for w in celery_stack.workers if _is_parent_of(w.pid, child_pid))
    os.killpg(owner.pid, signal.SIGKILL)
    celery_stack.start_worker()
    again = wait_for_attempt(celery_client, job["id"], 2)
    assert again["worker"] != running["worker"]
    assert cancel_and_wait(celery_client, job["id"])["status"] == "cancelled"


def _is_parent_of(parent: int, child: int) -> bool:
    stat = Path(f"/proc/{child}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1]) == parent


@pytest.mark.sqlite_only
def test_sigterm_lets_a_worker_finish_its_running_job(
    celery_client: httpx.Client, celery_stack: CeleryStack
) -> None:
    """`docker compose stop` sends SIGTERM: Celery's warm shutdown takes no new job, lets the
    running one finish and commit, then exits 0."""
    series_id = random_walk_series(celery_client, name="celery-term")
    job = start_job(
        celery_client, series_id=series_id, model_name="celery-term", epochs=100,
        patience=0, units=8, window=20, batch_size=16, ensemble=1, references=[],
        lean_toward_naive=False, combine_with_ar=False,  # one training: no probe
    )  # fmt: skip
    running = wait_for_progress(celery_client, job["id"])
    child_pid = int(running["worker"].rpartition(":")[2])
    owner = next(w for w in celery_stack.workers if _is_parent_of(w.pid, child_pid))
    owner.send_signal(signal.SIGTERM)
    assert celery_client.get(f"/v1/training-jobs/{job['id']}").json()["status"] == "running"
    assert owner.wait(timeout=120) == 0
    done = wait_for(celery_client, job["id"], timeout=30)  # committed before the worker exited
    assert (done["status"], done["attempts"], done["worker"]) == (
        "succeeded", 1, running["worker"]
    )  # fmt: skip
    assert done["progress"]["epoch"] == 100
    celery_stack.start_worker()


def test_a_job_whose_message_the_broker_lost_is_sent_again(
    celery_client: httpx.Client, celery_stack: CeleryStack
) -> None:
    """No worker takes the message, then the broker loses it (a Redis restarted without its
    data): the job is queued in the database and nothing waits in the broker, so the reconciler
    sends it again and a worker runs it once."""
    for worker in celery_stack.workers:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    series_id = random_walk_series(celery_client, name="celery-lost-message")
    job = start_job(celery_client, series_id=series_id, model_name="celery-resent", **TINY)
    queue = celery_stack.env["FORECAST_QUEUE"]
    broker = redis.Redis.from_url(REDIS_URL)
    eventually(lambda: broker.llen(queue), lambda waiting: waiting >= 1, timeout=10)
    broker.delete(queue)
    # Six reconcile rounds (0.5 s each) after it was sent: sent again, before any worker runs.
    eventually(lambda: broker.llen(queue), lambda waiting: waiting >= 1, timeout=15)
    celery_stack.start_worker()
    done = wait_for(celery_client, job["id"], timeout=120)
    assert (done["status"], done["attempts"]) == ("succeeded", 1), done
    versions = celery_client.get("/v1/models/celery-resent/versions").json()["items"]
    assert [v["version"] for v in versions] == [1]
    celery_stack.start_worker()
