"""HTTP endpoints for training jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response
from fastapi import status as http_status
from sqlalchemy import select

from app.db.orm import Backtest, ModelVersion, TrainingJob
from app.deps import DispatcherDep, SessionDep, SettingsDep
from app.ml.progress import EpochProgress
from app.pagination import Page, PageDep
from app.params import MAX_ID, IdPath
from app.training import service
from app.training.dispatch import Dispatcher
from app.training.schemas import (
    JobKind,
    JobStatus,
    Promotion,
    TrainingJobCreate,
    TrainingJobRead,
    VersionRef,
)

router = APIRouter(prefix="/v1/training-jobs", tags=["training"])


def accept_job(
    job: TrainingJob, dispatcher: Dispatcher, response: Response, background: BackgroundTasks
) -> None:
    """202 bookkeeping for a new job: its id goes to the queue after the response (so after the
    commit), and ``Location`` points at it."""
    background.add_task(dispatcher.submit, job.id)
    response.headers["Location"] = f"/v1/training-jobs/{job.id}"


def job_read(
    job: TrainingJob, version: ModelVersion | None, backtest_id: int | None = None
) -> TrainingJobRead:
    ref = None
    if version is not None:
        ref = VersionRef(
            name=version.model.name,
            version=version.version,
            url=f"/v1/models/{version.model.name}/versions/{version.version}",
        )
    return TrainingJobRead(
        id=job.id,
        kind=job.kind,
        status=job.status,
        series_id=job.series_id,
        model_name=job.model_name,
        target=job.target,
        spec=job.spec,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        cancel_requested=job.cancel_requested,
        progress=EpochProgress(**job.progress) if job.progress else None,
        error=job.error,
        worker=job.worker,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        model_version=ref,
        backtest_url=f"{ref.url}/backtests/{backtest_id}" if ref and backtest_id else None,
        promotion=Promotion.model_validate(job.promotion) if job.promotion else None,
    )


def _read(session: SessionDep, job: TrainingJob) -> TrainingJobRead:
    version = session.get(ModelVersion, job.model_version_id) if job.model_version_id else None
    backtest_id = (
        session.scalar(select(Backtest.id).where(Backtest.job_id == job.id))
        if job.kind == "backtest" and job.status == "succeeded"
        else None
    )
    return job_read(job, version, backtest_id)


@router.post(
    "",
    status_code=http_status.HTTP_202_ACCEPTED,
    response_model=TrainingJobRead,
    summary="Start training a model (network or baseline) in the background",
    responses={422: {"description": "Invalid or impossible spec (the reason is in `detail`)."}},
)
def create_job(
    body: TrainingJobCreate,
    session: SessionDep,
    settings: SettingsDep,
    dispatcher: DispatcherDep,
    response: Response,
    background: BackgroundTasks,
) -> TrainingJobRead:
    """The job row is committed before its id is queued (the queue runs after the response)."""
    job = service.create_job(
        session,
        settings,
        series_id=body.series_id,
        target=body.target,
        model_name=body.model_name,
        spec=body.spec(),
        promotion=body.promotion_request(),
    )
    accept_job(job, dispatcher, response, background)
    return job_read(job, None)


@router.get("", response_model=Page[TrainingJobRead], summary="List training jobs")
def list_jobs(
    session: SessionDep,
    paging: PageDep,
    status: JobStatus | None = None,
    kind: JobKind | None = None,
    series_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Page[TrainingJobRead]:
    jobs, total = service.list_jobs(
        session,
        status=status,
        kind=kind,
        series_id=series_id,
        limit=paging.limit,
        offset=paging.offset,
    )
    return paging.page([_read(session, j) for j in jobs], total)


@router.get("/{job_id}", response_model=TrainingJobRead, summary="Job status and progress")
def get_job(job_id: IdPath, session: SessionDep) -> TrainingJobRead:
    return _read(session, service.get_job(session, job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=TrainingJobRead,
    summary="Cancel a job",
    responses={409: {"description": "The job already finished."}},
)
def cancel_job(job_id: IdPath, session: SessionDep) -> TrainingJobRead:
    """A queued job is cancelled at once; a running one stops at the end of its current epoch."""
    return _read(session, service.cancel_job(session, job_id))
