"""Serving adapted intervals: the calibrated quantiles scaled by e^θ per step and level, and what
the response says about it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.forecasting.served_intervals import ServedIntervals
from app.ml.intervals import IntervalAdaptation, Intervals, LevelAdaptation

LOG = Intervals(
    kind="log_ratio",
    lo={80: [-1.0, -1.5, -1.6], 95: [-2.0, -2.5, -3.0]},
    hi={80: [1.0, 1.2, 1.7], 95: [2.0, 2.4, 3.1]},
    vol_window=None,
)


def record(level: int, theta: list[float], points: list[int]) -> IntervalAdaptation:
    found = LevelAdaptation(theta=theta, points=points, covered=[0] * len(points))
    return IntervalAdaptation(eta=0.05, window=2000, levels={level: found})


def test_log_ratio_bounds_scale_the_normalised_quantile() -> None:
    served = ServedIntervals.adapt(LOG, record(80, [0.3, -0.2], [40, 40]), revision=4,
                                   min_points=30)  # fmt: skip
    point = np.array([100.0, 101.0, 102.0])
    lo, hi = served.intervals.bounds(point, 80, None)  # σ ≡ 1 (unnormalised quantiles)
    f1 = round(math.exp(0.3), 4)
    assert lo[0] == pytest.approx(100 * math.exp(-1.0 * f1))
    assert hi[0] == pytest.approx(100 * math.exp(1.0 * f1))
    # step 2 would be narrower than step 1 (1.2·e^-0.2 < e^0.3): held at step 1's width
    assert hi[1] == pytest.approx(101 * math.exp(1.0 * f1))
    assert lo[1] == pytest.approx(101 * math.exp(-1.0 * f1))  # 1.5·e^-0.2 < e^0.3 too
    assert hi[2] == pytest.approx(102 * math.exp(1.7))  # step 3: not in the record, factor 1
    assert served.intervals.lo[95] == LOG.lo[95]  # another level: as calibrated
    assert served.revision == 4
    wider = ServedIntervals.adapt(LOG, record(80, [0.0, 0.2], [40, 40]), revision=5,
                                  min_points=30)  # fmt: skip
    lo, hi = wider.intervals.bounds(point, 80, None)
    f2 = round(math.exp(0.2), 4)
    assert (lo[1], hi[1]) == pytest.approx((101 * math.exp(-1.5 * f2),
                                            101 * math.exp(1.2 * f2)))  # fmt: skip


def test_difference_bounds_scale_the_quantile_and_the_minimum_holds() -> None:
    diff = Intervals(kind="difference", lo={80: [-1.0]}, hi={80: [2.0]}, vol_window=None)
    served = ServedIntervals.adapt(diff, record(80, [0.5], [30]), revision=1, min_points=30)
    lo, hi = served.intervals.bounds(np.array([10.0]), 80, None)
    f = round(math.exp(0.5), 4)  # factors are applied (and shown) to 4 decimals
    assert (lo[0], hi[0]) == pytest.approx((10 - f, 10 + 2 * f))
    early = ServedIntervals.adapt(diff, record(80, [0.5], [29]), revision=1, min_points=30)
    assert early.intervals is diff  # below the minimum: nothing scaled
    assert early.describe([80], 2) == {
        "method": "split conformal", "adapted_on": {"80": [0, 0]},
        "width_factor": {"80": [1.0, 1.0]},
    }  # fmt: skip


def test_the_response_says_which_steps_and_levels_were_adapted() -> None:
    served = ServedIntervals.adapt(LOG, record(95, [0.1, 0.2], [31, 29]), revision=2,
                                   min_points=30)  # fmt: skip
    assert served.describe([80, 95], 3) == {
        "method": "adaptive conformal",
        "adapted_on": {"80": [0, 0, 0], "95": [31, 0, 0]},
        "width_factor": {"80": [1.0, 1.0, 1.0], "95": [1.1052, 1.0, 1.0]},  # e^0.1, 4 decimals
    }
    assert served.describe([80], 1)["method"] == "split conformal"
    assert served.describe([80, 95], 3) is served.describe([80, 95], 3)  # built once
    assert ServedIntervals(LOG).describe([95], 1)["width_factor"] == {"95": [1.0]}
