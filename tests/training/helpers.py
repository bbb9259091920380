"""Helpers for job tests: small generated series and waiting for jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import numpy as np
import pandas as pd

T = TypeVar("T")
FINISHED = {"succeeded", "failed", "cancelled"}
# A tiny network: one seed and no statistical references (tests/training/test_any_series.py
# covers those), so that a job takes a second or two.
TINY = {"units": 4, "epochs": 2, "window": 10, "batch_size": 32, "ensemble": 1, "references": []}


def random_walk_series(
    client: httpx.Client, name: str = "walk", n: int = 300, seed: int = 3
) -> int:
    """A positive business-daily random walk uploaded as JSON; returns the series id."""
    rng = np.random.default_rng(seed)
    prices = 50 * np.exp(np.cumsum(rng.normal(0.0005, 0.01, n)))
    return upload_prices(client, name, pd.bdate_range("2015-01-02", periods=n), prices)


def upload_prices(
    client: httpx.Client, name: str, dates: pd.DatetimeIndex, prices: np.ndarray
) -> int:
    """A daily ``close`` series uploaded as JSON; returns the series id."""
    observations = [
        {"date": d.strftime("%Y-%m-%d"), "close": float(p)}
        for d, p in zip(dates, prices, strict=True)
    ]
    response = client.post("/v1/series", json={"name": name, "observations": observations})
    assert response.status_code == 201, response.text
    series_id: int = response.json()["id"]
    return series_id


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 10) -> T:
    """Call ``read`` until ``done`` says yes (background work: the ledger's writer, a job);
    fails with the last value read after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"still not done after {timeout} s: {value}"
        time.sleep(0.05)


def flat_tail_csv() -> str:
    """A business-daily random walk whose last 120 days repeat one price: on the holdout the
    naive forecast is exact (RMSE 0), so no network can beat it and the promotion gate must
    refuse."""
    rng = np.random.default_rng(5)
    prices = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    prices[-120:] = prices[-121]
    dates = pd.bdate_range("2019-01-02", periods=300)
    frame = pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "close": prices.round(4)})
    return frame.to_csv(index=False)


def start_job(client: httpx.Client, **spec: Any) -> dict[str, Any]:
    response = client.post("/v1/training-jobs", json=spec)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/training-jobs/{response.json()['id']}"
    job: dict[str, Any] = response.json()
    return job


def wait_for(
    client: httpx.Client, job_id: int, until: set[str] | None = None, timeout: float = 120
) -> dict[str, Any]:
    """Poll a job until its status is in ``until`` (default: finished)."""
    until = until or FINISHED
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/training-jobs/{job_id}").json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")
        time.sleep(0.1)


def wait_for_attempt(client: httpx.Client, job_id: int, attempt: int) -> dict[str, Any]:
    """Wait until the job is running its ``attempt``-th run."""

    def running_attempt() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/v1/training-jobs/{job_id}").json()
        return job if job["attempts"] == attempt and job["status"] == "running" else None

    found: dict[str, Any] = wait_until(running_attempt, timeout=120)
    return found


def wait_for_progress(client: httpx.Client, job_id: int) -> dict[str, Any]:
    """Wait until a running job has reported at least one epoch."""
    job: dict[str, Any] = wait_until(
        lambda: (j := client.get(f"/v1/training-jobs/{job_id}").json())["progress"] and j
    )
    return job


def cancel_and_wait(client: httpx.Client, job_id: int) -> dict[str, Any]:
    client.post(f"/v1/training-jobs/{job_id}/cancel")
    return wait_for(client, job_id, timeout=60)


def wait_until(predicate: Any, timeout: float = 60, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
