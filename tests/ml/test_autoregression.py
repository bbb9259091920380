"""The fixed ridge autoregression under every network (``autoregression: true``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from app.ml.dataset import plan_dataset  # noqa: E402
from app.ml.networks import fit_autoregression  # noqa: E402
from app.ml.spec import TrainingSpec  # noqa: E402
from app.ml.tournament import one_step_rmse  # noqa: E402
from app.ml.train import configure_tensorflow, fit_forecaster  # noqa: E402

configure_tensorflow(1)


def ar1_prices(n: int = 800, phi: float = 0.8, seed: int = 3) -> pd.Series:
    """Prices whose daily moves follow an AR(1): naive misses ``phi`` of every move."""
    rng = np.random.default_rng(seed)
    moves = np.zeros(n)
    for t in range(1, n):
        moves[t] = phi * moves[t - 1] + rng.normal()
    return pd.Series(100 + np.cumsum(moves), index=pd.bdate_range("2015-01-05", periods=n))


def test_ridge_recovers_a_known_linear_map() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2_000, 5))
    y = x @ np.array([0.5, -0.2, 0.0, 0.1, 0.0]) + 0.3
    fitted = fit_autoregression(x, y)
    assert fitted.kernel.shape == (5, 1)
    np.testing.assert_allclose(fitted.kernel[:, 0], [0.5, -0.2, 0.0, 0.1, 0.0], atol=1e-3)
    np.testing.assert_allclose(fitted.bias, [0.3], atol=1e-3)


@pytest.mark.parametrize(("autoregression", "bound"), [(True, 0.7), (False, None)])
def test_a_tiny_network_gets_the_linear_structure_from_the_autoregression(
    autoregression: bool, bound: float | None
) -> None:
    """One epoch of a 4-unit LSTM learns next to nothing; with the autoregression underneath
    it forecasts the AR(1) moves (theory: √(1 − 0.8²) = 0.6× naive), without it it stays
    near naive."""
    prices = ar1_prices()
    spec = TrainingSpec(
        units=4, epochs=1, window=10, batch_size=64, target_transform="difference",
        ensemble=1, patience=0, references=[], autoregression=autoregression,
        combine_with_ar=False,  # the network alone: ar beside it would forecast the moves too
    )  # fmt: skip
    plan = plan_dataset(prices, spec)
    fitted = fit_forecaster(plan, spec, horizon=5)
    held = plan.prices[plan.holdout_start - 1 :]
    ratio = one_step_rmse(fitted.forecaster, plan) / float(np.sqrt(np.mean(np.diff(held) ** 2)))
    if bound is not None:
        assert ratio < bound
    else:
        assert ratio > 0.9
