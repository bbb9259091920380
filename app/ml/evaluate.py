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
from typing import TYPE_CHECKING

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
    inside,
    residual_kind,
    residuals,
    volatility,
)
from app.ml.metrics import naive_scale, point_metrics, rmse, skill
from app.ml.results import (
    Choice,
    Coverage,
    Evaluation,
    HoldoutSeries,
    MultiStepErrors,
    OneStep,
    PointMetrics,
    ReferenceStatus,
)
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
    "evaluate_pooled",
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
    # A network's gate with ``ar`` (:func:`app.ml.train.ar_gate`): combined or not, and why.
    combination: Choice | None = None


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
    from app.ml.references import fit_statistical

    started = time.perf_counter()
    reference = fit_statistical(spec, plan.prices[: plan.holdout_start], season_length)
    return FittedForecaster(
        reference,
        holdout_intervals(reference, plan, horizon),
        train_seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class _Holdout:
    """A forecaster's recursive forecasts from every holdout origin of one series, next to the
    baselines' and references' on the same origins."""

    prices: np.ndarray
    origins: np.ndarray
    predicted: np.ndarray
    actual: np.ndarray
    base: dict[str, np.ndarray | None]
    refs: dict[str, np.ndarray]
    scales: np.ndarray
    mase_scale: float


def _holdout(
    forecaster: PointForecaster,
    plan: DatasetPlan,
    horizon: int,
    season_length: int,
    kind: ResidualKind,
    fits: Mapping[str, ReferenceFit],
) -> _Holdout:
    prices = plan.prices
    origins = np.arange(plan.holdout_start, len(prices))
    predicted, actual = forecast_origins(forecaster, prices, origins, horizon)
    train = prices[: plan.holdout_start]
    return _Holdout(
        prices=prices,
        origins=origins,
        predicted=predicted,
        actual=actual,
        base=baseline_forecasts(train, prices, origins, horizon, season_length),
        refs={
            method: forecast_origins(fit.forecaster, prices, origins, horizon)[0]
            for method, fit in fits.items()
            if fit.forecaster is not None
        },
        scales=origin_scales(prices, origins, kind),
        mase_scale=naive_scale(train),
    )


def _coverage_split(parts: list[_Holdout], kind: ResidualKind) -> dict[int, float | None]:
    """Calibrate on the first half of each series' origins, count on the second halves (over
    all steps; calibration residuals reaching into the second half are dropped)."""
    halves = [(p, len(p.origins) // 2) for p in parts if len(p.origins) // 2 >= MIN_RESIDUALS]
    if not halves:
        return {}
    calibration = []
    for p, half in halves:
        res = residuals(p.actual[:half], p.predicted[:half], kind)
        ahead = p.origins[:half, None] + np.arange(p.actual.shape[1])[None, :]
        res[ahead >= p.origins[half]] = np.nan
        calibration.append(res)
    try:
        intervals = calibrate(
            np.concatenate(calibration), kind, np.concatenate([p.scales[:h] for p, h in halves])
        )
    except ValueError:
        return {}
    hits: dict[int, list[np.ndarray]] = {level: [] for level in intervals.lo}
    for p, half in halves:
        later = p.origins[half:]
        histories = interval_histories(p.prices, later, intervals.history_needed)
        ok = ~np.isnan(p.actual[half:])
        for level in hits:
            inside_ = inside(p.actual[half:], p.predicted[half:], histories, intervals, level)
            hits[level].append(inside_[ok])
    return {
        level: float(np.concatenate(h).mean()) if sum(len(x) for x in h) else None
        for level, h in hits.items()
    }


def evaluate(
    forecaster: PointForecaster,
    plan: DatasetPlan,
    horizon: int,
    season_length: int = 1,
    references: Mapping[str, ReferenceFit] | None = None,
) -> Evaluation:
    """Everything reports and forecasts need (the bundle's ``evaluation.json``), with the
    fitted ``references`` measured on the same points as the model."""
    fits = dict(references or {})
    kind = residual_kind(plan.prices)
    part = _holdout(forecaster, plan, horizon, season_length, kind, fits)
    holdout = HoldoutSeries(
        dates=[d.strftime("%Y-%m-%dT%H:%M:%S") for d in plan.dates[plan.holdout_start :]],
        actual=part.actual[:, 0].tolist(),
        predicted=part.predicted[:, 0].tolist(),
    )
    return _summarise([part], kind, season_length, fits, holdout)


def evaluate_pooled(
    forecaster: PointForecaster, plans: list[DatasetPlan], horizon: int, season_length: int = 1
) -> tuple[Evaluation, list[OneStep]]:
    """A global model on every member's holdout: one evaluation over all their points
    together (RMSE in price units over every point, so dominated by the highest-priced
    members; MASE averaged per point on each member's own scale; intervals calibrated on
    every member's normalised residuals, so they serve any series), and each member's own
    one-step metrics next to its baselines. The pooled evaluation keeps no holdout series."""
    kind: ResidualKind = (
        "log_ratio" if all(residual_kind(p.prices) == "log_ratio" for p in plans) else "difference"
    )
    parts = [_holdout(forecaster, plan, horizon, season_length, kind, {}) for plan in plans]
    members = [_one_step([part]) for part in parts]
    empty = HoldoutSeries(dates=[], actual=[], predicted=[])
    return _summarise(parts, kind, season_length, {}, empty), members


def one_step_table(
    by_name: Mapping[str, PointMetrics | None], references: dict[str, PointMetrics]
) -> OneStep:
    """The model's one-step metrics next to each baseline's (``by_name``: ``model`` and each
    of METHODS) and each reference's, with its skill against each baseline."""
    model, naive, drift = by_name["model"], by_name["naive"], by_name["drift"]
    assert model is not None
    assert naive is not None
    assert drift is not None
    skills = {
        f"skill_vs_{m}": skill(model.rmse, found.rmse) if (found := by_name[m]) else None
        for m in METHODS
    }
    return OneStep(
        model=model,
        naive=naive,
        drift=drift,
        seasonal_naive=by_name["seasonal_naive"],
        references=references,
        **skills,
    )


def _one_step(parts: list[_Holdout]) -> OneStep:
    """One-step metrics of the model, each baseline and reference, over every part's first
    step (MASE per point on its own part's scale)."""
    actual = np.concatenate([p.actual[:, 0] for p in parts])
    first = ~np.isnan(actual)
    scale = np.concatenate([np.full(len(p.origins), p.mase_scale) for p in parts])

    def metrics(columns: list[np.ndarray | None]) -> PointMetrics | None:
        if any(c is None for c in columns):
            return None
        predicted = np.concatenate([c[:, 0] for c in columns if c is not None])
        return point_metrics(actual[first], predicted[first], scale[first])

    by_name = {"model": metrics([p.predicted for p in parts])}
    by_name.update({method: metrics([p.base[method] for p in parts]) for method in METHODS})
    references = {method: metrics([p.refs[method] for p in parts]) for method in parts[0].refs}
    return one_step_table(by_name, {m: r for m, r in references.items() if r is not None})


def _summarise(
    parts: list[_Holdout],
    kind: ResidualKind,
    season_length: int,
    fits: Mapping[str, ReferenceFit],
    holdout: HoldoutSeries,
) -> Evaluation:
    actual = np.concatenate([p.actual for p in parts], axis=0)
    predicted = np.concatenate([p.predicted for p in parts], axis=0)
    measured = _coverage_split(parts, kind)
    scales = np.concatenate([p.scales for p in parts], axis=0)
    intervals = calibrate(residuals(actual, predicted, kind), kind, scales)
    return Evaluation(
        holdout=holdout,
        season_length=season_length,
        one_step=_one_step(parts),
        multi_step=_multi_step(parts, actual, predicted),
        intervals=intervals.to_json(),
        coverage=Coverage(
            method="volatility-normalised split conformal: calibrated on the first half of "
            "the holdout origins, counted on the second half, over all steps",
            nominal={str(level): level / 100 for level in LEVELS},
            measured={str(k): v for k, v in measured.items()},
        ),
        references={
            method: ReferenceStatus(
                status=fit.status,
                seconds=round(fit.seconds, 3),
                config=fit.config,
                detail=fit.detail,
            )
            for method, fit in fits.items()
        },
    )


def _multi_step(
    parts: list[_Holdout], actual: np.ndarray, predicted: np.ndarray
) -> MultiStepErrors:
    """RMSE at each step ahead of the model, each baseline and each reference."""

    def per_step(columns: list[np.ndarray | None]) -> list[float | None] | None:
        if any(c is None for c in columns):
            return None
        return rmse_per_step(actual, np.concatenate([c for c in columns if c is not None], axis=0))

    baselines = {f"{method}_rmse": per_step([p.base[method] for p in parts]) for method in METHODS}
    return MultiStepErrors(
        h=list(range(1, actual.shape[1] + 1)),
        points=(~np.isnan(actual)).sum(axis=0).tolist(),
        model_rmse=rmse_per_step(actual, predicted),
        references_rmse={
            method: rmse_per_step(actual, np.concatenate([p.refs[method] for p in parts], axis=0))
            for method in parts[0].refs
        },
        **baselines,
    )
