"""Batch forecasts: next-day forecasts of 100 series in one request vs. one forecast.

    python -m bench.batch [--series 100] [--repeats 100]

A default-spec network is trained through the API on one of ``--series`` synthetic random
walks of 1,260 business days (five years); then, side by side against the same server
(response cache off), ``--repeats`` times each: ``GET /v1/forecast`` for one series and
``POST /v1/forecast/batch`` with one item per series (the same version: one network call).
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
import numpy as np
import pandas as pd

from bench.common import database, machine, server
from bench.training import run_job

DAYS = 1260


def upload_walks(client: httpx.Client, count: int) -> list[int]:
    rng = np.random.default_rng(7)
    dates = pd.bdate_range("2012-01-03", periods=DAYS).strftime("%Y-%m-%d")
    ids = []
    for i in range(count):
        prices = 20 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, DAYS))) * (1 + i / 10)
        observations = [{"date": d, "close": float(p)} for d, p in zip(dates, prices, strict=True)]
        response = client.post(
            "/v1/series", json={"name": f"W{i:03d}", "observations": observations}
        )
        response.raise_for_status()
        ids.append(response.json()["id"])
    return ids


def timed(call: object, repeats: int) -> list[float]:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    with database("sqlite", "batch") as url, server(url, forecast_cache_s="0") as srv:
        with httpx.Client(base_url=srv.base_url, timeout=600) as client:
            ids = upload_walks(client, args.series)
            job = run_job(client, {"series_id": ids[0], "model_name": "walks"})
            assert job["status"] == "succeeded", job
            items = [{"model": "walks", "series_id": i} for i in ids]

            def single() -> None:
                client.get("/v1/forecast", params={"model": "walks"}).raise_for_status()

            def batch() -> None:
                body = client.post("/v1/forecast/batch", json={"items": items}).json()
                assert body["failed"] == 0, body

            single(), batch()  # load the bundle, warm the calendars
            one, many = [], []
            for _ in range(args.repeats):  # interleaved: the machine's noise hits both
                one += timed(single, 1)
                many += timed(batch, 1)
    p50_one, p50_many = statistics.median(one), statistics.median(many)
    print(f"\n| over HTTP, concurrency 1, response cache off, {args.repeats} requests each "
          f"| p50 | p95 |\n|---|---|---|")  # fmt: skip
    for label, values in (("`GET /v1/forecast`, 1 series", one),
                          (f"`POST /v1/forecast/batch`, {args.series} series", many)):  # fmt: skip
        ordered = sorted(values)
        print(f"| {label} | {statistics.median(values):.2f} ms | "
              f"{ordered[int(0.95 * (len(ordered) - 1))]:.2f} ms |")  # fmt: skip
    print(
        f"\nBatch of {args.series} ÷ one forecast: {p50_many / p50_one:.2f}× "
        f"({p50_many / args.series:.3f} ms per series)."
    )


if __name__ == "__main__":
    main()
