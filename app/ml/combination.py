"""Combinations in ``auto``: a convex combination of the two best candidates, weighted by the
inverse of their validation MSE, served as one forecaster
(:class:`app.ml.inference.CombinedForecaster`) when it beats the best single
candidate by more than MARGIN on the validation span, cross-fitted (the weights fitted on one
half of the span, scored on the other, and the other way round: weights scored where they were
fitted would flatter every combination).

Why (BENCHMARKS.md, "Defaults that hold"): on El Niño AutoARIMA and the LSTM combined 51/49
forecast 3.3 % better than AutoARIMA alone; on the other series the gate never fired. Least-
squares weights, or the best three, passed in sample and lost out of it.
"""

from __future__ import annotations

import numpy as np

from app.ml.results import CombinationChoice

# The combination must beat the best single candidate's validation RMSE by more than this.
MARGIN = 0.01
# Fewest validation points a combination is judged on (fewer: no combination).
MIN_POINTS = 100
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
    members = [predicted[best], predicted[partner]]
    half = len(actual) // 2
    combined = np.empty(len(actual))
    for fit, score in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
        weights = _inverse_mse(actual[fit], [m[fit] for m in members])
        combined[score] = weights[0] * members[0][score] + weights[1] * members[1][score]
    cross_fitted = _rmse(actual, combined)
    best_rmse = _rmse(actual, predicted[best])
    weights = _inverse_mse(actual, members)
    gain = 1 - cross_fitted / best_rmse if best_rmse > 0 else 0.0
    if gain <= MARGIN:
        return None
    return CombinationChoice(
        members=[best, partner],
        weights=[float(w) for w in weights],
        validation_rmse=_rmse(actual, weights[0] * members[0] + weights[1] * members[1]),
        cross_fitted_rmse=cross_fitted,
        best_single_rmse=best_rmse,
        reason=f"{best} and {partner} weighted {weights[0]:.2f}/{weights[1]:.2f} (inverse "
        f"validation MSE) forecast {gain:.1%} better than {best} alone, cross-fitted on the "
        f"two halves of the {len(actual):,} validation points",
    )
