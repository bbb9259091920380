"""Combinations in ``auto``: a convex combination of the two best candidates, weighted by the
inverse of their validation MSE, served as one forecaster
(:class:`app.ml.inference.CombinedForecaster`) when it beats the best single
candidate by more than MARGIN on the validation span, cross-fitted (the weights fitted on one
half of the span, scored on the other, and the other way round: weights scored where they were
fitted would flatter every combination).

Why (BENCHMARKS.md, "Defaults that hold"): on El Niño AutoARIMA and the LSTM combined 51/49
forecast 3.3 % better than AutoARIMA alone; on the other series the gate never fired. Least-
squares weights, or the best three, passed in sample and lost out of it.

The default network gets a gate with one partner, ``ar`` (:func:`gate_with_ar`): on SF freeway
occupancy the default LSTM went from 1.027× ``ar``'s holdout RMSE to 1.006× (five seeds, the
gate fired for each); on sunspots it fired for four seeds of five without moving the mean. On a
span of fewer than MIN_POINTS forecasts it asks for a significant gain: on a 400-day straight
line the default LSTM was 1.000× naive on 30 validation forecasts (its moves leaned away) and
``ar`` exact; combined, 0.001×.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.ml.autoregression import LinearAutoregression
from app.ml.dataset import DatasetPlan
from app.ml.evaluate import forecast_origins
from app.ml.metrics import SIGNIFICANT_T, diebold_mariano_t
from app.ml.references import fit_reference
from app.ml.results import Choice, CombinationChoice
from app.ml.shrinkage import MIN_POINTS as SHRINKAGE_MIN_POINTS

# The combination must beat the best single candidate's validation RMSE by more than this.
MARGIN = 0.01
# The default network's gate with ``ar`` (:func:`gate_with_ar`) asks only that the
# cross-fitted combination beat the network alone: a convex combination's squared error is at
# most the weighted mean of its members', so a pass by chance costs little, and on SF freeway
# occupancy a 0.2 % gain on validation was 2 % on the holdout (BENCHMARKS.md, "Any series").
AR_MARGIN = 0.0
# Fewest validation points a combination is judged on by its gain alone (fewer: no
# combination in ``auto``; the default's gate with ``ar`` asks for a significant gain instead).
MIN_POINTS = 100
# Fewest validation points the gate with ``ar`` judges at all (the leaning's own minimum).
MIN_SIGNIFICANT_POINTS = SHRINKAGE_MIN_POINTS
# Members that keep files in the bundle under the same names cannot be combined: one network
# (network.onnx …) and one pickled statistical model (reference.pkl) at most.
FAMILIES = {
    "lstm": "network", "gru": "network", "lstm-direct": "network", "rnn": "network",
    "mlp": "network", "ets": "statsforecast", "arima": "statsforecast",
    "theta": "statsforecast",
}  # fmt: skip


def _rmse(actual: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.sqrt(np.mean((actual - predicted) ** 2)))


def _inverse_mse(actual: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    inverse = np.array([1.0 / max(float(np.mean((actual - m) ** 2)), 1e-300) for m in members])
    return np.asarray(inverse / inverse.sum())


def _can_share_a_bundle(a: str, b: str) -> bool:
    family = FAMILIES.get(a)
    return family is None or family != FAMILIES.get(b)


def choose_combination(
    actual: np.ndarray, predicted: dict[str, np.ndarray], scores: dict[str, float]
) -> CombinationChoice | None:
    """The best candidate and the next best it can share a bundle with, weighted by inverse
    validation MSE, if their cross-fitted combination beats the best by more than MARGIN;
    None when there are too few points or two candidates, or the gate holds it back."""
    ranked = sorted((name for name in scores if name in predicted), key=scores.__getitem__)
    if len(actual) < MIN_POINTS or len(ranked) < 2:
        return None
    best = ranked[0]
    partner = next((n for n in ranked[1:] if _can_share_a_bundle(best, n)), None)
    if partner is None:
        return None
    weighed = _weigh(actual, best, predicted[best], partner, predicted[partner])
    return weighed if _gain(weighed) > MARGIN else None


def _weigh(
    actual: np.ndarray, first: str, first_forecasts: np.ndarray, partner: str,
    partner_forecasts: np.ndarray,
) -> CombinationChoice:  # fmt: skip
    """``first`` and ``partner`` weighted by inverse MSE, and how much better than ``first``
    alone they forecast ``actual`` cross-fitted (the weights fitted on one half, scored on the
    other, both ways)."""
    members = [first_forecasts, partner_forecasts]
    combined = _cross_fitted(actual, members)
    weights = _inverse_mse(actual, members)
    choice = CombinationChoice(
        members=[first, partner],
        weights=[float(w) for w in weights],
        validation_rmse=_rmse(actual, weights[0] * members[0] + weights[1] * members[1]),
        cross_fitted_rmse=_rmse(actual, combined),
        best_single_rmse=_rmse(actual, first_forecasts),
        reason="",
    )
    gain = _gain(choice)
    better = f"{gain:.1%} better" if gain >= 0 else f"{-gain:.1%} worse"
    return choice.model_copy(
        update={
            "reason": f"{first} and {partner} weighted {weights[0]:.2f}/{weights[1]:.2f} "
            f"(inverse validation MSE) forecast {better} than {first} alone, cross-fitted on "
            f"the two halves of the {len(actual):,} validation points"
        }
    )


def _cross_fitted(actual: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """The combination's forecasts on each half of the span, weighted as the other half says."""
    half = len(actual) // 2
    combined = np.empty(len(actual))
    for fit, score in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
        weights = _inverse_mse(actual[fit], [m[fit] for m in members])
        combined[score] = weights[0] * members[0][score] + weights[1] * members[1][score]
    return combined


