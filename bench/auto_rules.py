"""Which rule should ``auto`` serve by? Every candidate's one-step forecasts on three spans of
each series of ``bench.series``, then each rule replayed on them.

    python -m bench.auto_rules            # fit and record (~40 min), then compare
    python -m bench.auto_rules --replay   # compare the rules on what was recorded

For each series and each candidate of the tournament (``app.ml.tournament.candidates``):
forecasts over the validation span (fitted on what precedes it, as the tournament does), over
the span of the same length before it (fitted on what precedes that: the tournament's
confirmation span) and over the holdout (fitted on the whole training part, as the served
model is). A rule sees only the first two spans and names what it serves: one candidate, or
members and weights; its score is that choice's one-step RMSE on the holdout ÷ naive's, and
÷ the best reference's (the lowest of ``ar``, ``ets``, ``theta``, ``arima`` on the holdout),
which is what issue 28's targets measure.
"""

from __future__ import annotations

import argparse
import math
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from app.ml.calendar import infer_frequency, seasons_for
from app.ml.combination import _can_share_a_bundle, choose_combination
from app.ml.dataset import DatasetPlan
from app.ml.evaluate import forecast_origins
from app.ml.inference import PointForecaster
from app.ml.tournament import (
    MARGIN,
    REFERENCE_COMPLEXITY,
    Span,
    _Fitter,
    _NotFitted,
    _splits,
    _winner,
    candidates,
)
from bench.series import SERIES, SETTINGS, fit_network, load, resolved_default

OUT = Path(__file__).parent / "out" / "auto_rules"
SPANS = ("earlier", "validation", "holdout")


@dataclass
class Recorded:
    """One series: per span, the truth and every fitted candidate's one-step forecasts."""

    actual: dict[str, np.ndarray]
    predicted: dict[str, dict[str, np.ndarray]]  # span → candidate → forecasts


def _forecasts(forecaster: PointForecaster, prices: np.ndarray, start: int) -> np.ndarray:
    origins = np.arange(start, len(prices))
    predicted, _ = forecast_origins(forecaster, prices, origins, 1)
    return np.asarray(predicted[:, 0])


def record(label: str, series: pd.Series) -> Recorded:
    """Every candidate's forecasts on the tournament's two spans (fitted within its budget, as
    ``run_tournament`` fits them) and on the holdout (fitted on the whole training part)."""
    from app.ml.train import configure_tensorflow

    configure_tensorflow(None)
    frequency = infer_frequency(pd.DatetimeIndex(series.index))
    auto = resolved_default(series, architecture="auto")
    plan, spec = auto.plan, auto.spec

    def fitter(budget_s: float) -> _Fitter:
        network = lambda sub, s: fit_network(sub, s)[0]  # noqa: E731
        return _Fitter(budget_s, network, spec.season_length or 1, seasons_for(frequency))

    tournament, served = fitter(SETTINGS.auto_budget_s), fitter(math.inf)
    recorded = Recorded(actual={}, predicted={span: {} for span in SPANS})
    for entry in candidates(spec):
        splits: dict[str, tuple[_Fitter, Span, DatasetPlan]] = {
            span: (tournament, span, split) for span, split in _splits(plan, entry.spec).items()
        }
        splits["holdout"] = (served, "validation", plan)
        for span, (fitting, cache, split) in splits.items():
            try:
                fitted = fitting.fit(entry, split, cache)
                if isinstance(fitted, _NotFitted):
                    print(f"  {label}: {entry.name} not fitted on {span}: {fitted}", flush=True)
                    break
                values = _forecasts(fitted, split.prices, split.holdout_start)
            except Exception as exc:  # noqa: BLE001 - a candidate that fails is left out
                print(f"  {label}: {entry.name} failed on {span}: {exc}", flush=True)
                break
            if not np.all(np.isfinite(values)):
                break
            recorded.predicted[span][entry.name] = values
            recorded.actual[span] = split.prices[split.holdout_start :]
        print(f"  {label}: {entry.name} recorded", flush=True)
    return recorded


def _rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


Choice = dict[str, float]  # candidate → weight
Rule = Callable[[Recorded], Choice]


def _scores(r: Recorded, span: str) -> dict[str, float]:
    names = [c for c in r.predicted["validation"] if c in r.predicted["holdout"]]
    return {c: _rmse(r.actual[span], r.predicted[span][c]) for c in names if c in r.predicted[span]}


