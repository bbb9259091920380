"""Naive, drift and seasonal naive: definitions, parameters, bundles and plans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.ml.baselines import BaselineForecaster, fit_baseline, fit_method
from app.ml.dataset import DatasetError, plan_dataset
from app.ml.inference import PointForecaster, load_forecaster
from app.ml.manifest import ForecasterManifest
from app.ml.spec import TrainingSpec

HISTORY = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [10.0, 9.0, 8.0, 7.0, 6.0, 5.0]])


def test_naive_repeats_the_last_value() -> None:
    out = BaselineForecaster("naive").recursive(HISTORY, 3)
    np.testing.assert_array_equal(out, [[6, 6, 6], [5, 5, 5]])


def test_drift_adds_the_fitted_slope_per_step() -> None:
    drift = fit_method("drift", np.array([2.0, 5.0, 3.0, 8.0]), season_length=1)
    assert drift.slope == pytest.approx((8.0 - 2.0) / 3)
    np.testing.assert_allclose(drift.recursive(HISTORY, 2), [[8.0, 10.0], [7.0, 9.0]])


def test_seasonal_naive_repeats_the_last_season() -> None:
    seasonal = BaselineForecaster("seasonal_naive", season_length=3)
    assert seasonal.history_needed == 3
    np.testing.assert_array_equal(
        seasonal.recursive(HISTORY, 7), [[4, 5, 6, 4, 5, 6, 4]] + [[7, 6, 5, 7, 6, 5, 7]]
    )
    with pytest.raises(ValueError, match="need at least 3"):
        seasonal.recursive(HISTORY[:, -2:], 1)


def test_json_round_trip_and_loader(tmp_path: Path) -> None:
    drift = BaselineForecaster("drift", slope=0.25)
    assert BaselineForecaster.from_json(drift.to_json()) == drift
    common = {
        "target": "close", "target_transform": "level", "window": 1, "frequency": "B",
        "exchange": None, "training_rows_sha256": "0" * 64, "libraries": {},
        "created_at": "2026-12-02T00:00:00+00:00",
    }  # fmt: skip
    manifest = ForecasterManifest(**common, kind="baseline", baseline=drift.to_json())
    loaded: PointForecaster = load_forecaster(tmp_path, manifest)
    np.testing.assert_allclose(loaded.recursive(HISTORY, 2), drift.recursive(HISTORY, 2))
    with pytest.raises(ValueError, match="unknown or incomplete bundle"):
        load_forecaster(tmp_path, ForecasterManifest(**common, kind="pickle"))


def test_fit_baseline_uses_the_training_part_only() -> None:
    values = pd.Series(
        np.r_[np.linspace(10, 20, 80), np.full(20, 100.0)],
        index=pd.bdate_range("2020-01-01", periods=100),
    )
    spec = TrainingSpec(architecture="drift", test_fraction=0.2)
    plan = plan_dataset(values, spec)
    assert plan.holdout_start == 80
    assert fit_baseline(plan, spec, 1).slope == pytest.approx(10 / 79)
    with pytest.raises(ValueError, match="not a baseline"):
        fit_baseline(plan, TrainingSpec(), 1)


def test_baseline_plans_ignore_network_fields() -> None:
    values = pd.Series(
        np.linspace(-5, 5, 60), index=pd.date_range("2020-01-01", periods=60, freq="D")
    )
    # a network with log returns would refuse values ≤ 0 and a window of 60
    with pytest.raises(DatasetError):
        plan_dataset(values, TrainingSpec(target_transform="log_return", window=20))
    plan = plan_dataset(values, TrainingSpec(architecture="seasonal_naive"))
    assert plan.validation_samples == 0
    assert plan.holdout_start == 60 - int(np.ceil(0.2 * (60 - 7)))  # daily: season 7
    with pytest.raises(DatasetError, match="season_length 59 needs at least 70"):
        plan_dataset(values, TrainingSpec(architecture="seasonal_naive", season_length=59))
