"""Statistical references (statsforecast): fitted within a budget, reported when they fail,
forecasting through the same interface as the networks."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.references import ReferenceForecaster, fit_reference, fit_references
from app.ml.transforms import to_price
from tests.ml.helpers import random_walk


def seasonal(n: int = 400, season: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 100 + 10 * np.sin(2 * np.pi * t / season) + rng.normal(0, 1, n)


@pytest.mark.parametrize("method", ["arima", "theta"])
def test_each_seasonal_reference_forecasts_a_season_from_any_phase(method: str) -> None:
    values = seasonal()
    reference = fit_reference(method, values[:300], 12)  # type: ignore[arg-type]
    forecasts = reference.recursive(np.stack([values[:300], values[12:312]]), 12)
    assert forecasts.shape == (2, 12)
    actual = values[300:312]
    rmse = float(np.sqrt(np.mean((forecasts[0] - actual) ** 2)))
    naive = float(np.sqrt(np.mean((values[299] - actual) ** 2)))
    assert rmse < naive  # it learned the season
    again = ReferenceForecaster.from_bytes(reference.to_bytes())
    np.testing.assert_allclose(again.recursive(values[:300], 12), forecasts[:1])


def test_a_failed_or_slow_reference_is_reported_not_raised() -> None:
    fits = fit_references(["ets", "theta"], np.array([1.0, 2.0, 3.0]), 1, budget_s=10)
    assert {f.status for f in fits.values()} == {"failed"}
    assert all("training values" in (f.detail or "") for f in fits.values())
    values = random_walk(3000).to_numpy()
    slow = fit_references(["arima"], values, 1, budget_s=0.001)
    assert slow["arima"].status == "timed_out"
    assert slow["arima"].forecaster is None


def test_ets_is_fitted_without_a_season_it_could_not_keep_in_phase() -> None:
    reference = fit_reference("ets", seasonal(), 12)
    assert reference.config == "AutoETS(season_length=1)"


def test_a_reference_needs_no_positive_values() -> None:
    values = seasonal() - 100  # around zero
    reference = fit_reference("ets", values[:300], 12)
    assert np.isfinite(reference.recursive(values[:300], 5)).all()
    assert to_price(np.zeros(1), np.ones(1), reference.transform)[0] == 0.0  # level
