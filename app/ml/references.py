"""Statistical references: statsforecast's AutoETS, AutoARIMA and AutoTheta.

They are what a forecaster would pick instead of a network, so every report measures them on
the same points as the model; they are also architectures (``ets``, ``arima``, ``theta``) whose
versions serve forecasts from the API process (statsforecast has a compiled core and no
TensorFlow). A fitted model is kept as a pickle in its bundle, written by our own worker and
checked against the sha256 the registry holds before it is loaded.

Seasonal AutoARIMA is the trap (season 24 on 7,000 hourly points took ~9 min here): ARIMA is
seasonal only for short seasons on short series, and every fit runs under a time budget; a fit
that fails or overruns is reported as such, never fatal to the job.
"""

from __future__ import annotations

import concurrent.futures
import pickle
import time
import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from app.ml.spec import ReferenceMethod
from app.ml.transforms import TargetTransform

# Seasons up to which each model fits its seasonal form (longer ones fit without a season);
# seasonal ARIMA also only on up to MAX_SEASONAL_ARIMA_VALUES values (season 12 on 2,256
# monthly values overran 20 s here, on 580 it took 4-17 s).
MAX_ARIMA_SEASON = 12
MAX_SEASONAL_ARIMA_VALUES = 1500
# Values of history a fitted reference forecasts from (its filter restarts on them): enough
# for four seasons, at least 200.
MIN_HISTORY = 200
# Fewest training values a reference is fitted on, and the most (the latest ones): on 8,000
# values the three took 11.6 s of both cores here, on the last 3,000 2.0 s.
MIN_FIT_VALUES = 10
MAX_FIT_VALUES = 3000

FitStatus = Literal["fitted", "failed", "timed_out"]


def _model(method: ReferenceMethod, season_length: int, values: int) -> tuple[Any, str]:
    """The unfitted statsforecast model and its one-line configuration."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta  # ~2 s import: lazily

    if method == "ets":
        # Non-seasonal: statsforecast's ETS `forward` restarts from the fitted initial states,
        # whose seasonal phase is that of the first training value; a served history starts
        # anywhere, so a seasonal ETS would forecast out of phase (AutoARIMA and AutoTheta
        # restart without that phase and keep their seasons).
        return AutoETS(season_length=1), "AutoETS(season_length=1)"
    if method == "arima":
        short = season_length <= MAX_ARIMA_SEASON and values <= MAX_SEASONAL_ARIMA_VALUES
        m = season_length if short else 1
        return AutoARIMA(season_length=m), f"AutoARIMA(season_length={m})"
    return AutoTheta(season_length=season_length), f"AutoTheta(season_length={season_length})"


@dataclass
class ReferenceForecaster:
    """A fitted statsforecast model behind the forecasting interface of the ONNX network."""

    method: ReferenceMethod
    model: Any
    config: str
    history_needed: int
    # Forecasts are levels: any real values will do.
    transform: TargetTransform = "level"

    @property
    def window(self) -> int:
        return self.history_needed

    def recursive(self, histories: np.ndarray, horizon: int) -> np.ndarray:
        """Forecasts for steps 1…horizon from each row of histories (rows × horizon): the
        fitted model's parameters applied to the row's last ``history_needed`` values."""
        rows = np.atleast_2d(np.asarray(histories, dtype=np.float64))
        if rows.shape[1] < self.history_needed:
            raise ValueError(f"need at least {self.history_needed} values, got {rows.shape[1]}")
        out = np.empty((rows.shape[0], horizon))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, row in enumerate(rows[:, -self.history_needed :]):
                out[i] = self.model.forward(y=row, h=horizon)["mean"]
        return out

    def to_bytes(self) -> bytes:
        return pickle.dumps(self)

    @staticmethod
    def from_bytes(data: bytes) -> ReferenceForecaster:
        loaded = pickle.loads(data)  # our own worker wrote it; the bundle's sha256 was checked
        if not isinstance(loaded, ReferenceForecaster):
            raise ValueError("not a reference forecaster")
        return loaded


@dataclass(frozen=True)
class ReferenceFit:
    """How fitting one reference went (the forecaster, when it was fitted in time)."""

    method: ReferenceMethod
    status: FitStatus
    seconds: float
    config: str
    detail: str | None = None
    forecaster: ReferenceForecaster | None = None


def fit_reference(
    method: ReferenceMethod, train: np.ndarray, season_length: int
) -> ReferenceForecaster:
    """Fit one reference on ``train``; raises ValueError (or the library's error) if it cannot."""
    y = np.asarray(train, dtype=np.float64)
    if len(y) < MIN_FIT_VALUES:
        raise ValueError(f"{len(y)} training values; at least {MIN_FIT_VALUES} are needed")
    if method == "theta" and season_length > 1 and len(y) < 2 * season_length:
        season_length = 1
    if len(y) > MAX_FIT_VALUES:
        y = y[-MAX_FIT_VALUES:]
    model, config = _model(method, season_length, len(y))
    if len(y) == MAX_FIT_VALUES:
        config += f" on the last {MAX_FIT_VALUES:,} training values"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(y)
    need = min(len(y), max(MIN_HISTORY, 4 * season_length))
    forecaster = ReferenceForecaster(method, model, config, history_needed=need)
    probe = forecaster.recursive(y[-need:], 2)
    if not np.isfinite(probe).all():
        raise ValueError("the fitted model forecasts non-finite values")
    return forecaster


def fit_references(
    methods: list[ReferenceMethod],
    train: np.ndarray,
    season_length: int,
    budget_s: float,
) -> dict[str, ReferenceFit]:
    """Fit each method on ``train`` in a thread of its own, all within ``budget_s`` seconds
    of wall time; a fit still running then is reported ``timed_out`` and left to finish in
    the background (statsforecast cannot be interrupted)."""
    if not methods:
        return {}
    started = time.perf_counter()
    results: dict[str, ReferenceFit] = {}
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=len(methods), thread_name_prefix="reference"
    )
    futures = {pool.submit(_timed_fit, method, train, season_length): method for method in methods}
    done, pending = concurrent.futures.wait(futures, timeout=budget_s)
    for future in done:
        results[futures[future]] = future.result()
    for future in pending:
        method = futures[future]
        results[method] = ReferenceFit(
            method,
            "timed_out",
            time.perf_counter() - started,
            _config_name(method, season_length),
            f"not fitted within the budget of {budget_s:g} s",
        )
    pool.shutdown(wait=False, cancel_futures=True)
    return {method: results[method] for method in methods}


def _config_name(method: ReferenceMethod, season_length: int) -> str:
    name = {"ets": "AutoETS", "arima": "AutoARIMA", "theta": "AutoTheta"}[method]
    return f"{name}(season_length={1 if method == 'ets' else season_length})"


def _timed_fit(method: ReferenceMethod, train: np.ndarray, season_length: int) -> ReferenceFit:
    started = time.perf_counter()
    try:
        forecaster = fit_reference(method, train, season_length)
    except Exception as exc:  # any library failure is a reported outcome, not a failed job
        return ReferenceFit(
            method,
            "failed",
            time.perf_counter() - started,
            _config_name(method, season_length),
            f"{type(exc).__name__}: {exc}"[:300],
        )
    return ReferenceFit(
        method, "fitted", time.perf_counter() - started, forecaster.config, forecaster=forecaster
    )


def preload() -> None:
    """Import statsforecast's models (~2 s) before the first job needs them."""
    import statsforecast.models  # noqa: F401
