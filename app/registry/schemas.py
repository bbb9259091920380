"""Request and response bodies of the model registry API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.db.column_records import BundleFile, PromotionCheck, PromotionRule, VersionOrigin
from app.db.orm import Backtest, ModelVersion
from app.db.rows import from_row
from app.ml.results import BacktestResult, HoldoutMetrics, MemberMetrics
from app.ml.spec import BacktestSpec, Scope, TrainingSpec
from app.registry import service
from app.vocabulary import Id, VersionStatus


class ModelVersionRead(BaseModel):
    name: str
    version: int
    status: VersionStatus
    aliases: list[str]
    job_id: int | None
    series_id: int | None = Field(description="The series it was trained on (null: global).")
    scope: Scope = Field(description="global: one network trained on many series.")
    members_url: str | None = Field(
        description="Global versions: each member's holdout next to naive and its own model."
    )
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
    origin: VersionOrigin | None = Field(
        description="Imported versions: the version of the deployment it was exported from."
    )


class MembersRead(BaseModel):
    name: str
    version: int
    members: list[MemberMetrics] = Field(
        description="Per member series, best skill first (the page asked for); the RMSE of the "
        "version's `metrics` pools every member's points (in price units, so high-priced "
        "members weigh most)."
    )
    total: int = Field(description="Members in all.")
    limit: int | None = Field(description="Members per page; null: all of them.")
    offset: int
    beats_naive: int = Field(description="Members where the global model's skill is > 0.")
    beats_own: int = Field(description="Members where it beats the series' own model.")
    compared_with_own: int = Field(description="Members with an own model to compare with.")


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


def version_read(version: ModelVersion) -> ModelVersionRead:
    name, number = version.model.name, version.version
    return from_row(
        ModelVersionRead,
        version,
        name=name,
        aliases=service.aliases_of(version),
        members_url=(
            f"/v1/models/{name}/versions/{number}/members" if version.scope == "global" else None
        ),
        files=version.bundle.files,
        bundle=version.bundle.model_dump(mode="json", exclude={"files"}),
    )


def backtest_read(version: ModelVersion, backtest: Backtest) -> BacktestRead:
    return from_row(BacktestRead, backtest, name=version.model.name, version=version.version)
