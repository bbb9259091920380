"""Direct multi-step networks: one call returns every step up to the trained horizon."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from app.ml.dataset import plan_dataset  # noqa: E402
from app.ml.spec import TrainingSpec  # noqa: E402
from app.ml.train import configure_tensorflow, fit_forecaster  # noqa: E402
from app.ml.transforms import supervised  # noqa: E402
from tests.ml.helpers import random_walk  # noqa: E402

configure_tensorflow(1)


def test_direct_targets_are_every_step_from_one_anchor() -> None:
    prices = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    data = supervised(prices, 2, "difference", outputs=3)
    np.testing.assert_allclose(data.y[0], [2.0, 5.0, 9.0])  # 4-2, 7-2, 11-2
    assert np.isnan(data.y[-1, 1:]).all()  # past the end of the data


@pytest.mark.parametrize("ensemble", [1, 2])
def test_a_direct_network_forecasts_any_horizon(ensemble: int) -> None:
    values = random_walk(300, seed=4)
    spec = TrainingSpec(
        units=4, epochs=2, window=10, batch_size=32, target_transform="log_return",
        strategy="direct", direct_horizon=4, ensemble=ensemble, references=[],
    )  # fmt: skip
    plan = plan_dataset(values, spec)
    fitted = fit_forecaster(plan, spec, horizon=10)
    history = values.to_numpy()[None, -11:]
    forecasts = fitted.forecaster.recursive(history, 10)
    assert forecasts.shape == (1, 10)
    assert np.isfinite(forecasts).all()
    # the first block comes from one call: a prefix of a longer forecast is the same
    np.testing.assert_allclose(fitted.forecaster.recursive(history, 3)[0], forecasts[0, :3])
