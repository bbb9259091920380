"""Statistical references: the ridge linear autoregression on validated lags (``ar``, seasonal
lags included) and statsforecast's AutoETS, AutoARIMA and AutoTheta.

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
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from app.ml.autoregression import LinearAutoregression, fit_linear_autoregression
from app.ml.defaults import BASE_WINDOW, validated_window
from app.ml.spec import ReferenceMethod, TrainingSpec
from app.ml.transforms import TargetTransform

# Seasons up to which AutoARIMA searches its seasonal form on the training part (up to
# MAX_SEASONAL_ARIMA_VALUES of it: season 12 on 2,256 monthly values overran 20 s here, on 580
# it took 4-17 s). Longer seasons up to MAX_TAIL_ARIMA_SEASON get a fixed seasonal ARIMA,
# TAIL_ARIMA_ORDER × TAIL_ARIMA_SEASONAL_ORDER, on the last TAIL_ARIMA_SEASONS seasons:
# seasonal AutoARIMA on 7,000 hourly values took ~9 min, and even on the last week of hours
# 13 s (half-hours: over 20 s); the fixed one fits in 0.2-2.5 s and forecast hourly electricity
# demand at 0.23× naive, half-hourly at 0.25× (non-seasonal AutoARIMA: 0.71×, 0.45×).
# Longer seasons fit without one, and the report says so.
MAX_ARIMA_SEASON = 12
MAX_SEASONAL_ARIMA_VALUES = 1500
MAX_TAIL_ARIMA_SEASON = 48
TAIL_ARIMA_SEASONS = 14
TAIL_ARIMA_ORDER = (2, 0, 1)
TAIL_ARIMA_SEASONAL_ORDER = (0, 1, 1)
# Values of history a fitted reference forecasts from (its filter restarts on them): enough
# for four seasons, at least 200.
MIN_HISTORY = 200
# Fewest training values a reference is fitted on, and the most (the latest ones): on 8,000
# values the three took 11.6 s of both cores here, on the last 3,000 2.0 s.
MIN_FIT_VALUES = 10
MAX_FIT_VALUES = 3000

FitStatus = Literal["fitted", "failed", "timed_out"]


@dataclass(frozen=True)
class _Configured:
    """An unfitted statsforecast model, the training values it is fitted on (the latest), the
    season it models and, where that is less than the series', why."""

    model: Any
    config: str
    values: int
    season: int
    unseasonal: str | None = None


def _model(method: ReferenceMethod, season_length: int, values: int) -> _Configured:
    from statsforecast.models import ARIMA, AutoARIMA, AutoETS, AutoTheta  # ~2 s import

    fit_values = min(values, MAX_FIT_VALUES)
    if method == "ets":
        # Non-seasonal: statsforecast's ETS `forward` restarts from the fitted initial states,
        # whose seasonal phase is that of the first training value; a served history starts
        # anywhere, so a seasonal ETS would forecast out of phase (AutoARIMA and AutoTheta
        # restart without that phase and keep their seasons).
        phase = "its forecasts from a served history would start out of phase"
        return _Configured(AutoETS(season_length=1), "AutoETS(season_length=1)", fit_values, 1,
                           phase if season_length > 1 else None)  # fmt: skip
    if method == "theta":
        config = f"AutoTheta(season_length={season_length})"
        return _Configured(
            AutoTheta(season_length=season_length), config, fit_values, season_length
        )
    why: str | None = None
    if season_length <= MAX_ARIMA_SEASON and values <= MAX_SEASONAL_ARIMA_VALUES:
        m = season_length
    elif MAX_ARIMA_SEASON < season_length <= MAX_TAIL_ARIMA_SEASON:
        tail = min(values, TAIL_ARIMA_SEASONS * season_length)
        orders = f"{TAIL_ARIMA_ORDER}{TAIL_ARIMA_SEASONAL_ORDER}[{season_length}]".replace(" ", "")
        config = f"ARIMA{orders} on the last {tail:,} training values"
        model = ARIMA(
            order=TAIL_ARIMA_ORDER,
            seasonal_order=TAIL_ARIMA_SEASONAL_ORDER,
            season_length=season_length,
        )
        return _Configured(model, config, tail, season_length)
    elif season_length > MAX_TAIL_ARIMA_SEASON:
        m, why = 1, f"a season of {season_length} is longer than AutoARIMA fits in the budget"
    else:
        m, why = 1, f"{values:,} values are more than seasonal AutoARIMA fits in the budget"
    config = f"AutoARIMA(season_length={m})"
    if fit_values < values:
        config += f" on the last {fit_values:,} training values"
    return _Configured(AutoARIMA(season_length=m), config, fit_values, m,
                       why if season_length > 1 else None)  # fmt: skip


