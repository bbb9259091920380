"""Holdout evaluation of a served forecaster: recursive multi-step errors next to the naive,
drift and seasonal naive baselines, and conformal prediction intervals calibrated on the same
residuals (see :mod:`app.ml.intervals`).

Everything here uses the forecaster that the API serves (the ONNX network, or the baseline), so
reported accuracy is the accuracy of what users get. The baselines are the baseline
architectures' own code (:mod:`app.ml.baselines`), fitted on the plan's training part.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.ml.baselines import METHODS, fit_all, fit_baseline
from app.ml.dataset import DatasetPlan
from app.ml.inference import PointForecaster
from app.ml.intervals import (
    LEVELS,
    MIN_RESIDUALS,
    VOL_WINDOW,
    Intervals,
    ResidualKind,
    calibrate,
    coverage,
    residual_kind,
    residuals,
    volatility,
)
from app.ml.metrics import naive_scale, point_metrics, rmse, skill
from app.ml.records import Evaluation
from app.ml.spec import TrainingSpec

if TYPE_CHECKING:
    from app.ml.references import ReferenceFit

__all__ = [
    "LEVELS",
    "FittedForecaster",
    "Intervals",
    "ResidualKind",
    "baseline_forecasts",
    "calibrate",
    "evaluate",
    "fitted_baseline",
    "forecast_origins",
    "holdout_intervals",
    "recursive_holdout",
    "rmse_per_step",
]


@dataclass
class FittedForecaster:
    """A trained forecaster with intervals calibrated on data it never trained on: what a
    backtest fold needs (the ``fit`` callback's result, or an existing version)."""

    forecaster: PointForecaster
    intervals: Intervals
    train_seconds: float = 0.0
    epochs_run: int = 0
    cancelled: bool = False


def histories_at(prices: np.ndarray, origins: np.ndarray, need: int) -> np.ndarray:
    """The ``need`` values before each origin (origins × need; origins must be ≥ need)."""
    return np.stack([prices[t - need : t] for t in origins])


def forecast_origins(
    forecaster: PointForecaster, prices: np.ndarray, origins: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every origin ``t``: forecasts of ``prices[t … t+horizon-1]`` from the values before
    ``t``, and those actual values (NaN past the end of the data). Shapes: origins × horizon."""
    predicted = forecaster.recursive(
        histories_at(prices, origins, forecaster.history_needed), horizon
    )
    ahead = origins[:, None] + np.arange(horizon)[None, :]
    actual = np.where(ahead < len(prices), prices[np.minimum(ahead, len(prices) - 1)], np.nan)
    return predicted, actual


def recursive_holdout(
    forecaster: PointForecaster, plan: DatasetPlan, horizon: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`forecast_origins` for every holdout target as origin."""
    origins = np.arange(plan.holdout_start, len(plan.prices))
    return forecast_origins(forecaster, plan.prices, origins, horizon)


def baseline_forecasts(
    train: np.ndarray, prices: np.ndarray, origins: np.ndarray, horizon: int, season_length: int
) -> dict[str, np.ndarray | None]:
    """Each baseline fitted on ``train``, forecast from every origin (None for seasonal naive
    where an origin has less than one season of history)."""
    out: dict[str, np.ndarray | None] = {}
    for method, baseline in fit_all(train, season_length).items():
        if int(origins.min()) < baseline.history_needed:
            out[method] = None
        else:
            out[method] = forecast_origins(baseline, prices, origins, horizon)[0]
    return out


def rmse_per_step(actual: np.ndarray, predicted: np.ndarray) -> list[float | None]:
    out: list[float | None] = []
    for h in range(actual.shape[1]):
        ok = ~np.isnan(actual[:, h])
        out.append(rmse(actual[ok, h], predicted[ok, h]) if ok.any() else None)
    return out


def interval_histories(prices: np.ndarray, origins: np.ndarray, need: int) -> np.ndarray:
    """The ``need`` values before each origin that intervals measure volatility on,
    NaN-padded in front where the data starts later."""
    out = np.full((len(origins), need), np.nan)
    for i, t in enumerate(origins):
        chunk = prices[max(0, t - need) : t]
        out[i, need - len(chunk) :] = chunk
    return out


def origin_scales(prices: np.ndarray, origins: np.ndarray, kind: ResidualKind) -> np.ndarray:
    """The volatility at each origin (NaN where it cannot be measured)."""
    return volatility(interval_histories(prices, origins, VOL_WINDOW + 1), kind)


def holdout_intervals(forecaster: PointForecaster, plan: DatasetPlan, horizon: int) -> Intervals:
    """Intervals calibrated on the residuals of recursive forecasts over the plan's holdout."""
    predicted, actual = recursive_holdout(forecaster, plan, horizon)
    origins = np.arange(plan.holdout_start, len(plan.prices))
    kind = residual_kind(plan.prices)
    return calibrate(
        residuals(actual, predicted, kind), kind, origin_scales(plan.prices, origins, kind)
    )


def fitted_baseline(
    plan: DatasetPlan, spec: TrainingSpec, season_length: int, horizon: int
) -> FittedForecaster:
    """A baseline spec fitted on the plan, with intervals calibrated on its holdout (the
    ``fit`` callback of a baseline backtest)."""
    baseline = fit_baseline(plan, spec, season_length)
    return FittedForecaster(baseline, holdout_intervals(baseline, plan, horizon))


def fitted_reference(
    plan: DatasetPlan, spec: TrainingSpec, season_length: int, horizon: int
) -> FittedForecaster:
    """A statistical model fitted on the plan's training part, with intervals calibrated on
    its holdout (the ``fit`` callback of a reference's backtest)."""
    from app.ml.references import fit_reference

    started = time.perf_counter()
    reference = fit_reference(
        spec.reference_method, plan.prices[: plan.holdout_start], season_length
    )
    return FittedForecaster(
        reference,
        holdout_intervals(reference, plan, horizon),
        train_seconds=time.perf_counter() - started,
    )


def _coverage_split(
    prices: np.ndarray,
    origins: np.ndarray,
    actual: np.ndarray,
    predicted: np.ndarray,
    kind: ResidualKind,
    scales: np.ndarray,
) -> dict[int, float | None]:
    """Calibrate on the first half of the origins, count on the second half (over all steps;
    calibration residuals reaching into the second half are dropped)."""
    half = len(origins) // 2
    if half < MIN_RESIDUALS:
        return {}
    res = residuals(actual[:half], predicted[:half], kind)
    ahead = origins[:half, None] + np.arange(actual.shape[1])[None, :]
    res[ahead >= origins[half]] = np.nan
    try:
        intervals = calibrate(res, kind, scales[:half])
    except ValueError:
        return {}
    later = origins[half:]
    histories = interval_histories(prices, later, intervals.history_needed)
    return coverage(actual[half:], predicted[half:], histories, intervals)


def evaluate(
    forecaster: PointForecaster,
    plan: DatasetPlan,
    horizon: int,
    season_length: int = 1,
    references: Mapping[str, ReferenceFit] | None = None,
) -> Evaluation:
    """Everything reports and forecasts need (the bundle's ``evaluation.json``), with the
    fitted ``references`` measured on the same points as the model."""
    prices = plan.prices
    origins = np.arange(plan.holdout_start, len(prices))
    predicted, actual = forecast_origins(forecaster, prices, origins, horizon)
    train = prices[: plan.holdout_start]
    base = baseline_forecasts(train, prices, origins, horizon, season_length)
    kind = residual_kind(prices)
    scales = origin_scales(prices, origins, kind)
    measured = _coverage_split(prices, origins, actual, predicted, kind, scales)
    intervals = calibrate(residuals(actual, predicted, kind), kind, scales)
    scale = naive_scale(train)
    first = ~np.isnan(actual[:, 0])
    one_step: dict[str, Any] = {
        "model": point_metrics(actual[first, 0], predicted[first, 0], scale)
    }
    for method in METHODS:
        series = base[method]
        one_step[method] = (
            None if series is None else point_metrics(actual[first, 0], series[first, 0], scale)
        )
    fits = dict(references or {})
    ref_forecasts = {
        method: forecast_origins(fit.forecaster, prices, origins, horizon)[0]
        for method, fit in fits.items()
        if fit.forecaster is not None
    }
    one_step["references"] = {
        method: point_metrics(actual[first, 0], series[first, 0], scale)
        for method, series in ref_forecasts.items()
    }
    model_rmse = float(one_step["model"]["rmse"])
    for method in METHODS:
        base_metrics = one_step[method]
        one_step[f"skill_vs_{method}"] = (
            None if base_metrics is None else skill(model_rmse, float(base_metrics["rmse"]))
        )
    multi_step: dict[str, Any] = {
        "h": list(range(1, horizon + 1)),
        "points": (~np.isnan(actual)).sum(axis=0).tolist(),
        "model_rmse": rmse_per_step(actual, predicted),
    }
    for method in METHODS:
        series = base[method]
        multi_step[f"{method}_rmse"] = None if series is None else rmse_per_step(actual, series)
    multi_step["references_rmse"] = {
        method: rmse_per_step(actual, series) for method, series in ref_forecasts.items()
    }
    return Evaluation.model_validate(
        {
            "holdout": {
                "dates": [
                    d.strftime("%Y-%m-%dT%H:%M:%S") for d in plan.dates[plan.holdout_start :]
                ],
                "actual": actual[:, 0].tolist(),
                "predicted": predicted[:, 0].tolist(),
            },
            "season_length": season_length,
            "one_step": one_step,
            "multi_step": multi_step,
            "intervals": intervals.to_json(),
            "coverage": {
                "method": "volatility-normalised split conformal: calibrated on the first half of "
                "the holdout origins, counted on the second half, over all steps",
                "nominal": {str(level): level / 100 for level in LEVELS},
                "measured": {str(k): v for k, v in measured.items()},
            },
            "references": {
                method: {
                    "status": fit.status,
                    "seconds": round(fit.seconds, 3),
                    "config": fit.config,
                    "detail": fit.detail,
                }
                for method, fit in fits.items()
            },
        }
    )
