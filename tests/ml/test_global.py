"""Global models' pure parts: window normalisation, the global choices, and the pooled
evaluation (one evaluation over many series' holdouts, and each member's own)."""

from __future__ import annotations

import numpy as np
import pytest

from app.ml.baselines import fit_baseline
from app.ml.dataset import DatasetError, plan_dataset
from app.ml.defaults import Member, resolve_global
from app.ml.evaluate import evaluate, evaluate_pooled
from app.ml.spec import TrainingSpec
from app.ml.transforms import TargetTransform, features, window_scale
from tests.ml.helpers import random_walk


@pytest.mark.parametrize("transform", ["log_return", "relative", "difference"])
def test_window_scale_follows_the_moves_not_the_level(transform: TargetTransform) -> None:
    prices = random_walk(60).to_numpy()[None, :]
    x = features(prices, 20, transform)
    scaled = features(prices * 100, 20, transform)
    expected = 100 if transform == "difference" else 1  # moves in price units scale
    np.testing.assert_allclose(
        window_scale(scaled, transform), expected * window_scale(x, transform)
    )
    # Normalised windows are the same at any level.
    np.testing.assert_allclose(
        scaled / window_scale(scaled, transform),
        x / window_scale(x, transform),
        atol=1e-9,
    )
    flat = np.zeros((1, 20))
    assert window_scale(flat, transform)[0, 0] > 0
    with pytest.raises(ValueError, match="level"):
        window_scale(x, "level")


def test_global_choices_are_made_on_every_member() -> None:
    spec = TrainingSpec(drift="none", references=[])
    positive = [Member(i, random_walk(300, seed=i, start=5 * 10**i)) for i in range(3)]
    resolved = resolve_global(positive, spec, "B")
    assert resolved.spec.target_transform == "log_return"
    assert (resolved.spec.window, resolved.spec.ensemble, resolved.spec.season_length) == (20, 1, 5)
    assert sorted(resolved.plans) == [0, 1, 2]
    assert resolved.skipped == {}

    short = Member(7, random_walk(15, seed=7))
    negative = random_walk(300, seed=9) - 60  # crosses zero
    mixed = resolve_global([*positive, short, Member(9, negative)], spec, "B")
    assert mixed.spec.target_transform == "difference"  # a member ≤ 0 rules out log returns
    assert set(mixed.skipped) == {7}
    assert "observations" in mixed.skipped[7]
    with pytest.raises(DatasetError, match="none of the 1 series"):
        resolve_global([short], spec, "B")
    with pytest.raises(DatasetError, match="level"):
        resolve_global(positive, spec.model_copy(update={"target_transform": "level"}), "B")
    with pytest.raises(DatasetError, match="network"):
        resolve_global(positive, spec.model_copy(update={"architecture": "naive"}), "B")


def test_a_member_too_short_for_the_direct_horizon_is_skipped_not_fatal() -> None:
    spec = TrainingSpec(drift="none", references=[], strategy="direct", direct_horizon=45)
    long, short = Member(1, random_walk(300, seed=1)), Member(2, random_walk(70, seed=2))
    resolved = resolve_global([long, short], spec, "B")
    assert sorted(resolved.plans) == [1]
    assert "lower direct_horizon" in resolved.skipped[2]


def test_pooled_evaluation_of_one_series_is_its_evaluation() -> None:
    spec = TrainingSpec(architecture="drift")
    plan = plan_dataset(random_walk(300), spec, season_length=5)
    drift = fit_baseline(plan, spec, 5)
    single = evaluate(drift, plan, 10, 5)
    pooled, (member,) = evaluate_pooled(drift, [plan], 10, 5)
    assert pooled.one_step.model.rmse == pytest.approx(single.one_step.model.rmse, 1e-12)
    assert member.model.rmse == pytest.approx(single.one_step.model.rmse, 1e-12)
    assert pooled.one_step.naive == single.one_step.naive
    assert pooled.multi_step.model_rmse == single.multi_step.model_rmse
    assert pooled.intervals == single.intervals
    assert pooled.coverage.measured == single.coverage.measured
    assert pooled.holdout.dates == []  # each member's is in its own report


def test_pooled_rmse_is_over_every_members_points() -> None:
    spec = TrainingSpec(architecture="naive")
    plans = [
        plan_dataset(random_walk(n, seed=s, start=level), spec, season_length=5)
        for n, s, level in ((300, 1, 5.0), (200, 2, 500.0))
    ]
    naive = fit_baseline(plans[0], spec, 5)  # naive has no parameters: one for both
    pooled, members = evaluate_pooled(naive, plans, 5, 5)
    points = [p.holdout_samples for p in plans]
    squares = sum(n * m.model.rmse**2 for n, m in zip(points, members, strict=True))
    assert pooled.one_step.model.rmse == pytest.approx(np.sqrt(squares / sum(points)), 1e-12)
    for plan, member in zip(plans, members, strict=True):
        actual = plan.prices[plan.holdout_start :]
        previous = plan.prices[plan.holdout_start - 1 : -1]
        assert member.naive.rmse == pytest.approx(np.sqrt(np.mean((actual - previous) ** 2)))
        assert member.skill_vs_naive == pytest.approx(0.0, abs=1e-12)
    # MASE: each point on its own member's naive scale, then averaged.
    scales = [np.mean(np.abs(np.diff(p.prices[: p.holdout_start]))) for p in plans]
    errors = [
        np.abs(p.prices[p.holdout_start :] - p.prices[p.holdout_start - 1 : -1]) / s
        for p, s in zip(plans, scales, strict=True)
    ]
    assert pooled.one_step.model.mase == pytest.approx(np.mean(np.concatenate(errors)))
