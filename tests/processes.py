"""Real API processes, started as ``make run`` starts them (``python -m app.serve``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import ROOT, free_port


@dataclass
class Api:
    process: subprocess.Popen[bytes]
    base_url: str


@contextmanager
def api_process(database_url: str, log: Path, **settings: str) -> Iterator[Api]:
    """``python -m app.serve`` as ``make run`` starts it (one server process unless
    ``api_workers`` says otherwise), stderr to ``log``, in a process group of its own; waits
    until ready, kills the group at the end (server processes included) if the test has not
    stopped it."""
    port = free_port()
    env = {
        **os.environ,
        "FORECAST_DATABASE_URL": database_url,
        **{f"FORECAST_{k.upper()}": v for k, v in {"api_workers": "1", **settings}.items()},
    }
    with log.open("ab") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stderr=err, stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    api = Api(process, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{api.base_url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "API did not become ready"
            time.sleep(0.1)
        yield api
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
