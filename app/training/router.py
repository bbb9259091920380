"""HTTP endpoints of training jobs, and of backtests (a job run on an existing version)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import status as http_status

from app.db.orm import TrainingJob
from app.deps import SessionDep, SettingsDep
from app.ml.spec import BacktestSpec
from app.pagination import Page, PageDep, sort_query
from app.registry import service as registry
from app.training import service
from app.training.deps import AcceptedDep
from app.training.idempotency import IdempotencyKeyHeader, create_once
from app.training.schemas import TrainingJobCreate, TrainingJobRead, job_read
from app.vocabulary import (
    COLLECTION_PATTERN,
    MAX_ID,
    IdPath,
    JobKind,
    JobStatus,
    ModelPrefixQuery,
    NamePath,
    VersionPath,
)

router = APIRouter(tags=["training"])


def _read(session: SessionDep, job: TrainingJob) -> TrainingJobRead:
    return job_read(service.views(session, [job])[0])


@router.post(
    "/v1/training-jobs",
    status_code=http_status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    summary="Start training a model (network or baseline) in the background",
    responses={
        404: {"description": "No series with this `series_id`."},
        409: {"description": "The `Idempotency-Key` came before with another body."},
        422: {
            "description": "Invalid spec, or one this series cannot train (`target` not one of "
            "its fields, window or holdout longer than its data …): the reason is in `detail`."
        },
    },
)
def create_training_job(
    body: TrainingJobCreate,
    session: SessionDep,
    settings: SettingsDep,
    accepted: AcceptedDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> TrainingJobRead:
    """The job is queued (202) and runs in a worker; follow it at `Location`. The spec is checked
    against the series first, so a job that cannot train is refused here with 422. With an
    `Idempotency-Key`, a retry of this request answers with the job the first one created."""

    def create() -> int:
        return service.create_job(
            session,
            settings,
            series_id=body.series_id,
            target=body.target,
            model_name=body.model_name,
            spec=body.spec(),
            promotion=body.promotion_request(),
        ).id

    job_id, replayed = create_once(session, "create_training_job", idempotency_key, body, create)
    accepted([] if replayed else [job_id], f"/v1/training-jobs/{job_id}", replayed=replayed)
    return _read(session, service.get_job(session, job_id))


JobSort = Literal[
    "id", "-id", "created_at", "-created_at", "finished_at", "-finished_at",
    "model_name", "-model_name",
]  # fmt: skip


@router.get("/v1/training-jobs", response_model=Page[TrainingJobRead], summary="List training jobs")
def list_training_jobs(
    session: SessionDep,
    paging: PageDep,
    status: JobStatus | None = None,
    kind: JobKind | None = None,
    series_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    batch_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only the jobs of this training batch.")
    ] = None,
    collection: Annotated[
        str | None,
        Query(pattern=COLLECTION_PATTERN, description="Only jobs on this collection's series."),
    ] = None,
    model_prefix: ModelPrefixQuery = None,
    sort: Annotated[JobSort, sort_query("newest first")] = "-id",
) -> Page[TrainingJobRead]:
    views, total = service.list_jobs(
        session,
        status=status,
        kind=kind,
        series_id=series_id,
        batch_id=batch_id,
        collection=collection,
        model_prefix=model_prefix,
        sort=sort,
        paging=paging,
    )
    return paging.page([job_read(v) for v in views], total)


@router.get(
    "/v1/training-jobs/{job_id}", response_model=TrainingJobRead, summary="Job status and progress"
)
def get_training_job(job_id: IdPath, session: SessionDep) -> TrainingJobRead:
    return _read(session, service.get_job(session, job_id))


@router.post(
    "/v1/training-jobs/{job_id}/cancel",
    response_model=TrainingJobRead,
    summary="Cancel a job",
    responses={409: {"description": "The job already finished."}},
)
def cancel_training_job(job_id: IdPath, session: SessionDep) -> TrainingJobRead:
    """A queued job is cancelled at once; a running one stops at the end of its current epoch
    (or backtest fold) and then reads `cancelled`."""
    return _read(session, service.cancel_job(session, job_id))


@router.post(
    "/v1/models/{name}/versions/{version}/backtests",
    status_code=http_status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    tags=["registry"],
    summary="Start a walk-forward backtest of a version (a background job)",
    responses={
        409: {"description": "The version is not ready or its series was deleted."},
        422: {"description": "The data cannot hold the requested folds (`detail` says why)."},
    },
)
def start_backtest(
    name: NamePath,
    version: VersionPath,
    body: BacktestSpec,
    session: SessionDep,
    settings: SettingsDep,
    accepted: AcceptedDep,
) -> TrainingJobRead:
    """With `refit` every fold retrains the version's spec on data up to its cutoff; without,
    the version itself is scored on folds after the data it was trained on."""
    found = registry.get_version(session, name, version)
    job = service.create_backtest_job(session, settings, found, body)
    accepted([job.id], f"/v1/training-jobs/{job.id}")
    return _read(session, job)
