"""Combinations in ``auto``: two candidates' forecasts averaged by inverse validation MSE, served
only when the cross-fitted combination beats the best one by more than 1 %."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.ml.baselines import BaselineForecaster
from app.ml.combination import MIN_POINTS, choose_combination
from app.ml.inference import CombinedForecaster, load_forecaster
from app.ml.manifest import ForecasterManifest


def two_views(n: int = 400, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A signal and two forecasts of it with independent errors of about equal size."""
    rng = np.random.default_rng(seed)
    actual = rng.normal(size=n)
    return actual, {
        "arima": actual + rng.normal(scale=0.5, size=n),
        "lstm": actual + rng.normal(scale=0.55, size=n),
        "naive": np.zeros(n) + rng.normal(scale=0.01, size=n),
    }


def scores_of(actual: np.ndarray, predicted: dict[str, np.ndarray]) -> dict[str, float]:
    return {k: float(np.sqrt(np.mean((actual - p) ** 2))) for k, p in predicted.items()}


def test_independent_errors_make_a_combination_worth_serving() -> None:
    actual, predicted = two_views()
    choice = choose_combination(actual, predicted, scores_of(actual, predicted))
    assert choice is not None
    assert choice.members == ["arima", "lstm"]
    assert sum(choice.weights) == pytest.approx(1.0)
    assert choice.weights[0] > choice.weights[1]  # the better one weighs more
    assert choice.cross_fitted_rmse < 0.99 * choice.best_single_rmse
    assert "cross-fitted" in choice.reason


def test_two_networks_do_not_share_a_bundle() -> None:
    actual, predicted = two_views()
    predicted["gru"] = predicted.pop("arima")
    choice = choose_combination(actual, predicted, scores_of(actual, predicted))
    assert choice is None or set(choice.members) != {"gru", "lstm"}


def test_a_copy_of_the_best_is_no_gain() -> None:
    actual, predicted = two_views()
    predicted["lstm"] = predicted["arima"] + 1e-6
    assert choose_combination(actual, predicted, scores_of(actual, predicted)) is None


def test_too_few_validation_points_combine_nothing() -> None:
    actual, predicted = two_views(n=MIN_POINTS - 1)
    assert choose_combination(actual, predicted, scores_of(actual, predicted)) is None


def test_a_combination_bundle_loads_as_the_weighted_sum_of_its_members(tmp_path: Path) -> None:
    common = {
        "target": "close", "target_transform": "level", "frequency": "B", "exchange": None,
        "training_rows_sha256": "0" * 64, "libraries": {}, "created_at": "2026-12-07",
    }  # fmt: skip
    naive = BaselineForecaster("naive")
    drift = BaselineForecaster("drift", slope=0.5)
    members = [
        ForecasterManifest.model_validate(
            {**common, "kind": "baseline", "window": 1, "baseline": b.to_json()}
        )
        for b in (naive, drift)
    ]
    manifest = ForecasterManifest.model_validate(
        {**common, "kind": "combination", "window": 1, "members": members, "weights": [0.25, 0.75]}
    )
    loaded = load_forecaster(
        tmp_path, ForecasterManifest.model_validate_json(manifest.model_dump_json())
    )
    assert isinstance(loaded, CombinedForecaster)
    history = np.array([[10.0, 11.0, 12.0]])
    expected = 0.25 * naive.recursive(history, 3) + 0.75 * drift.recursive(history, 3)
    np.testing.assert_allclose(loaded.recursive(history, 3), expected)
