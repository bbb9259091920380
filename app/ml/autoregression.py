"""The closed-form linear autoregression: ridge least squares of the next move (the series'
target transform: a log return, a difference …) on the moves of the window before it, with the
penalty chosen by generalised cross-validation.

Three uses, one implementation (pure numpy, no TensorFlow):
- :func:`score_windows` scores candidate windows on the validation tail of the training part
  (milliseconds to a second for every candidate at once: one Gram matrix of the longest window,
  each candidate solved on its corner), which is how the service chooses a network's window;
- :class:`LinearAutoregression` is the ``ar`` reference and architecture (forecasts served from
  its JSON parameters);
- :func:`ridge` fits the frozen autoregression under every network.

Why (BENCHMARKS.md, "Defaults that hold"): on a half-hourly series with a daily cycle the
network's default window of 49 had 0.23× naive's error, the window 337 this scoring picks
0.17×; on seven of eight series it picked the window the network itself did best with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from app.ml.transforms import TargetTransform, history_length, supervised, to_price

# Penalties tried (on standardised targets), as the network's autoregression always did.
ALPHAS = np.logspace(-3, 3, 7)
# Fewest validation windows the candidates are scored on: on fewer a 1 % difference is noise
# (the quarterly real interest rate's 14 validation windows picked 5 lags, 8 % worse for the
# network than 20 on the holdout).
MIN_VALIDATION = 50


@dataclass(frozen=True)
class Ridge:
    """``y ≈ x @ kernel + bias`` (kernel: inputs × outputs)."""

    kernel: np.ndarray
    bias: np.ndarray
    alpha: float


def _solve(gram: np.ndarray, cross: np.ndarray, yy: float, n: int) -> tuple[np.ndarray, float]:
    """Coefficients for the penalty of least GCV, from centred cross-products only."""
    d, v = np.linalg.eigh(gram)
    d = np.maximum(d, 0.0)
    rotated = v.T @ cross  # inputs × outputs
    best: tuple[float, np.ndarray, float] | None = None
    for alpha in ALPHAS:
        shrink = 1.0 / (d + alpha)
        beta = v @ (rotated * shrink[:, None])
        # ‖y − Xβ‖² = y'y − 2β'X'y + β'X'Xβ, per output, summed
        rss = yy - 2 * float(np.sum(beta * cross)) + float(np.sum(beta * (gram @ beta)))
        dof = float(np.sum(d * shrink))
        gcv = max(rss, 0.0) / n / max(1.0 - dof / n, 1e-9) ** 2
        if best is None or gcv < best[0]:
            best = (gcv, beta, float(alpha))
    assert best is not None
    return best[1], best[2]


def ridge(x: np.ndarray, y: np.ndarray) -> Ridge:
    """Ridge least squares of ``y`` (samples × outputs, or samples) on ``x`` (samples × inputs)
    with an intercept, the penalty chosen by generalised cross-validation: deterministic, so it
    adds no seed dependence."""
    x = np.asarray(x, dtype=np.float64)
    y2 = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    x_mean, y_mean = x.mean(axis=0), y2.mean(axis=0)
    xc, yc = x - x_mean, y2 - y_mean
    beta, alpha = _solve(xc.T @ xc, xc.T @ yc, float(np.sum(yc**2)), len(x))
    return Ridge(kernel=beta, bias=y_mean - x_mean @ beta, alpha=alpha)


def _standardised(y: np.ndarray) -> tuple[float, float]:
    """``(scale, offset)`` so that ``y * scale + offset`` has mean 0 and variance 1 (the
    network's standard scaler, applied to inputs and targets alike)."""
    sd = float(np.std(y))
    scale = 1.0 / sd if sd > 0 else 1.0
    return scale, -float(np.mean(y)) * scale


def score_windows(
    values: np.ndarray,
    transform: TargetTransform,
    candidates: list[int],
    validation_fraction: float = 0.1,
) -> dict[int, float | None]:
    """Each candidate window's one-step RMSE ÷ naive's on the validation tail of ``values``
    (the training part), in the values' own units as every report measures it: a ridge
    autoregression of the moves, fitted on the windows before the tail. Every candidate is
    scored on the same targets (those the longest window can reach). None: too few windows to
    score it."""
    longest = max(candidates)
    prices = np.asarray(values, dtype=np.float64)
    if len(prices) <= history_length(transform, longest):
        return dict.fromkeys(candidates)
    with np.errstate(all="ignore"):  # a transform the values do not allow: nothing to score
        data = supervised(prices, longest, transform)
    n = len(data.y)
    n_val = math.floor(validation_fraction * n)
    finite = bool(np.isfinite(data.x).all() and np.isfinite(data.y).all())
    if not finite or n_val < MIN_VALIDATION or n - n_val < 2 * longest:
        return dict.fromkeys(candidates)
    fit, val = slice(0, n - n_val), slice(n - n_val, n)
    scale, offset = _standardised(data.y[fit])
    x, y = data.x * scale + offset, data.y * scale + offset
    x_mean, y_mean = x[fit].mean(axis=0), y[fit].mean()
    xc, yc = x[fit] - x_mean, y[fit] - y_mean
    gram, cross, yy = xc.T @ xc, xc.T @ yc[:, None], float(np.sum(yc**2))
    actual, anchor = prices[data.target_index[val]], data.anchor[val]
    naive_rmse = float(np.sqrt(np.mean((actual - anchor) ** 2)))
    scores: dict[int, float | None] = {}
    for w in candidates:
        beta, _ = _solve(gram[-w:, -w:], cross[-w:], yy, n - n_val)
        move = ((x[val][:, -w:] - x_mean[-w:]) @ beta[:, 0] + y_mean - offset) / scale
        with np.errstate(all="ignore"):
            predicted = to_price(move, anchor, transform)
        rmse = float(np.sqrt(np.mean((actual - predicted) ** 2)))
        scores[w] = rmse / naive_rmse if naive_rmse > 0 and math.isfinite(rmse) else None
    return scores


@dataclass(frozen=True)
class LinearAutoregression:
    """A fitted ridge autoregression with the forecasting interface of the ONNX ``Forecaster``:
    the next move from the ``window`` moves before it, recursively for later steps."""

    window: int
    transform: TargetTransform
    kernel: np.ndarray  # (window,), on standardised moves
    bias: float
    scale: float
    offset: float

    @property
    def history_needed(self) -> int:
        return history_length(self.transform, self.window)

    @property
    def config(self) -> str:
        return f"ridge autoregression on {self.window} lags of {self.transform}"

    def recursive(self, histories: np.ndarray, horizon: int) -> np.ndarray:
        """Each step's forecast fed back as history: one dot product per step on a buffer of
        what the inputs are built from (log returns for ``log_return``, else prices), not the
        inputs rebuilt from prices at every step."""
        need = self.history_needed
        rows = np.atleast_2d(np.asarray(histories, dtype=np.float64))
        if rows.shape[1] < need:
            raise ValueError(f"need at least {need} values, got {rows.shape[1]}")
        history, w, kernel = rows[:, -need:], self.window, self.kernel
        # the move = inputs @ kernel + constant (the standardisation folded into the constant);
        # the inputs are linear in the buffer, so the next entry = window @ kernel + carry ×
        # the last entry + add: for differences (prices − the last) the last price comes back
        # with 1 − Σkernel, for relative moves (prices ÷ the last − 1) with 1 − Σkernel + the
        # constant.
        total = float(kernel.sum())
        constant = (self.offset * total + self.bias - self.offset) / self.scale
        carry, add = {
            "difference": (1.0 - total, constant),
            "relative": (1.0 - total + constant, 0.0),
        }.get(self.transform, (0.0, constant))  # log_return: the next log return; level: price
        log_returns = self.transform == "log_return"
        buffer = np.empty((rows.shape[0], w + horizon))
        buffer[:, :w] = np.diff(np.log(history), axis=1) if log_returns else history
        for step in range(horizon):
            following = buffer[:, step : step + w] @ kernel + add
            if carry:
                following += carry * buffer[:, w + step - 1]
            buffer[:, w + step] = following
        if log_returns:
            return np.asarray(history[:, -1:] * np.exp(np.cumsum(buffer[:, w:], axis=1)))
        return buffer[:, w:]

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "transform": self.transform,
            "kernel": [float(k) for k in self.kernel],
            "bias": self.bias,
            "scale": self.scale,
            "offset": self.offset,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinearAutoregression:
        return cls(
            window=int(data["window"]),
            transform=cast(TargetTransform, data["transform"]),
            kernel=np.asarray(data["kernel"], dtype=np.float64),
            bias=float(data["bias"]),
            scale=float(data["scale"]),
            offset=float(data["offset"]),
        )


def fit_linear_autoregression(
    train: np.ndarray, transform: TargetTransform, window: int
) -> LinearAutoregression:
    """The ``ar`` reference: the ridge autoregression on every window of the training part."""
    data = supervised(np.asarray(train, dtype=np.float64), window, transform)
    if len(data.y) < 2 * window + 2:
        raise ValueError(
            f"{len(data.y)} training windows are too few for an autoregression on {window} lags"
        )
    scale, offset = _standardised(data.y)
    fitted = ridge(data.x * scale + offset, data.y * scale + offset)
    model = LinearAutoregression(
        window=window,
        transform=transform,
        kernel=fitted.kernel[:, 0],
        bias=float(fitted.bias[0]),
        scale=scale,
        offset=offset,
    )
    if not np.isfinite(model.recursive(train[None, -model.history_needed :], 2)).all():
        raise ValueError("the fitted autoregression forecasts non-finite values")
    return model
