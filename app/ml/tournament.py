"""``architecture: "auto"``: a tournament inside the training data, never the holdout.

The training part is split once more: every candidate is fitted on its first 80 % and makes
one-step forecasts from the true history through the last 20 % (the validation span).
Candidates run from the simplest to the most complex (:func:`candidates`); one is served only if
its validation RMSE is more than MARGIN below that of every simpler candidate (on a random walk
nothing beats naive so: naive is then served, said plainly). A network is skipped when the
budget would not cover it. The two best candidates are then served together instead when their
combination beats the best of them on validation (:mod:`app.ml.combination`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from app.ml.baselines import fit_method
from app.ml.combination import choose_combination
from app.ml.dataset import DatasetPlan, first_target
from app.ml.evaluate import forecast_origins
from app.ml.inference import PointForecaster
from app.ml.metrics import rmse
from app.ml.references import ReferenceFit, fit_references
from app.ml.results import Candidate, Tournament
from app.ml.spec import REFERENCES, BaselineMethod, ReferenceMethod, TrainingSpec

VALIDATION_SHARE = 0.2
# A candidate must beat the validation RMSE of every simpler candidate by more than this share
# to be served instead (see _winner).
MARGIN = 0.01
# The statistical references in the order they are tried: the ridge autoregression first (a
# linear map with one penalty, fitted in closed form: the simplest to trust), then from the
# fewest parameters to the most: non-seasonal AutoETS (a smoothing weight or two and the initial
# states), AutoTheta (SES with drift after a seasonal adjustment), AutoARIMA (up to five AR and
# MA orders each, plus seasonal ones).
REFERENCE_COMPLEXITY: tuple[ReferenceMethod, ...] = ("ar", "ets", "theta", "arima")
MIN_VALIDATION = 10

FitNetwork = Callable[[DatasetPlan, TrainingSpec], PointForecaster]


@dataclass(frozen=True)
class Entry:
    name: str
    spec: TrainingSpec


def candidates(spec: TrainingSpec) -> list[Entry]:
    """Every candidate from the simplest to the most complex: the baselines, the statistical
    models, then the networks (the LSTM and GRU defaults and the LSTM with direct multi-step
    outputs); ``spec`` is resolved: window and transform chosen."""
    base = spec.model_copy(update={"backtest": None})
    entries = [Entry("naive", base.model_copy(update={"architecture": "naive"}))]
    entries.append(Entry("drift", base.model_copy(update={"architecture": "drift"})))
    if (spec.season_length or 1) > 1:
        entries.append(
            Entry("seasonal_naive", base.model_copy(update={"architecture": "seasonal_naive"}))
        )
    entries += [Entry(m, base.model_copy(update={"architecture": m})) for m in REFERENCE_COMPLEXITY]
    entries.append(Entry("lstm", base.model_copy(update={"architecture": "lstm"})))
    entries.append(Entry("gru", base.model_copy(update={"architecture": "gru"})))
    entries.append(
        Entry("lstm-direct", base.model_copy(update={"architecture": "lstm", "strategy": "direct"}))
    )
    return entries


def validation_plan(plan: DatasetPlan, spec: TrainingSpec) -> DatasetPlan | None:
    """The training part split for a candidate: the same validation span for everyone; None
    where the candidate has no training target before it."""
    end = plan.holdout_start
    start = end - max(MIN_VALIDATION, math.ceil(VALIDATION_SHARE * end))
    first = first_target(spec, spec.season_length or 1)
    if start <= first + 1:
        return None
    training = start - first
    validation = math.floor(spec.validation_fraction * training) if spec.patience else 0
    if spec.is_network and spec.patience and validation < 1:
        return None
    return DatasetPlan(
        dates=plan.dates[:end],
        prices=plan.prices[:end],
        holdout_start=start,
        validation_samples=validation,
    )


def one_step_rmse(forecaster: PointForecaster, plan: DatasetPlan) -> float:
    """RMSE of one-step forecasts from the true history over the plan's holdout."""
    origins = np.arange(plan.holdout_start, len(plan.prices))
    predicted, actual = forecast_origins(forecaster, plan.prices, origins, 1)
    return rmse(actual[:, 0], predicted[:, 0])


@dataclass(frozen=True)
class _NotFitted:
    detail: str
    seconds: float | None = None  # None: as long as trying took


