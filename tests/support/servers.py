"""Real API processes, started as ``make run`` starts them (``python -m app.serve``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.data import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str

    def peak_rss_mb(self) -> float:
        """Peak resident memory of the (first) server process so far (VmHWM)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextmanager
def api_server(
    database_url: str,
    *,
    log: Path | None = None,
    root: Path = ROOT,
    graceful: bool = False,
    **settings: str,
) -> Iterator[Server]:
    """``python -m app.serve`` in a process group of its own (one server process unless
    ``api_workers`` says otherwise; ``settings`` become ``FORECAST_*`` variables), stderr to
    ``log``, the code of the checkout ``root``. Waits until ``/readyz`` answers 200. At the
    end the group is killed, or (``graceful``) asked to stop and given 30 s to."""
    port = free_port()
    env = {
        **os.environ,
        "FORECAST_DATABASE_URL": database_url,
        **{f"FORECAST_{k.upper()}": v for k, v in {"api_workers": "1", **settings}.items()},
    }
    with log.open("ab") if log is not None else open(os.devnull, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.serve", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "info" if log is not None else "warning"],
            cwd=root, env=env, stderr=err, stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    server = Server(process, f"http://127.0.0.1:{port}")
    try:
        _wait_until_ready(server, log)
        yield server
    finally:
        _stop(process, graceful)


def _wait_until_ready(server: Server, log: Path | None) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{server.base_url}/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.process.poll() is not None:
            raise RuntimeError(
                "the API exited before it was ready"
                + (f":\n{log.read_text()[-3000:]}" if log else "")
            )
        if time.monotonic() > deadline:
            raise RuntimeError("the API did not become ready within 60 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], graceful: bool) -> None:
    try:
        if graceful:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
                return
            except subprocess.TimeoutExpired:
                pass
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
