"""Leaning a network toward naive (``lean_toward_naive``): the weight fitted on validation, and
the served network's moves scaled by it."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.shrinkage import MIN_POINTS, PROBE_POINTS, fit_shrinkage, probe_windows


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


def test_a_weight_within_its_standard_error_serves_nothing() -> None:
    """On a short span the least-squares weight of a network with no skill can come out near 1
    by chance; shrunk by its standard error it is served as naive."""
    rng = np.random.default_rng(0)
    signal = rng.normal(size=40)
    actual = 0.6 * signal + 2.0 * rng.normal(size=40)  # moves that are mostly noise
    shrinkage = fit_shrinkage(actual, signal, "validation")
    assert shrinkage.least_squares_weight is not None
    assert shrinkage.standard_error is not None
    assert 0 < shrinkage.least_squares_weight < shrinkage.standard_error
    assert shrinkage.weight == 0.0
    assert "shrunk by its standard error" in shrinkage.reason


def test_a_weight_well_beyond_its_standard_error_is_shrunk_a_little() -> None:
    rng = np.random.default_rng(5)
    signal = rng.normal(size=1000)
    actual = 0.5 * signal + rng.normal(size=1000)
    shrinkage = fit_shrinkage(actual, signal, "validation")
    w, s = shrinkage.least_squares_weight, shrinkage.standard_error
    assert w is not None
    assert s is not None
    assert shrinkage.t_statistic is not None
    assert shrinkage.t_statistic > -1.96  # not "beat naive": the weight is fitted
    assert shrinkage.weight == pytest.approx(w * (1 - (s / w) ** 2))
    assert 0.9 * w < shrinkage.weight < w


@pytest.mark.parametrize(
    ("windows", "fraction", "held"),
    [
        (1000, 0.1, 100),  # the fraction where it holds PROBE_POINTS or more
        (200, 0.1, PROBE_POINTS),  # a year of daily prices: not 20
        (100, 0.1, 50),  # at most half
        (70, 0.1, 35),
        (59, 0.1, 0),  # fewer than MIN_POINTS on one side: no probe
        (1000, 0.0, 0),  # validation_fraction 0 asks for none
    ],
)
def test_the_probe_holds_out_enough_windows_to_fit_a_weight(
    windows: int, fraction: float, held: int
) -> None:
    assert probe_windows(windows, fraction) == held


def test_a_year_of_daily_prices_is_leaned_toward_naive() -> None:
    """250 sessions leave 20 windows in a 10 % tail: the default network used to be served as
    trained, behind naive on random walks; now a probe on 60 windows fits its weight."""
    pytest.importorskip("tensorflow")
    from app.ml.dataset import plan_dataset
    from app.ml.spec import TrainingSpec
    from app.ml.train import configure_tensorflow, train
    from tests.ml.helpers import random_walk

    configure_tensorflow(1)
    spec = TrainingSpec(
        units=4, epochs=2, window=20, batch_size=32, ensemble=1, patience=0, references=[],
        target_transform="log_return",
    )  # fmt: skip
    shrinkage = train(plan_dataset(random_walk(n=250, seed=3), spec), spec).shrinkage
    assert shrinkage is not None
    assert shrinkage.points == PROBE_POINTS
    assert shrinkage.least_squares_weight is not None
    assert "the last 60 training windows" in shrinkage.reason


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
    prices = random_walk(n=700, seed=20)  # a walk whose weight comes out strictly inside (0, 1)
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