@dataclass
class _Fitter:
    """Fits each candidate on the validation split, within one budget: the statistical models
    all at once (in parallel, the first time one is asked for), a network only while the
    budget covers the longest one so far."""

    budget_s: float
    fit_network: FitNetwork
    season: int
    seasons: tuple[int, ...]
    started: float = field(default_factory=time.perf_counter)
    references: dict[str, ReferenceFit] | None = None
    longest_network: float = 0.0

    def fit(self, entry: Entry, sub: DatasetPlan) -> PointForecaster | _NotFitted:
        """The fitted candidate, or why there is none."""
        train = sub.prices[: sub.holdout_start]
        elapsed = time.perf_counter() - self.started
        if entry.spec.is_baseline:
            return fit_method(cast(BaselineMethod, entry.spec.architecture), train, self.season)
        if entry.spec.is_reference:
            if self.references is None:
                budget = max(1.0, min(self.budget_s - elapsed, self.budget_s / 3))
                self.references = fit_references(
                    list(REFERENCES), train, self.season, budget, self.seasons
                )
            fit = self.references[entry.name]
            if fit.forecaster is None:
                return _NotFitted(f"{fit.status}: {fit.detail}", fit.seconds)
            return fit.forecaster
        if elapsed + max(self.longest_network, 1.0) > self.budget_s:
            return _NotFitted("skipped: time budget spent", 0.0)
        return self.fit_network(sub, entry.spec)

    def refit(self, entry: Entry, sub: DatasetPlan) -> PointForecaster:
        """The candidate fitted anew on another split (no budget: one fit)."""
        train = sub.prices[: sub.holdout_start]
        if entry.spec.is_baseline:
            return fit_method(cast(BaselineMethod, entry.spec.architecture), train, self.season)
        if entry.spec.is_reference:
            method = entry.spec.reference_method
            fit = fit_references([method], train, self.season, self.budget_s, self.seasons)[method]
            if fit.forecaster is None:
                raise ValueError(f"{fit.status}: {fit.detail}")
            return fit.forecaster
        return self.fit_network(sub, entry.spec)


def earlier_plan(plan: DatasetPlan, sub: DatasetPlan) -> DatasetPlan:
    """The span of the same length just before the validation span, as a holdout."""
    span = len(sub.prices) - sub.holdout_start
    return DatasetPlan(
        dates=plan.dates[: sub.holdout_start],
        prices=plan.prices[: sub.holdout_start],
        holdout_start=max(0, sub.holdout_start - span),
        validation_samples=sub.validation_samples,
    )


def _confirmed(plan: DatasetPlan, entry: Entry, fitter: _Fitter) -> tuple[bool, str]:
    """Whether ``entry`` also beats naive by more than MARGIN on the span before validation (a
    validation span that caught one regime, like MSFT's 2001 crash, is not enough to leave
    "tomorrow = today"); True where there is no such span to fit on."""
    sub = validation_plan(plan, entry.spec)
    assert sub is not None
    earlier = earlier_plan(plan, sub)
    first = first_target(entry.spec, entry.spec.season_length or 1)
    if earlier.holdout_start <= 2 * first + 1:
        return True, "no earlier span to confirm on"
    try:
        forecaster = fitter.refit(entry, earlier)
        model = one_step_rmse(forecaster, earlier)
    except Exception as exc:  # cannot be confirmed: the simpler model is the safer one
        return False, f"not confirmed on the span before validation ({type(exc).__name__})"
    naive = one_step_rmse(fit_method("naive", earlier.prices[: earlier.holdout_start], 1), earlier)
    ratio = model / naive if naive > 0 else 1.0
    points = len(earlier.prices) - earlier.holdout_start
    return ratio < 1 - MARGIN, f"{ratio:.3f}× naive on the {points:,} values before validation"