def rule_current(r: Recorded, gate: float = MARGIN) -> Choice:
    """Today's: the margin rule on validation, confirmed on the earlier span, then the
    combination gate."""
    scores = _scores(r, "validation")
    winner, _ = _winner(scores)
    if winner != "naive" and "earlier" in r.actual and winner in r.predicted["earlier"]:
        naive = _rmse(r.actual["earlier"], r.predicted["earlier"]["naive"])
        if _rmse(r.actual["earlier"], r.predicted["earlier"][winner]) >= naive * (1 - MARGIN):
            winner = "naive"
    if winner == "naive":
        return {"naive": 1.0}
    import app.ml.combination as combination

    saved = combination.MARGIN
    combination.MARGIN = gate
    try:
        combo = choose_combination(r.actual["validation"], r.predicted["validation"], scores)
    finally:
        combination.MARGIN = saved
    if combo is None:
        return {winner: 1.0}
    return dict(zip(combo.members, combo.weights, strict=True))


def _two_span_scores(r: Recorded) -> dict[str, float]:
    """Each candidate's mean of its RMSE ÷ naive's over the validation and earlier spans (one
    span where the earlier could not be fitted)."""
    out = {}
    for c, score in _scores(r, "validation").items():
        ratios = [score / _rmse(r.actual["validation"], r.predicted["validation"]["naive"])]
        if c in r.predicted["earlier"]:
            e = r.actual["earlier"]
            ratios.append(
                _rmse(e, r.predicted["earlier"][c]) / _rmse(e, r.predicted["earlier"]["naive"])
            )
        out[c] = float(np.mean(ratios))
    return out


def rule_two_spans(r: Recorded) -> Choice:
    scores = _two_span_scores(r)
    winner, _ = _winner(scores)
    return {winner: 1.0}


def _top_combination(r: Recorded, ranked: list[str], k: int) -> Choice:
    members = [ranked[0]]
    for name in ranked[1:]:
        if len(members) == k:
            break
        if all(_can_share_a_bundle(m, name) for m in members):
            members.append(name)
    inverse = np.array(
        [
            1.0 / np.mean((r.actual["validation"] - r.predicted["validation"][m]) ** 2)
            for m in members
        ]
    )
    return dict(zip(members, inverse / inverse.sum(), strict=True))


def rule_top(k: int, two_spans: bool) -> Rule:
    def rule(r: Recorded) -> Choice:
        scores = _two_span_scores(r) if two_spans else _scores(r, "validation")
        winner, _ = _winner(scores)
        if winner == "naive":
            return {"naive": 1.0}
        ranked = sorted(scores, key=scores.__getitem__)
        return _top_combination(r, [c for c in ranked if c != "naive"], k)

    return rule


def rule_pair(first: str, second: str) -> Rule:
    """Two candidates weighted by inverse validation MSE, whatever validation says of them."""

    def rule(r: Recorded) -> Choice:
        members = [m for m in (first, second) if m in r.predicted["holdout"]]
        return _top_combination(r, members, 2) if members else {"naive": 1.0}

    return rule


def rule_gate0_two_spans(r: Recorded) -> Choice:
    """The winner on both spans, then the combination gate at 0 on validation."""
    scores = _two_span_scores(r)
    winner, _ = _winner(scores)
    if winner == "naive":
        return {"naive": 1.0}
    ranked = sorted(scores, key=scores.__getitem__)
    combo = _top_combination(r, [winner] + [c for c in ranked if c not in (winner, "naive")], 2)
    val = r.actual["validation"]
    single = _rmse(val, r.predicted["validation"][winner])
    mixed = _rmse(val, sum(w * r.predicted["validation"][c] for c, w in combo.items()))
    return combo if mixed < single else {winner: 1.0}


def rule_two_spans_combined(r: Recorded) -> Choice:
    """The winner on both spans; then today's combination gate (more than 1 % better,
    cross-fitted on validation) for it and the next best on both spans."""
    scores = _two_span_scores(r)
    winner, _ = _winner(scores)
    if winner == "naive":
        return {"naive": 1.0}
    ranked = {c: scores[c] for c in [winner] + sorted(scores, key=scores.__getitem__)
              if c != "naive"}  # fmt: skip
    combo = choose_combination(r.actual["validation"], r.predicted["validation"], ranked)
    if combo is None:
        return {winner: 1.0}
    return dict(zip(combo.members, combo.weights, strict=True))


