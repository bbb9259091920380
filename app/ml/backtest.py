"""Walk-forward (rolling-origin) backtests, next to naive, drift and seasonal naive (no TF).

Fold layout (:func:`fold_layout`) for ``windows`` W, ``step`` s (default: the horizon) and
``horizon`` H on n observations: fold k = 0 … W−1 has the cutoff
``c_k = n − s − H + 1 − (W − 1 − k) · s``; its test origins are ``c_k … c_k + s − 1``, each
forecast 1…H steps ahead from the values before it, so the last origin's horizon ends on the
last observation and every origin is scored at every step.

With refit, fold k trains on the data before its cutoff only: ``fit`` gets a
:class:`DatasetPlan` of ``values[:c_k]`` whose holdout (the spec's ``test_fraction`` of it, used
for early stopping and to calibrate the intervals) also lies before the cutoff. Without refit
one trained version (``fixed``) is scored on every fold, and no cutoff may lie before
``earliest_cutoff`` (the first observation it did not train on). The baselines of a fold are
fitted on all the data before its cutoff (the drift slope, and MASE's scale), with the same
code as the baseline architectures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from app.ml.backtest_metrics import (
    MAX_FORECAST_ROWS,
    Fold,
    FoldErrors,
    Scored,
    aggregate,
    fold_errors,
    fold_row,
    forecasts_table,
)
from app.ml.calendar import format_period
from app.ml.dataset import DatasetError, DatasetPlan, plan_dataset, select_range
from app.ml.evaluate import FittedForecaster, holdout_intervals
from app.ml.inference import PointForecaster
from app.ml.references import fit_references
from app.ml.results import BacktestFold, BacktestResult
from app.ml.spec import MAX_BACKTEST_FORECASTS, BacktestSpec, ReferenceMethod, TrainingSpec

__all__ = ["MAX_FORECAST_ROWS", "Fit", "Fold", "OnFold", "check_folds", "fold_layout",
           "fold_plan", "run_backtest"]  # fmt: skip

# A fit callback returns the forecaster with intervals (app.ml.train.fit_forecaster,
# app.ml.evaluate.fitted_baseline) or a bare forecaster (intervals are then calibrated on the
# fold plan's holdout).
Fit = Callable[[DatasetPlan], FittedForecaster | PointForecaster]
# Called after every fold with (folds done, folds in all); returning False cancels.
OnFold = Callable[[int, int], bool]


def fold_layout(n: int, backtest: BacktestSpec) -> list[Fold]:
    """The folds on ``n`` observations, oldest first (see the module docstring)."""
    step, horizon, windows = backtest.effective_step, backtest.horizon, backtest.windows
    forecasts = windows * step * horizon
    if (
        forecasts > MAX_BACKTEST_FORECASTS
    ):  # checked here, not in the spec: stored specs stay readable
        raise DatasetError(
            f"windows × step × horizon = {forecasts:,} forecast values; at most "
            f"{MAX_BACKTEST_FORECASTS:,} fit in a worker's memory. Ask for fewer windows, a "
            "smaller step or horizon."
        )
    last = n - step - horizon + 1
    cutoffs = [last - (windows - 1 - k) * step for k in range(windows)]
    if cutoffs[0] < 2:
        raise DatasetError(
            f"a backtest of {windows} fold(s) × {step} origin(s) with horizon {horizon} needs "
            f"{backtest.test_points} observations after the first cutoff and training data "
            f"before it; the series has {n}. Ask for fewer windows, a smaller step or horizon."
        )
    return [Fold(k, c, c + step) for k, c in enumerate(cutoffs)]


def _fold_spec(spec: TrainingSpec) -> TrainingSpec:
    """The spec as it applies inside one fold: no date range, holdout by test_fraction."""
    return spec.model_copy(
        update={"start": None, "end": None, "test_start": None, "backtest": None}
    )


def fold_plan(
    prices: np.ndarray,
    dates: pd.DatetimeIndex,
    spec: TrainingSpec,
    fold: Fold,
    season_length: int,
) -> DatasetPlan:
    """What the fold trains on: the values before its cutoff, split by ``test_fraction``."""
    series = pd.Series(prices[: fold.cutoff], index=dates[: fold.cutoff])
    try:
        return plan_dataset(series, _fold_spec(spec), season_length=season_length)
    except DatasetError as exc:
        raise DatasetError(
            f"backtest fold {fold.index + 1} (cutoff {format_period(dates[fold.cutoff])}, "
            f"{fold.cutoff} observations before it): {exc} Ask for fewer windows or a smaller "
            "step."
        ) from exc


def _check_earliest(dates: pd.DatetimeIndex, folds: list[Fold], earliest_cutoff: int) -> None:
    if folds[0].cutoff < earliest_cutoff:
        first_unseen = (
            format_period(dates[earliest_cutoff])
            if earliest_cutoff < len(dates)
            else "the end of the data"
        )
        raise DatasetError(
            f"without refit every cutoff must lie on or after {first_unseen}, the first "
            f"observation the version did not train on; the first of {len(folds)} fold(s) would "
            f"start at {format_period(dates[folds[0].cutoff])}. Ask for fewer windows, a smaller "
            "step or refit."
        )


def check_folds(
    values: pd.Series,
    spec: TrainingSpec,
    earliest_cutoff: pd.Timestamp | None = None,
    *,
    season_length: int = 1,
) -> list[Fold]:
    """Raise DatasetError unless ``spec.backtest`` fits the data (cheap: nothing is trained).

    ``values``: the whole series (the spec's start/end are applied here); ``earliest_cutoff``:
    without refit, the first date the version did not train on.
    """
    if spec.backtest is None:
        raise ValueError("the spec has no backtest")
    dates, prices = select_range(values, spec)
    folds = fold_layout(len(prices), spec.backtest)
    if earliest_cutoff is not None:
        _check_earliest(dates, folds, int(dates.searchsorted(earliest_cutoff)))
    if spec.backtest.refit:
        fold_plan(prices, dates, spec, folds[0], season_length)
    return folds


def _scored(result: FittedForecaster | PointForecaster, plan: DatasetPlan | None, h: int) -> Scored:
    if isinstance(result, FittedForecaster):
        return Scored(
            result.forecaster,
            result.intervals,
            result.train_seconds,
            result.epochs_run,
            result.cancelled,
        )
    return Scored(result, holdout_intervals(result, plan, h) if plan is not None else None)


def run_backtest(
    prices: np.ndarray,
    dates: pd.DatetimeIndex,
    spec: TrainingSpec,
    backtest: BacktestSpec,
    *,
    season_length: int,
    fit: Fit | None = None,
    fixed: FittedForecaster | PointForecaster | None = None,
    earliest_cutoff: int = 0,
    on_fold: OnFold | None = None,
    references: Sequence[ReferenceMethod] = (),
    reference_budget_s: float = 20.0,
    seasons: tuple[int, ...] = (),
) -> BacktestResult:
    """Score ``fit`` (refit on every fold) or ``fixed`` (one version) on rolling-origin folds,
    next to the baselines and the statistical ``references``, fitted on the data before each
    cutoff (each within ``reference_budget_s``).

    ``prices``/``dates``: the selected range (e.g. a DatasetPlan's). Metrics are in the units of
    the values. Raises DatasetError when the data cannot hold the folds.
    """
    if fixed is None and fit is None:
        raise ValueError("run_backtest needs fit (refit per fold) or fixed (one version)")
    prices = np.asarray(prices, dtype=np.float64)
    dates = pd.DatetimeIndex(dates)
    horizon = backtest.horizon
    folds = fold_layout(len(prices), backtest)
    scored_fixed: Scored | None = None
    plan_spec = spec
    if fixed is not None:
        _check_earliest(dates, folds, earliest_cutoff)
        scored_fixed = _scored(fixed, None, horizon)
        need = max(scored_fixed.forecaster.history_needed, 1)
        if folds[0].cutoff < need:
            raise DatasetError(
                f"the first fold has {folds[0].cutoff} observation(s) before its cutoff; the "
                f"version needs {need}. Ask for fewer windows or a smaller step."
            )
        plan_spec = spec.model_copy(update={"architecture": "naive"})  # baselines' plan only
    rows: list[BacktestFold] = []
    pooled: list[FoldErrors] = []
    cancelled = False
    for fold in folds:
        plan = fold_plan(prices, dates, plan_spec, fold, season_length)
        started = time.perf_counter()
        scored = scored_fixed or _scored(_call(fit, plan), plan, horizon)
        fit_seconds = time.perf_counter() - started
        if scored.cancelled:
            cancelled = True
            break
        fits = fit_references(
            list(references), prices[: fold.cutoff], season_length, reference_budget_s, seasons
        )
        errors = fold_errors(prices, fold, scored, horizon, season_length, fits)
        rows.append(fold_row(dates, plan, fold, scored, errors, fit_seconds, fixed is None))
        pooled.append(errors)
        if on_fold is not None and not on_fold(fold.index + 1, len(folds)):
            cancelled = fold.index + 1 < len(folds)
            if cancelled:
                break
    return BacktestResult(
        windows=backtest.windows,
        step=backtest.effective_step,
        horizon=horizon,
        refit=fixed is None,
        season_length=season_length,
        cancelled=cancelled,
        folds=rows,
        aggregate=aggregate(rows, pooled) if rows else None,
        forecasts=forecasts_table(dates, pooled),
    )


def _call(fit: Fit | None, plan: DatasetPlan) -> FittedForecaster | PointForecaster:
    assert fit is not None
    return fit(plan)
