"""The Diebold–Mariano statistic the leaning and the gate with ``ar`` decide by."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.ml.metrics import diebold_mariano_t


def test_without_lags_it_is_the_mean_over_its_standard_error() -> None:
    loss = np.random.default_rng(0).normal(-0.3, 1.0, 50)
    expected = loss.mean() / (loss.std(ddof=1) / math.sqrt(len(loss)))
    assert diebold_mariano_t(loss) == pytest.approx(expected, rel=1e-12)
    assert diebold_mariano_t(np.full(10, -1.0)) is None  # no spread: no statistic


def test_lags_temper_a_loss_that_is_correlated_in_time() -> None:
    """A loss that drifts (AR(1), 0.8) looks far more certain than it is without the lags
    (here t = −4.3 plain, −2.7 with three lags)."""
    rng = np.random.default_rng(1)
    loss = np.zeros(60)
    for t in range(1, len(loss)):
        loss[t] = 0.8 * loss[t - 1] + rng.normal()
    loss -= 0.5
    plain, tempered = diebold_mariano_t(loss), diebold_mariano_t(loss, lags=3)
    assert plain is not None
    assert tempered is not None
    assert plain < 1.5 * tempered < 0
