"""Response bodies of the model registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from app.ml.spec import TrainingSpec

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


class HoldoutMetrics(BaseModel):
    """One-step-ahead accuracy on data the network never trained on, next to the baseline."""

    holdout: HoldoutRange
    model: PointMetrics
    naive: PointMetrics = Field(description="Persistence: tomorrow = today.")
    skill: float | None = Field(description="1 − RMSE/RMSE_naive (> 0 beats naive).")


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

    version: int = Field(ge=1)


class AliasRead(BaseModel):
    name: str
    alias: str
    version: int
