"""Rows for service-level tests, built directly (no upload, no training): a job, a version
with the numbers a test wants, a backtest result."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.column_records import BundleRecord, PromotionOutcome, PromotionRule
from app.db.orm import ModelVersion, TrainingJob
from app.ml.results import HoldoutMetrics
from app.ml.spec import Scope, TrainingSpec
from app.registry.versions import reserve
from app.vocabulary import JobKind, JobStatus, VersionStatus

WORKER = "host-a:101"


def job(session: Session, **fields: Any) -> TrainingJob:
    values: dict[str, Any] = {
        "kind": JobKind.TRAIN,
        "status": JobStatus.QUEUED,
        "model_name": "m",
        "target": "close",
        "spec": TrainingSpec(),
        "attempts": 0,
        "max_attempts": 2,
        **fields,
    }
    row = TrainingJob(**values)
    session.add(row)
    session.flush()
    return row


def promotion(alias: str = "champion", **rule: Any) -> PromotionOutcome:
    return PromotionOutcome(alias=alias, require=PromotionRule(**rule))


def point(rmse: float) -> dict[str, float | None]:
    return {"rmse": rmse, "mae": rmse * 0.8, "mape": None, "mase": rmse / 2}


def metrics(
    model_rmse: float, naive_rmse: float, holdout_start: str = "2016-01-04"
) -> HoldoutMetrics:
    return HoldoutMetrics.model_validate(
        {
            "holdout": {"start": holdout_start, "end": "2016-12-30", "points": 250},
            "data": {"start": "2006-01-03", "end": "2016-12-30"},
            "model": point(model_rmse),
            "naive": point(naive_rmse),
            "drift": point(naive_rmse),
            "skill": 1 - model_rmse / naive_rmse,
            "skill_vs_drift": 1 - model_rmse / naive_rmse,
            "multi_step": {
                "h": [1], "points": [250], "model_rmse": [model_rmse],
                "naive_rmse": [naive_rmse], "drift_rmse": [naive_rmse],
            },
            "coverage": {"method": "test", "nominal": {"80": 0.8}, "measured": {"80": 0.8}},
        }
    )  # fmt: skip


BUNDLE = BundleRecord(
    kind="baseline",
    target="close",
    target_transform="level",
    window=1,
    frequency="B",
    exchange=None,
    training_rows_sha256="0" * 64,
    libraries={},
    created_at="2026-12-02T00:00:00+00:00",
    baseline={"method": "naive", "slope": 0.0, "season_length": 1},
    files={},
)


def version(
    session: Session,
    name: str = "m",
    *,
    model_rmse: float = 1.0,
    naive_rmse: float = 1.0,
    status: VersionStatus = VersionStatus.READY,
    rows_sha256: str = "a" * 64,
    job_id: int | None = None,
    scope: Scope = "series",
) -> ModelVersion:
    """A version numbered max+1 under ``name`` (through the registry's own reserve)."""
    row = reserve(
        session,
        name,
        scope=scope,
        job_id=job_id,
        series_id=None,
        training_rows_sha256=rows_sha256,
        target="close",
        spec=TrainingSpec(architecture="naive"),
        bundle=BUNDLE,
        metrics=metrics(model_rmse, naive_rmse),
        train_seconds=0.1,
        epochs_run=0,
        size_bytes=0,
    )
    row.status = status
    session.flush()
    return row
