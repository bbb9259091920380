"""Request and response bodies of the training-jobs API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, JsonValue, model_validator

from app.db.column_records import PromotionOutcome, PromotionRule, SkippedSeries
from app.db.rows import from_row
from app.db.types import utcnow
from app.ml.progress import EpochProgress
from app.ml.spec import GLOBAL_DEFAULTS, NETWORKS, Scope, TrainingSpec
from app.training.batch_service import BatchView, Entry
from app.training.service import JobView
from app.vocabulary import (
    COLLECTION_PATTERN,
    MAX_BATCH_SERIES,
    AliasName,
    BatchStatus,
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
    scope: Scope = Field(
        default="series",
        description="series: one job and one model per series. global: one job training one "
        "network on the windows of every series (each window divided by its own scale), "
        "registered as one version that forecasts any series, also one it never saw; its "
        "leaderboard compares it per series with naive and with each series' own model. A "
        "global spec is a network on a relative target (no backtest); unset, its drift is "
        "'none', references [] and epochs 10.",
    )
    model_name: ModelName | None = Field(
        default=None,
        description="scope global: the model's name (default `<collection>-global-<architecture>`"
        ", or `global-<architecture>-batch<id>` for a list of series).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> TrainingBatchCreate:
        if (self.collection is None) == (self.series_ids is None):
            raise ValueError("give exactly one of `collection` and `series_ids`")
        if self.series_ids is not None and len(set(self.series_ids)) != len(self.series_ids):
            raise ValueError("`series_ids` has repeats")
        if self.scope == "series":
            if self.model_name is not None:
                raise ValueError("model_name names a global model; per-series models are "
                                 "named by model_prefix")  # fmt: skip
            return self
        if self.model_prefix is not None:
            raise ValueError("scope global trains one model: name it with model_name")
        if self.architecture is not None and self.architecture not in NETWORKS:
            raise ValueError("a global model is a network: architecture lstm, gru, rnn or mlp")
        if self.target_transform == "level":
            raise ValueError("a global model learns relative moves: target_transform "
                             "log_return, relative or difference, not level")  # fmt: skip
        if self.drift == "baseline" and "drift" in self.model_fields_set:
            raise ValueError("drift 'baseline' is a slope per series; a global model takes "
                             "'none' or 'learned'")  # fmt: skip
        if self.backtest is not None:
            raise ValueError("a global model cannot be backtested yet: backtest its members' "
                             "own models, or compare them on its leaderboard")  # fmt: skip
        if "references" in self.model_fields_set and self.references:
            raise ValueError("a global model is compared with each member's own model on its "
                             "leaderboard, not with statistical references: leave references "
                             "out")  # fmt: skip
        return self

    def spec(self) -> TrainingSpec:
        spec = TrainingSpec.model_validate(self.model_dump(exclude=_BATCH_FIELDS))
        if self.scope == "global":
            unset = {k: v for k, v in GLOBAL_DEFAULTS.items() if k not in self.model_fields_set}
            spec = spec.model_copy(update=unset)
        return spec


_BATCH_FIELDS = {
    "collection", "series_ids", "target", "model_prefix", "promote_to", "promote_require",
    "scope", "model_name",
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
    status: BatchStatus = Field(
        description="`done` once no job is queued or running (see `counts` for how they ended)."
    )
    collection: str | None
    scope: Scope
    target: str | None
    model_prefix: str | None
    model_name: str | None = Field(
        description="Global batches: the model its one network is registered as (per-series "
        "batches name theirs `<model_prefix>.<symbol>`: see the leaderboard)."
    )
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
    own_model: str | None = Field(
        default=None,
        description="Global batches: the series' own model (the latest trained on it alone, on "
        "data before this holdout).",
    )
    own_version: int | None = None
    own_rmse: float | None = Field(
        default=None, description="The own model's one-step RMSE on the same points as `rmse`."
    )
    error: str | None = Field(description="Why the job failed, or why the series has no score.")


class Leaderboard(BaseModel):
    batch_id: int
    rows: list[LeaderboardRow] = Field(
        description="One per job; by skill, best first (jobs without a version last)."
    )
    beats_naive: int = Field(description="Versions with skill > 0.")
    median_skill: float | None


def job_read(view: JobView) -> TrainingJobRead:
    job, ref = view.job, None
    if view.version is not None:
        name, number = view.version
        ref = VersionRef(name=name, version=number, url=f"/v1/models/{name}/versions/{number}")
    backtest_url = f"{ref.url}/backtests/{view.backtest_id}" if ref and view.backtest_id else None
    return from_row(TrainingJobRead, job, model_version=ref, backtest_url=backtest_url)


def batch_read(view: BatchView) -> TrainingBatchRead:
    batch, counts = view.batch, view.counts
    return from_row(
        TrainingBatchRead,
        batch,
        collection=batch.collection_name,
        model_name=view.global_model,
        counts=BatchCounts(total=view.total, **{s.value: counts[s] for s in JobStatus}),
        progress=view.finished / view.total if view.total else 1.0,
        eta_s=view.eta_s(utcnow()),
        started_at=view.started_at,
        finished_at=view.last_finished_at if view.status == BatchStatus.DONE else None,
        jobs_url=f"/v1/training-jobs?batch_id={batch.id}",
        leaderboard_url=f"/v1/training-batches/{batch.id}/leaderboard",
    )


def leaderboard_row(entry: Entry) -> LeaderboardRow:
    job, series, version = entry.job, entry.series, entry.version
    metrics = version.metrics if version is not None else None
    best = None
    if metrics is not None and metrics.references:
        best = min(metrics.references.items(), key=lambda item: item[1].rmse)
    return from_row(
        LeaderboardRow,
        job,
        job_id=job.id,
        series=series.name if series else None,
        symbol=series.symbol if series else None,
        version=version.version if version else None,
        rmse=metrics.model.rmse if metrics else None,
        naive_rmse=metrics.naive.rmse if metrics else None,
        skill=entry.skill,
        best_reference=best[0] if best else None,
        best_reference_rmse=best[1].rmse if best else None,
    )


def member_rows(entry: Entry) -> list[LeaderboardRow]:
    """A global batch's one job as one row per member series (or one row while it has no
    version), best skill first."""
    job, version = entry.job, entry.version
    if version is None or not version.members:
        return [leaderboard_row(entry)]
    rows = [
        LeaderboardRow(
            **m.model_dump(
                include={"series_id", "series", "symbol", "rmse", "naive_rmse", "skill"}
            ),
            job_id=job.id,
            status=job.status,
            model_name=job.model_name,
            version=version.version,
            best_reference=None,
            best_reference_rmse=None,
            own_model=m.own.model if m.own else None,
            own_version=m.own.version if m.own else None,
            own_rmse=m.own.rmse if m.own else None,
            error=m.detail,
        )
        for m in version.members
    ]
    return sorted(rows, key=lambda r: -r.skill if r.skill is not None else float("inf"))
