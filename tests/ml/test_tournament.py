"""The tournament's rule: the most complex candidate more than MARGIN below every simpler one."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.ml.defaults import resolve
from app.ml.spec import TrainingSpec
from app.ml.tournament import MARGIN, _winner, run_tournament


def test_a_close_call_goes_to_the_simpler_candidate() -> None:
    # arima is ahead of ets, but by less than the margin: ets is served.
    scores = {"naive": 1.0, "drift": 1.002, "ets": 0.986, "theta": 1.015, "arima": 0.985}
    assert _winner(scores)[0] == "ets"


def test_a_candidate_must_beat_every_simpler_one_not_only_the_served_one() -> None:
    # drift is within the margin of naive (not served), and lstm is more than the margin below
    # naive but not below drift: naive stays.
    scores = {"naive": 1.0, "drift": 0.995, "lstm": 0.995 * (1 - MARGIN / 2)}
    winner, reason = _winner(scores)
    assert winner == "naive"
    assert "tomorrow = today" in reason


def test_a_clear_improvement_is_served_at_every_step() -> None:
    scores = {"naive": 1.0, "ets": 0.9, "arima": 0.8, "lstm": 0.7, "gru": 0.695}
    winner, reason = _winner(scores)
    assert winner == "lstm"
    assert reason.startswith("30.0% below naive")


def test_a_lead_on_the_mean_that_one_span_owes_is_not_served() -> None:
    # arima is 2.7 % ahead of naive on the mean of the two spans, but 0.6 % on validation
    # (as on MSFT before 2008); ar is steadily ahead, by less: ar is served; without it, naive.
    scores = {"naive": 1.0, "ar": 0.988, "arima": 0.973}
    spans = {"naive": [1.0, 1.0], "ar": [0.988, 0.988], "arima": [0.994, 0.952]}
    assert _winner(scores, spans)[0] == "ar"
    del scores["ar"], spans["ar"]
    winner, reason = _winner(scores, spans)
    assert winner == "naive"
    assert "arima led on the mean of the two but not on each" in reason
    # the same means with a lead on each span: arima is served
    spans["arima"] = [0.975, 0.971]
    assert _winner(scores, spans)[0] == "arima"


def _prices(moves: np.ndarray) -> pd.Series:
    return pd.Series(100 + np.cumsum(moves), index=pd.bdate_range("2000-01-03", periods=len(moves)))


def _no_networks(*_: object) -> Any:
    raise RuntimeError("no networks in this test")


def _auto(series: pd.Series) -> tuple[list[Any], Any]:
    auto = resolve(series, TrainingSpec(architecture="auto", references=["ar"]), "B")
    return run_tournament(auto.plan, auto.spec, budget_s=30, fit_network=_no_networks)


def test_a_candidate_that_beats_naive_in_one_regime_only_is_not_served() -> None:
    """Moves that revert (AR(1) −0.5) except on the span just before validation: the
    autoregression wins on validation, loses on the span before it, so naive is served and the
    table shows both spans."""
    rng = np.random.default_rng(5)
    n = 2500
    moves = rng.normal(size=n)
    validation = int(0.8 * n * 0.8)  # the validation span of the training part starts here
    span = int(0.8 * n) - validation
    for t in range(1, n):
        if not validation - span <= t < validation:
            moves[t] += -0.5 * moves[t - 1]
    members, table = _auto(_prices(moves))
    rows = {r.candidate: r for r in table.candidates}
    naive, ar = rows["naive"], rows["ar"]
    assert None not in (ar.validation_rmse, naive.validation_rmse, ar.earlier_rmse)
    assert naive.earlier_rmse is not None
    assert ar.validation_rmse < (1 - MARGIN) * naive.validation_rmse  # it won on validation…
    assert ar.earlier_rmse > naive.earlier_rmse  # …and lost on the span before it
    assert ar.ratio_to_naive == pytest.approx(
        (ar.validation_rmse / naive.validation_rmse + ar.earlier_rmse / naive.earlier_rmse) / 2
    )
    assert table.winner == "naive"
    assert "span before it: tomorrow = today" in table.reason
    assert members[0].architecture == "naive"


def test_a_candidate_that_beats_naive_on_both_spans_is_served() -> None:
    rng = np.random.default_rng(6)
    n = 2500
    moves = rng.normal(size=n)
    for t in range(1, n):
        moves[t] += -0.5 * moves[t - 1]
    _, table = _auto(_prices(moves))
    assert table.winner in ("ar", "arima")
    assert "below naive on the validation span and the span before it" in table.reason
    assert table.folds == 2


def test_each_candidate_is_announced_and_a_no_stops_the_tournament() -> None:
    series = _prices(np.random.default_rng(8).normal(size=600))
    auto = resolve(series, TrainingSpec(architecture="auto", references=["ar"]), "B")
    heard: list[tuple[str, int, int]] = []

    def listen(name: str, done: int, total: int) -> bool:
        heard.append((name, done, total))
        return True

    _, table = run_tournament(auto.plan, auto.spec, budget_s=30, fit_network=_no_networks,
                              on_candidate=listen)  # fmt: skip
    names = [row.candidate for row in table.candidates]
    assert heard == [(name, i, len(names)) for i, name in enumerate(names)]
    _, stopped = run_tournament(auto.plan, auto.spec, budget_s=30, fit_network=_no_networks,
                                on_candidate=lambda _, done, __: done < 2)  # fmt: skip
    assert [row.candidate for row in stopped.candidates] == names[:2]
