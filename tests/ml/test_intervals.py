"""Volatility-normalised conformal intervals: coverage through a volatility regime change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.baselines import BaselineForecaster
from app.ml.dataset import plan_dataset
from app.ml.evaluate import evaluate, holdout_intervals, interval_histories
from app.ml.intervals import LEVELS, Intervals, calibrate, coverage, volatility
from app.ml.spec import TrainingSpec


def regime_walk(n: int = 3000, seed: int = 1) -> np.ndarray:
    """A random walk whose daily volatility jumps from 1 % to 3 % and back (as in 2008)."""
    rng = np.random.default_rng(seed)
    sigma = np.full(n, 0.01)
    sigma[2000:2300] = 0.03
    return 100 * np.exp(np.cumsum(rng.normal(0, sigma)))


def _coverage_after(prices: np.ndarray, calibrate_on: slice, test: slice, normalise: bool) -> dict:
    naive = BaselineForecaster("naive")
    origins = np.arange(prices.shape[0])[test]
    cal = np.arange(prices.shape[0])[calibrate_on]
    histories = interval_histories(prices, cal, 21)
    res = np.log(prices[cal][:, None] / prices[cal - 1][:, None])
    scales = volatility(histories, "log_ratio") if normalise else np.ones(len(cal))
    intervals = calibrate(res, "log_ratio", scales, vol_window=20)
    if not normalise:
        intervals = Intervals("log_ratio", intervals.lo, intervals.hi, vol_window=None)
    predicted = naive.recursive(prices[origins - 1][:, None], 1)
    actual = prices[origins][:, None]
    return coverage(actual, predicted, interval_histories(prices, origins, 21), intervals)


def test_normalised_intervals_follow_a_volatility_jump() -> None:
    prices = regime_walk()
    calm, storm = slice(1000, 2000), slice(2030, 2300)
    plain = _coverage_after(prices, calm, storm, normalise=False)
    scaled = _coverage_after(prices, calm, storm, normalise=True)
    assert plain[80] < 0.5  # calm-period quantiles miss badly once volatility triples
    assert scaled[80] == pytest.approx(0.8, abs=0.06)
    assert scaled[95] == pytest.approx(0.95, abs=0.04)


def test_bounds_widen_with_the_volatility_of_the_history() -> None:
    intervals = Intervals("log_ratio", lo={80: [-1.0, -1.5]}, hi={80: [1.0, 1.5]})
    calm = 100 * np.exp(np.cumsum(np.tile([0.01, -0.01], 15)))
    wild = 100 * np.exp(np.cumsum(np.tile([0.03, -0.03], 15)))
    point = np.array([100.0, 100.0])
    lo_calm, hi_calm = intervals.bounds(point, 80, calm)
    lo_wild, hi_wild = intervals.bounds(point, 80, wild)
    np.testing.assert_allclose(hi_calm, 100 * np.exp([0.01, 0.015]))
    np.testing.assert_allclose(hi_wild, 100 * np.exp([0.03, 0.045]))
    np.testing.assert_allclose(lo_wild, 100 * np.exp([-0.03, -0.045]))
    # beyond the calibrated horizon the width grows like √h
    assert intervals.bounds(np.full(8, 100.0), 80, calm)[1][-1] == pytest.approx(
        100 * np.exp(0.015 * 2)
    )
    # too short a history falls back on the calibration's typical volatility
    assert intervals.bounds(point, 80, calm[-1:])[1][0] == pytest.approx(100 * np.e)


def test_json_round_trip_and_legacy_bundles() -> None:
    prices = regime_walk(600)
    plan = plan_dataset(
        pd.Series(prices, index=pd.bdate_range("2001-01-01", periods=600)),
        TrainingSpec(architecture="naive"),
    )
    intervals = holdout_intervals(BaselineForecaster("naive"), plan, horizon=5)
    assert Intervals.from_json(intervals.to_json()) == intervals
    assert intervals.history_needed == 21
    legacy = {"kind": "log_ratio", "lo": {"80": [-0.02]}, "hi": {"80": [0.02]}}
    old = Intervals.from_json(legacy)
    assert old.vol_window is None
    lo, hi = old.bounds(np.array([100.0]), 80, None)
    assert (lo[0], hi[0]) == pytest.approx((100 * np.exp(-0.02), 100 * np.exp(0.02)))


def test_quantiles_are_monotone_and_contain_the_point() -> None:
    rng = np.random.default_rng(0)
    res = rng.normal(0.001, 0.01, (200, 10)) * np.sqrt(np.arange(1, 11))
    intervals = calibrate(res, "log_ratio", np.full(200, 0.01))
    for level in LEVELS:
        assert np.all(np.diff(intervals.hi[level]) >= 0)
        assert np.all(np.diff(intervals.lo[level]) <= 0)
        assert intervals.lo[level][0] <= 0 <= intervals.hi[level][0]
    assert intervals.scale_ref == pytest.approx(0.01)


def test_evaluate_reports_every_baseline() -> None:
    prices = regime_walk(500)
    values = pd.Series(prices, index=pd.bdate_range("2001-01-01", periods=500))
    spec = TrainingSpec(architecture="drift")
    plan = plan_dataset(values, spec)
    report = evaluate(BaselineForecaster("naive"), plan, horizon=10, season_length=5).model_dump()
    one = report["one_step"]
    assert {"model", "naive", "drift", "seasonal_naive"} <= set(one)
    assert one["model"] == one["naive"]
    assert one["skill_vs_naive"] == 0.0
    assert {"skill_vs_drift", "skill_vs_seasonal_naive"} <= set(one)
    assert one["model"]["mase"] is not None
    multi = report["multi_step"]
    assert len(multi["seasonal_naive_rmse"]) == len(multi["drift_rmse"]) == 10
    assert set(report["coverage"]["measured"]) == {"50", "80", "90", "95", "99"}
    assert report["intervals"]["vol_window"] == 20