def rule_two_spans_across(r: Recorded) -> Choice:
    """The winner on both spans; combined with the next best on both spans when, weighted by
    inverse MSE on one span and scored on the other (both ways), the pair's mean ratio to
    naive is more than 1 % below the winner's."""
    scores = _two_span_scores(r)
    winner, _ = _winner(scores)
    if winner == "naive" or "earlier" not in r.actual:
        return {winner: 1.0}
    ranked = [c for c in sorted(scores, key=scores.__getitem__) if c not in ("naive", winner)]
    both = [c for c in ranked if c in r.predicted["earlier"] and _can_share_a_bundle(winner, c)]
    if winner not in r.predicted["earlier"] or not both:
        return {winner: 1.0}
    members = [winner, both[0]]

    def weights(span: str) -> np.ndarray:
        inverse = np.array(
            [1.0 / np.mean((r.actual[span] - r.predicted[span][m]) ** 2) for m in members]
        )
        return inverse / inverse.sum()

    ratios = []
    for fit, score in (("earlier", "validation"), ("validation", "earlier")):
        w = weights(fit)
        mixed = sum(wi * r.predicted[score][m] for wi, m in zip(w, members, strict=True))
        naive = _rmse(r.actual[score], r.predicted[score]["naive"])
        ratios.append(_rmse(r.actual[score], np.asarray(mixed)) / naive)
    if np.mean(ratios) < scores[winner] * (1 - MARGIN):
        w = (weights("earlier") + weights("validation")) / 2
        return dict(zip(members, w, strict=True))
    return {winner: 1.0}


RULES: dict[str, Rule] = {
    "one span, confirmed before it; gate 1 % (until 2026-12-07)": rule_current,
    "one span, confirmed; gate 0": lambda r: rule_current(r, 0.0),
    "two spans, no combination": rule_two_spans,
    "one span, always the top 2": rule_top(2, False),
    "two spans, always the top 2": rule_top(2, True),
    "two spans, always the top 3": rule_top(3, True),
    "two spans, gate 0": rule_gate0_two_spans,
    "two spans, gate 1 % (served now)": rule_two_spans_combined,
    "two spans, gate 1 % across spans": rule_two_spans_across,
    "the LSTM candidate alone": lambda _: {"lstm": 1.0},
    "LSTM + ar, always": rule_pair("lstm", "ar"),
}


def replay(records: dict[str, Recorded]) -> None:
    print("\n| rule | " + " | ".join(records) + " | ≤ 1.00 best ref | ≤ 0.98 |")
    print("|---|" + "---|" * (len(records) + 2))
    for name, rule in RULES.items():
        cells, within, ahead = [], 0, 0
        for r in records.values():
            choice = rule(r)
            actual = r.actual["holdout"]
            served = sum(w * r.predicted["holdout"][c] for c, w in choice.items())
            naive = _rmse(actual, r.predicted["holdout"]["naive"])
            refs = [
                _rmse(actual, r.predicted["holdout"][m])
                for m in REFERENCE_COMPLEXITY
                if m in r.predicted["holdout"]
            ]
            ratio = _rmse(actual, np.asarray(served)) / min(refs)
            within += ratio <= 1.0005
            ahead += ratio <= 0.9805
            shown = "+".join(f"{c}" for c in choice)
            cells.append(f"{_rmse(actual, np.asarray(served)) / naive:.3f} ({ratio:.3f}, {shown})")
        print(f"| {name} | " + " | ".join(cells) + f" | {within} | {ahead} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replay", action="store_true")
    parser.add_argument("--only", default=None)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    records = {}
    for label, (filename, column) in SERIES.items():
        if args.only and args.only not in label:
            continue
        path = OUT / f"{filename}.pkl"
        if args.replay and not path.exists():
            continue
        if not args.replay:
            print(f"{label}:", flush=True)
            path.write_bytes(pickle.dumps(record(label, load(filename, column))))
        records[label] = pickle.loads(path.read_bytes())
    replay(records)


if __name__ == "__main__":
    main()
