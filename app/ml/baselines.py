"""The baselines: naive persistence, random walk with drift and seasonal naive (no TensorFlow).

They are architectures like the networks (a version of one serves forecasts) and the yardsticks
every report and backtest compares against: both uses go through :class:`BaselineForecaster`,
the one implementation of each.

Definitions, for a fitting part ``y[0…n-1]`` and a forecast from the last observed value
``y_T`` of the history (``h`` = 1, 2, … steps ahead):

- ``naive``: ``ŷ(T+h) = y_T``.
- ``drift`` (Hyndman & Athanasopoulos, *FPP3* §5.2): ``ŷ(T+h) = y_T + h · slope`` with
  ``slope = (y[n-1] − y[0]) / (n − 1)``, the average change over the fitting part (its first to
  its last value), fixed when fitted.
- ``seasonal_naive``: ``ŷ(T+h) = y[T − m + 1 + ((h − 1) mod m)]``, the value one season
  (``m`` observations) back, repeated season after season.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast, get_args

import numpy as np

from app.ml.spec import BaselineMethod
from app.ml.transforms import TargetTransform

if TYPE_CHECKING:
    from app.ml.dataset import DatasetPlan
    from app.ml.spec import TrainingSpec

METHODS: tuple[BaselineMethod, ...] = get_args(BaselineMethod)


@dataclass(frozen=True)
class BaselineForecaster:
    """A fitted baseline with the forecasting interface of the ONNX ``Forecaster``."""

    method: BaselineMethod
    slope: float = 0.0
    season_length: int = 1
    # Baselines forecast levels directly: any real values will do (no positivity needed).
    transform: TargetTransform = "level"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown baseline method {self.method!r}")
        if self.season_length < 1:
            raise ValueError("season_length must be ≥ 1")
        if not np.isfinite(self.slope):
            raise ValueError("the drift slope must be finite")

    @property
    def history_needed(self) -> int:
        return self.season_length if self.method == "seasonal_naive" else 1

    @property
    def window(self) -> int:
        return self.history_needed

    def recursive(self, histories: np.ndarray, horizon: int) -> np.ndarray:
        """Forecasts for steps 1…horizon from each row of histories (rows × horizon)."""
        need = self.history_needed
        rows = np.atleast_2d(np.asarray(histories, dtype=np.float64))
        if rows.shape[1] < need:
            raise ValueError(f"need at least {need} values, got {rows.shape[1]}")
        steps = np.arange(horizon)
        if self.method == "seasonal_naive":
            return np.ascontiguousarray(rows[:, -need:][:, steps % need])
        last = rows[:, -1:]
        if self.method == "drift":
            return np.asarray(last + self.slope * (steps + 1)[None, :])
        return np.repeat(last, horizon, axis=1)

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "slope": self.slope, "season_length": self.season_length}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BaselineForecaster:
        return cls(
            method=data["method"],
            slope=float(data.get("slope", 0.0)),
            season_length=int(data.get("season_length", 1)),
        )


def drift_slope(values: np.ndarray) -> float:
    """``(last − first) / (n − 1)`` of the fitting values (0 for fewer than two)."""
    y = np.asarray(values, dtype=np.float64)
    return float((y[-1] - y[0]) / (len(y) - 1)) if len(y) >= 2 else 0.0


def fit_method(method: BaselineMethod, train: np.ndarray, season_length: int) -> BaselineForecaster:
    """A baseline fitted on ``train`` (only the drift slope depends on it)."""
    slope = drift_slope(train) if method == "drift" else 0.0
    season = season_length if method == "seasonal_naive" else 1
    return BaselineForecaster(method=method, slope=slope, season_length=season)


def fit_baseline(plan: DatasetPlan, spec: TrainingSpec, season_length: int) -> BaselineForecaster:
    """The spec's baseline fitted on the plan's training part (everything before the holdout).

    ``season_length`` is used by ``seasonal_naive`` only (see
    :func:`app.ml.calendar.resolve_season_length`).
    """
    if not spec.is_baseline:
        raise ValueError(f"architecture {spec.architecture!r} is not a baseline")
    method = cast(BaselineMethod, spec.architecture)
    return fit_method(method, plan.prices[: plan.holdout_start], season_length)


def fit_all(train: np.ndarray, season_length: int) -> dict[str, BaselineForecaster]:
    """Every baseline fitted on the same data: what reports compare against."""
    return {method: fit_method(method, train, season_length) for method in METHODS}
