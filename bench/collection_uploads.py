"""Multi-symbol uploads: one long-format file of many symbols over real HTTP, on SQLite and
PostgreSQL, next to the same data sent as one upload per symbol; then the next day of every
symbol appended in one upload, next to one append request per symbol.

    python -m bench.collection_uploads [--symbols 500] [--days 1260] [--backend sqlite]

Files (seeded random walks, written under bench/out once): ``symbol,date,price`` (one field)
and Kaggle's all-stocks layout ``date,open,high,low,close,volume,Name`` (five fields).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from bench.common import (
    OUT,
    collection_members,
    database,
    machine,
    server,
    write_benchmarks_section,
)

BACKENDS = ("sqlite", "postgres")


def generate(symbols: int, days: int, layout: str) -> Path:
    path = OUT / f"collection-{layout}-{symbols}x{days}.csv"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(12)
    dates = pd.bdate_range("2013-02-08", periods=days).strftime("%Y-%m-%d")
    frames = []
    for i in range(symbols):
        close = rng.uniform(5, 500) * np.exp(np.cumsum(rng.normal(0.0003, 0.015, days)))
        symbol = f"S{i:04d}"
        if layout == "price":
            frames.append(pd.DataFrame({"symbol": symbol, "date": dates, "price": close.round(2)}))
        else:
            spread = np.abs(rng.normal(0, 0.01, days)) * close
            frames.append(pd.DataFrame({
                "date": dates, "open": (close - spread / 2).round(2),
                "high": (close + spread).round(2), "low": (close - spread).round(2),
                "close": close.round(2), "volume": rng.integers(10**5, 10**7, days),
                "Name": symbol,
            }))  # fmt: skip
    pd.concat(frames).to_csv(path, index=False)
    return path


def upload_long(base_url: str, path: Path) -> float:
    with path.open("rb") as f:
        start = time.perf_counter()
        response = httpx.post(
            f"{base_url}/v1/collections/bench/series",
            files={"file": (path.name, f, "text/csv")},
            timeout=600,
        )
        elapsed = time.perf_counter() - start
    if response.status_code not in (200, 201):
        raise RuntimeError(f"upload failed: {response.status_code} {response.text[:500]}")
    return elapsed


def next_day(path: Path) -> Path:
    """Every symbol's next business day, one row each, in the same layout."""
    table = pd.read_csv(path)
    last = table.groupby("symbol" if "symbol" in table.columns else "Name").tail(1).copy()
    last["date"] = (pd.to_datetime(last["date"]) + pd.offsets.BDay(1)).dt.strftime("%Y-%m-%d")
    out = OUT / f"next-day-{path.name}"
    last.to_csv(out, index=False)
    return out


def append_one_by_one(base_url: str, path: Path) -> float:
    """The same day as one ``POST /v1/series/{id}/observations`` per symbol."""
    table = pd.read_csv(path)
    column = "symbol" if "symbol" in table.columns else "Name"
    with httpx.Client(base_url=base_url, timeout=600) as client:
        ids = {s["symbol"]: s["id"] for s in collection_members(client, "bench")}
        files = [(ids[str(symbol)], group.drop(columns=column).to_csv(index=False).encode())
                 for symbol, group in table.groupby(column)]  # fmt: skip
        start = time.perf_counter()
        for series_id, content in files:
            response = client.post(
                f"/v1/series/{series_id}/observations",
                files={"file": ("d.csv", content, "text/csv")},
            )
            if response.status_code != 200:
                raise RuntimeError(f"append failed: {response.status_code} {response.text[:300]}")
        return time.perf_counter() - start


def upload_one_by_one(base_url: str, path: Path) -> float:
    """The same data as one ``POST /v1/series`` per symbol (files split before the clock)."""
    table = pd.read_csv(path)
    column = "symbol" if "symbol" in table.columns else "Name"
    files = [
        (str(symbol), group.drop(columns=column).to_csv(index=False).encode())
        for symbol, group in table.groupby(column)
    ]
    with httpx.Client(base_url=base_url, timeout=600) as client:
        start = time.perf_counter()
        for symbol, content in files:
            response = client.post(
                "/v1/series", files={"file": ("s.csv", content, "text/csv")}, data={"name": symbol}
            )
            if response.status_code != 201:
                raise RuntimeError(f"upload failed: {response.status_code} {response.text[:300]}")
        return time.perf_counter() - start


def run(backend: str, symbols: int, days: int) -> list[str]:
    lines = []
    for layout, fields in (("price", 1), ("kaggle", 5)):
        path = generate(symbols, days, layout)
        size_mb = path.stat().st_size / 2**20
        with database(backend) as url, server(url, max_upload_mb="1000") as srv:
            long = upload_long(srv.base_url, path)
            rss = srv.peak_rss_mb()
            day = next_day(path)
            append = upload_long(srv.base_url, day)
            day_after = next_day(day)
            appends = append_one_by_one(srv.base_url, day_after)
        with database(backend) as url, server(url, max_upload_mb="1000") as srv:
            single = upload_one_by_one(srv.base_url, path)
        rows = symbols * days
        lines.append(
            f"| {backend} | {symbols} symbols × {days:,} days, {layout} ({fields} field"
            f"{'s' if fields > 1 else ''}, {size_mb:.0f} MiB) | {long:.2f} s "
            f"({rows / long:,.0f} rows/s, {rows * fields / long:,.0f} observations/s; "
            f"server peak RSS {rss:.0f} MB) | {single:.2f} s | {single / long:.1f}× | "
            f"{append:.2f} s | {appends:.2f} s | {appends / append:.1f}× |"
        )
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=1260)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    header = [
        f"Run on {machine()}.",
        "",
        "| backend | file | one long-format upload | one upload per symbol | ratio "
        "| next day, all symbols in one upload | one append per symbol | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(header), flush=True)
    lines = [line for b in args.backend or BACKENDS for line in run(b, args.symbols, args.days)]
    if args.write:
        write_benchmarks_section(
            "collections",
            "## Multi-symbol uploads (`python -m bench.collection_uploads`)",
            "\n".join(header + lines),
        )


if __name__ == "__main__":
    main()
