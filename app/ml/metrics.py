"""Forecast accuracy metrics, always in price units: RMSE = √mean((y−ŷ)²), MAE = mean|y−ŷ|,
MAPE = 100·mean|(y−ŷ)/y| (undefined at y = 0: omitted), MASE = MAE / the naive forecast's MAE on
the training data, skill = 1 − RMSE/RMSE_baseline."""

from __future__ import annotations

import math

import numpy as np

from app.ml.results import PointMetrics


def rmse(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(y_hat)) ** 2)))


def mae(y: np.ndarray, y_hat: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(y_hat))))


def mape(y: np.ndarray, y_hat: np.ndarray) -> float | None:
    """Mean absolute percentage error over the points where ``y != 0`` (None if there are none)."""
    y, y_hat = np.asarray(y), np.asarray(y_hat)
    nonzero = y != 0
    if not nonzero.any():
        return None
    return float(100 * np.mean(np.abs((y[nonzero] - y_hat[nonzero]) / y[nonzero])))


def naive_scale(train: np.ndarray, season: int = 1) -> float:
    """MAE of the (seasonal) naive forecast on the training data: MASE's denominator."""
    train = np.asarray(train)
    return float(np.mean(np.abs(train[season:] - train[:-season])))


def mase(y: np.ndarray, y_hat: np.ndarray, scale: float | np.ndarray) -> float | None:
    """MAE over the naive scale; ``scale`` may be one per point (series pooled together,
    each on its own scale)."""
    s = np.asarray(scale, dtype=np.float64)
    if not (s > 0).all():
        return None
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(y_hat)) / s))


def point_metrics(y: np.ndarray, y_hat: np.ndarray, scale: float | np.ndarray) -> PointMetrics:
    return PointMetrics(
        rmse=rmse(y, y_hat), mae=mae(y, y_hat), mape=mape(y, y_hat), mase=mase(y, y_hat, scale)
    )


def skill(model_rmse: float, baseline_rmse: float) -> float | None:
    """``1 − RMSE/RMSE_baseline``: > 0 beats the baseline, 0 ties, < 0 is worse."""
    if baseline_rmse == 0 or not math.isfinite(baseline_rmse):
        return None
    return 1.0 - model_rmse / baseline_rmse


# A loss differential this many standard errors below 0 is a significant gain (5 %, two-sided).
SIGNIFICANT_T = -1.96


def diebold_mariano_t(loss: np.ndarray, lags: int = 0) -> float | None:
    """The Diebold–Mariano statistic of a loss differential between two one-step forecasts
    (e.g. ``(y − a)² − (y − b)²``: < 0 where ``a`` forecast better): its mean over its
    standard error. ``lags``: autocovariances counted with Newey–West (Bartlett) weights, for
    losses correlated in time (a weak model's errors on a smooth series). None where it does
    not vary."""
    d = np.asarray(loss, dtype=np.float64)
    n = len(d)
    if n < 2:
        return None
    centred = d - d.mean()
    variance = float(centred @ centred) / (n - 1)
    for k in range(1, min(lags, n - 1) + 1):
        variance += 2 * (1 - k / (lags + 1)) * float(centred[k:] @ centred[:-k]) / (n - 1)
    return float(d.mean() / math.sqrt(variance / n)) if variance > 0 else None
