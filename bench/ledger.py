"""Ledger benchmark: what recording costs the forecast path, and how fast scoring is.

    python -m bench.ledger [--seconds 10] [--points 1000000]

1. Throughput, side by side in one run: ``wrk`` (16 connections) on uncached
   ``GET /v1/forecast`` (response cache off) against a server with the ledger on and one with
   it off, alternating on/off/on/off; the model is a drift baseline on MSFT, the cheapest
   forecast there is, so the ledger's share of each request is as large as it gets.
2. Scoring, on PostgreSQL and SQLite: MSFT without its last 2,000 days, ``--points`` pending
   ledger points (forecasts of those days, inserted in bulk), then (a) the 2,000 days arrive in
   one append over HTTP, which scores them, and (b) the same points pending again, scored by
   ``score()`` alone.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import time
from datetime import UTC, datetime

import httpx
import pandas as pd
from sqlalchemy import insert, update

from app.db.orm import LedgerPoint, SeriesField, ServedForecast
from app.db.session import Database
from app.ledger import points as ledger_points
from app.ledger import service as ledger
from app.vocabulary import PointStatus
from bench.common import database, machine, server
from bench.training import run_job, upload_msft
from tests.support.data import MSFT_CSV

STEPS = 5
APPENDED = 2000  # days appended in one request, which the pending points target


def wrk_rate(url: str, seconds: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", url], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    assert errors is None, out
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def bench_throughput(seconds: int) -> None:
    with database("sqlite", "ledger") as url:
        with server(url) as srv, httpx.Client(base_url=srv.base_url, timeout=60) as client:
            series_id = upload_msft(client)
            spec = {"series_id": series_id, "architecture": "drift", "model_name": "drift"}
            assert run_job(client, spec)["status"] == "succeeded"
        path = "/v1/forecast?model=drift&horizon=5"
        rates: dict[str, list[float]] = {"on": [], "off": []}
        for _ in range(2):
            for mode in ("on", "off"):
                ledger_on = "true" if mode == "on" else "false"
                with server(url, forecast_cache_s="0", ledger=ledger_on) as srv:
                    httpx.get(srv.base_url + path).raise_for_status()  # load the bundle
                    rates[mode].append(wrk_rate(srv.base_url + path, seconds))
    on, off = statistics.median(rates["on"]), statistics.median(rates["off"])
    print("\n| uncached `GET /v1/forecast` horizon 5, wrk 16 connections | req/s (runs) |")
    print("|---|---|")
    for mode, median in (("ledger off", off), ("ledger on", on)):
        runs = ", ".join(f"{r:,.0f}" for r in rates[mode.split()[1]])
        print(f"| {mode} | {median:,.0f} ({runs}) |")
    print(f"\nLedger on ÷ off: {on / off:.3f}× (target ≥ 0.9×).")


def _pending_points(db: Database, series_id: int, field_id: int, targets: pd.DatetimeIndex,
                    points: int) -> None:  # fmt: skip
    """``points`` pending ledger points: forecasts of STEPS of the ``targets`` dates each, as
    many versions as it takes (distinct keys)."""
    forecasts = points // STEPS
    origins = len(targets) - STEPS
    now = datetime.now(UTC)
    rows, point_rows = [], []
    for i in range(forecasts):
        origin = i % origins
        rows.append({
            "id": i + 1, "model_name": "bench", "version": i // origins + 1,
            "series_id": series_id, "field": "close", "as_of": targets[origin].to_pydatetime(),
            "horizon": STEPS, "levels": "80,95", "base_value": 1.0, "first_served_at": now,
            "last_served_at": now, "served_count": 1,
        })  # fmt: skip
        for step in range(1, STEPS + 1):
            point_rows.append({
                "forecast_id": i + 1, "step": step, "series_id": series_id, "field_id": field_id,
                "target_ts": targets[origin + step].to_pydatetime(), "value": 1.0,
                "bounds": {"lo_80": 0.9, "hi_80": 1.1}, "status": PointStatus.PENDING,
            })  # fmt: skip
    with db.session_scope() as session:
        for chunk in range(0, len(rows), 50_000):
            session.execute(insert(ServedForecast), rows[chunk : chunk + 50_000])
        for chunk in range(0, len(point_rows), 100_000):
            session.execute(insert(LedgerPoint), point_rows[chunk : chunk + 100_000])


def bench_scoring(backend: str, points: int) -> None:
    """MSFT but its last APPENDED days is uploaded; the ledger holds ``points`` pending points
    targeting those days; then they arrive in one append over HTTP."""
    frame = pd.read_csv(MSFT_CSV)
    head, tail = frame.iloc[:-APPENDED], frame.iloc[-APPENDED:]
    targets = pd.DatetimeIndex(pd.to_datetime(tail["Date"]))
    with database(backend, "ledger") as url, server(url) as srv:
        db = Database(url)
        with httpx.Client(base_url=srv.base_url, timeout=600) as client:
            first = {"file": ("head.csv", head.to_csv(index=False))}
            created = client.post("/v1/series", data={"name": "MSFT"}, files=first)
            created.raise_for_status()
            series_id = created.json()["id"]
            with db.session_scope() as session:
                field_id = session.query(SeriesField.id).filter_by(
                    series_id=series_id, name="close"
                ).scalar()  # fmt: skip
            started = time.perf_counter()
            _pending_points(db, series_id, field_id, targets, points)
            loaded = time.perf_counter() - started

            started = time.perf_counter()
            rest = {"file": ("tail.csv", tail.to_csv(index=False))}
            response = client.post(f"/v1/series/{series_id}/observations", files=rest)
            appended = time.perf_counter() - started
            response.raise_for_status()
            with db.session_scope() as session:
                counts = ledger.point_counts(session)
            assert counts["scored"] == points, counts

            with db.session_scope() as session:
                session.execute(update(LedgerPoint).values(status=PointStatus.PENDING, actual=None))
            started = time.perf_counter()
            dates = (targets[0].to_pydatetime(), targets[-1].to_pydatetime())
            with db.session_scope() as session:
                ledger_points.score(session, series_id=series_id, dates=dates)
            alone = time.perf_counter() - started
            with db.session_scope() as session:
                counts = ledger.point_counts(session)
            assert counts["scored"] == points, counts
        db.dispose()
    print(f"| {backend} | {points:,} | {loaded:.1f} s | {alone:.2f} s | {appended:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    bench_throughput(args.seconds)
    print(f"\n| database | pending points | bulk insert (setup) | `score()` alone | append of "
          f"{APPENDED:,} days over HTTP, scoring them |\n|---|---|---|---|---|")  # fmt: skip
    for backend in ("postgres", "sqlite"):
        bench_scoring(backend, args.points)


if __name__ == "__main__":
    main()
