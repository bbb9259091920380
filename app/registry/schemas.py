"""Response bodies of the model registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.ml.spec import BacktestSpec, TrainingSpec
from app.params import Id
from app.registry.promotion import PromotionRule


class PointMetrics(BaseModel):
    rmse: float
    mae: float
    mape: float | None
    mase: float | None


class HoldoutRange(BaseModel):
    start: str
    end: str
    points: int


class DateRange(BaseModel):
    start: str
    end: str


class MultiStepErrors(BaseModel):
    """Recursive forecasts from every holdout origin: RMSE at each step ahead."""

    h: list[int]
    points: list[int] = Field(description="Origins with an actual value h steps ahead.")
    model_rmse: list[float | None]
    naive_rmse: list[float | None]
    drift_rmse: list[float | None]
    seasonal_naive_rmse: list[float | None] | None = Field(
        default=None, description="None where the holdout starts before one full season."
    )


class Coverage(BaseModel):
    method: str
    nominal: dict[str, float]
    measured: dict[str, float | None]


class HoldoutMetrics(BaseModel):
    """Accuracy of the served model on data it never trained on, next to the baselines."""

    holdout: HoldoutRange
    data: DateRange = Field(description="Observations the version was trained and evaluated on.")
    model: PointMetrics
    naive: PointMetrics = Field(description="Persistence: tomorrow = today.")
    drift: PointMetrics = Field(
        description="Random walk with drift: last value plus h × the mean change over the "
        "training data."
    )
    seasonal_naive: PointMetrics | None = Field(
        default=None,
        description="The value one season earlier (`season_length` in the version's bundle); "
        "None where the holdout starts before one full season (and for versions trained before "
        "seasonal naive was reported).",
    )
    skill: float | None = Field(description="1 − RMSE/RMSE_naive (> 0 beats naive).")
    skill_vs_drift: float | None
    skill_vs_seasonal_naive: float | None = None
    multi_step: MultiStepErrors
    coverage: Coverage = Field(description="Empirical coverage of the prediction intervals.")


class BundleFile(BaseModel):
    sha256: str
    size: int


class ModelVersionRead(BaseModel):
    name: str
    version: int
    status: Literal["pending", "ready", "failed"]
    aliases: list[str]
    job_id: int | None
    series_id: int | None
    target: str
    training_rows_sha256: str = Field(
        description="sha256 of the exact rows trained and evaluated on."
    )
    spec: TrainingSpec
    metrics: HoldoutMetrics
    train_seconds: float
    epochs_run: int
    size_bytes: int
    files: dict[str, BundleFile]
    bundle: dict[str, Any] = Field(
        description="Window, target transform, scaler, frequency, library versions …"
    )
    created_at: datetime


class RegisteredModelRead(BaseModel):
    name: str
    aliases: dict[str, int] = Field(description="Alias → version number.")
    latest_version: int | None = Field(description="Highest ready version.")
    created_at: datetime
    updated_at: datetime


class AliasUpdate(BaseModel):
    model_config = {"extra": "forbid"}

    version: Id


class AliasRead(BaseModel):
    name: str
    alias: str
    version: int


class PromoteRequest(BaseModel):
    model_config = {"extra": "forbid"}

    version: Id
    require: PromotionRule = Field(default_factory=PromotionRule)


class PromotionCheck(BaseModel):
    check: Literal["beats_naive", "beats_current"]
    holds: bool
    metric: str
    basis: str = Field(description="Which evaluation the numbers come from.")
    candidate: float | None = Field(description="None: the metric could not be measured.")
    naive: float | None = None
    current: float | None = None
    current_version: int | None = None


class PromotionRead(AliasRead):
    previous_version: int | None
    checks: list[PromotionCheck]


class BacktestRead(BaseModel):
    id: int
    name: str
    version: int
    job_id: int | None
    created_at: datetime
    spec: BacktestSpec
    result: dict[str, Any] = Field(
        description="Per-fold (with `cutoff`) and aggregate metrics of the model next to the "
        "naive, drift and seasonal naive baselines, RMSE per step, interval coverage."
    )
