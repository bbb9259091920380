"""Request and response bodies of forecasts and reports."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.ml.intervals import LEVELS, IntervalLevel
from app.ml.results import (
    ByForecaster,
    Choice,
    DateRange,
    HoldoutRange,
    ReferenceStatus,
    Shrinkage,
    Tournament,
)
from app.ml.spec import Strategy
from app.vocabulary import FIRST_YEAR, LAST_YEAR, MAX_ID, AliasName, Id, ModelName, Number

DEFAULT_LEVELS: list[IntervalLevel] = [80, 95]


class ForecastRequest(BaseModel):
    """Which version forecasts from which history: ``version`` or ``alias``, not both (neither:
    the alias champion, else the latest version); a stored series (``series_id``, default the
    version's own) or your own ``values``, not both (``as_of`` goes with ``values``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            # What _one_source checks, for clients and client generators.
            "allOf": [
                {"not": {"required": ["version", "alias"]}},
                {"not": {"required": ["series_id", "values"]}},
                {"anyOf": [{"not": {"required": ["as_of"]}}, {"required": ["values"]}]},
                {
                    "anyOf": [
                        {"not": {"required": ["record_for_series"]}},
                        {"required": ["values", "as_of"]},
                    ]
                },
            ],
            "examples": [
                {"model": "MSFT-lstm", "horizon": 5},
                {"model": "MSFT-lstm", "alias": "champion", "horizon": 1, "level": [95]},
                {"model": "MSFT-lstm", "version": 2, "values": [61.9, 62.1, 61.8], "horizon": 3},
            ],
        },
    )

    model: ModelName
    version: Id | None = Field(default=None, description="Default: alias champion, else latest.")
    alias: AliasName | None = None
    series_id: Id | None = Field(
        default=None,
        description="Forecast from this series' latest data (it must have the version's target "
        "field). Default: the series the version was trained on, as it is now.",
    )
    values: list[Number] | None = Field(
        default=None,
        min_length=1,
        description="Your own recent history instead of a stored series; the last `window` "
        "values are used (window + 1 for log-return models).",
    )
    as_of: datetime | None = Field(
        default=None, description="With `values`: the date of the last value, to date the points."
    )
    record_for_series: Id | None = Field(
        default=None,
        description="With `values` and `as_of`: the stored series these values are from. The "
        "forecast is then kept in the ledger and scored once that series' dates are observed "
        "(forecasts from a stored series always are).",
    )
    horizon: int = Field(default=1, ge=1, description="Steps ahead (1 = next period).")
    level: list[IntervalLevel] = Field(
        default_factory=lambda: list(DEFAULT_LEVELS),
        description=f"Prediction interval levels in percent, among {list(LEVELS)}.",
    )

    @field_validator("values")
    @classmethod
    def _finite(cls, values: list[float] | None) -> list[float] | None:
        if values is not None:
            bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
            if bad:
                raise ValueError(f"values must be finite numbers; not at positions {bad[:10]}")
        return values

    @field_validator("as_of")
    @classmethod
    def _representable(cls, as_of: datetime | None) -> datetime | None:
        if as_of is not None and not FIRST_YEAR <= as_of.year <= LAST_YEAR:
            raise ValueError(f"as_of must be between {FIRST_YEAR} and {LAST_YEAR}")
        return as_of

    @field_validator("level")
    @classmethod
    def _distinct_levels(cls, levels: list[IntervalLevel]) -> list[IntervalLevel]:
        return sorted(set(levels))

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.version is not None and self.alias is not None:
            raise ValueError("give version or alias, not both")
        if self.series_id is not None and self.values is not None:
            raise ValueError("give series_id or values, not both")
        if self.as_of is not None and self.values is None:
            raise ValueError("as_of goes with values")
        if self.record_for_series is not None and (self.values is None or self.as_of is None):
            raise ValueError("record_for_series goes with values and as_of")
        return self


class ForecastQuery(BaseModel):
    """The query of ``GET /v1/forecast``, read as one model (FastAPI validates a query model in
    one call instead of one call per parameter: a measurable share of an uncached forecast,
    BENCHMARKS.md); the route then checks it as a :class:`ForecastRequest`."""

    model: ModelName
    version: int | None = Field(default=None, ge=1, le=MAX_ID)
    alias: AliasName | None = None
    series_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    horizon: int = Field(default=1, ge=1)
    # Integers here (a query string's "95" is no Literal[95]); ForecastRequest checks them.
    level: list[int] | None = Field(
        default=None,
        description="Interval levels in percent; default 80 and 95.",
        json_schema_extra={"items": {"type": "integer", "enum": list(LEVELS)}},
    )


class ForecastPoint(BaseModel):
    """One step ahead; ``lo_<level>``/``hi_<level>`` bound the interval at each level."""

    model_config = ConfigDict(extra="allow", json_schema_extra={
        "examples": [{"step": 1, "date": "2017-01-03", "value": 61.2, "lo_80": 60.4, "hi_80": 62.0,
                      "lo_95": 59.9, "hi_95": 62.5}]
    })  # fmt: skip

    step: int
    date: str | None = Field(description="Next period on the series' calendar; null if unknown.")
    value: float


