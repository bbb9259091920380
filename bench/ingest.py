"""Ingest benchmark: upload speed over real HTTP on SQLite and PostgreSQL.

    python -m bench.ingest [--rows 1000000]

1. The 7,765-row MSFT file, end to end (POST /v1/series → 201), median of 5.
2. A generated intraday file in the bitstamp layout (Unix-second timestamps, 7 numeric
   columns), uploaded with ``resample=1D`` and raw (every minute kept: 7 observations per row);
   file rows per second and the server's peak memory.
3. Side by side in the same process and database: our bulk path (COPY / executemany) vs. the
   naive path (one ORM object per observation) on the same rows.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from app.db.migrate import upgrade_to_head
from app.db.orm import Observation, Series, SeriesField
from app.db.session import Database
from app.series.observations import write_observations
from bench.common import OUT, database, machine, server
from tests.support.data import MSFT_CSV

BACKENDS = ("sqlite", "postgres")


def generate_intraday(rows: int, path: Path) -> Path:
    """A reproducible random walk of minute bars, written once and reused."""
    if path.exists():
        return path
    rng = np.random.default_rng(2012)
    price = 4.39 * np.exp(np.cumsum(rng.normal(0, 0.0008, rows)))
    spread = np.abs(rng.normal(0, 0.001, rows)) * price
    volume = rng.exponential(2.0, rows)
    frame = pd.DataFrame(
        {
            "Timestamp": 1_325_317_920 + 60 * np.arange(rows),
            "Open": price.round(2),
            "High": (price + spread).round(2),
            "Low": (price - spread).round(2),
            "Close": (price + spread / 2).round(2),
            "Volume_(BTC)": volume.round(6),
            "Volume_(Currency)": (volume * price).round(4),
            "Weighted_Price": (price + spread / 4).round(4),
        }
    )
    frame.to_csv(path, index=False)
    return path


def upload(base_url: str, path: Path, name: str, **form: str) -> tuple[float, dict[str, object]]:
    with path.open("rb") as f:
        start = time.perf_counter()
        response = httpx.post(
            f"{base_url}/v1/series",
            files={"file": (path.name, f, "text/csv")},
            data={"name": name, **form},
            timeout=600,
        )
        elapsed = time.perf_counter() - start
    if response.status_code != 201:
        raise RuntimeError(f"upload failed: {response.status_code} {response.text[:500]}")
    body: dict[str, object] = response.json()
    return elapsed, body


def bench_msft(backend: str) -> None:
    with database(backend) as url, server(url) as srv:
        times = []
        for i in range(5):
            elapsed, body = upload(srv.base_url, MSFT_CSV, f"MSFT-{i}", exchange="XNYS")
            assert body["row_count"] == 7765
            times.append(elapsed)
        ms = sorted(t * 1000 for t in times)
        print(
            f"| {backend} | MSFT 7,765 rows, end to end | median {statistics.median(ms):.0f} ms "
            f"(min {ms[0]:.0f}, max {ms[-1]:.0f}) |"
        )


def bench_intraday(backend: str, path: Path, rows: int) -> None:
    for label, form in (("resample=1D", {"resample": "1D"}), ("raw minutes", {})):
        with database(backend) as url, server(url, max_upload_mb="1000") as srv:
            idle = srv.peak_rss_mb()
            elapsed, body = upload(srv.base_url, path, "BTC", **form)
            print(
                f"| {backend} | {rows:,} intraday rows, {label} → {body['row_count']:,} stored "
                f"× {len(body['fields'])} fields | {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s; "
                f"server peak RSS {srv.peak_rss_mb():.0f} MB (idle {idle:.0f} MB) |"  # type: ignore[arg-type]
            )


def bench_bulk_vs_orm(backend: str, rows: int) -> None:
    """Our bulk write vs. one ORM object per observation, same rows, same database."""
    index = pd.date_range("2000-01-01", periods=rows, freq="min")
    frame = pd.DataFrame({"close": np.linspace(1, 2, rows)}, index=index)
    with database(backend) as url:
        db = Database(url)
        upgrade_to_head(db.engine)
        timings = {}
        for path in ("bulk", "orm"):
            with db.session_scope() as session:
                series = Series(
                    name=path, frequency="min", content_sha256="0" * 64, row_count=rows,
                    first_date=index[0], last_date=index[-1], quality={},
                )  # fmt: skip
                session.add(series)
                session.flush()
                field = SeriesField(series_id=series.id, name="close", position=0)
                session.add(field)
                session.flush()
                start = time.perf_counter()
                if path == "bulk":
                    write_observations(session, [(series.id, {"close": field.id}, frame)])
                else:
                    session.add_all(
                        Observation(series_id=series.id, field_id=field.id, ts=t, value=float(v))
                        for t, v in zip(index, frame["close"], strict=True)
                    )
                session.commit()
                timings[path] = time.perf_counter() - start
        db.dispose()
    ratio = timings["orm"] / timings["bulk"]
    print(
        f"| {backend} | write {rows:,} observations: bulk vs ORM objects | "
        f"bulk {rows / timings['bulk']:,.0f} rows/s, ORM {rows / timings['orm']:,.0f} rows/s "
        f"→ bulk {ratio:.1f}× faster |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    args = parser.parse_args()
    backends = args.backend or list(BACKENDS)
    OUT.mkdir(parents=True, exist_ok=True)
    path = generate_intraday(args.rows, OUT / f"intraday_{args.rows}.csv")
    print(f"Machine: {machine()}")
    print(f"Generated file: {path.name}, {path.stat().st_size / 2**20:.0f} MiB\n")
    print("| backend | case | result |\n|---|---|---|")
    for backend in backends:
        bench_msft(backend)
        bench_intraday(backend, path, args.rows)
        bench_bulk_vs_orm(backend, 100_000)


if __name__ == "__main__":
    main()
