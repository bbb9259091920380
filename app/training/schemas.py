"""Request and response bodies of the training-jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, JsonValue, model_validator

from app.db.records import PromotionOutcome, PromotionRule, SkippedSeries
from app.ml.progress import EpochProgress
from app.ml.spec import TrainingSpec
from app.vocabulary import (
    COLLECTION_PATTERN,
    MAX_BATCH_SERIES,
    AliasName,
    Id,
    JobKind,
    JobStatus,
    ModelName,
    ModelPrefix,
)

TUTORIAL_LSTM: dict[str, JsonValue] = {
    "series_id": 1,
    "target": "high",
    "architecture": "lstm",
    "layers": 4,
    "units": 50,
    "dropout": 0.2,
    "window": 60,
    "optimizer": "rmsprop",
    "epochs": 50,
    "batch_size": 32,
    "scaler": "minmax",
    "target_transform": "level",
    "ensemble": 1,
    "patience": 0,
    "validation_fraction": 0,
    "autoregression": False,
    "shuffle": True,
}
TUTORIAL_GRU: dict[str, JsonValue] = {
    **TUTORIAL_LSTM,
    "architecture": "gru",
    "optimizer": "sgd",
    "learning_rate": 0.01,
    "momentum": 0.9,
    "batch_size": 150,
}


class PromotionRequest(BaseModel):
    """Fields of a training request that ask for the new version's promotion."""

    promote_to: AliasName | None = Field(
        default=None,
        description="When the new version passes `promote_require`, point this alias at it "
        "(the outcome and its numbers are in the job's `promotion`).",
        examples=["champion"],
    )
    promote_require: PromotionRule = Field(
        default_factory=PromotionRule, description="The rule for `promote_to`."
    )

    def promotion_request(self) -> PromotionOutcome | None:
        if self.promote_to is None:
            return None
        return PromotionOutcome(alias=self.promote_to, require=self.promote_require)


class TrainingJobCreate(TrainingSpec, PromotionRequest):
    """What to train on, and how (every field of the spec has a measured default)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"series_id": 1}, TUTORIAL_LSTM, TUTORIAL_GRU],
        },
    }

    series_id: Id = Field(description="Series to train on.")
    target: str | None = Field(
        default=None,
        description="Field to forecast; default the first of adj_close, close, price, value, y, "
        "else the series' only field.",
    )
    model_name: ModelName | None = Field(
        default=None,
        description="Registered model to add a version to; default <series>-<architecture>.",
    )

    def spec(self) -> TrainingSpec:
        return TrainingSpec.model_validate(self.model_dump(exclude=_JOB_FIELDS))


_JOB_FIELDS = {"series_id", "target", "model_name", "promote_to", "promote_require"}


class VersionRef(BaseModel):
    name: str
    version: int
    url: str


class TrainingJobRead(BaseModel):
    id: int
    kind: JobKind = Field(
        description="`train` registers a new version; `backtest` evaluates `model_version`."
    )
    status: JobStatus
    series_id: int | None
    model_name: str
    target: str
    spec: TrainingSpec
    attempts: int
    max_attempts: int
    cancel_requested: bool
    progress: EpochProgress | None
    error: str | None = Field(description="Why the job failed, in one line.")
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    model_version: VersionRef | None
    backtest_url: str | None = Field(
        default=None, description="Backtest jobs, once succeeded: where the result is."
    )
    promotion: PromotionOutcome | None = None
    trigger: str | None = Field(
        default=None,
        description="Jobs a model's retrain policy started: which rule fired, with the numbers.",
    )


# --------------------------------------------------------------------------- batches


class TrainingBatchCreate(TrainingSpec, PromotionRequest):
    """One spec trained on every series of a collection, or on a list of series."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {"collection": "sp500", "model_prefix": "sp500-default"},
                {"series_ids": [1, 2, 3], "architecture": "gru", "epochs": 20},
            ]
        },
    }

    collection: Annotated[str, Field(pattern=COLLECTION_PATTERN)] | None = Field(
        default=None, description="Train every series of this collection."
    )
    series_ids: list[Id] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_BATCH_SERIES,
        description=f"Or train these series (at most {MAX_BATCH_SERIES:,}, no repeats).",
    )
    target: str | None = Field(
        default=None,
        max_length=64,
        description="Field to forecast in every series; default as for a single job.",
    )
    model_prefix: ModelPrefix | None = Field(
        default=None,
        description="Each series' model is named `<model_prefix>.<symbol>` (`<series name>` "
        "outside a collection); without it `<series>-<architecture>` as for a single job.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrainingBatchCreate:
        if (self.collection is None) == (self.series_ids is None):
            raise ValueError("give exactly one of `collection` and `series_ids`")
        if self.series_ids is not None and len(set(self.series_ids)) != len(self.series_ids):
            raise ValueError("`series_ids` has repeats")
        return self

    def spec(self) -> TrainingSpec:
        return TrainingSpec.model_validate(self.model_dump(exclude=_BATCH_FIELDS))


_BATCH_FIELDS = {
    "collection", "series_ids", "target", "model_prefix", "promote_to", "promote_require",
}  # fmt: skip


class BatchCounts(BaseModel):
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int


class TrainingBatchRead(BaseModel):
    id: int
    status: Literal["queued", "running", "done"] = Field(
        description="`done` once no job is queued or running (see `counts` for how they ended)."
    )
    collection: str | None
    target: str | None
    model_prefix: str | None
    spec: TrainingSpec
    counts: BatchCounts
    progress: float = Field(description="Share of the jobs finished, 0 to 1.", examples=[0.42])
    eta_s: float | None = Field(
        description="Seconds until the last job finishes, at the rate jobs have finished so far "
        "(null until one has)."
    )
    cancel_requested: bool
    skipped: list[SkippedSeries] = Field(
        description="Series the spec cannot train (too short, a missing target …): no job."
    )
    created_at: datetime
    started_at: datetime | None = Field(description="When its first job started.")
    finished_at: datetime | None = Field(description="When its last job finished, once done.")
    jobs_url: str = Field(examples=["/v1/training-jobs?batch_id=1"])
    leaderboard_url: str = Field(examples=["/v1/training-batches/1/leaderboard"])


class LeaderboardRow(BaseModel):
    series_id: int | None
    series: str | None = Field(description="The series' name (`<collection>:<symbol>`).")
    symbol: str | None
    job_id: int
    status: JobStatus
    model_name: str
    version: int | None
    rmse: float | None = Field(description="Holdout RMSE of the version, in price units.")
    naive_rmse: float | None = Field(description="Naive persistence on the same points.")
    skill: float | None = Field(description="1 − rmse/naive_rmse (> 0 beats naive).")
    best_reference: str | None = Field(description="The statistical reference with least RMSE.")
    best_reference_rmse: float | None
    error: str | None = Field(description="Why the job failed.")


class Leaderboard(BaseModel):
    batch_id: int
    rows: list[LeaderboardRow] = Field(
        description="One per job; by skill, best first (jobs without a version last)."
    )
    beats_naive: int = Field(description="Versions with skill > 0.")
    median_skill: float | None
