"""Server-side cost of a request, this checkout vs. an earlier one, measured side by side.

    git worktree add /tmp/before <commit>
    python -m bench.serving_ab --before /tmp/before [--rounds 20]

A default-spec model is trained on MSFT ``high`` (as in ``bench.forecast``); then a server of
each checkout runs on that database (the earlier one on a copy marked as migrated to its own
latest migration; one process, response cache off, jobs sent to a Celery
broker so that no idle job process competes), and batches of 50 sequential requests alternate
between them, round after round, so that both see the same moments of a noisy machine: median
milliseconds per request for ``/healthz``, ``GET /v1/forecast`` horizon 1 and 30, and ``POST``
with 61 client values. ``--wrk SECONDS``: instead, wrk (16 connections) for that long per
target and server, alternating the same way; median requests/s, and each forecast's rate as a
fraction of the same server's ``/healthz`` (issue 15's measure).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import sqlite3
import statistics
import time
from contextlib import ExitStack, closing
from pathlib import Path

from alembic.script import ScriptDirectory

from bench.common import database, machine, post_script, server, wrk
from bench.training import train_msft_versions

BATCH = 50
BROKER = "redis://127.0.0.1:6379/15"  # nothing consumes it: no job runs during the bench


def call(conn: http.client.HTTPConnection, method: str, path: str, body: str | None) -> None:
    headers = {"Content-Type": "application/json"} if body else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    assert response.status == 200, (path, response.status)


def _known_to(url: str, root: Path) -> str:
    """A copy of the SQLite database ``url`` marked as migrated to ``root``'s latest migration:
    an earlier checkout serves the same versions from it, although it does not know the newer
    migrations (their tables and columns are not on its forecast path)."""
    source = Path(url.removeprefix("sqlite:///"))
    copy = source.with_name(f"{source.stem}-before{source.suffix}")
    shutil.copyfile(source, copy)
    head = ScriptDirectory(str(root / "migrations")).get_current_head()
    with closing(sqlite3.connect(copy)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (head,))
    return f"sqlite:///{copy}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the earlier checkout")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--wrk", type=int, metavar="SECONDS", help="throughput with wrk")
    args = parser.parse_args()
    print(f"Machine: {machine()}")
    with database("sqlite") as url:
        values = train_msft_versions(url, seeds=(42,))
        targets = {
            "`/healthz`": ("GET", "/healthz", None),
            "`GET /v1/forecast` horizon 1": ("GET", "/v1/forecast?model=bench&horizon=1", None),
            "`GET /v1/forecast` horizon 30": ("GET", "/v1/forecast?model=bench&horizon=30", None),
            "`POST /v1/forecast`, 61 values": (
                "POST", "/v1/forecast", json.dumps({"model": "bench", "values": values}),
            ),
        }  # fmt: skip
        settings = {"forecast_cache_s": "0", "broker_url": BROKER}
        with ExitStack() as stack:
            conns, urls = {}, {}
            for name, root in (("before", args.before.resolve()), ("after", None)):
                srv = stack.enter_context(
                    server(url, **settings)
                    if root is None
                    else server(_known_to(url, root), root, **settings)
                )
                host, port = srv.base_url.removeprefix("http://").split(":")
                conns[name] = http.client.HTTPConnection(host, int(port))
                urls[name] = srv.base_url
            for conn in conns.values():  # load the bundle, build the calendars
                for method, path, body in targets.values():
                    for _ in range(30):
                        call(conn, method, path, body)
            if args.wrk:
                _throughput(urls, targets, values, args.rounds, args.wrk)
                return
            times: dict[tuple[str, str], list[float]] = {}
            for round_ in range(args.rounds):
                order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
                for target, (method, path, body) in targets.items():
                    for name in order:
                        started = time.perf_counter()
                        for _ in range(BATCH):
                            call(conns[name], method, path, body)
                        elapsed = (time.perf_counter() - started) / BATCH * 1000
                        times.setdefault((name, target), []).append(elapsed)
    print(f"\n| median ms per request ({args.rounds} rounds of {BATCH}, concurrency 1) "
          "| before | after | after ÷ before |\n|---|---|---|---|")  # fmt: skip
    for target in targets:
        before, after = (statistics.median(times[(n, target)]) for n in ("before", "after"))
        print(f"| {target} | {before:.3f} | {after:.3f} | {after / before:.2f} |")


def _throughput(
    urls: dict[str, str],
    targets: dict[str, tuple[str, str, str | None]],
    values: list[float],
    rounds: int,
    seconds: int,
) -> None:
    rates: dict[tuple[str, str], list[float]] = {}
    script = post_script("bench", values)
    for round_ in range(rounds):
        order = ("before", "after") if round_ % 2 == 0 else ("after", "before")
        for target, (method, path, _) in targets.items():
            for name in order:
                rate, _, errors = wrk(
                    urls[name] + path, seconds, script if method == "POST" else None
                )
                assert errors == 0, (name, target, errors)
                rates.setdefault((name, target), []).append(rate)
    median = {key: statistics.median(values) for key, values in rates.items()}
    healthz = next(iter(targets))
    print(f"\n| wrk 16 connections, {rounds} rounds of {seconds} s, median req/s | before "
          "| after | after ÷ before | before ÷ `/healthz` | after ÷ `/healthz` |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for target in targets:
        before, after = median[("before", target)], median[("after", target)]
        print(f"| {target} | {before:,.0f} | {after:,.0f} | {after / before:.2f} "
              f"| {before / median[('before', healthz)]:.2f}× "
              f"| {after / median[('after', healthz)]:.2f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
