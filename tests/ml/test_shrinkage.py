"""Leaning a network toward naive (``lean_toward_naive``): the weight fitted on validation, and
the served network's moves scaled by it."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.shrinkage import MIN_POINTS, fit_shrinkage


def test_moves_that_are_noise_are_not_served() -> None:
    rng = np.random.default_rng(1)
    actual = rng.normal(size=500)
    shrinkage = fit_shrinkage(actual, rng.normal(size=500), "validation")
    assert shrinkage.weight == pytest.approx(0.0, abs=0.1)
    assert shrinkage.validation_ratio is not None
    assert shrinkage.validation_ratio > 1.2  # noise added to naive's errors
    assert shrinkage.served_ratio is not None
    assert shrinkage.served_ratio < shrinkage.validation_ratio
    assert shrinkage.points == 500


def test_half_right_moves_are_served_at_about_their_least_squares_weight() -> None:
    rng = np.random.default_rng(2)
    signal = rng.normal(size=2000)
    actual = 0.15 * signal + rng.normal(size=2000)  # the network's moves say too much
    shrinkage = fit_shrinkage(actual, signal, "validation")
    assert 0.05 < shrinkage.weight < 0.3
    assert shrinkage.standard_error is not None
    assert abs(shrinkage.weight - 0.15) < 3 * shrinkage.standard_error
    assert "clipped to [0, 1]" in shrinkage.reason


def test_a_clearly_better_network_keeps_every_move() -> None:
    rng = np.random.default_rng(3)
    signal = rng.normal(size=300)
    actual = signal + 0.3 * rng.normal(size=300)
    shrinkage = fit_shrinkage(actual, 0.7 * signal, "validation")  # too timid, yet far better
    assert shrinkage.t_statistic is not None
    assert shrinkage.t_statistic < -1.96
    assert shrinkage.weight == 1.0
    assert "beat naive" in shrinkage.reason


def test_too_few_validation_forecasts_keep_the_network() -> None:
    shrinkage = fit_shrinkage(np.ones(MIN_POINTS - 1), np.zeros(MIN_POINTS - 1), "validation")
    assert (shrinkage.weight, shrinkage.points) == (1.0, MIN_POINTS - 1)


@pytest.mark.parametrize("patience", [0, 3])
def test_the_served_network_moves_by_the_weight(patience: int) -> None:
    """The same seed with and without leaning trains the same network; the leaned one's
    one-step moves are the other's times the weight (folded into its weights)."""
    pytest.importorskip("tensorflow")
    from app.ml.dataset import plan_dataset
    from app.ml.evaluate import forecast_origins
    from app.ml.train import configure_tensorflow, fit_forecaster, train
    from tests.ml.helpers import random_walk

    configure_tensorflow(1)
    prices = random_walk(n=700, seed=6)  # a walk whose weight comes out strictly inside (0, 1)
    fields = {
        "units": 4, "epochs": 2, "window": 10, "batch_size": 64, "ensemble": 2,
        "patience": patience, "references": [], "combine_with_ar": False,
    }  # fmt: skip
    from app.ml.spec import TrainingSpec

    leaned_spec = TrainingSpec(**fields, target_transform="log_return")
    plain_spec = leaned_spec.model_copy(update={"lean_toward_naive": False})
    plan = plan_dataset(prices, leaned_spec)
    shrinkage = train(plan, leaned_spec).shrinkage
    assert shrinkage is not None
    assert shrinkage.points >= MIN_POINTS
    assert 0.1 < shrinkage.weight < 0.99
    leaned = fit_forecaster(plan, leaned_spec, horizon=2).forecaster
    plain = fit_forecaster(plan, plain_spec, horizon=2).forecaster
    history = plan.prices[None, : plan.holdout_start]
    last = history[0, -1]
    moves = [np.log(f.recursive(history, 1)[0, 0] / last) for f in (leaned, plain)]
    np.testing.assert_allclose(moves[0], shrinkage.weight * moves[1], rtol=1e-3, atol=1e-7)
    # the validation forecasts kept for the gate with ar are the leaned network's, where the
    # network that made them is the served one (early stopping: the same training)
    validation = train(plan, leaned_spec).validation
    assert validation is not None
    assert len(validation.targets) == shrinkage.points
    assert validation.targets[-1] < plan.holdout_start
    if patience:
        served, _ = forecast_origins(leaned, plan.prices, validation.targets, 1)
        np.testing.assert_allclose(validation.predicted, served[:, 0], rtol=1e-5)