def run_tournament(
    plan: DatasetPlan,
    spec: TrainingSpec,
    *,
    budget_s: float,
    fit_network: FitNetwork,
    seasons: tuple[int, ...] = (),
    still_ours: Callable[[], bool] = lambda: True,
) -> tuple[list[TrainingSpec], Tournament]:
    """The spec of the winning candidate (or of the two in a winning combination, in the order
    of the table's ``combination.members``) and the tournament table (``seasons``: every season
    the frequency implies, for the autoregression's lags)."""
    fitter = _Fitter(budget_s, fit_network, spec.season_length or 1, seasons)
    rows: list[Candidate] = []
    scores: dict[str, float] = {}
    specs: dict[str, TrainingSpec] = {}
    predicted: dict[str, np.ndarray] = {}
    actual = np.empty(0)
    points = 0
    for entry in candidates(spec):
        if not still_ours():
            break
        specs[entry.name] = entry.spec
        sub = validation_plan(plan, entry.spec)
        if sub is None:
            rows.append(_row(entry, None, 0.0, "too little training data"))
            continue
        points = len(sub.prices) - sub.holdout_start
        started = time.perf_counter()
        score = math.nan
        try:
            fitted = fitter.fit(entry, sub)
            if not isinstance(fitted, _NotFitted):
                origins = np.arange(sub.holdout_start, len(sub.prices))
                forecasts, actuals = forecast_origins(fitted, sub.prices, origins, 1)
                score = rmse(actuals[:, 0], forecasts[:, 0])
                predicted[entry.name], actual = forecasts[:, 0], actuals[:, 0]
        except Exception as exc:  # a candidate that cannot fit is reported, not fatal
            fitted = _NotFitted(f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - started
        if isinstance(fitted, _NotFitted):
            shown = seconds if fitted.seconds is None else fitted.seconds
            rows.append(_row(entry, None, shown, fitted.detail))
            continue
        if entry.spec.is_network:
            fitter.longest_network = max(fitter.longest_network, seconds)
        if not math.isfinite(score):
            rows.append(_row(entry, None, seconds, "non-finite forecasts"))
        else:
            scores[entry.name] = score
            rows.append(_row(entry, score, seconds, None))
    naive = scores.get("naive")
    rows = [
        r.model_copy(update={"ratio_to_naive": r.validation_rmse / naive})
        if r.validation_rmse is not None and naive
        else r
        for r in rows
    ]
    winner, reason = _winner(scores)
    if winner != "naive":
        held, how = _confirmed(plan, Entry(winner, specs[winner]), fitter)
        if held:
            reason += f"; confirmed: {how}"
        else:
            winner, reason = (
                "naive",
                (
                    f"{winner} beat naive by more than {MARGIN:.0%} on the validation span but not "
                    f"on the span before it ({how}): tomorrow = today is served"
                ),
            )
    combination = choose_combination(actual, predicted, scores) if winner != "naive" else None
    table = Tournament(
        winner="combination" if combination else winner,
        reason=combination.reason if combination else reason,
        folds=1,
        validation_points=points,
        budget_s=budget_s,
        seconds=round(time.perf_counter() - fitter.started, 3),
        candidates=rows,
        combination=combination,
    )
    served = combination.members if combination else [winner]
    return [specs[name] for name in served], table


def _winner(scores: dict[str, float]) -> tuple[str, str]:
    """The most complex candidate whose validation RMSE is more than MARGIN below that of every
    simpler one (``scores`` is in order of complexity, naive first); naive when none is. A
    validation span cannot tell a 1 % difference from noise (on the quarterly real interest
    rate AutoARIMA was 0.1 % ahead of AutoETS on validation and 6 % behind on the holdout), and
    the simpler model is then the safer one to serve."""
    naive = scores.get("naive")
    if naive is None:
        return min(scores, key=scores.__getitem__), "lowest validation RMSE (no naive score)"
    current = "naive"
    best_simpler = naive
    for name, score in scores.items():
        if name != "naive" and score < best_simpler * (1 - MARGIN):
            current = name
        best_simpler = min(best_simpler, score)
    if current == "naive":
        return "naive", (
            f"no candidate beat naive by more than {MARGIN:.0%} on the validation span: "
            "tomorrow = today is served"
        )
    return current, (
        f"{1 - scores[current] / naive:.1%} below naive on the validation span, and more than "
        f"{MARGIN:.0%} below every simpler candidate"
    )


def _row(entry: Entry, score: float | None, seconds: float, detail: str | None) -> Candidate:
    shown = ("architecture", "window", "target_transform", "strategy", "ensemble")
    return Candidate(
        candidate=entry.name,
        spec=entry.spec.model_dump(include=set(shown)),
        validation_rmse=score,
        ratio_to_naive=None,
        seconds=round(seconds, 3),
        detail=detail,
    )
