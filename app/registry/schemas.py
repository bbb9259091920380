"""Response bodies of the model registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.ml.spec import TrainingSpec
from app.params import Id

AliasName = Annotated[
    str,
    Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$", examples=["champion"]),
]


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


class Coverage(BaseModel):
    method: str
    nominal: dict[str, float]
    measured: dict[str, float | None]


class HoldoutMetrics(BaseModel):
    """Accuracy of the served (ONNX) network on data it never trained on, next to baselines."""

    holdout: HoldoutRange
    data: DateRange = Field(description="Observations the version was trained and evaluated on.")
    model: PointMetrics
    naive: PointMetrics = Field(description="Persistence: tomorrow = today.")
    drift: PointMetrics = Field(description="Last value plus the mean change over the window.")
    skill: float | None = Field(description="1 − RMSE/RMSE_naive (> 0 beats naive).")
    skill_vs_drift: float | None
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
