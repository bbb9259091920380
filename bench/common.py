"""Shared pieces of the benchmarks: where results go, the machine they ran on, wrk; the server
processes and databases are the tests' own (tests.support)."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.data import ROOT
from tests.support.databases import database as throwaway_database
from tests.support.servers import Server, api_server

BENCHMARKS = ROOT / "BENCHMARKS.md"
OUT = ROOT / "bench" / "out"


def write_benchmarks_section(name: str, heading: str, text: str) -> None:
    """Replace the ``<!-- name:begin -->`` … ``<!-- name:end -->`` block of BENCHMARKS.md with
    ``text``, or append it under ``heading`` the first time."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    body = BENCHMARKS.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in body and end in body:
        body = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip("\n") + f"\n\n{heading}\n\n{block}\n"
    BENCHMARKS.write_text(body)


def collection_members(client: httpx.Client, name: str) -> list[dict[str, Any]]:
    """Every member of a collection, by symbol, page after page."""
    members: list[dict[str, Any]] = []
    while True:
        page = client.get(
            f"/v1/collections/{name}/series", params={"limit": 500, "offset": len(members)}
        ).json()
        members += page["items"]
        if len(members) >= page["total"] or not page["items"]:
            return members


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"
    )


@contextmanager
def database(backend: str, prefix: str = "bench") -> Iterator[str]:
    """A new empty database: a SQLite file under bench/out, or a throwaway PostgreSQL one."""
    with throwaway_database(backend, OUT, prefix) as url:
        yield url


@contextmanager
def server(database_url: str, root: Path = ROOT, **settings: str) -> Iterator[Server]:
    """The service as ``make run`` starts it, its models under bench/out, stopped gracefully;
    ``root``: the checkout whose code runs."""
    settings = {"model_dir": str(OUT / "models"), **settings}
    with api_server(database_url, root=root, graceful=True, **settings) as started:
        yield started


def wrk(target: str, seconds: int, script: Path | None = None) -> tuple[float, str, int]:
    """wrk's requests/s, p50 latency and non-2xx count for one target."""
    args = ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    out = subprocess.run([*args, target], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rate, p50.group(1) if p50 else "?", int(errors.group(1)) if errors else 0


def post_script(model: str, values: list[float]) -> Path:
    """A wrk script sending ``POST /v1/forecast`` with the client's own values."""
    body = json.dumps({"model": model, "horizon": 1, "values": values})
    script = OUT / "post_forecast.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    return script
