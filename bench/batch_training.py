"""Batch training through the API: one request trains the default spec on every series of a
collection, on the embedded pool (2 workers) and on 2 Celery workers; a global model (one
network for the whole collection) next to the first series' own default models; then the API's
memory with 500 series and 500 versions registered.

    python -m bench.batch_training [--symbols 100] [--celery-symbols N] [--own-symbols 10]
        [--days 1260] [--only embedded|celery|global|memory] [--write]

Series are the seeded random walks of ``bench.collection_uploads`` (``symbol,date,price``).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import time
import uuid
from typing import Any

import httpx

from bench.collection_uploads import generate
from bench.common import (
    OUT,
    collection_members,
    database,
    machine,
    server,
    write_benchmarks_section,
)
from bench.training import start_celery_worker


def upload(client: httpx.Client, symbols: int, days: int) -> None:
    path = generate(symbols, days, "price")
    with path.open("rb") as f:
        response = client.post(
            "/v1/collections/bench/series", files={"file": (path.name, f, "text/csv")}
        )
    assert response.status_code == 201, response.text


def train_batch(client: httpx.Client, **spec: Any) -> tuple[float, dict[str, Any]]:
    """Wall time from the request to the batch's ``done``, and the batch then."""
    started = time.perf_counter()
    body = {"collection": "bench", **spec}
    response = client.post(
        "/v1/training-batches", json={k: v for k, v in body.items() if v is not None}
    )
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    while True:
        batch: dict[str, Any] = client.get(f"/v1/training-batches/{batch_id}").json()
        if batch["status"] == "done":
            return time.perf_counter() - started, batch
        time.sleep(1)


def summary(client: httpx.Client, batch: dict[str, Any]) -> str:
    board = client.get(f"/v1/training-batches/{batch['id']}/leaderboard").json()
    skills = [r["skill"] for r in board["rows"] if r["skill"] is not None]
    ratios = [r["rmse"] / r["naive_rmse"] for r in board["rows"] if r["rmse"] is not None]
    counts = batch["counts"]
    return (
        f"{counts['succeeded']}/{counts['total']} | {statistics.median(ratios):.3f} | "
        f"{board['beats_naive']} of {len(skills)}"
    )


def bench_embedded(symbols: int, days: int) -> str:
    with database("sqlite") as url, server(url, workers="2", max_upload_mb="1000") as srv:
        with httpx.Client(base_url=srv.base_url, timeout=120) as client:
            upload(client, symbols, days)
            wall, batch = train_batch(client)
            line = f"| embedded pool, 2 workers | {symbols} × {days:,} | {wall:.0f} s | "
            return line + summary(client, batch) + " |"


def bench_celery(symbols: int, days: int) -> str:
    broker = os.environ.get("FORECAST_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    with (
        database("postgres") as url,
        server(url, broker_url=broker, queue=queue, max_upload_mb="1000") as srv,
    ):
        env = {
            **os.environ, "FORECAST_DATABASE_URL": url, "FORECAST_BROKER_URL": broker,
            "FORECAST_QUEUE": queue, "FORECAST_MODEL_DIR": str(OUT / "models"),
            "FORECAST_TF_THREADS": "1",
        }  # fmt: skip
        workers = [start_celery_worker(env, f"bench{i}-{queue}") for i in range(2)]
        try:
            with httpx.Client(base_url=srv.base_url, timeout=120) as client:
                upload(client, symbols, days)
                time.sleep(5)  # let the workers boot before the clock starts
                wall, batch = train_batch(client)
                line = f"| 2 Celery workers (PostgreSQL) | {symbols} × {days:,} | {wall:.0f} s | "
                return line + summary(client, batch) + " |"
        finally:
            for worker in workers:
                os.killpg(worker.pid, signal.SIGKILL)


