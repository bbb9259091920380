"""Which observations a training run uses and where the holdout starts (no TensorFlow)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.ml.spec import TrainingSpec
from app.ml.transforms import history_length, needs_positive

# Fewest holdout points that accuracy and interval calibration are computed from.
MIN_HOLDOUT = 10


class DatasetError(ValueError):
    """The spec cannot be trained on this data; the message says why."""


@dataclass(frozen=True)
class DatasetPlan:
    """Prices in the spec's date range; targets from ``holdout_start`` on are never trained on."""

    dates: pd.DatetimeIndex
    prices: np.ndarray
    holdout_start: int
    validation_samples: int

    @property
    def holdout_samples(self) -> int:
        return len(self.prices) - self.holdout_start

    def rows_sha256(self) -> str:
        """Content hash of the exact rows used: dates (Unix seconds) and values."""
        digest = hashlib.sha256()
        digest.update(self.dates.as_unit("s").asi8.astype("<i8").tobytes())
        digest.update(self.prices.astype("<f8").tobytes())
        return digest.hexdigest()


def plan_dataset(series: pd.Series, spec: TrainingSpec) -> DatasetPlan:
    """Select the spec's date range from a price series and split it, or raise DatasetError."""
    index = pd.DatetimeIndex(series.index)
    mask = np.ones(len(index), dtype=bool)
    if spec.start is not None:
        mask &= index >= pd.Timestamp(spec.start)
    if spec.end is not None:
        mask &= index <= pd.Timestamp(spec.end) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    dates = index[mask]
    prices = series.to_numpy(dtype=np.float64)[mask]
    n = len(prices)
    first = history_length(spec.target_transform, spec.window)
    if first + 2 > n:
        raise DatasetError(
            f"window {spec.window} needs at least {first + 2} observations "
            f"(a window, a training target and a holdout target); the selected range has {n}."
        )
    if needs_positive(spec.target_transform) and (prices <= 0).any():
        raise DatasetError(
            f"target_transform '{spec.target_transform}' needs positive values; the target has "
            f"{int((prices <= 0).sum())} value(s) ≤ 0. Use target_transform 'level'."
        )
    if spec.test_start is not None:
        holdout_start = int(dates.searchsorted(pd.Timestamp(spec.test_start)))
    else:
        holdout_start = n - math.ceil(spec.test_fraction * (n - first))
    if holdout_start >= n:
        raise DatasetError(f"the holdout is empty: no observation on or after {spec.test_start}.")
    if n - holdout_start < MIN_HOLDOUT:
        raise DatasetError(
            f"the holdout has {n - holdout_start} observation(s); at least {MIN_HOLDOUT} are "
            "needed to measure accuracy and calibrate intervals. Hold out more data."
        )
    if holdout_start <= first:
        raise DatasetError(
            f"no training targets: the holdout starts at observation {holdout_start} but the "
            f"first target with a full window of {spec.window} is observation {first}."
        )
    training = holdout_start - first
    validation = math.floor(spec.validation_fraction * training) if spec.patience else 0
    if spec.patience and validation < 1:
        raise DatasetError(
            f"{training} training samples leave none for early-stopping validation; "
            "train on more data, raise validation_fraction or set patience to null."
        )
    return DatasetPlan(
        dates=dates,
        prices=prices,
        holdout_start=holdout_start,
        validation_samples=validation,
    )
