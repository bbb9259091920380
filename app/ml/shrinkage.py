"""Never behind naive by accident: a network's forecasts lean toward "tomorrow = today" as far
as validation says its moves are noise.

Fitted on one-step forecasts of a network that never trained on the validation span: the
least-squares weight w of its predicted moves, shrunk by its own standard error s to
w·(1 − s²/w²) (none left where |w| ≤ s) and clipped to [0, 1], or 1 where the network beat naive
there significantly (Diebold–Mariano t < −1.96: a clearly better network keeps all of its
moves, which multi-step recursion needs on seasonal series). One weight for every step.

Why the shrinkage by s: on the 30 to 60 validation forecasts a short series leaves, w is noise
(s of 0.3 to 2 on 30 forecasts of random walks of 250 sessions); clipped as it came, such a
weight served every move of networks that were behind naive (BENCHMARKS.md, "Short series").

Why (BENCHMARKS.md, "Defaults that hold"): on MSFT's ten yearly folds the default LSTM was
1.001× naive on average and up to 1.027× in 2008; leaning by the weight fitted on validation it
was 0.998× on average and at most 1.0003×, while the seasonal series kept their gains.
"""

from __future__ import annotations

import math

import numpy as np

from app.ml.metrics import SIGNIFICANT_T, diebold_mariano_t
from app.ml.results import Shrinkage

# Fewest validation forecasts a weight is fitted on; fewer keep the network as it is.
MIN_POINTS = 30
# Validation forecasts asked of a probe where the series has the windows for them.
PROBE_POINTS = 2 * MIN_POINTS


def probe_windows(windows: int, fraction: float) -> int:
    """How many of the last training ``windows`` to hold out and forecast by a network trained
    on the ones before, to fit the weight on: ``fraction`` of them, or PROBE_POINTS where that
    is fewer (at most half of them); 0, no probe, where ``fraction`` is 0 or that leaves fewer
    than MIN_POINTS on either side.

    Why not ``fraction`` alone: a year of daily prices has about 200 training windows, 20 in a
    10 % tail; under MIN_POINTS the network was served unleaned, on average 3.9 % behind naive
    on random walks of 250 sessions and 7.0 % on 120 (1.5 % and 0.4 % with PROBE_POINTS and the
    shrinkage by the standard error; BENCHMARKS.md, "Short series").
    """
    if fraction <= 0:
        return 0
    held = max(math.floor(fraction * windows), min(PROBE_POINTS, windows // 2))
    return held if held >= MIN_POINTS and windows - held >= MIN_POINTS else 0


def _ratio(actual: np.ndarray, predicted: np.ndarray) -> float | None:
    naive = float(np.sqrt(np.mean(actual**2)))
    return float(np.sqrt(np.mean((actual - predicted) ** 2))) / naive if naive > 0 else None


def fit_shrinkage(actual: np.ndarray, predicted: np.ndarray, span: str) -> Shrinkage:
    """The weight for moves ``predicted`` one step ahead where ``actual`` ones happened (the
    naive move is 0); ``span`` says where the validation forecasts come from."""
    a = np.asarray(actual, dtype=np.float64)
    m = np.asarray(predicted, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(m)
    a, m = a[ok], m[ok]
    n = len(a)
    if n < MIN_POINTS:
        return Shrinkage(
            weight=1.0, standard_error=None, points=n, t_statistic=None,
            validation_ratio=None, served_ratio=None,
            reason=f"{n} validation forecasts (under {MIN_POINTS}): the network as trained",
        )  # fmt: skip
    t = diebold_mariano_t((a - m) ** 2 - a**2)  # < SIGNIFICANT_T: the network keeps every move
    energy = float(np.sum(m**2))
    fitted = float(np.sum(a * m) / energy) if energy > 0 else 0.0
    residual = a - fitted * m
    se = math.sqrt(float(np.sum(residual**2)) / (n - 1) / energy) if energy > 0 else None
    ratio = _ratio(a, m)
    if t is not None and t < SIGNIFICANT_T:
        weight = 1.0
        reason = f"the network beat naive on {span} (t = {t:.1f}): all of its moves are served"
    else:
        shrunk = fitted * max(0.0, 1 - (se / fitted) ** 2) if se is not None and fitted else 0.0
        weight = min(1.0, max(0.0, shrunk))
        shown = "nothing of" if weight == 0 else f"{weight:.0%} of" if weight < 1 else "all of"
        fit = f"{fitted:.2f} ± {se:.2f}" if se is not None else f"{fitted:.2f}"
        reason = (
            f"least-squares weight on {span} {fit}, shrunk by its standard error and clipped "
            f"to [0, 1]: {shown} the network's moves are served"
            + (f" (network ÷ naive there {ratio:.3f})" if ratio is not None else "")
        )
    return Shrinkage(
        weight=weight,
        standard_error=se,
        least_squares_weight=fitted,
        points=n,
        t_statistic=t,
        validation_ratio=ratio,
        served_ratio=_ratio(a, weight * m),
        reason=reason,
    )
