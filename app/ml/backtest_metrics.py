"""Per-fold and aggregate metrics of a walk-forward backtest (see :mod:`app.ml.backtest`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.ml.baselines import METHODS
from app.ml.calendar import format_period
from app.ml.dataset import DatasetPlan
from app.ml.evaluate import (
    baseline_forecasts,
    forecast_origins,
    interval_histories,
    one_step_table,
)
from app.ml.inference import PointForecaster
from app.ml.intervals import LEVELS, Intervals, inside
from app.ml.metrics import naive_scale, point_metrics
from app.ml.results import (
    BacktestAggregate,
    BacktestFold,
    ByForecaster,
    FoldMeans,
    FoldTest,
    FoldTrain,
    HorizonRmse,
    OneStep,
    PointMetrics,
    Pooled,
)

if TYPE_CHECKING:
    from app.ml.references import ReferenceFit

# One-step rows (Nixtla-style, with a cutoff column) are returned up to this many origins.
MAX_FORECAST_ROWS = 10_000
INTERVAL_COLUMNS = (80, 95)
# The model and each baseline, in the order reports show them.
NAMES = ("model", *METHODS)


@dataclass(frozen=True)
class Fold:
    index: int
    cutoff: int  # first test origin: the fold trains on values[:cutoff]
    end: int  # one past the last test origin


@dataclass
class Scored:
    """A forecaster as the folds score it (intervals None: coverage is not measured)."""

    forecaster: PointForecaster
    intervals: Intervals | None
    train_seconds: float = 0.0
    epochs_run: int = 0
    cancelled: bool = False


@dataclass
class FoldErrors:
    """Forecasts and actuals of one fold, origins × horizon."""

    cutoff: int
    origins: np.ndarray
    actual: np.ndarray
    predicted: dict[str, np.ndarray | None]  # "model" and each baseline
    scale: float  # MASE denominator: naive MAE on the data before the fold's cutoff
    inside: dict[int, np.ndarray] | None  # level → origins × horizon
    bounds: dict[int, tuple[np.ndarray, np.ndarray]] | None  # one-step lo/hi per level


def fold_errors(
    prices: np.ndarray,
    fold: Fold,
    scored: Scored,
    horizon: int,
    season_length: int,
    references: Mapping[str, ReferenceFit] | None = None,
) -> FoldErrors:
    origins = np.arange(fold.cutoff, fold.end)
    predicted, actual = forecast_origins(scored.forecaster, prices, origins, horizon)
    # The yardsticks know everything before the cutoff, as the model does (its plan's holdout,
    # which calibrates its intervals, lies before the cutoff too).
    train = prices[: fold.cutoff]
    series: dict[str, np.ndarray | None] = {"model": predicted}
    series.update(baseline_forecasts(train, prices, origins, horizon, season_length))
    for method, fit in (references or {}).items():
        if fit.forecaster is not None:
            series[method] = forecast_origins(fit.forecaster, prices, origins, horizon)[0]
    covered = bounds = None
    if scored.intervals is not None:
        intervals = scored.intervals
        histories = interval_histories(prices, origins, intervals.history_needed)
        covered = {
            lvl: inside(actual, predicted, histories, intervals, lvl) for lvl in intervals.lo
        }
        bounds = {}
        for level in INTERVAL_COLUMNS:
            if level in intervals.lo:
                lo, hi = intervals.bounds(predicted[:, :1], level, histories)
                bounds[level] = (lo[:, 0], hi[:, 0])
    return FoldErrors(fold.cutoff, origins, actual, series, naive_scale(train), covered, bounds)


def _one_step(errors: list[FoldErrors], name: str) -> PointMetrics | None:
    """RMSE, MAE, MAPE and MASE of the step-1 forecasts (pooled over the folds given, MASE
    per point on its own fold's scale)."""
    if any(e.predicted[name] is None for e in errors):
        return None
    return point_metrics(
        np.concatenate([e.actual[:, 0] for e in errors]),
        np.concatenate([_get(e, name)[:, 0] for e in errors]),
        np.concatenate([np.full(len(e.origins), e.scale) for e in errors]),
    )


def _get(errors: FoldErrors, name: str) -> np.ndarray:
    value = errors.predicted[name]
    assert value is not None
    return value


def _per_step(errors: list[FoldErrors], name: str) -> list[float] | None:
    if any(e.predicted[name] is None for e in errors):
        return None
    sq = np.concatenate([(e.actual - _get(e, name)) ** 2 for e in errors])
    return [float(v) for v in np.sqrt(np.mean(sq, axis=0))]


def _pooled_one_step(errors: list[FoldErrors]) -> OneStep:
    references = {n: _one_step(errors, n) for n in reference_names(errors)}
    return one_step_table(
        {name: _one_step(errors, name) for name in NAMES},
        {n: m for n, m in references.items() if m is not None},
    )


def _per_step_table(errors: list[FoldErrors]) -> ByForecaster[list[float]]:
    references = {n: _per_step(errors, n) for n in reference_names(errors)}
    return ByForecaster[list[float]](
        **{name: _per_step(errors, name) for name in NAMES},
        references={n: steps for n, steps in references.items() if steps is not None},
    )


def _horizon(steps: list[float] | None) -> HorizonRmse | None:
    if steps is None:
        return None
    return HorizonRmse(rmse_at_horizon=steps[-1], rmse_mean_over_steps=float(np.mean(steps)))


def _multi(per_step: ByForecaster[list[float]]) -> ByForecaster[HorizonRmse]:
    """The two readings of "H-step RMSE": at step H, and averaged over steps 1…H."""
    horizons = {n: _horizon(steps) for n, steps in per_step.references.items()}
    return ByForecaster[HorizonRmse](
        **{name: _horizon(getattr(per_step, name)) for name in NAMES},
        references={n: h for n, h in horizons.items() if h is not None},
    )


def _coverage(errors: list[FoldErrors], one_step: bool) -> dict[str, float] | None:
    if any(e.inside is None for e in errors):
        return None
    levels = sorted(errors[0].inside or {})
    out = {}
    for level in levels:
        hits = [(e.inside or {})[level] for e in errors]
        ok = [~np.isnan(e.actual) for e in errors]
        if one_step:
            hits, ok = [h[:, :1] for h in hits], [o[:, :1] for o in ok]
        out[str(level)] = float(
            np.concatenate([h[o] for h, o in zip(hits, ok, strict=True)]).mean()
        )
    return out


def reference_names(errors: list[FoldErrors]) -> list[str]:
    """The references every one of these folds has forecasts of."""
    names = [n for n in errors[0].predicted if n != "model" and n not in METHODS] if errors else []
    return [n for n in names if all(e.predicted.get(n) is not None for e in errors)]


def fold_row(
    dates: pd.DatetimeIndex,
    plan: DatasetPlan,
    fold: Fold,
    scored: Scored,
    errors: FoldErrors,
    fit_seconds: float,
    refit: bool,
) -> BacktestFold:
    per_step = _per_step_table([errors])
    last_actual = min(fold.end - 1 + errors.actual.shape[1] - 1, len(dates) - 1)
    return BacktestFold(
        fold=fold.index + 1,
        cutoff=format_period(dates[fold.cutoff]),
        train=FoldTrain(
            start=format_period(dates[0]),
            end=format_period(dates[fold.cutoff - 1]),
            points=fold.cutoff,
            holdout_start=format_period(plan.dates[plan.holdout_start]) if refit else None,
        ),
        test=FoldTest(
            start=format_period(dates[fold.cutoff]),
            end=format_period(dates[fold.end - 1]),
            origins=fold.end - fold.cutoff,
            last_actual=format_period(dates[last_actual]),
        ),
        fit_seconds=fit_seconds if refit else 0.0,
        train_seconds=scored.train_seconds if refit else 0.0,
        epochs_run=scored.epochs_run if refit else 0,
        one_step=_pooled_one_step([errors]),
        per_step_rmse=per_step,
        multi_step=_multi(per_step),
        coverage=_coverage([errors], one_step=False),
        coverage_one_step=_coverage([errors], one_step=True),
    )


def _mean(values: list[Any]) -> float | None:
    nums = [v for v in values if v is not None]
    return float(np.mean(nums)) if nums and len(nums) == len(values) else None


def _mean_metrics(metrics: list[PointMetrics | None]) -> PointMetrics | None:
    if any(m is None for m in metrics):
        return None
    return PointMetrics.model_validate(
        {k: _mean([getattr(m, k) for m in metrics]) for k in PointMetrics.model_fields}
    )


def _mean_steps(steps: list[list[float] | None]) -> list[float] | None:
    known = [s for s in steps if s is not None]
    return np.mean(known, axis=0).tolist() if len(known) == len(steps) else None


def _fold_means(rows: list[BacktestFold], common: list[str]) -> FoldMeans:
    """Each number averaged over the folds (a reference: over the folds that all fitted it)."""
    one_step = one_step_table(
        {name: _mean_metrics([getattr(r.one_step, name) for r in rows]) for name in NAMES},
        {n: m for n in common if (m := _mean_metrics([r.one_step.references[n] for r in rows]))},
    )
    per_step = ByForecaster[list[float]](
        **{name: _mean_steps([getattr(r.per_step_rmse, name) for r in rows]) for name in NAMES},
        references={
            n: np.mean([r.per_step_rmse.references[n] for r in rows], axis=0).tolist()
            for n in common
        },
    )
    coverage = [r.coverage for r in rows]
    return FoldMeans(
        one_step=one_step,
        per_step_rmse=per_step,
        multi_step=_multi(per_step),
        coverage=None
        if any(c is None for c in coverage)
        else {k: _mean([(c or {})[k] for c in coverage]) for k in coverage[0] or {}},
        fit_seconds=_mean([r.fit_seconds for r in rows]),
    )


def aggregate(rows: list[BacktestFold], errors: list[FoldErrors]) -> BacktestAggregate:
    per_step = _per_step_table(errors)
    return BacktestAggregate(
        folds=len(rows),
        nominal={str(level): level / 100 for level in LEVELS},
        mean=_fold_means(rows, reference_names(errors)),
        pooled=Pooled(
            one_step=_pooled_one_step(errors),
            per_step_rmse=per_step,
            multi_step=_multi(per_step),
            coverage=_coverage(errors, one_step=False),
            coverage_one_step=_coverage(errors, one_step=True),
        ),
    )


def forecasts_table(dates: pd.DatetimeIndex, errors: list[FoldErrors]) -> dict[str, Any] | None:
    """One-step forecasts of every origin, column-oriented with a ``cutoff`` column."""
    if not errors or sum(len(e.origins) for e in errors) > MAX_FORECAST_ROWS:
        return None
    out: dict[str, list[Any]] = {"cutoff": [], "ds": [], "y": []}
    for name in ("model", *METHODS):
        out[name] = []
    with_bounds = all(e.bounds for e in errors)
    if with_bounds:
        for level in errors[0].bounds or {}:
            out[f"lo_{level}"], out[f"hi_{level}"] = [], []
    for e in errors:
        out["cutoff"] += [format_period(dates[e.cutoff])] * len(e.origins)
        out["ds"] += [format_period(dates[t]) for t in e.origins]
        out["y"] += e.actual[:, 0].tolist()
        for name in ("model", *METHODS):
            series = e.predicted[name]
            out[name] += [None] * len(e.origins) if series is None else series[:, 0].tolist()
        if with_bounds:
            for level, (lo, hi) in (e.bounds or {}).items():
                out[f"lo_{level}"] += lo.tolist()
                out[f"hi_{level}"] += hi.tolist()
    return out
