"""Holdout evaluation of a served forecaster: recursive multi-step errors next to the naive and
drift baselines, and conformal prediction intervals calibrated on the same residuals.

Everything here uses the ONNX forecaster that the API serves, so reported accuracy is the
accuracy of what users get.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.ml.dataset import MIN_HOLDOUT, DatasetPlan
from app.ml.inference import Forecaster
from app.ml.metrics import naive_scale, point_metrics, rmse, skill

# Interval levels (percent) calibrated at training time; forecasts may ask for any of them.
LEVELS = (50, 80, 90, 95, 99)
# Steps with fewer calibration residuals than this borrow the last well-covered step's width,
# grown like a random walk (√h).
MIN_RESIDUALS = MIN_HOLDOUT
ResidualKind = Literal["log_ratio", "difference"]


@dataclass(frozen=True)
class Intervals:
    """Conformal quantiles of the residual per horizon step: ``lo[level][h]``, ``hi[level][h]``."""

    kind: ResidualKind
    lo: dict[int, list[float]]
    hi: dict[int, list[float]]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lo": {str(k): v for k, v in self.lo.items()},
            "hi": {str(k): v for k, v in self.hi.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Intervals:
        return cls(
            kind=data["kind"],
            lo={int(k): v for k, v in data["lo"].items()},
            hi={int(k): v for k, v in data["hi"].items()},
        )

    def bounds(self, point: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Interval around point forecasts for steps 1…len(point)."""
        lo, hi = (_extend(q[level], len(point)) for q in (self.lo, self.hi))
        if self.kind == "log_ratio":
            return np.asarray(point * np.exp(lo)), np.asarray(point * np.exp(hi))
        return np.asarray(point + lo), np.asarray(point + hi)


def _extend(quantiles: list[float], horizon: int) -> np.ndarray:
    q = np.asarray(quantiles, dtype=np.float64)
    if horizon <= len(q):
        return q[:horizon]
    steps = np.arange(len(q) + 1, horizon + 1)
    return np.concatenate([q, q[-1] * np.sqrt(steps / len(q))])


