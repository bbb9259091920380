"""Spec fields for baselines and backtests, season lengths from frequencies, and the periods
after a date."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from app.ml.calendar import next_periods, resolve_season_length, season_length_for
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


@pytest.mark.parametrize(
    ("as_of", "frequency", "exchange", "expected"),
    [
        ("2016-12-30", "B", "XNYS", ["2017-01-03", "2017-01-04"]),  # 2 January: a holiday
        # a clock time (a client's as_of) on a series of dates: the next dates, not a 500
        ("2016-12-30 15:30", "B", "XNYS", ["2017-01-03", "2017-01-04"]),
        ("2016-12-30 15:30", "D", None, ["2016-12-31", "2017-01-01"]),
        ("2016-12-30 15:30", "1h", None, ["2016-12-30 16:30", "2016-12-30 17:30"]),
        # an as_of inside a period: the periods after the one it falls in
        ("2016-12-30", "MS", None, ["2017-01-01", "2017-02-01"]),
        ("2016-12-01", "MS", None, ["2017-01-01", "2017-02-01"]),
        ("2016-12-30", "ME", None, ["2017-01-31", "2017-02-28"]),
        ("2016-12-31", "ME", None, ["2017-01-31", "2017-02-28"]),
        ("2016-11-15", "QS", None, ["2017-01-01", "2017-04-01"]),
        ("2016-12-28", "W-FRI", None, ["2017-01-06", "2017-01-13"]),
    ],
)
def test_next_periods_follow_the_period_as_of_falls_in(
    as_of: str, frequency: str, exchange: str | None, expected: list[str]
) -> None:
    periods = next_periods(pd.Timestamp(as_of), frequency, exchange, 2)
    assert periods is not None
    assert list(periods) == [pd.Timestamp(e) for e in expected]
