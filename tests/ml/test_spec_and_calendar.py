"""Spec fields for baselines and backtests, and season lengths from frequencies."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.ml.calendar import resolve_season_length, season_length_for
from app.ml.spec import BacktestSpec, TrainingSpec


@pytest.mark.parametrize(
    ("frequency", "season"),
    [
        ("B", 5),
        ("D", 7),
        ("W-FRI", 52),
        ("MS", 12),
        ("ME", 12),
        ("QS", 4),
        ("YE", 1),
        ("h", 24),
        ("30min", 48),
        ("min", 1440),
        ("7h", 1),
        ("irregular", 1),
        (None, 1),
    ],
)
def test_season_length_for(frequency: str | None, season: int) -> None:
    assert season_length_for(frequency) == season


def test_resolve_season_length_prefers_the_spec() -> None:
    assert resolve_season_length(TrainingSpec(season_length=12), "B") == 12
    assert resolve_season_length(TrainingSpec(), "B") == 5


@pytest.mark.parametrize("arch", ["naive", "drift", "seasonal_naive"])
def test_baselines_are_architectures(arch: str) -> None:
    spec = TrainingSpec.model_validate({"architecture": arch})
    assert spec.is_baseline
    assert not TrainingSpec().is_baseline


def test_backtest_spec_defaults_and_limits() -> None:
    spec = BacktestSpec()
    assert (spec.windows, spec.step, spec.horizon, spec.refit) == (5, None, 20, True)
    assert spec.effective_step == 20
    assert BacktestSpec(step=7).effective_step == 7
    for bad in ({"windows": 0}, {"windows": 101}, {"horizon": 0}, {"step": 0}, {"folds": 3}):
        with pytest.raises(ValidationError):
            BacktestSpec.model_validate(bad)
    with pytest.raises(ValidationError):
        TrainingSpec.model_validate({"season_length": 0})
    nested = TrainingSpec.model_validate({"backtest": {"windows": 3, "refit": False}})
    assert nested.backtest == BacktestSpec(windows=3, refit=False)
