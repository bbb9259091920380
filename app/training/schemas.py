"""Request and response bodies of the training-jobs API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, JsonValue

from app.db.records import PromotionOutcome, PromotionRule
from app.ml.progress import EpochProgress
from app.ml.spec import TrainingSpec
from app.vocabulary import AliasName, Id, JobKind, JobStatus, ModelName

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


class TrainingJobCreate(TrainingSpec):
    """What to train on, and how (every field of the spec has a measured default)."""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [{"series_id": 1}, TUTORIAL_LSTM, TUTORIAL_GRU],
        },
    }

    series_id: Id = Field(description="Series to train on.")
    target: str | None = Field(
        default=None, description="Field to forecast; default adj_close, else close, else value."
    )
    model_name: ModelName | None = Field(
        default=None,
        description="Registered model to add a version to; default <series>-<architecture>.",
    )
    promote_to: AliasName | None = Field(
        default=None,
        description="When the new version passes `promote_require`, point this alias at it "
        "(the outcome and its numbers are in the job's `promotion`).",
        examples=["champion"],
    )
    promote_require: PromotionRule = Field(
        default_factory=PromotionRule, description="The rule for `promote_to`."
    )

    def spec(self) -> TrainingSpec:
        return TrainingSpec.model_validate(self.model_dump(exclude=_JOB_FIELDS))

    def promotion_request(self) -> PromotionOutcome | None:
        if self.promote_to is None:
            return None
        return PromotionOutcome(alias=self.promote_to, require=self.promote_require)


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
