"""Per-fold and aggregate metrics of a walk-forward backtest (see :mod:`app.ml.backtest`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from app.ml.baselines import METHODS
from app.ml.calendar import format_period
from app.ml.dataset import DatasetPlan
from app.ml.evaluate import baseline_forecasts, forecast_origins, interval_histories
from app.ml.inference import PointForecaster
from app.ml.intervals import LEVELS, Intervals, inside
from app.ml.metrics import mae, mape, naive_scale, rmse, skill

if TYPE_CHECKING:
    from app.ml.references import ReferenceFit

# One-step rows (Nixtla-style, with a cutoff column) are returned up to this many origins.
MAX_FORECAST_ROWS = 10_000
INTERVAL_COLUMNS = (80, 95)


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


def _one_step(errors: list[FoldErrors], name: str) -> dict[str, float | None] | None:
    """RMSE, MAE, MAPE and MASE of the step-1 forecasts (pooled over the folds given)."""
    if any(e.predicted[name] is None for e in errors):
        return None
    y = np.concatenate([e.actual[:, 0] for e in errors])
    y_hat = np.concatenate([_get(e, name)[:, 0] for e in errors])
    scaled = np.concatenate(
        [np.abs(e.actual[:, 0] - _get(e, name)[:, 0]) / e.scale for e in errors]
    )
    return {
        "rmse": rmse(y, y_hat),
        "mae": mae(y, y_hat),
        "mape": mape(y, y_hat),
        "mase": float(np.mean(scaled)) if all(e.scale > 0 for e in errors) else None,
    }


def _get(errors: FoldErrors, name: str) -> np.ndarray:
    value = errors.predicted[name]
    assert value is not None
    return value


def _per_step(errors: list[FoldErrors], name: str) -> list[float] | None:
    if any(e.predicted[name] is None for e in errors):
        return None
    sq = np.concatenate([(e.actual - _get(e, name)) ** 2 for e in errors])
    return [float(v) for v in np.sqrt(np.mean(sq, axis=0))]


def _skills(one_step: dict[str, Any]) -> dict[str, float | None]:
    model = one_step["model"]["rmse"]
    return {
        f"skill_vs_{m}": skill(model, one_step[m]["rmse"]) if one_step[m] else None for m in METHODS
    }


def _multi(per_step: dict[str, Any]) -> dict[str, Any]:
    """The two readings of "H-step RMSE": at step H, and averaged over steps 1…H."""

    def reading(steps: list[float] | None) -> dict[str, float] | None:
        if steps is None:
            return None
        return {"rmse_at_horizon": steps[-1], "rmse_mean_over_steps": float(np.mean(steps))}

    out: dict[str, Any] = {
        name: reading(steps) for name, steps in per_step.items() if name != "references"
    }
    out["references"] = {n: reading(s) for n, s in per_step.get("references", {}).items()}
    return out


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


def _with_references(
    values: dict[str, Any], errors: list[FoldErrors], score: Callable[[list[FoldErrors], str], Any]
) -> dict[str, Any]:
    return {**values, "references": {n: score(errors, n) for n in reference_names(errors)}}


def fold_row(
    dates: pd.DatetimeIndex,
    plan: DatasetPlan,
    fold: Fold,
    scored: Scored,
    errors: FoldErrors,
    fit_seconds: float,
    refit: bool,
) -> dict[str, Any]:
    names = ["model", *METHODS]
    one_step: dict[str, Any] = {name: _one_step([errors], name) for name in names}
    one_step.update(_skills(one_step))
    one_step = _with_references(one_step, [errors], _one_step)
    per_step = _with_references(
        {name: _per_step([errors], name) for name in names}, [errors], _per_step
    )
    last_actual = min(fold.end - 1 + errors.actual.shape[1] - 1, len(dates) - 1)
    return {
        "fold": fold.index + 1,
        "cutoff": format_period(dates[fold.cutoff]),
        "train": {
            "start": format_period(dates[0]),
            "end": format_period(dates[fold.cutoff - 1]),
            "points": fold.cutoff,
            "holdout_start": format_period(plan.dates[plan.holdout_start]) if refit else None,
        },
        "test": {
            "start": format_period(dates[fold.cutoff]),
            "end": format_period(dates[fold.end - 1]),
            "origins": fold.end - fold.cutoff,
            "last_actual": format_period(dates[last_actual]),
        },
        "fit_seconds": fit_seconds if refit else 0.0,
        "train_seconds": scored.train_seconds if refit else 0.0,
        "epochs_run": scored.epochs_run if refit else 0,
        "one_step": one_step,
        "per_step_rmse": per_step,
        "multi_step": _multi(per_step),
        "coverage": _coverage([errors], one_step=False),
        "coverage_one_step": _coverage([errors], one_step=True),
    }


def _mean(values: list[Any]) -> float | None:
    nums = [v for v in values if v is not None]
    return float(np.mean(nums)) if nums and len(nums) == len(values) else None


def aggregate(rows: list[dict[str, Any]], errors: list[FoldErrors]) -> dict[str, Any]:
    names = ["model", *METHODS]
    mean_one: dict[str, Any] = {}
    for name in names:
        metrics = [row["one_step"][name] for row in rows]
        mean_one[name] = (
            None
            if any(m is None for m in metrics)
            else {k: _mean([m[k] for m in metrics]) for k in ("rmse", "mae", "mape", "mase")}
        )
    mean_one.update(_skills(mean_one))
    mean_steps: dict[str, list[float] | None] = {}
    for name in names:
        steps = [row["per_step_rmse"][name] for row in rows]
        mean_steps[name] = (
            None if any(s is None for s in steps) else np.mean(steps, axis=0).tolist()
        )
    pooled_one: dict[str, Any] = {name: _one_step(errors, name) for name in names}
    pooled_one.update(_skills(pooled_one))
    pooled_one = _with_references(pooled_one, errors, _one_step)
    pooled_steps = _with_references(
        {name: _per_step(errors, name) for name in names}, errors, _per_step
    )
    common = reference_names(errors)
    mean_one["references"] = {
        n: {
            k: _mean([row["one_step"]["references"][n][k] for row in rows])
            for k in ("rmse", "mae", "mape", "mase")
        }
        for n in common
    }
    mean_steps_refs = {
        n: np.mean([row["per_step_rmse"]["references"][n] for row in rows], axis=0).tolist()
        for n in common
    }
    coverage_rows = [row["coverage"] for row in rows]
    return {
        "folds": len(rows),
        "nominal": {str(level): level / 100 for level in LEVELS},
        "mean": {
            "one_step": mean_one,
            "per_step_rmse": {**mean_steps, "references": mean_steps_refs},
            "multi_step": _multi({**mean_steps, "references": mean_steps_refs}),
            "coverage": None
            if any(c is None for c in coverage_rows)
            else {k: _mean([c[k] for c in coverage_rows]) for k in coverage_rows[0]},
            "fit_seconds": _mean([row["fit_seconds"] for row in rows]),
        },
        "pooled": {
            "one_step": pooled_one,
            "per_step_rmse": pooled_steps,
            "multi_step": _multi(pooled_steps),
            "coverage": _coverage(errors, one_step=False),
            "coverage_one_step": _coverage(errors, one_step=True),
        },
    }


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
