"""Data-driven defaults: what an unset spec field becomes, from the training data only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.ml.defaults import BASE_WINDOW, dominant_cycle, resolve, validated_window
from app.ml.spec import TrainingSpec
from tests.ml.helpers import random_walk, seasonal_load


def monthly(values: np.ndarray) -> pd.Series:
    return pd.Series(values, index=pd.date_range("1900-01-01", periods=len(values), freq="MS"))


def test_a_positive_price_gets_log_returns_and_the_base_window() -> None:
    resolved = resolve(random_walk(400), TrainingSpec(), "B")
    assert resolved.spec.target_transform == "log_return"
    assert resolved.spec.window == BASE_WINDOW
    assert resolved.spec.season_length == 5
    assert resolved.spec.architecture == "lstm"
    assert set(resolved.choices) >= {"target_transform", "window", "season_length", "batch_size"}
    assert resolved.spec.ensemble == 8  # a short series: members are cheap
    assert resolve(random_walk(3000), TrainingSpec(), "B").spec.ensemble == 3
    assert all(choice.reason for choice in resolved.choices.values())


def test_zeros_or_negatives_get_differences_and_say_why() -> None:
    values = monthly(np.sin(np.arange(600) / 5.0) * 10)  # crosses zero
    resolved = resolve(values, TrainingSpec(), "MS")
    assert resolved.spec.target_transform == "difference"
    assert "≤ 0" in resolved.choices["target_transform"].reason


def test_the_window_is_chosen_on_validation_among_the_cycle_and_the_seasons() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(1200)
    values = monthly(50 + 20 * np.sin(2 * np.pi * t / 60) + rng.normal(0, 2, len(t)))
    cycle = dominant_cycle(values.to_numpy()[:960])
    assert cycle is not None
    assert 57 <= cycle[0] <= 63
    choice = resolve(values, TrainingSpec(), "MS").choices["window"]
    assert choice.candidates is not None
    # the base, one and two seasons of months (+ 1), the cycle + 1: each with its score
    assert {"20", "13", "25", str(cycle[0] + 1)} <= set(choice.candidates)
    assert all(score is not None and score > 0 for score in choice.candidates.values())
    assert "validation tail" in choice.reason


@pytest.mark.parametrize("rows", [30, 300])
def test_a_tail_too_short_to_score_lists_the_candidates_and_keeps_the_fallback(rows: int) -> None:
    # 300 business days leave under MIN_VALIDATION validation targets; 30 fewer prices than
    # the longest candidate window: neither may fail, both say why the window was not validated
    values = random_walk(rows).to_numpy()
    validated = validated_window(values[: int(rows * 0.8)], "log_return", (5,))
    assert validated.window is None
    assert set(validated.scores.values()) == {None}
    assert "too short to compare" in validated.reason
    if rows > 100:  # long enough to train a network at all
        choice = resolve(random_walk(rows), TrainingSpec(), "B").choices["window"]
        assert choice.value == BASE_WINDOW
        assert choice.candidates is not None
        assert "6" in choice.candidates
        assert "too short to compare" in choice.reason


def test_a_daily_cycle_in_hourly_data_gets_a_window_that_reaches_a_day_back() -> None:
    """Hourly load with a daily profile: 20 lags cannot see yesterday's same hour, 25 can."""
    resolved = resolve(seasonal_load(), TrainingSpec(), "h")
    choice = resolved.choices["window"]
    assert choice.candidates is not None
    assert resolved.spec.window is not None
    assert resolved.spec.window >= 25
    scores = {int(w): s for w, s in choice.candidates.items() if s is not None}
    assert scores[resolved.spec.window] < 0.99 * scores[BASE_WINDOW]
    # the network's own layers keep a short window; the autoregression sees the long one
    assert resolved.spec.recurrent_window <= resolved.spec.window
    assert "autoregression" in resolved.choices["network_window"].reason or (
        resolved.spec.recurrent_window == resolved.spec.window
    )


def test_a_trend_has_no_cycle() -> None:
    assert dominant_cycle(np.linspace(1, 100, 500)) is None
    assert dominant_cycle(np.full(500, 3.0)) is None  # a flat series neither


def test_the_holdout_never_informs_the_window() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(1000)
    cycle = 50 + 20 * np.sin(2 * np.pi * t / 60)
    values = np.where(t < 800, 50 + rng.normal(0, 2, len(t)), cycle)  # a cycle in the holdout only
    resolved = resolve(monthly(values), TrainingSpec(), "MS")
    assert resolved.spec.window == BASE_WINDOW


def test_a_holdout_that_turns_negative_still_trains_by_default() -> None:
    values = random_walk(400).to_numpy()
    values[-50:] = -1.0
    series = pd.Series(values, index=pd.bdate_range("2010-01-04", periods=len(values)))
    resolved = resolve(series, TrainingSpec(), "B")
    assert resolved.spec.target_transform == "difference"


def test_explicit_fields_win() -> None:
    spec = TrainingSpec(
        window=7, target_transform="level", season_length=3, batch_size=16, ensemble=2, patience=3
    )
    resolved = resolve(random_walk(400), spec, "B")
    assert (resolved.spec.window, resolved.spec.target_transform) == (7, "level")
    assert (resolved.spec.season_length, resolved.spec.batch_size) == (3, 16)
    assert resolved.spec.patience == 3
    derived = {"architecture", "network_window"}
    reasons = {name: c.reason for name, c in resolved.choices.items() if name not in derived}
    assert set(reasons.values()) == {"set in the spec"}
    assert resolved.spec.recurrent_window == 7  # the network sees the window it was given


def test_early_stopping_only_where_the_validation_part_can_tell_the_best_epoch() -> None:
    short = resolve(random_walk(2_000), TrainingSpec(), "B")  # ~158 validation windows
    long = resolve(random_walk(8_000), TrainingSpec(), "B")  # ~638
    assert short.spec.patience == 0
    assert "cannot tell the best epoch" in short.choices["patience"].reason
    assert long.spec.patience == 5
    assert "early stopping on" in long.choices["patience"].reason


def test_a_series_too_short_for_a_network_gets_naive_said_plainly() -> None:
    resolved = resolve(random_walk(60), TrainingSpec(), "B")
    assert resolved.spec.architecture == "naive"
    assert "too short for a network" in resolved.choices["architecture"].reason


@pytest.mark.parametrize("transform", ["log_return", "relative"])
def test_an_explicit_positive_only_transform_is_refused_with_the_way_out(transform: str) -> None:
    from app.ml.dataset import DatasetError

    values = monthly(np.linspace(-5, 5, 300))
    spec = TrainingSpec.model_validate({"target_transform": transform, "architecture": "lstm"})
    with pytest.raises(DatasetError, match="Leave target_transform unset"):
        resolve(values, spec, "MS")


def test_a_network_window_longer_than_the_chosen_window_is_refused_with_the_way_out() -> None:
    from app.ml.dataset import DatasetError

    with pytest.raises(DatasetError, match="ask for a network_window of at most 20"):
        resolve(random_walk(400), TrainingSpec(network_window=30), "B")
    resolved = resolve(random_walk(400), TrainingSpec(network_window=10), "B")
    assert (resolved.spec.window, resolved.spec.recurrent_window) == (20, 10)
