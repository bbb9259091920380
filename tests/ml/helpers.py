"""Small series for the pure ML tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SEASONAL_CSV = DATA_DIR / "seasonal_hourly_load.csv"


def random_walk(n: int = 400, seed: int = 0, start: float = 50.0) -> pd.Series:
    """A positive business-daily random walk in log space."""
    rng = np.random.default_rng(seed)
    values = start * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    return pd.Series(values, index=pd.bdate_range("2010-01-04", periods=n))


def seasonal_load() -> pd.Series:
    frame = pd.read_csv(SEASONAL_CSV, parse_dates=["timestamp"], index_col="timestamp")
    return frame["load"]
