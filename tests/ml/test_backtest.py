"""Walk-forward folds: layout, no look-ahead, baselines, refusals, cancellation (no TF)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.ml.backtest import check_folds, fold_layout, run_backtest
from app.ml.baselines import BaselineForecaster
from app.ml.dataset import DatasetError, DatasetPlan
from app.ml.evaluate import FittedForecaster, fitted_baseline
from app.ml.metrics import rmse
from app.ml.spec import BacktestSpec, TrainingSpec
from tests.ml.helpers import random_walk

NAIVE = TrainingSpec(architecture="naive")


def test_fold_layout_ends_on_the_last_observation() -> None:
    folds = fold_layout(100, BacktestSpec(windows=3, step=10, horizon=5))
    assert [(f.cutoff, f.end) for f in folds] == [(66, 76), (76, 86), (86, 96)]
    last = folds[-1]
    assert last.end - 1 + 5 - 1 == 99  # the last origin's horizon ends on the last value
    assert fold_layout(100, BacktestSpec(windows=2, horizon=4))[0].cutoff == 100 - 4 - 4 + 1 - 4


def test_fold_layout_refuses_too_many_folds() -> None:
    with pytest.raises(DatasetError, match="fewer windows"):
        fold_layout(50, BacktestSpec(windows=10, step=5, horizon=5))


def test_refit_trains_only_on_data_before_each_cutoff() -> None:
    values = random_walk(300)
    seen: list[DatasetPlan] = []

    def fit(plan: DatasetPlan) -> FittedForecaster:
        seen.append(plan)
        return fitted_baseline(plan, NAIVE, 1, 5)

    backtest = BacktestSpec(windows=4, step=10, horizon=5)
    result = run_backtest(
        values.to_numpy(), pd.DatetimeIndex(values.index), NAIVE, backtest, season_length=5, fit=fit
    ).model_dump()
    folds = fold_layout(300, backtest)
    assert [len(p.prices) for p in seen] == [f.cutoff for f in folds]
    for plan, fold, row in zip(seen, folds, result["folds"], strict=True):
        assert plan.dates[-1] < values.index[fold.cutoff]
        assert row["cutoff"] == values.index[fold.cutoff].strftime("%Y-%m-%d")
        assert row["test"]["origins"] == 10
    json.dumps(result)  # JSON-ready


def test_naive_model_equals_the_naive_baseline_and_metrics_are_rmse() -> None:
    values = random_walk(300, seed=4)
    prices = values.to_numpy()
    backtest = BacktestSpec(windows=3, step=15, horizon=4)
    result = run_backtest(
        prices,
        pd.DatetimeIndex(values.index),
        NAIVE,
        backtest,
        season_length=5,
        fit=lambda plan: fitted_baseline(plan, NAIVE, 5, 4),
    ).model_dump()
    fold = fold_layout(300, backtest)[0]
    origins = np.arange(fold.cutoff, fold.end)
    first = result["folds"][0]
    assert first["one_step"]["model"]["rmse"] == pytest.approx(
        rmse(prices[origins], prices[origins - 1])
    )
    assert first["one_step"]["model"] == first["one_step"]["naive"]
    assert first["one_step"]["skill_vs_naive"] == 0.0
    h4 = rmse(prices[origins + 3], prices[origins - 1])
    assert first["per_step_rmse"]["model"][3] == pytest.approx(h4)
    assert first["multi_step"]["naive"]["rmse_at_horizon"] == pytest.approx(h4)
    seasonal = rmse(prices[origins], prices[origins - 5])
    assert first["one_step"]["seasonal_naive"]["rmse"] == pytest.approx(seasonal)
    pooled = result["aggregate"]["pooled"]
    assert pooled["one_step"]["model"]["rmse"] == pytest.approx(
        rmse(
            np.concatenate([prices[f.cutoff : f.end] for f in fold_layout(300, backtest)]),
            np.concatenate([prices[f.cutoff - 1 : f.end - 1] for f in fold_layout(300, backtest)]),
        )
    )
    assert set(result["aggregate"]["mean"]["coverage"]) == {"50", "80", "90", "95", "99"}
    assert len(result["forecasts"]["cutoff"]) == 45
    assert {"lo_80", "hi_80", "lo_95", "hi_95"} <= set(result["forecasts"])


def test_fixed_version_may_not_see_its_training_data() -> None:
    values = random_walk(300)
    prices, dates = values.to_numpy(), pd.DatetimeIndex(values.index)
    fixed = BaselineForecaster("naive")
    backtest = BacktestSpec(windows=3, step=10, horizon=5, refit=False)
    with pytest.raises(DatasetError, match="on or after"):
        run_backtest(
            prices, dates, NAIVE, backtest, season_length=5, fixed=fixed, earliest_cutoff=270
        ).model_dump()
    result = run_backtest(
        prices, dates, NAIVE, backtest, season_length=5, fixed=fixed, earliest_cutoff=260
    ).model_dump()
    assert result["refit"] is False
    assert result["folds"][0]["coverage"] is None  # a bare forecaster has no intervals
    spec = NAIVE.model_copy(update={"backtest": backtest})
    with pytest.raises(DatasetError, match="on or after"):
        check_folds(values, spec, values.index[270])
    assert len(check_folds(values, spec, values.index[260])) == 3


def test_check_folds_refuses_a_first_fold_too_short_to_train() -> None:
    values = random_walk(200)
    spec = TrainingSpec(
        window=60,
        target_transform="log_return",
        backtest=BacktestSpec(windows=6, step=20, horizon=10),
    )
    with pytest.raises(DatasetError, match="fold 1"):
        check_folds(values, spec)


def test_on_fold_can_cancel() -> None:
    values = random_walk(300)
    calls: list[tuple[int, int]] = []

    def on_fold(done: int, total: int) -> bool:
        calls.append((done, total))
        return done < 2

    result = run_backtest(
        values.to_numpy(),
        pd.DatetimeIndex(values.index),
        NAIVE,
        BacktestSpec(windows=4, step=10, horizon=5),
        season_length=5,
        fit=lambda plan: fitted_baseline(plan, NAIVE, 5, 5),
        on_fold=on_fold,
    ).model_dump()
    assert calls == [(1, 4), (2, 4)]
    assert result["cancelled"] is True
    assert len(result["folds"]) == 2


def test_every_fold_scores_the_statistical_references_on_the_same_points() -> None:
    values = random_walk(400)
    spec = TrainingSpec(architecture="naive")
    result = run_backtest(
        values.to_numpy(), pd.DatetimeIndex(values.index), spec,
        BacktestSpec(windows=2, step=20, horizon=5), season_length=5,
        fit=lambda plan: fitted_baseline(plan, spec, 5, 5), references=["ets", "theta"],
    )  # fmt: skip
    assert result.aggregate is not None
    for fold in result.folds:
        assert set(fold.one_step.references) == {"ets", "theta"}
        assert len(fold.per_step_rmse.references["theta"]) == 5
    assert set(result.aggregate.mean.one_step.references) == {"ets", "theta"}
    assert set(result.aggregate.pooled.multi_step.references) == {"ets", "theta"}
    # on a random walk the references are close to naive, as they should be
    ets = result.aggregate.pooled.one_step.references["ets"].rmse
    assert 0.9 < ets / result.aggregate.pooled.one_step.naive.rmse < 1.1