@dataclass
class ReferenceForecaster:
    """A fitted statsforecast model behind the forecasting interface of the ONNX network."""

    method: ReferenceMethod
    model: Any
    config: str
    history_needed: int
    # Forecasts are levels: any real values will do.
    transform: TargetTransform = "level"
    season_length: int = 1  # the season it models
    unseasonal: str | None = None  # why it models less than the series' season

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


FittedReference = ReferenceForecaster | LinearAutoregression


def fit_ar(train: np.ndarray, seasons: tuple[int, ...]) -> LinearAutoregression:
    """``ar``: a ridge autoregression of the training part's moves (log returns of a positive
    series, else differences) on the lags that forecast its validation tail best
    (:func:`app.ml.defaults.validated_window`), refitted on the whole training part."""
    transform: TargetTransform = "log_return" if bool((train > 0).all()) else "difference"
    window = validated_window(train, transform, seasons).window
    if window is None:
        window = min(BASE_WINDOW, len(train) // 4)
    return fit_linear_autoregression(train, transform, max(window, 1))


def fit_statistical(spec: TrainingSpec, train: np.ndarray, season_length: int) -> FittedReference:
    """The forecaster of a statistical architecture: ``ar`` on the spec's window and transform
    (chosen on validation unless set), the statsforecast models as their references are."""
    if spec.reference_method == "ar":
        return fit_linear_autoregression(train, spec.transform, spec.input_window)
    return fit_reference(spec.reference_method, train, season_length)


@dataclass(frozen=True)
class ReferenceFit:
    """How fitting one reference went (the forecaster, when it was fitted in time)."""

    method: ReferenceMethod
    status: FitStatus
    seconds: float
    config: str
    detail: str | None = None
    forecaster: FittedReference | None = None


def fit_reference(
    method: ReferenceMethod,
    train: np.ndarray,
    season_length: int,
    seasons: tuple[int, ...] = (),
) -> FittedReference:
    """Fit one reference on ``train``; raises ValueError (or the library's error) if it cannot.
    ``seasons``: every season the frequency implies (``ar`` tries lags covering them)."""
    y = np.asarray(train, dtype=np.float64)
    if len(y) < MIN_FIT_VALUES:
        raise ValueError(f"{len(y)} training values; at least {MIN_FIT_VALUES} are needed")
    if method == "ar":
        return fit_ar(y, seasons or ((season_length,) if season_length > 1 else ()))
    configured = _model(method, season_length, len(y))
    if method == "theta" and season_length > 1 and len(y) < 2 * season_length:
        configured = replace(
            _model(method, 1, len(y)), unseasonal="fewer than two seasons of training values"
        )
    y = y[-configured.values :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        configured.model.fit(y)
    need = min(len(y), max(MIN_HISTORY, 4 * configured.season))
    forecaster = ReferenceForecaster(
        method, configured.model, configured.config, history_needed=need,
        season_length=configured.season, unseasonal=configured.unseasonal,
    )  # fmt: skip
    probe = forecaster.recursive(y[-need:], 2)
    if not np.isfinite(probe).all():
        raise ValueError("the fitted model forecasts non-finite values")
    return forecaster


def fit_references(
    methods: list[ReferenceMethod],
    train: np.ndarray,
    season_length: int,
    budget_s: float,
    seasons: tuple[int, ...] = (),
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
    futures = {
        pool.submit(_timed_fit, method, train, season_length, seasons): method for method in methods
    }
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
    if method == "ar":
        return "ridge autoregression"
    name = {"ets": "AutoETS", "arima": "AutoARIMA", "theta": "AutoTheta"}[method]
    return f"{name}(season_length={1 if method == 'ets' else season_length})"


def _timed_fit(
    method: ReferenceMethod, train: np.ndarray, season_length: int, seasons: tuple[int, ...]
) -> ReferenceFit:
    started = time.perf_counter()
    try:
        forecaster = fit_reference(method, train, season_length, seasons)
    except Exception as exc:  # any library failure is a reported outcome, not a failed job
        return ReferenceFit(
            method,
            "failed",
            time.perf_counter() - started,
            _config_name(method, season_length),
            f"{type(exc).__name__}: {exc}"[:300],
        )
    detail = None
    if isinstance(forecaster, ReferenceForecaster) and forecaster.unseasonal:
        detail = f"fitted without the season of {season_length}: {forecaster.unseasonal}"
    return ReferenceFit(
        method, "fitted", time.perf_counter() - started, forecaster.config, detail, forecaster
    )


def preload() -> None:
    """Import statsforecast's models (~2 s) before the first job needs them."""
    import statsforecast.models  # noqa: F401
