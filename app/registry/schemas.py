"""Request and response bodies of the model registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.records import BundleFile, PromotionCheck, PromotionRule
from app.ml.records import BacktestResult, HoldoutMetrics
from app.ml.spec import BacktestSpec, TrainingSpec
from app.vocabulary import Id, VersionStatus


class ModelVersionRead(BaseModel):
    name: str
    version: int
    status: VersionStatus
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
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 2}]})

    version: Id


class AliasRead(BaseModel):
    name: str
    alias: str
    version: int


class PromoteRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"version": 2},
                {"version": 2, "require": {"beats_naive": True, "beats_current": False}},
            ]
        },
    )

    version: Id
    require: PromotionRule = Field(default_factory=PromotionRule)


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
    result: BacktestResult
