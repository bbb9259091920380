"""The API process itself never loads TensorFlow: training happens in worker processes only."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.training.helpers import TINY, random_walk_series, start_job, wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_api_process_stays_free_of_tensorflow(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "FORECAST_DATABASE_URL": f"sqlite:///{tmp_path}/api.db",
        "FORECAST_MODEL_DIR": str(tmp_path / "models"),
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.1)
        with httpx.Client(base_url=base_url, timeout=60) as client:
            series_id = random_walk_series(client)
            job = wait_for(client, start_job(client, series_id=series_id, **TINY)["id"])
        assert job["status"] == "succeeded"
        worker_pid = int(job["worker"].rpartition(":")[2])
        assert worker_pid != api.pid
        mapped = Path(f"/proc/{api.pid}/maps").read_text()
        assert "tensorflow" not in mapped
        assert "_pywrap_tensorflow" not in mapped
    finally:
        api.terminate()
        api.wait(timeout=30)