class IntervalsServed(BaseModel):
    """How the intervals of this forecast were made: the version's calibrated quantiles, or
    those quantiles scaled per step and level by what the ledger measured (adaptive conformal
    inference: a level whose served intervals missed more often than promised widens, one that
    missed less narrows; see `GET /v1/models/{name}/accuracy`, `interval_adaptation`)."""

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"method": "adaptive conformal",
                      "adapted_on": {"80": [212, 211], "95": [212, 211]},
                      "width_factor": {"80": [1.0831, 1.0412], "95": [0.9623, 1.0]}}]
    })  # fmt: skip

    method: Literal["split conformal", "adaptive conformal"] = Field(
        description="`split conformal`: as calibrated at training time (volatility-normalised "
        "split conformal); `adaptive conformal`: at least one step of one level is adapted."
    )
    adapted_on: dict[str, list[int]] = Field(
        description="Per level, for each step: the scored ledger points its width was adapted "
        "on (the most recent 2,000 at most); 0 where it is not adapted (fewer than "
        "FORECAST_INTERVAL_ADAPTATION_MIN_POINTS)."
    )
    width_factor: dict[str, list[float]] = Field(
        description="Per level, for each step: the factor e^θ (to 4 decimals) the calibrated "
        "quantiles are multiplied by (1: as calibrated). The bounds are then widened where "
        "needed so that no step's interval is narrower than the step before."
    )


class ForecastResponse(BaseModel):
    model: str
    version: int
    series_id: int | None
    field: str
    as_of: str | None = Field(description="Date of the last observation used.")
    horizon: int
    strategy: Strategy = Field(
        default="recursive",
        description="recursive: one step at a time, fed back; direct: a network call returns "
        "several steps at once (statistical models and baselines forecast every step at once "
        "and report recursive).",
    )
    frequency: str
    levels: list[int]
    points: list[ForecastPoint]
    intervals: IntervalsServed


class OneStepRow(BaseModel):
    forecaster: str = Field(
        description="`model`, a baseline (`naive`, `drift`, `seasonal_naive`) or a statistical "
        "reference (`ets`, `arima`, `theta`), all on the same holdout points."
    )
    rmse: float
    mae: float
    mape: float | None
    mase: float | None
    skill_vs_naive: float | None = Field(description="1 − RMSE/RMSE_naive.")


class MultiStepRow(BaseModel):
    h: int = Field(description="Steps ahead.")
    points: int = Field(description="Holdout origins with an actual value h steps ahead.")
    model_rmse: float | None
    naive_rmse: float | None
    drift_rmse: float | None
    seasonal_naive_rmse: float | None
    references_rmse: dict[str, float | None] = Field(
        default_factory=dict, description="Each fitted statistical reference's RMSE at step h."
    )


class IntervalRow(BaseModel):
    level: int
    nominal: float
    measured: float | None = Field(
        description="Share of holdout actuals inside the interval (calibrated on the first half "
        "of the holdout, counted on the second)."
    )


class BacktestFoldSummary(BaseModel):
    fold: int
    cutoff: str
    origins: int
    model_rmse: float
    naive_rmse: float
    drift_rmse: float
    seasonal_naive_rmse: float | None
    references_rmse: dict[str, float] = Field(
        default_factory=dict, description="One-step RMSE of each statistical reference."
    )
    skill_vs_naive: float | None
    coverage_80: float | None
    coverage_95: float | None


class BacktestMeans(BaseModel):
    model_rmse: float
    naive_rmse: float
    drift_rmse: float
    seasonal_naive_rmse: float | None
    references_rmse: dict[str, float] = Field(default_factory=dict)
    skill_vs_naive: float | None
    coverage: dict[str, float | None] | None


class BacktestSummary(BaseModel):
    id: int
    url: str = Field(description="The whole backtest result.")
    created_at: str
    windows: int
    step: int
    horizon: int
    refit: bool
    folds: list[BacktestFoldSummary]
    mean: BacktestMeans | None = Field(description="One-step numbers averaged over the folds.")
    per_step_rmse: ByForecaster[list[float]] | None


class VersionReport(BaseModel):
    """How good a version is on data it never trained on, next to the baselines."""

    model: str
    version: int
    target: str
    data: DateRange
    holdout: HoldoutRange
    one_step: list[OneStepRow]
    multi_step: list[MultiStepRow] = Field(description="RMSE of recursive forecasts per step.")
    intervals: list[IntervalRow]
    coverage_method: str
    backtest: BacktestSummary | None = Field(description="The version's latest backtest.")
    choices: dict[str, Choice] = Field(
        default_factory=dict, description="Every choice the service made, and why."
    )
    reference_fits: dict[str, ReferenceStatus] = Field(
        default_factory=dict,
        description="How fitting each statistical reference went (fitted, failed, timed_out).",
    )
    tournament: Tournament | None = Field(
        default=None, description="For `auto`: every candidate and its validation score."
    )
    shrinkage: Shrinkage | None = Field(
        default=None,
        description="For a network: how far its served forecasts lean toward naive, fitted on "
        "validation (the holdout rows above score what is served).",
    )


class VersionComparison(BaseModel):
    version: int
    architecture: str | None
    target_transform: str | None
    window: int | None
    holdout: HoldoutRange
    rmse: float
    mae: float
    mase: float | None
    naive_rmse: float
    drift_rmse: float
    seasonal_naive_rmse: float | None
    skill: float | None
    skill_vs_drift: float | None
    skill_vs_seasonal_naive: float | None
    references_rmse: dict[str, float] = Field(
        default_factory=dict, description="One-step RMSE of each fitted statistical reference."
    )
    coverage: dict[str, float | None]
    train_seconds: float
    epochs_run: int


class Comparison(BaseModel):
    model: str
    versions: list[VersionComparison]
