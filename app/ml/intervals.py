"""Prediction intervals: volatility-normalised split-conformal quantiles per horizon step.

Calibration (on a holdout the forecaster never trained on): for every origin ``t`` and step
``h`` the residual ``r = log(actual / forecast)`` (``actual − forecast`` for series with values
≤ 0) is divided by the *volatility at the origin*, ``σ_t``: the root mean square of the last
``vol_window`` one-step moves (log returns, or differences) of the history the forecast was made
from. The per-step quantiles of ``r / σ_t`` are kept. At forecast time the interval is
``forecast · exp(q · σ_now)`` (or ``forecast + q · σ_now``), with ``σ_now`` from the history
being forecast from, so intervals widen as soon as the series turns volatile (2008) and narrow
when it calms down.

Why (MSFT, ten yearly walk-forward folds 2006–2016, naive forecasts; BENCHMARKS.md, Accuracy):
plain split-conformal quantiles covered 54–92 % per fold for 80 % nominal (78.6 % on average),
normalised ones 75.5–86 % (80.8 %); for 95 %: 78–99.7 % before, 90.8–97.4 % now.

Once a version is served, the ledger measures whether its intervals keep their promise and
adapts their width per step and level (:class:`IntervalAdaptation`, computed by
``app.ledger.adaptation``); :meth:`Intervals.adapted` applies it: the calibrated quantiles times
``e^θ``, so a log-ratio interval is ``forecast · exp(q · σ · e^θ)`` and a difference interval
``forecast + q · σ · e^θ``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

# Interval levels (percent) calibrated at training time; forecasts may ask for any of them.
IntervalLevel = Literal[50, 80, 90, 95, 99]
LEVELS: tuple[int, ...] = get_args(IntervalLevel)
# Fewest residuals a horizon step is calibrated from; later steps borrow the last well-covered
# step's width, grown like a random walk (√h). Equals dataset.MIN_HOLDOUT.
MIN_RESIDUALS = 10
# One-step moves the volatility at an origin is measured over.
VOL_WINDOW = 20
ResidualKind = Literal["log_ratio", "difference"]


def residual_kind(values: np.ndarray) -> ResidualKind:
    """Log ratios for positive series (intervals scale with the level), differences otherwise."""
    return "log_ratio" if bool((np.asarray(values) > 0).all()) else "difference"


def residuals(actual: np.ndarray, predicted: np.ndarray, kind: ResidualKind) -> np.ndarray:
    if kind == "log_ratio":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.log(actual / predicted))
    return np.asarray(actual - predicted)


def volatility(histories: np.ndarray, kind: ResidualKind, window: int = VOL_WINDOW) -> np.ndarray:
    """Root mean square of the last ``window`` one-step moves of each row (NaN for a row with
    no finite move). Log returns for ``log_ratio``, differences otherwise."""
    rows = np.atleast_2d(np.asarray(histories, dtype=np.float64))[:, -(window + 1) :]
    with np.errstate(divide="ignore", invalid="ignore"):
        moves = np.diff(np.log(rows) if kind == "log_ratio" else rows, axis=1)
    moves[~np.isfinite(moves)] = np.nan
    ok = ~np.isnan(moves)
    count = ok.sum(axis=1)
    total = np.where(ok, moves, 0.0) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(count > 0, np.sqrt(total.sum(axis=1) / count), np.nan)


@dataclass(frozen=True)
class Intervals:
    """Quantiles of the normalised residual per horizon step: ``lo[level][h]``, ``hi[level][h]``.

    ``vol_window`` None marks a legacy bundle whose quantiles are not normalised (σ ≡ 1).
    ``scale_ref`` (the median σ over the calibration origins) stands in for σ when a history is
    too short or too degenerate to measure it.
    """

    kind: ResidualKind
    lo: dict[int, list[float]]
    hi: dict[int, list[float]]
    vol_window: int | None = VOL_WINDOW
    scale_ref: float = 1.0

    @property
    def history_needed(self) -> int:
        """Values of history the volatility is measured from (``vol_window`` + 1)."""
        return self.vol_window + 1 if self.vol_window is not None else 1

    @property
    def needs_positive(self) -> bool:
        return self.kind == "log_ratio"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "method": "volatility-normalised split conformal" if self.vol_window else "split",
            "vol_window": self.vol_window,
            "scale_ref": self.scale_ref,
            "lo": {str(k): v for k, v in self.lo.items()},
            "hi": {str(k): v for k, v in self.hi.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Intervals:
        """Reads bundles of either kind (those written before normalisation have no
        ``vol_window``: their quantiles are used as they are)."""
        vol_window = data.get("vol_window")
        return cls(
            kind=data["kind"],
            lo={int(k): v for k, v in data["lo"].items()},
            hi={int(k): v for k, v in data["hi"].items()},
            vol_window=int(vol_window) if vol_window is not None else None,
            scale_ref=float(data.get("scale_ref", 1.0)),
        )

    def scale(self, history: np.ndarray | None) -> np.ndarray:
        """σ for each row of history (``scale_ref`` where it cannot be measured)."""
        if self.vol_window is None:
            rows = 1 if history is None else np.atleast_2d(history).shape[0]
            return np.ones(rows)
        if history is None:
            return np.array([self.scale_ref])
        sigma = volatility(history, self.kind, self.vol_window)
        return np.where(np.isfinite(sigma) & (sigma > 0), sigma, self.scale_ref)

    def bounds(
        self, point: np.ndarray, level: int, history: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Interval around point forecasts for steps 1…horizon.

        ``point``: one forecast (horizon,) or rows × horizon; ``history``: the values the
        forecast was made from (one row, or one per point row; at least ``history_needed``
        values for a full-strength volatility estimate). None uses ``scale_ref``.
        """
        return self._around(point, level, self.scale(history))

    def bands(
        self, point: np.ndarray, levels: Sequence[int], history: np.ndarray | None
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """:meth:`bounds` for each of ``levels``, with σ measured once."""
        sigma = self.scale(history)
        return {level: self._around(point, level, sigma) for level in levels}

    def adapted(self, factors: Mapping[int, np.ndarray]) -> Intervals:
        """These intervals with each level's quantiles multiplied per step by ``factors[level]``
        (``e^θ`` of steps 1, 2, …; steps past its end keep factor 1), then widened where needed
        so that they still never narrow with the horizon. Computed once per adaptation, not per
        forecast: serving the result costs what serving these does."""
        lo, hi = dict(self.lo), dict(self.hi)
        for level, factor in factors.items():
            if level not in lo:
                continue
            f = np.asarray(factor, dtype=np.float64)
            steps = max(len(lo[level]), len(f))
            scale = np.ones(steps)
            scale[: len(f)] = f
            lo[level] = np.minimum.accumulate(_extend(lo[level], steps) * scale).tolist()
            hi[level] = np.maximum.accumulate(_extend(hi[level], steps) * scale).tolist()
        return replace(self, lo=lo, hi=hi)

    def _around(
        self, point: np.ndarray, level: int, sigma: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(point, dtype=np.float64)
        horizon = p.shape[-1]
        lo, hi = (_extend(q[level], horizon) for q in (self.lo, self.hi))
        if p.ndim == 1:
            sigma = sigma[:1]
            lo, hi = lo * sigma[0], hi * sigma[0]
        else:
            lo, hi = lo[None, :] * sigma[:, None], hi[None, :] * sigma[:, None]
        if self.kind == "log_ratio":
            return np.asarray(p * np.exp(lo)), np.asarray(p * np.exp(hi))
        return np.asarray(p + lo), np.asarray(p + hi)


def _extend(quantiles: list[float], horizon: int) -> np.ndarray:
    q = np.asarray(quantiles, dtype=np.float64)
    if horizon <= len(q):
        return q[:horizon]
    steps = np.arange(len(q) + 1, horizon + 1)
    return np.concatenate([q, q[-1] * np.sqrt(steps / len(q))])


def calibrate(
    res: np.ndarray,
    kind: ResidualKind,
    scales: np.ndarray,
    levels: tuple[int, ...] = LEVELS,
    vol_window: int = VOL_WINDOW,
) -> Intervals:
    """Split-conformal quantiles per step of ``res / scales`` (origins × steps; ``scales`` one
    σ per origin), widened so they never shrink with the horizon and always contain the point
    forecast."""
    sigma = np.asarray(scales, dtype=np.float64)
    good = np.isfinite(sigma) & (sigma > 0)
    scale_ref = float(np.median(sigma[good])) if good.any() else 1.0
    sigma = np.where(good, sigma, scale_ref)
    z = np.asarray(res, dtype=np.float64) / sigma[:, None]
    z[~np.isfinite(z)] = np.nan
    horizon = z.shape[1]
    counts = (~np.isnan(z)).sum(axis=0)
    usable = int(np.max(np.flatnonzero(counts >= MIN_RESIDUALS), initial=-1)) + 1
    if usable == 0:
        raise ValueError(f"the holdout has fewer than {MIN_RESIDUALS} points to calibrate on")
    lo: dict[int, list[float]] = {}
    hi: dict[int, list[float]] = {}
    for level in levels:
        alpha = 1 - level / 100
        q_lo = np.nanquantile(z[:, :usable], alpha / 2, axis=0)
        q_hi = np.nanquantile(z[:, :usable], 1 - alpha / 2, axis=0)
        q_lo = np.minimum.accumulate(np.minimum(q_lo, 0.0))
        q_hi = np.maximum.accumulate(np.maximum(q_hi, 0.0))
        lo[level] = _extend([float(v) for v in q_lo], horizon).tolist()
        hi[level] = _extend([float(v) for v in q_hi], horizon).tolist()
    return Intervals(kind=kind, lo=lo, hi=hi, vol_window=vol_window, scale_ref=scale_ref)


def inside(
    actual: np.ndarray,
    predicted: np.ndarray,
    histories: np.ndarray,
    intervals: Intervals,
    level: int,
) -> np.ndarray:
    """Whether each actual (origins × steps) lies in its interval (False where it is NaN)."""
    lo, hi = intervals.bounds(predicted, level, histories)
    with np.errstate(invalid="ignore"):
        return np.asarray((actual >= lo) & (actual <= hi))


def coverage(
    actual: np.ndarray, predicted: np.ndarray, histories: np.ndarray, intervals: Intervals
) -> dict[int, float | None]:
    """Share of actuals inside each level's interval, over every origin and step."""
    ok = ~np.isnan(actual)
    return {
        level: float(inside(actual, predicted, histories, intervals, level)[ok].mean())
        if ok.any()
        else None
        for level in intervals.lo
    }


class LevelAdaptation(BaseModel):
    """One interval level of a version's adaptation, per horizon step (index 0 is step 1)."""

    model_config = ConfigDict(frozen=True)

    theta: list[float] = Field(
        description="The log width multiplier θ of each step (its factor is e^θ)."
    )
    points: list[int] = Field(description="Scored points of each step θ was adapted on.")
    covered: list[int] = Field(
        description="Of those, the actuals inside the interval that was served."
    )


class IntervalAdaptation(BaseModel):
    """How a version's intervals are adapted from the ledger (adaptive conformal inference in
    its scale form, Gibbs & Candès 2021): per level and step, θ over its most recent scored
    points. A step is adapted only once it has ``min_points`` of them (a setting, applied when
    the record is read: :meth:`factors`)."""

    model_config = ConfigDict(frozen=True)

    eta: float = Field(description="Step size of θ per scored point (log-width units).")
    window: int = Field(description="Most recent scored points per step θ is computed over.")
    levels: dict[int, LevelAdaptation] = Field(default_factory=dict)
    oldest: list[int | None] = Field(
        default_factory=list,
        description="Per step, once its window is full: the target date (seconds since 1970) "
        "of its oldest point. Points only ever join the ledger or become scored, so the next "
        "window of the step holds none older: recomputing it need not rank them.",
    )

    def factors(self, level: int, min_points: int) -> np.ndarray:
        """``e^θ`` per step to 4 decimals (what is applied and shown), 1 for a step with fewer
        than ``min_points`` scored points."""
        found = self.levels.get(level)
        if found is None:
            return np.ones(0)
        theta = np.asarray(found.theta, dtype=np.float64)
        ready = np.asarray(found.points) >= max(min_points, 1)
        return np.where(ready, np.round(np.exp(theta), 4), 1.0)
