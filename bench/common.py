"""Shared pieces of the benchmarks: a real server process per backend, machine description."""

from __future__ import annotations

import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
OUT = ROOT / "bench" / "out"
MSFT_CSV = ROOT / "tests" / "data" / "msft_daily_1986_2016.csv"  # see tests/data/README.md
ADMIN_POSTGRES_URL = os.environ.get(
    "FORECAST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


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
    """A new empty database: a SQLite file under bench/out, or a throwaway PostgreSQL DB."""
    OUT.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        path = OUT / f"{prefix}-{uuid.uuid4().hex[:8]}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm", ".migrate.lock"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the server process so far (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(database_url: str, root: Path = ROOT, **settings: str) -> Iterator[Server]:
    """``python -m app.serve`` in its own process(es), as ``make run`` starts it: one server
    process unless ``api_workers`` says otherwise; ``root``: the checkout whose code runs."""
    port = free_port()
    env = {
        **os.environ,
        "FORECAST_DATABASE_URL": database_url,
        "FORECAST_MODEL_DIR": str(OUT / "models"),
        **{f"FORECAST_{k.upper()}": v for k, v in {"api_workers": "1", **settings}.items()},
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "app.serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning"],
        cwd=root, env=env,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("benchmark server did not start")
            time.sleep(0.1)
        yield Server(base_url, process)
    finally:
        process.terminate()
        process.wait(timeout=30)


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
