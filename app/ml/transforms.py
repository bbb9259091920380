"""Target transforms: what the network sees and predicts, and the way back to prices.

For each target time ``t`` the network gets the ``window`` values before ``t`` and predicts the
value at ``t``; the *anchor* is the last observed price ``p[t-1]``.

- ``level``: raw prices (the tutorials' choice; a scaler fitted on training levels saturates
  once prices leave the training range).
- ``log_return``: ``log(p[t] / p[t-1])``; back to a price as ``anchor * exp(ŷ)``.
- ``relative``: values divided by the anchor, minus one; back as ``anchor * (1 + ŷ)``.
- ``difference``: ``p[t] − p[t-1]`` (inputs: the window's values minus the anchor); back as
  ``anchor + ŷ``. Relative like the two above, but defined for zeros and negatives.

A global model (one network for many series) also divides each input window, and the target it
is trained on, by the window's own scale (:func:`window_scale`), and multiplies its prediction
back: a $5 and a $500 stock, a calm and a volatile one, look alike to the network, and a series
it never saw is normalised the same way from nothing but the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

TargetTransform = Literal["level", "log_return", "relative", "difference"]
# The scale of a flat window (every move 0): its normalised input is 0 and its prediction no move.
MIN_WINDOW_SCALE = 1e-12


@dataclass(frozen=True)
class Supervised:
    """Windows ``x`` (samples × window), targets ``y``, anchors, and each target's index."""

    x: np.ndarray
    y: np.ndarray
    anchor: np.ndarray
    target_index: np.ndarray


def needs_positive(transform: TargetTransform) -> bool:
    return transform in ("log_return", "relative")


def supervised(
    prices: np.ndarray, window: int, transform: TargetTransform, outputs: int = 1
) -> Supervised:
    """Every (window, target) pair of a price series, in time order.

    With ``outputs`` > 1 (direct multi-step) ``y`` has one column per step ahead, each
    relative to the same anchor; NaN where the step lies past the end of the data."""
    p = np.asarray(prices, dtype=np.float64)
    need = history_length(transform, window)
    targets = np.arange(need, len(p))
    histories = np.lib.stride_tricks.sliding_window_view(p, need)[: len(targets)]
    anchor = p[targets - 1]
    x = features(histories, window, transform)
    if outputs == 1:
        y = from_price(p[targets], anchor, transform)
    else:
        ahead = targets[:, None] + np.arange(outputs)[None, :]
        future = np.where(ahead < len(p), p[np.minimum(ahead, len(p) - 1)], np.nan)
        y = from_price(future, anchor[:, None], transform)
    return Supervised(x=np.ascontiguousarray(x), y=y, anchor=anchor, target_index=targets)


def history_length(transform: TargetTransform, window: int) -> int:
    """Prices needed to form one input window (a return needs the price before it); also
    the index of the first price that can be a target."""
    return window + 1 if transform == "log_return" else window


def features(history: np.ndarray, window: int, transform: TargetTransform) -> np.ndarray:
    """Network inputs from the last prices of each row of ``history`` (rows × ≥ history_length).

    Row ``i`` gives the window that :func:`supervised` builds for the price after it.
    """
    p = np.asarray(history, dtype=np.float64)[:, -history_length(transform, window) :]
    if transform == "log_return":
        return np.diff(np.log(p), axis=1)
    if transform == "relative":
        return p / p[:, -1:] - 1.0
    if transform == "difference":
        return p - p[:, -1:]
    return p


def from_price(price: np.ndarray, anchor: np.ndarray, transform: TargetTransform) -> np.ndarray:
    """The training target for ``price`` given the last observed price (inverse of to_price)."""
    if transform == "log_return":
        return np.asarray(np.log(price / anchor))
    if transform == "relative":
        return np.asarray(price / anchor - 1.0)
    if transform == "difference":
        return np.asarray(price - anchor)
    return price


def to_price(y_hat: np.ndarray, anchor: np.ndarray, transform: TargetTransform) -> np.ndarray:
    if transform == "log_return":
        return np.asarray(anchor * np.exp(y_hat))
    if transform == "relative":
        return np.asarray(anchor * (1.0 + y_hat))
    if transform == "difference":
        return np.asarray(anchor + y_hat)
    return y_hat


def window_scale(x: np.ndarray, transform: TargetTransform) -> np.ndarray:
    """Root mean square of the one-step moves inside each window of network inputs (rows ×
    window), floored at MIN_WINDOW_SCALE; shape rows × 1. Log-return inputs are moves already;
    the anchor-relative ones (relative, difference) are differenced first."""
    if transform == "level":
        raise ValueError("windows of price levels are not normalised (a relative transform is)")
    moves = x if transform == "log_return" else np.diff(x, axis=1)
    rms = np.sqrt(np.mean(np.square(moves), axis=1, keepdims=True))
    return np.asarray(np.maximum(rms, MIN_WINDOW_SCALE))
