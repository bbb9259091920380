"""Combinations: in ``auto`` two candidates' forecasts averaged by inverse validation MSE,
served only when the cross-fitted combination beats the best one by more than 1 %; for a
network, ``ar`` as its partner when the combination beats the network alone (significantly, on
a short span)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.ml.autoregression import fit_linear_autoregression
from app.ml.baselines import BaselineForecaster
from app.ml.combination import (
    MIN_POINTS,
    MIN_SIGNIFICANT_POINTS,
    SpanForecasts,
    choose_combination,
    gate_with_ar,
)
from app.ml.dataset import DatasetPlan
from app.ml.evaluate import forecast_origins
from app.ml.inference import CombinedForecaster, load_forecaster
from app.ml.manifest import ForecasterManifest
from app.ml.references import fit_reference


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


def seasonal_plan(n: int = 1200, seed: int = 0) -> DatasetPlan:
    """Hourly values with a daily cycle: what ``ar`` on 25 lags forecasts well."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n)
    prices = 100 + 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(scale=0.5, size=n)
    dates = pd.date_range("2026-01-01", periods=n, freq="h")
    return DatasetPlan(dates=dates, prices=prices, holdout_start=n - 200, validation_samples=0)


def span_of(plan: DatasetPlan, points: int, noise: float, seed: int = 1) -> SpanForecasts:
    """Forecasts of the last ``points`` training targets: the truth plus noise of that size."""
    rng = np.random.default_rng(seed)
    targets = np.arange(plan.holdout_start - points, plan.holdout_start)
    return SpanForecasts(targets, plan.prices[targets] + rng.normal(scale=noise, size=points))


def test_a_network_that_ar_improves_is_served_combined_with_it() -> None:
    plan = seasonal_plan()
    gate = gate_with_ar(plan, "lstm", span_of(plan, 300, noise=2.0), 24, (24,))
    assert gate.choice.value == "lstm+ar"
    assert gate.combined is not None
    combination, ar = gate.combined.combination, gate.combined.ar
    assert combination.members == ["lstm", "ar"]
    assert sum(combination.weights) == pytest.approx(1.0)
    assert combination.weights[1] > combination.weights[0]  # ar is far better here
    assert combination.cross_fitted_rmse < combination.best_single_rmse
    assert "better than lstm alone" in gate.choice.reason
    # ar is refitted on the whole training part, and forecasts the holdout's first target
    history = plan.prices[None, : plan.holdout_start]
    assert abs(ar.recursive(history, 1)[0, 0] - plan.prices[plan.holdout_start]) < 2.0


def test_a_network_ar_cannot_improve_is_served_alone() -> None:
    """A network whose errors are ar's own, a third as large: mixing in ar only adds error."""
    plan = seasonal_plan()
    targets = np.arange(plan.holdout_start - 300, plan.holdout_start)
    ar = fit_reference("ar", plan.prices[: targets[0]], 24, (24,))
    ar_forecasts, actual = forecast_origins(ar, plan.prices, targets, 1)
    network = actual[:, 0] + (ar_forecasts[:, 0] - actual[:, 0]) / 3
    gate = gate_with_ar(plan, "gru", SpanForecasts(targets, network), 24, (24,))
    assert (gate.choice.value, gate.combined) == ("none", None)
    assert gate.choice.reason.endswith("the network alone")
    assert "worse than gru alone" in gate.choice.reason


def test_too_few_validation_forecasts_keep_the_network_alone() -> None:
    plan = seasonal_plan()
    points = MIN_SIGNIFICANT_POINTS - 1
    gate = gate_with_ar(plan, "lstm", span_of(plan, points, noise=2.0), 24, (24,))
    assert (gate.choice.value, gate.combined) == ("none", None)
    assert f"under {MIN_SIGNIFICANT_POINTS}" in gate.choice.reason


def test_on_a_short_span_only_a_significant_gain_combines() -> None:
    """Under MIN_POINTS forecasts a gain must be significant (Diebold–Mariano): a network four
    times worse than ar gets it; one whose errors, independent of ar's, are a quarter as large
    gains a little from ar on this span, but not significantly, and stays alone."""
    plan = seasonal_plan()
    points = 60
    assert MIN_SIGNIFICANT_POINTS <= points < MIN_POINTS
    clear = gate_with_ar(plan, "lstm", span_of(plan, points, noise=2.0), 24, (24,))
    assert clear.choice.value == "lstm+ar"
    assert clear.combined is not None
    assert "significant (t = " in clear.choice.reason
    targets = np.arange(plan.holdout_start - points, plan.holdout_start)
    ar = fit_reference("ar", plan.prices[: targets[0]], 24, (24,))
    ar_forecasts, actual = forecast_origins(ar, plan.prices, targets, 1)
    spread = float(np.std(ar_forecasts[:, 0] - actual[:, 0]))
    network = actual[:, 0] + np.random.default_rng(1).normal(scale=spread / 4, size=points)
    slight = gate_with_ar(plan, "lstm", SpanForecasts(targets, network), 24, (24,))
    assert (slight.choice.value, slight.combined) == ("none", None)
    assert "better than lstm alone" in slight.choice.reason
    assert f"not significant on under {MIN_POINTS}" in slight.choice.reason


def test_a_combination_with_a_relative_member_needs_positive_histories() -> None:
    ar = fit_linear_autoregression(np.linspace(1.0, 2.0, 200), "log_return", 3)
    combined = CombinedForecaster([BaselineForecaster("naive"), ar], [0.5, 0.5])
    assert combined.transform == "log_return"
    assert CombinedForecaster([BaselineForecaster("naive")], [1.0]).transform == "level"
