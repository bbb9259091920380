"""Soak: mixed traffic on PostgreSQL for a long while, watching for errors, memory growth and
latency drift.

    python -m bench.soak [--minutes 20] [--clients 4] [--api-workers 1] [--write]

``--api-workers`` server processes (``python -m app.serve``, embedded job pool), on a throwaway
PostgreSQL database. Three random-walk series (600 business days) each get a small model first; then
``--clients`` threads send, at random: dashboard forecasts (``GET /v1/forecast``, any horizon,
the response cache on as deployed), client-values forecasts (``POST /v1/forecast``), appends of
the next day to a series, uploads of a new series (deleted again) and listings, while a training
job starts every minute. Printed: requests and server errors by kind, forecast latency per
window (p50/p99), the server processes' RSS summed (after a 2-minute warm-up; job processes
not included) and the jobs' outcomes.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from bench.common import database, machine, server, write_benchmarks_section

SERIES = 3
POINTS = 600
WARM_UP_S = 120
WINDOW_S = 120  # latency percentiles per window
TINY = {"units": 4, "epochs": 2, "window": 10, "batch_size": 32, "ensemble": 1, "references": []}
ACTIONS = {"forecast_get": 60, "forecast_post": 15, "append": 10, "upload": 5, "list": 10}


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    rss_mb: list[tuple[float, float]] = field(default_factory=list)
    jobs: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, status: int, started: float, t0: float) -> None:
        with self.lock:
            self.statuses[(kind, status)] += 1
            if kind == "forecast_get":
                window = int((started - t0) // WINDOW_S)
                self.latencies[window].append(time.monotonic() - started)


@dataclass
class Series:
    id: int
    name: str
    next_date: pd.Timestamp
    last: float
    lock: threading.Lock = field(default_factory=threading.Lock)


def walk(rng: np.random.Generator, n: int) -> np.ndarray:
    return 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))


def upload(client: httpx.Client, name: str, prices: np.ndarray) -> tuple[int, pd.Timestamp]:
    dates = pd.bdate_range("2018-01-02", periods=len(prices))
    observations = [
        {"date": d.strftime("%Y-%m-%d"), "close": round(float(p), 4)}
        for d, p in zip(dates, prices, strict=True)
    ]
    response = client.post("/v1/series", json={"name": name, "observations": observations})
    response.raise_for_status()
    return int(response.json()["id"]), dates[-1] + pd.offsets.BDay()


def train(client: httpx.Client, series_id: int, model: str) -> str:
    response = client.post(
        "/v1/training-jobs", json={"series_id": series_id, "model_name": model, **TINY}
    )
    response.raise_for_status()
    job_id = response.json()["id"]
    while True:
        status = str(client.get(f"/v1/training-jobs/{job_id}").json()["status"])
        if status in ("succeeded", "failed", "cancelled"):
            return status
        time.sleep(0.5)


def client_loop(
    base_url: str, series: list[Series], stats: Stats, stop: threading.Event, seed: int
) -> None:
    rng = random.Random(seed)
    kinds, weights = zip(*ACTIONS.items(), strict=True)
    t0 = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while not stop.is_set():
            kind = rng.choices(kinds, weights)[0]
            target = rng.choice(series)
            model = f"soak-{target.name}"
            started = time.monotonic()
            if kind == "forecast_get":
                params = {"model": model, "horizon": rng.randint(1, 30)}
                status = client.get("/v1/forecast", params=params).status_code
            elif kind == "forecast_post":
                values = [target.last * (1 + rng.gauss(0, 0.01)) for _ in range(60)]
                body = {"model": model, "values": values, "horizon": rng.randint(1, 10)}
                status = client.post("/v1/forecast", json=body).status_code
            elif kind == "append":
                with target.lock:
                    target.last *= 1 + rng.gauss(0, 0.01)
                    row = {"date": target.next_date.strftime("%Y-%m-%d"), "close": target.last}
                    status = client.post(
                        f"/v1/series/{target.id}/observations", json={"observations": [row]}
                    ).status_code
                    if status == 200:
                        target.next_date += pd.offsets.BDay()
            elif kind == "upload":
                name = f"churn-{seed}-{rng.getrandbits(32):x}"
                observations = [
                    {"date": d.strftime("%Y-%m-%d"), "close": 10 + i * 0.01}
                    for i, d in enumerate(pd.bdate_range("2020-01-01", periods=100))
                ]
                response = client.post(
                    "/v1/series", json={"name": name, "observations": observations}
                )
                status = response.status_code
                if status == 201:
                    client.delete(f"/v1/series/{response.json()['id']}")
            else:
                path = rng.choice(["/v1/series", "/v1/models", f"/v1/models/{model}/versions"])
                status = client.get(path).status_code
            stats.record(kind, status, started, t0)


def trainer_loop(base_url: str, series: list[Series], stats: Stats, stop: threading.Event) -> None:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while not stop.wait(60):
            target = random.choice(series)
            outcome = train(client, target.id, f"soak-{target.name}")
            with stats.lock:
                stats.jobs[outcome] += 1


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_rss_mb(pid: int, processes: int) -> float:
    """The server's RSS: the one process, or the sum of the launcher's children (its server
    processes; the job processes are their children, not counted)."""
    if processes == 1:
        return rss_mb(pid)
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sum(rss_mb(int(child)) for child in children)


def sampler_loop(pid: int, processes: int, stats: Stats, stop: threading.Event, t0: float) -> None:
    while not stop.wait(5):
        stats.rss_mb.append((time.monotonic() - t0, server_rss_mb(pid, processes)))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def report(stats: Stats, minutes: float, clients: int, processes: int) -> str:
    total = sum(stats.statuses.values())
    errors = sum(n for (_, status), n in stats.statuses.items() if status >= 500)
    lines = [
        f"Machine: {machine()}",
        f"{minutes:g} minutes, {clients} clients, PostgreSQL, {processes} server process(es) "
        "(embedded pool).",
        "",
        f"Requests: {total} ({total / (minutes * 60):.0f}/s); server errors (5xx): {errors}",
        "",
        "| kind | status | count |",
        "|---|---|---|",
        *[f"| {k} | {s} | {n} |" for (k, s), n in sorted(stats.statuses.items())],
        "",
        "| window (min) | forecasts | p50 ms | p99 ms |",
        "|---|---|---|---|",
    ]
    for window, values in sorted(stats.latencies.items()):
        start = window * WINDOW_S / 60
        lines.append(
            f"| {start:g}–{start + WINDOW_S / 60:g} | {len(values)} | "
            f"{percentile(values, 50):.1f} | {percentile(values, 99):.1f} |"
        )
    after = [mb for at, mb in stats.rss_mb if at >= WARM_UP_S]
    if after:
        growth = (after[-1] - after[0]) / after[0] * 100
        lines += [
            "",
            f"API RSS after warm-up: {after[0]:.0f} MB → {after[-1]:.0f} MB at the end "
            f"(max {max(after):.0f} MB): {growth:+.1f} %",
        ]
    lines.append(f"Training jobs (one a minute): {dict(stats.jobs)}")
    windows = [v for _, v in sorted(stats.latencies.items()) if v]
    if len(windows) >= 3:
        ratio = percentile(windows[-1], 99) / statistics.median(
            percentile(w, 99) for w in windows[1:]
        )
        lines.append(f"p99 of the last window / median p99 after the first: {ratio:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--api-workers", type=int, default=1, help="server processes")
    parser.add_argument("--write", action="store_true", help="record in BENCHMARKS.md")
    args = parser.parse_args()
    stats, stop = Stats(), threading.Event()
    rng = np.random.default_rng(7)
    with (
        database("postgres", "soak") as url,
        server(url, api_workers=str(args.api_workers)) as srv,
    ):
        with httpx.Client(base_url=srv.base_url, timeout=60) as client:
            series = []
            for i in range(SERIES):
                prices = walk(rng, POINTS)
                series_id, next_date = upload(client, f"s{i}", prices)
                series.append(Series(series_id, f"s{i}", next_date, float(prices[-1])))
                assert train(client, series_id, f"soak-s{i}") == "succeeded"
        t0 = time.monotonic()
        threads = [
            threading.Thread(target=client_loop, args=(srv.base_url, series, stats, stop, i))
            for i in range(args.clients)
        ]
        threads.append(
            threading.Thread(target=trainer_loop, args=(srv.base_url, series, stats, stop))
        )
        threads.append(
            threading.Thread(
                target=sampler_loop, args=(srv.process.pid, args.api_workers, stats, stop, t0)
            )
        )
        for thread in threads:
            thread.start()
        time.sleep(args.minutes * 60)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    text = report(stats, args.minutes, args.clients, args.api_workers)
    print(text)
    if args.write:
        write_benchmarks_section("soak", "## Soak: mixed traffic on PostgreSQL", text)


if __name__ == "__main__":
    main()
