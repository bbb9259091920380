"""Which observations a training run uses and where the holdout starts (no TensorFlow)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.ml.calendar import format_period, infer_frequency, resolve_season_length
from app.ml.spec import TrainingSpec
from app.ml.transforms import Supervised, history_length, needs_positive

# Fewest holdout points that accuracy and interval calibration are computed from.
MIN_HOLDOUT = 10


class DatasetError(ValueError):
    """The spec cannot be trained on this data; the message says why."""


class NeedsPositive(DatasetError):
    """The target transform is defined for positive values only, and the data has others."""


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


def select_range(series: pd.Series, spec: TrainingSpec) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """The dates and values within the spec's ``start``…``end`` (both inclusive)."""
    index = pd.DatetimeIndex(series.index)
    mask = np.ones(len(index), dtype=bool)
    if spec.start is not None:
        mask &= index >= pd.Timestamp(spec.start)
    if spec.end is not None:
        mask &= index <= pd.Timestamp(spec.end) + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return index[mask], series.to_numpy(dtype=np.float64)[mask]


def first_target(spec: TrainingSpec, season_length: int = 1) -> int:
    """Observations the forecaster needs before its first target (its history length)."""
    if spec.architecture == "seasonal_naive":
        return season_length
    if not spec.is_network:
        return 1
    return history_length(spec.transform, spec.input_window)


def plan_dataset(
    series: pd.Series, spec: TrainingSpec, *, season_length: int | None = None
) -> DatasetPlan:
    """Select the spec's date range from a price series and split it, or raise DatasetError.

    ``season_length`` matters for ``seasonal_naive`` only; None resolves it from the spec or
    the series' inferred frequency.
    """
    dates, prices = select_range(series, spec)
    if season_length is None:
        season_length = resolve_season_length(spec, infer_frequency(pd.DatetimeIndex(series.index)))
    n = len(prices)
    first = first_target(spec, season_length)
    if spec.is_network:
        what = f"window {spec.window}"
    elif spec.architecture == "seasonal_naive":
        what = f"season_length {season_length}"
    else:
        what = str(spec.architecture)
    needed = first + 1 + MIN_HOLDOUT
    if n < needed:  # no split can work: say what the data lacks, not how to split it
        span = (
            f" (the series runs from {format_period(series.index[0])} to "
            f"{format_period(series.index[-1])})"
            if (spec.start is not None or spec.end is not None) and len(series)
            else ""
        )
        raise DatasetError(
            f"{what} needs at least {needed} observations ({first} before the first target, "
            f"one to train on and {MIN_HOLDOUT} held out to measure accuracy and calibrate "
            f"intervals); the selected range has {n}{span}."
        )
    if spec.is_network and needs_positive(spec.transform) and (prices <= 0).any():
        raise NeedsPositive(
            f"target_transform '{spec.transform}' needs positive values; the target has "
            f"{int((prices <= 0).sum())} value(s) ≤ 0. Leave target_transform unset to let the "
            "service choose from the data, or ask for 'difference' or 'level'."
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
            f"first target with a full {what} is observation {first}."
        )
    training = holdout_start - first
    early_stopping = bool(spec.patience) and spec.is_network
    validation = math.floor(spec.validation_fraction * training) if early_stopping else 0
    if early_stopping and validation < 1:
        raise DatasetError(
            f"{training} training samples leave none for early-stopping validation; "
            "train on more data, raise validation_fraction or set patience to 0."
        )
    return DatasetPlan(
        dates=dates,
        prices=prices,
        holdout_start=holdout_start,
        validation_samples=validation,
    )


def training_samples(data: Supervised, plan: DatasetPlan, outputs: int) -> int:
    """Samples whose every step lies before the holdout (they come first: time order)."""
    n_in = int((data.target_index + outputs - 1 < plan.holdout_start).sum())
    if n_in < 2:
        raise DatasetError(
            f"{n_in} training sample(s) with every step before the holdout; train on more data "
            "or lower direct_horizon."
        )
    return n_in
