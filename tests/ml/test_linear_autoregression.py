"""The ``ar`` reference's recursive forecast: one dot product per step on a buffer, which must
equal feeding each forecast back as a price and rebuilding the inputs it was trained on."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.autoregression import LinearAutoregression, fit_linear_autoregression
from app.ml.transforms import TargetTransform, features, history_length, to_price


def rebuilt_each_step(model: LinearAutoregression, rows: np.ndarray, horizon: int) -> np.ndarray:
    """The definition: each forecast appended as a price, the inputs rebuilt from prices."""
    need = history_length(model.transform, model.window)
    prices = rows[:, -need:]
    for _ in range(horizon):
        x = features(prices, model.window, model.transform) * model.scale + model.offset
        move = (x @ model.kernel + model.bias - model.offset) / model.scale
        prices = np.hstack([prices, to_price(move, prices[:, -1], model.transform)[:, None]])
    return prices[:, need:]


@pytest.mark.parametrize("transform", ["log_return", "difference", "relative", "level"])
def test_the_recursion_on_a_buffer_equals_rebuilding_the_inputs(
    transform: TargetTransform,
) -> None:
    rng = np.random.default_rng(7)
    t = np.arange(1_200)
    prices = 20 + 3 * np.sin(2 * np.pi * t / 24) + np.cumsum(rng.normal(0, 0.05, len(t)))
    model = fit_linear_autoregression(prices[:1_000], transform, 25)
    # Three histories: the recursion runs on rows at once, each its own.
    rows = np.stack([prices[900:1_000], prices[1_000:1_100], prices[1_100:1_200]])
    served = model.recursive(rows, 30)
    assert served.shape == (3, 30)
    np.testing.assert_allclose(served, rebuilt_each_step(model, rows, 30), rtol=1e-10)
    # A daily cycle the model learnt: its forecast moves, so the comparison is not of flat lines.
    assert np.ptp(served[0]) > 1.0