def recursive_holdout(
    forecaster: Forecaster, plan: DatasetPlan, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every holdout target as origin: forecasts for the next ``horizon`` steps and the
    actual values (NaN past the end of the data). Shapes: origins × horizon."""
    prices = plan.prices
    origins = np.arange(plan.holdout_start, len(prices))
    need = forecaster.history_needed
    histories = np.stack([prices[t - need : t] for t in origins])
    predicted = forecaster.recursive(histories, horizon)
    ahead = origins[:, None] + np.arange(horizon)[None, :]
    actual = np.where(ahead < len(prices), prices[np.minimum(ahead, len(prices) - 1)], np.nan)
    return predicted, actual


def baselines(plan: DatasetPlan, window: int, horizon: int) -> dict[str, np.ndarray]:
    """Naive (last value) and drift (last value + h × mean change over the window)."""
    prices = plan.prices
    origins = np.arange(plan.holdout_start, len(prices))
    last = prices[origins - 1]
    back = prices[np.maximum(origins - 1 - window, 0)]
    slope = (last - back) / window
    steps = np.arange(1, horizon + 1)[None, :]
    return {
        "naive": np.repeat(last[:, None], horizon, axis=1),
        "drift": last[:, None] + slope[:, None] * steps,
    }


def _rmse_per_step(actual: np.ndarray, predicted: np.ndarray) -> list[float | None]:
    out: list[float | None] = []
    for h in range(actual.shape[1]):
        ok = ~np.isnan(actual[:, h])
        out.append(rmse(actual[ok, h], predicted[ok, h]) if ok.any() else None)
    return out


def residuals(actual: np.ndarray, predicted: np.ndarray, kind: ResidualKind) -> np.ndarray:
    if kind == "log_ratio":
        return np.asarray(np.log(actual / predicted))
    return np.asarray(actual - predicted)


def calibrate(res: np.ndarray, kind: ResidualKind, levels: tuple[int, ...] = LEVELS) -> Intervals:
    """Split-conformal quantiles per step, widened so they never shrink with the horizon and
    always contain the point forecast."""
    horizon = res.shape[1]
    lo: dict[int, list[float]] = {}
    hi: dict[int, list[float]] = {}
    counts = (~np.isnan(res)).sum(axis=0)
    usable = int(np.max(np.flatnonzero(counts >= MIN_RESIDUALS), initial=-1)) + 1
    if usable == 0:
        raise ValueError(f"the holdout has fewer than {MIN_RESIDUALS} points to calibrate on")
    for level in levels:
        alpha = 1 - level / 100
        q_lo = np.nanquantile(res[:, :usable], alpha / 2, axis=0)
        q_hi = np.nanquantile(res[:, :usable], 1 - alpha / 2, axis=0)
        q_lo = np.minimum.accumulate(np.minimum(q_lo, 0.0))
        q_hi = np.maximum.accumulate(np.maximum(q_hi, 0.0))
        lo[level] = _extend([float(v) for v in q_lo], horizon).tolist()
        hi[level] = _extend([float(v) for v in q_hi], horizon).tolist()
    return Intervals(kind=kind, lo=lo, hi=hi)


def coverage(res: np.ndarray, intervals: Intervals) -> dict[int, float | None]:
    """Share of residuals inside each level's interval (over every origin and step)."""
    out: dict[int, float | None] = {}
    ok = ~np.isnan(res)
    for level in intervals.lo:
        lo = np.asarray(intervals.lo[level])[None, : res.shape[1]]
        hi = np.asarray(intervals.hi[level])[None, : res.shape[1]]
        inside = (res >= lo) & (res <= hi)
        out[level] = float(inside[ok].mean()) if ok.any() else None
    return out


def evaluate(forecaster: Forecaster, plan: DatasetPlan, horizon: int) -> dict[str, Any]:
    """Everything reports and forecasts need, JSON-ready (the bundle's ``evaluation.json``)."""
    predicted, actual = recursive_holdout(forecaster, plan, horizon)
    base = baselines(plan, forecaster.window, horizon)
    kind: ResidualKind = "log_ratio" if (plan.prices > 0).all() else "difference"
    res = residuals(actual, predicted, kind)
    # Measured coverage: calibrate on the first half of the origins, count on the second half.
    half = len(res) // 2
    measured = coverage(res[half:], calibrate(res[:half], kind)) if half >= MIN_RESIDUALS else {}
    intervals = calibrate(res, kind)
    scale = naive_scale(plan.prices[: plan.holdout_start])
    first = ~np.isnan(actual[:, 0])
    one_step = {
        name: point_metrics(actual[first, 0], series[first, 0], scale)
        for name, series in (("model", predicted), *base.items())
    }
    model_rmse = float(one_step["model"]["rmse"] or 0.0)
    return {
        "holdout": {
            "dates": [d.strftime("%Y-%m-%dT%H:%M:%S") for d in plan.dates[plan.holdout_start :]],
            "actual": actual[:, 0].tolist(),
            "predicted": predicted[:, 0].tolist(),
        },
        "one_step": {
            **one_step,
            "skill_vs_naive": skill(model_rmse, float(one_step["naive"]["rmse"] or 0.0)),
            "skill_vs_drift": skill(model_rmse, float(one_step["drift"]["rmse"] or 0.0)),
        },
        "multi_step": {
            "h": list(range(1, horizon + 1)),
            "points": (~np.isnan(actual)).sum(axis=0).tolist(),
            "model_rmse": _rmse_per_step(actual, predicted),
            "naive_rmse": _rmse_per_step(actual, base["naive"]),
            "drift_rmse": _rmse_per_step(actual, base["drift"]),
        },
        "intervals": intervals.to_json(),
        "coverage": {
            "method": "split conformal: calibrated on the first half of the holdout origins, "
            "counted on the second half, over all steps",
            "nominal": {str(level): level / 100 for level in LEVELS},
            "measured": {str(k): v for k, v in measured.items()},
        },
    }
