"""Running ``forecast`` against a live server, and the data the CLI tests upload."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from click.testing import CliRunner, Result

from app.cli.commands import main
from tests.training.helpers import TINY, random_walk_series, start_job, wait_for

SCRIPT = Path(sys.executable).with_name("forecast")


def forecast(url: str, *args: str, stdin: str | None = None) -> Result:
    """``forecast --url URL ARGS…`` in this process (an exception escaping it fails the test:
    a user would have seen a traceback)."""
    return CliRunner().invoke(main, ["--url", url, *args], input=stdin, catch_exceptions=False)


def forecast_process(url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The installed ``forecast`` script, as a user runs it."""
    env = {**os.environ, "FORECAST_URL": url}
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def long_csv(lengths: dict[str, int], start: str = "2018-01-02") -> str:
    """Positive business-daily random walks in long format (symbol, date, close)."""
    frames = []
    for i, (symbol, n) in enumerate(lengths.items()):
        rng = np.random.default_rng(i)
        price = (20 + 30 * i) * np.exp(np.cumsum(rng.normal(0.0005, 0.01, n)))
        dates = pd.bdate_range(start, periods=n).strftime("%Y-%m-%d")
        frames.append(pd.DataFrame({"symbol": symbol, "date": dates, "close": price.round(4)}))
    return pd.concat(frames).to_csv(index=False)


def trained_version(
    client: httpx.Client, model: str, series_id: int | None = None, **spec: Any
) -> dict[str, Any]:
    """A tiny version of ``model`` trained over the API (on a new random walk unless
    ``series_id`` says on what); the finished job."""
    series_id = series_id or random_walk_series(client, name=f"{model}-walk")
    job = start_job(client, series_id=series_id, model_name=model, **{**TINY, "epochs": 1, **spec})
    done = wait_for(client, job["id"])
    assert done["status"] == "succeeded", done
    return done
