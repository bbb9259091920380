"""Intervals that keep their promise: a version's interval widths adapted from what the ledger
scored (pure numpy/pandas: no database, no HTTP).

Adaptive conformal inference in its scale form (Gibbs & Candès 2021), per version, step and
level: for each scored point in the order of its target date, ``θ ← θ + η·(err − α)``, where
``err`` is 1 when the actual fell outside the interval *that was served* (the bounds the ledger
recorded, which already carried the θ of the day) and ``α = 1 − level/100``. The served interval
is the calibrated one with its quantiles times ``e^θ`` (:meth:`Intervals.adapted`): a level that
misses more often than ``α`` widens, one that misses less narrows, until it covers as promised.

The constants, and why:

- ``ETA = 0.05`` in log-width units at every level (one rule; the research run that proposed
  this adaptation, on MSFT's ten yearly folds with ledger-style delayed feedback, found it
  worked): a miss widens an 80 % interval by ~4 % (``e^{0.05·0.8}``), a covered point narrows
  it by 1 %; at 95 %, +4.9 % and −0.25 %. Simulated here (Gaussian residuals 1.3× and 0.8× as
  wide as calibrated, and a regime switching between 1× and 1.6× every 1,500 points; feedback
  1 and 10 points late), θ over the last 3,000 of 6,000 points had a standard deviation of
  0.08–0.16 around its level where the width was constant.
- ``WINDOW = 2000``: θ is recomputed from the most recent 2,000 scored points of each step (θ
  starts at 0 where they start), so that an append reads a bounded number of points whatever
  the version's age. Without a clip inside, the recursion over the window is
  ``θ = η·(misses − α·n)``: a fixed point needs ``θ/η`` excess misses in the window, so
  coverage stops ``|θ|/(η·WINDOW)`` short of nominal, 0.3 points for θ = ±0.3. In the same
  simulation the realized coverage over the last 3,000 of 6,000 points was 79.5–80.2 % for
  80 % and 94.6–95.2 % for 95 % (the unbounded recursion: 79.9–80.2 % and 95.0–95.1 %; a
  window of 500: 79.0–81.1 % and 94.0–95.7 %).
- ``MAX_FACTOR = 4``: θ is kept within ``±ln 4``; intervals off by more than 4× are a model to
  retrain, not to stretch.

Nothing changes before a step has ``FORECAST_INTERVAL_ADAPTATION_MIN_POINTS`` scored points: θ
counts from the first point on, but is applied only from then (the setting is read where the
record is used, :meth:`IntervalAdaptation.factors`, so changing it needs no recomputation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from app.ledger.schemas import StepAdaptation
from app.ml.intervals import LEVELS, IntervalAdaptation, LevelAdaptation

ETA = 0.05
WINDOW = 2000
MAX_FACTOR = 4.0
THETA_MAX = math.log(MAX_FACTOR)
# One scored point of an origin: the same origin served with other horizons or levels repeats
# the same step; the copy served with the most levels counts (as accuracy counts it).
ORIGIN = ["series_id", "as_of", "step"]


@dataclass(frozen=True)
class LevelTally:
    """Per step (index 0 is step 1): the points in the window served with the level, and how
    many of their actuals were inside the interval served."""

    points: np.ndarray
    covered: np.ndarray


# Per level.
Tally = dict[int, LevelTally]


def adapt(points: pd.DataFrame, *, eta: float = ETA, window: int = WINDOW) -> IntervalAdaptation:
    """The adaptation of one version from its scored ledger points (see :func:`tally`)."""
    return from_tally(tally(points, window), eta=eta, window=window)


def tally(points: pd.DataFrame, window: int = WINDOW) -> Tally:
    """Which scored points count, and whether each was covered.

    ``points``: one row per scored point of one version, with ``forecast_id``, ``step``,
    ``target`` (its date), ``series_id``, ``as_of`` (dates, or anything that orders as they
    do), ``actual`` and, per level it was served with, ``lo_<level>`` and ``hi_<level>`` (NaN
    where it was not). An origin counts once at each step (the copy served with the most
    levels, then the first recorded); of those, the most recent ``window`` of each step by
    target date (then forecast id) count. :func:`app.ledger.adaptation_store.refresh_pending`
    computes the same in the database."""
    levels = [lv for lv in LEVELS if f"lo_{lv}" in points and f"hi_{lv}" in points]
    if points.empty or not levels:
        return {}
    served = {lv: points[f"lo_{lv}"].notna() & points[f"hi_{lv}"].notna() for lv in levels}
    ranked = points.assign(levels=sum(mask.astype(int) for mask in served.values()))
    once = ranked.sort_values(
        [*ORIGIN, "levels", "forecast_id"], ascending=[True, True, True, False, True]
    ).drop_duplicates(ORIGIN)
    kept = (
        once.sort_values(["step", "target", "forecast_id"], ascending=[True, False, False])
        .groupby("step", sort=False)
        .head(window)
    )
    steps = int(points["step"].max())
    index = kept["step"].to_numpy(dtype=np.int64) - 1
    actual = kept["actual"].to_numpy(dtype=np.float64)
    result: Tally = {}
    for level in levels:
        lo = kept[f"lo_{level}"].to_numpy(dtype=np.float64)
        hi = kept[f"hi_{level}"].to_numpy(dtype=np.float64)
        has = ~np.isnan(lo) & ~np.isnan(hi)
        if not has.any():
            continue
        inside = has & (lo <= actual) & (actual <= hi)
        result[level] = LevelTally(
            points=np.bincount(index[has], minlength=steps),
            covered=np.bincount(index[inside], minlength=steps),
        )
    return result


def from_tally(counts: Tally, *, eta: float = ETA, window: int = WINDOW) -> IntervalAdaptation:
    """θ of every step and level: the recursion ``θ ← θ + η·(err − α)`` from 0 over the
    window's points, which (no clip inside) is ``η·(misses − α·points)``, within
    ``±ln MAX_FACTOR``."""
    levels = {}
    for level, found in sorted(counts.items()):
        n = np.asarray(found.points, dtype=np.int64)
        covered = np.asarray(found.covered, dtype=np.int64)
        levels[level] = LevelAdaptation(
            theta=[float(t) for t in theta(n, n - covered, level, eta)],
            points=[int(v) for v in n],
            covered=[int(v) for v in covered],
        )
    return IntervalAdaptation(eta=eta, window=window, levels=levels)


def theta(points: np.ndarray, misses: np.ndarray, level: int, eta: float = ETA) -> np.ndarray:
    """θ after ``points`` updates ``θ ← θ + η·(err − α)`` from 0 with ``misses`` of them
    outside: ``η·(misses − α·points)``, within ``±ln MAX_FACTOR``."""
    alpha = 1 - level / 100
    raw = eta * (np.asarray(misses, dtype=np.float64) - alpha * np.asarray(points))
    return np.asarray(np.clip(raw, -THETA_MAX, THETA_MAX))


def steps(record: IntervalAdaptation, min_points: int) -> list[StepAdaptation]:
    """The adaptation as the accuracy endpoint shows it: by step, then level."""
    rows = []
    for level in sorted(record.levels):
        found = record.levels[level]
        factors = record.factors(level, min_points)
        for index, (n, covered) in enumerate(zip(found.points, found.covered, strict=True)):
            rows.append(
                StepAdaptation(
                    step=index + 1,
                    level=level,
                    nominal=level / 100,
                    points=n,
                    coverage=covered / n if n else None,
                    width_factor=float(factors[index]),
                    adapted=n >= min_points,
                )
            )
    return sorted(rows, key=lambda row: (row.step, row.level))
