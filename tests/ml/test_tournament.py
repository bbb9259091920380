"""The tournament's rule: the most complex candidate more than MARGIN below every simpler one."""

from __future__ import annotations

from app.ml.tournament import MARGIN, _winner


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
