"""``architecture: "auto"``: a tournament inside the training data, never the holdout.

The training part is split once more: every candidate is fitted on its first 80 % and makes
one-step forecasts from the true history through the last 20 % (the validation span); the
lowest RMSE wins, but only a candidate that beats naive, and every simpler kind of model, by
more than MARGIN (on a random walk nothing does: naive is then served, said plainly). Cheap
candidates run first; a network is skipped when the budget would not cover it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np

from app.ml.baselines import fit_method
from app.ml.dataset import DatasetPlan, first_target
from app.ml.evaluate import forecast_origins
from app.ml.inference import PointForecaster
from app.ml.metrics import rmse
from app.ml.records import Candidate, Tournament
from app.ml.references import fit_references
from app.ml.spec import REFERENCES, BaselineMethod, TrainingSpec

VALIDATION_SHARE = 0.2
# A candidate must beat naive's validation RMSE, and that of the best simpler candidate, by
# more than this share to be served instead (see _winner).
MARGIN = 0.01
MIN_VALIDATION = 10

FitNetwork = Callable[[DatasetPlan, TrainingSpec], PointForecaster]


@dataclass(frozen=True)
class Entry:
    name: str
    spec: TrainingSpec


def candidates(spec: TrainingSpec) -> list[Entry]:
    """Baselines, statistical models, then the networks: the LSTM and GRU defaults and the
    LSTM with direct multi-step outputs (``spec`` is resolved: window and transform chosen)."""
    base = spec.model_copy(update={"backtest": None})
    entries = [Entry("naive", base.model_copy(update={"architecture": "naive"}))]
    entries.append(Entry("drift", base.model_copy(update={"architecture": "drift"})))
    if (spec.season_length or 1) > 1:
        entries.append(
            Entry("seasonal_naive", base.model_copy(update={"architecture": "seasonal_naive"}))
        )
    entries += [Entry(m, base.model_copy(update={"architecture": m})) for m in REFERENCES]
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


def run_tournament(
    plan: DatasetPlan,
    spec: TrainingSpec,
    *,
    budget_s: float,
    fit_network: FitNetwork,
    still_ours: Callable[[], bool] = lambda: True,
) -> tuple[TrainingSpec, Tournament]:
    """The winning candidate's spec and the tournament table."""
    started = time.perf_counter()
    season = spec.season_length or 1
    rows: list[Candidate] = []
    scores: dict[str, float] = {}
    specs: dict[str, TrainingSpec] = {}
    longest_network = 0.0
    points = 0
    references = None
    for entry in candidates(spec):
        if not still_ours():
            break
        specs[entry.name] = entry.spec
        sub = validation_plan(plan, entry.spec)
        elapsed = time.perf_counter() - started
        if sub is None:
            rows.append(_row(entry, None, None, 0.0, "too little training data"))
            continue
        points = len(sub.prices) - sub.holdout_start
        t0 = time.perf_counter()
        try:
            if entry.spec.is_baseline:
                method = cast(BaselineMethod, entry.spec.architecture)
                forecaster: PointForecaster = fit_method(
                    method, sub.prices[: sub.holdout_start], season
                )
            elif entry.spec.is_reference:
                if references is None:
                    references = fit_references(
                        list(REFERENCES),
                        sub.prices[: sub.holdout_start],
                        season,
                        max(1.0, min(budget_s - elapsed, budget_s / 3)),
                    )
                fit = references[entry.name]
                if fit.forecaster is None:
                    rows.append(_row(entry, None, None, fit.seconds, f"{fit.status}: {fit.detail}"))
                    continue
                forecaster = fit.forecaster
            else:
                if elapsed + max(longest_network, 1.0) > budget_s:
                    rows.append(_row(entry, None, None, 0.0, "skipped: time budget spent"))
                    continue
                forecaster = fit_network(sub, entry.spec)
            score = one_step_rmse(forecaster, sub)
        except Exception as exc:  # a candidate that cannot fit is reported, not fatal
            rows.append(
                _row(entry, None, None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
            )
            continue
        seconds = time.perf_counter() - t0
        if entry.spec.is_network:
            longest_network = max(longest_network, seconds)
        if not math.isfinite(score):
            rows.append(_row(entry, None, None, seconds, "non-finite forecasts"))
            continue
        scores[entry.name] = score
        rows.append(_row(entry, score, None, seconds, None))
    naive = scores.get("naive")
    rows = [
        r.model_copy(
            update={
                "ratio_to_naive": (
                    None if r.validation_rmse is None or not naive else r.validation_rmse / naive
                )
            }
        )
        for r in rows
    ]
    winner, reason = _winner(scores, specs)
    table = Tournament(
        winner=winner,
        reason=reason,
        folds=1,
        validation_points=points,
        budget_s=budget_s,
        seconds=round(time.perf_counter() - started, 3),
        candidates=rows,
    )
    return specs[winner], table


def _tier(spec: TrainingSpec) -> int:
    """How much a candidate assumes: naive, the other baselines, statistical models, networks."""
    if spec.architecture == "naive":
        return 0
    if spec.is_baseline:
        return 1
    return 2 if spec.is_reference else 3


def _winner(scores: dict[str, float], specs: dict[str, TrainingSpec]) -> tuple[str, str]:
    """Naive, unless a candidate beats it by more than MARGIN; a candidate of a more complex
    tier (baselines, statistical models, networks) must also beat the best of the simpler
    tiers by more than MARGIN. A short validation span cannot tell a 1 % difference from
    noise, and the simpler model is then the safer one to serve."""
    naive = scores.get("naive")
    if naive is None:
        return min(scores, key=scores.__getitem__), "lowest validation RMSE (no naive score)"
    current = "naive"
    for tier in (1, 2, 3):
        in_tier = [n for n in scores if _tier(specs[n]) == tier]
        if in_tier:
            best = min(in_tier, key=scores.__getitem__)
            if scores[best] < scores[current] * (1 - MARGIN):
                current = best
    if current == "naive":
        return "naive", (
            f"no candidate beat naive by more than {MARGIN:.0%} on the validation span: "
            "tomorrow = today is served"
        )
    return current, (
        f"{1 - scores[current] / naive:.1%} below naive on the validation span, and more than "
        f"{MARGIN:.0%} below every simpler candidate"
    )


def _row(
    entry: Entry, score: float | None, ratio: float | None, seconds: float, detail: str | None
) -> Candidate:
    shown = ("architecture", "window", "target_transform", "strategy", "ensemble")
    return Candidate(
        candidate=entry.name,
        spec=entry.spec.model_dump(include=set(shown)),
        validation_rmse=score,
        ratio_to_naive=ratio,
        seconds=round(seconds, 3),
        detail=detail,
    )