def bench_global(symbols: int, days: int, own_symbols: int) -> list[str]:
    """The first ``own_symbols`` series' own default models first (a batch of their ids), then
    the global model on every series, timed from its request to its batch's ``done``."""
    with database("sqlite") as url, server(url, workers="2", max_upload_mb="1000") as srv:
        with httpx.Client(base_url=srv.base_url, timeout=120) as client:
            upload(client, symbols, days)
            members = collection_members(client, "bench")
            ids = [s["id"] for s in members[:own_symbols]]
            own_wall, own = train_batch(client, series_ids=ids, collection=None)
            wall, batch = train_batch(client, scope="global")
            job = client.get("/v1/training-jobs", params={"batch_id": batch["id"]}).json()
            (row,) = job["items"]
            version = row["model_version"]
            report = client.get(
                f"/v1/models/{version['name']}/versions/{version['version']}/members"
            ).json()
            detail = client.get(f"/v1/models/{version['name']}/versions/{version['version']}")
            epochs = detail.json()["epochs_run"]
            members_ = report["members"]
            ratios = [m["rmse"] / m["naive_rmse"] for m in members_ if m["rmse"] is not None]
            compared = [m for m in members_ if m["own"] is not None]
            vs_own = [m["rmse"] / m["own"]["rmse"] for m in compared]
            own_ratios = [m["own"]["rmse"] / m["naive_rmse"] for m in compared]
            return [
                f"| global model (one network, {epochs} epochs), embedded pool | {symbols} × "
                f"{days:,} | {wall:.0f} s | {row['status']} | "
                f"{statistics.median(ratios):.3f} | {report['beats_naive']} of {len(ratios)} |",
                f"| own default models of the first {len(ids)} series (for the comparison) | "
                f"{len(ids)} × {days:,} | {own_wall:.0f} s | {own['counts']['succeeded']}/"
                f"{own['counts']['total']} | {statistics.median(own_ratios):.3f} | "
                f"global beats own on {report['beats_own']} of {len(compared)} (median RMSE "
                f"global ÷ own {statistics.median(vs_own):.3f}) |",
            ]


def bench_memory(days: int) -> str:
    """500 series, a drift version of each (instant to train), every one forecast once."""
    with database("sqlite") as url, server(url, workers="2", max_upload_mb="1000") as srv:
        with httpx.Client(base_url=srv.base_url, timeout=300) as client:
            idle = srv.peak_rss_mb()
            upload(client, 500, days)
            wall, batch = train_batch(client, architecture="drift", model_prefix="mem")
            assert batch["counts"]["succeeded"] == 500, batch["counts"]
            started = time.perf_counter()
            response = client.post(
                "/v1/forecast/batch",
                json={"collection": "bench", "model_prefix": "mem", "each": {"horizon": 5}},
            )
            forecast_s = time.perf_counter() - started
            assert response.json()["succeeded"] == 500, response.text[:500]
            listed = client.get("/v1/models", params={"limit": 500}).json()["total"]
            return (
                f"| API memory: {listed} models, a drift version each, all 500 forecast in one "
                f"batch request ({forecast_s:.2f} s) | 500 × {days:,} | {wall:.0f} s | "
                f"{batch['counts']['succeeded']}/500 | API peak RSS {srv.peak_rss_mb():.0f} MB | "
                f"(idle {idle:.0f} MB) |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--celery-symbols", type=int, default=None, help="default: --symbols")
    parser.add_argument("--own-symbols", type=int, default=10)
    parser.add_argument("--days", type=int, default=1260)
    parser.add_argument("--only", choices=("embedded", "celery", "global", "memory"))
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    header = [
        f"Run on {machine()}; the default spec.",
        "",
        "| workers | series × days | wall (request → done) | succeeded | median holdout RMSE ÷ "
        "naive | versions beating naive |",
        "|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    lines = []
    if args.only in (None, "embedded"):
        lines.append(bench_embedded(args.symbols, args.days))
        print(lines[-1], flush=True)
    if args.only in (None, "celery"):
        lines.append(bench_celery(args.celery_symbols or args.symbols, args.days))
        print(lines[-1], flush=True)
    global_lines = []
    if args.only in (None, "global"):
        global_lines = bench_global(args.symbols, args.days, args.own_symbols)
        print("\n".join(global_lines), flush=True)
    if args.only in (None, "memory"):
        lines.append(bench_memory(args.days))
        print(lines[-1], flush=True)
    if args.write and global_lines:
        write_benchmarks_section(
            "global-models",
            "## Global models (`python -m bench.batch_training --only global`)",
            "\n".join(
                [
                    header[0].replace(
                        "the default spec",
                        "the default spec (the global model: its own defaults, README)",
                    ),
                    *header[1:],
                    *global_lines,
                ]
            ),  # fmt: skip
        )
    if args.write and lines:
        write_benchmarks_section(
            "batch-training",
            "## Batch training (`python -m bench.batch_training`)",
            "\n".join(header + lines),
        )


if __name__ == "__main__":
    main()