def _gain(choice: CombinationChoice) -> float:
    """How much better than its first member alone the combination forecast, cross-fitted."""
    best = choice.best_single_rmse
    return 1 - choice.cross_fitted_rmse / best if best > 0 else 0.0


@dataclass(frozen=True)
class SpanForecasts:
    """One-step forecasts of ``prices[targets]`` from the true history before each, by a
    forecaster that never trained on those targets."""

    targets: np.ndarray
    predicted: np.ndarray


@dataclass(frozen=True)
class WithAr:
    """A network's partner: ``ar`` fitted on the whole training part, and how the two combine
    (members network, ar)."""

    ar: LinearAutoregression
    combination: CombinationChoice


@dataclass(frozen=True)
class ArGate:
    """Whether a network is served combined with ``ar``: the choice as the version shows it,
    and, where the gate let it through, its partner."""

    choice: Choice
    combined: WithAr | None = None


def gate_with_ar(
    plan: DatasetPlan,
    name: str,
    network: SpanForecasts,
    season_length: int,
    seasons: tuple[int, ...] = (),
) -> ArGate:
    """The network ``name`` combined with ``ar`` when, on the span its forecasts cover
    (``ar`` fitted on what precedes the span), the cross-fitted combination beats the network
    alone (by more than AR_MARGIN; on fewer than MIN_POINTS forecasts, significantly: a smooth
    series that ``ar`` forecasts almost exactly and a small network does not). ``seasons``: those
    the frequency implies (``ar``'s lags), as for the ``ar`` reference."""
    points = len(network.targets)
    if points < MIN_SIGNIFICANT_POINTS:
        return ArGate(Choice(value="none", reason=f"{points} validation forecasts (under "
                             f"{MIN_SIGNIFICANT_POINTS}): the network alone"))  # fmt: skip
    prices, start = plan.prices, int(network.targets[0])
    try:
        before = fit_reference("ar", prices[:start], season_length, seasons)
    except ValueError as exc:
        return ArGate(Choice(value="none", reason=f"ar could not be fitted before the "
                             f"validation span ({exc}): the network alone"))  # fmt: skip
    if not isinstance(before, LinearAutoregression) or before.history_needed > start:
        return ArGate(Choice(value="none", reason="too little history before the validation "
                             "span for ar: the network alone"))  # fmt: skip
    partner, actual = forecast_origins(before, prices, network.targets, 1)
    weighed = _weigh(actual[:, 0], name, network.predicted, "ar", partner[:, 0])
    if _gain(weighed) <= AR_MARGIN:
        return ArGate(Choice(value="none", reason=f"{weighed.reason}: the network alone"))
    if points < MIN_POINTS:
        a, members = actual[:, 0], [network.predicted, partner[:, 0]]
        loss = (a - _cross_fitted(a, members)) ** 2 - (a - members[0]) ** 2
        t = diebold_mariano_t(loss, lags=int(points ** (1 / 3)))  # errors correlate in time
        shown = "t not defined" if t is None else f"t = {t:.1f}"
        if t is None or t >= SIGNIFICANT_T:
            reason = f"{weighed.reason}; not significant on under {MIN_POINTS} ({shown})"
            return ArGate(Choice(value="none", reason=f"{reason}: the network alone"))
        weighed = weighed.model_copy(update={"reason": f"{weighed.reason}; significant ({shown})"})
    try:
        ar = fit_reference("ar", prices[: plan.holdout_start], season_length, seasons)
    except ValueError as exc:  # fitted before the span, so unexpected; never a failed job
        return ArGate(Choice(value="none", reason=f"ar could not be fitted on the training "
                             f"part ({exc}): the network alone"))  # fmt: skip
    assert isinstance(ar, LinearAutoregression)
    return ArGate(Choice(value=f"{name}+ar", reason=weighed.reason), WithAr(ar, weighed))
