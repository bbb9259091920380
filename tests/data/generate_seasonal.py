"""Generate ``seasonal_hourly_load.csv``: a synthetic hourly electricity-demand series (MW).

    python tests/data/generate_seasonal.py

Not a price: a daily cycle (two harmonics, morning and evening peaks), lower demand at
weekends, a slow drift over the weeks and AR(1) noise, with a fixed seed so the file is
reproducible byte for byte. 1,008 hours (6 weeks) from 2016-01-04 00:00, all values > 0.
Columns: ``timestamp`` (ISO, hourly) and ``load``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20161
HOURS = 1008
OUT = Path(__file__).with_name("seasonal_hourly_load.csv")


def generate(seed: int = SEED, hours: int = HOURS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2016-01-04", periods=hours, freq="h")
    t = np.arange(hours, dtype=np.float64)
    day = 2 * np.pi * (stamps.hour.to_numpy() / 24)
    daily = 60 * np.sin(day - 2.0) + 25 * np.sin(2 * day + 0.5)
    weekend = np.where(stamps.day_of_week.to_numpy() >= 5, -40.0, 0.0)
    trend = 15 * np.sin(2 * np.pi * t / (hours * 1.3))
    noise = np.zeros(hours)
    shocks = rng.normal(0.0, 6.0, hours)
    for i in range(1, hours):
        noise[i] = 0.8 * noise[i - 1] + shocks[i]
    load = 500 + daily + weekend + trend + noise
    return pd.DataFrame({"timestamp": stamps.strftime("%Y-%m-%dT%H:%M:%S"), "load": load.round(2)})


if __name__ == "__main__":
    generate().to_csv(OUT, index=False)
    print(f"wrote {OUT}")
