"""HTTP endpoints of training batches: one spec on many series, followed as one resource."""

from __future__ import annotations

import csv
import io
import statistics
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import status as http_status

from app.deps import SessionDep, SettingsDep
from app.pagination import Page, PageDep
from app.training import batch_service
from app.training.deps import AcceptedDep
from app.training.idempotency import IdempotencyKeyHeader, create_once
from app.training.schemas import (
    Leaderboard,
    LeaderboardRow,
    TrainingBatchCreate,
    TrainingBatchRead,
    batch_read,
    leaderboard_row,
    member_rows,
)
from app.vocabulary import IdPath, OutputFormat

router = APIRouter(prefix="/v1/training-batches", tags=["training"])


def _read(session: SessionDep, batch_id: int) -> TrainingBatchRead:
    (view,) = batch_service.views(session, [batch_service.get_batch(session, batch_id)])
    return batch_read(view)


@router.post(
    "",
    status_code=http_status.HTTP_202_ACCEPTED,
    response_model=TrainingBatchRead,
    summary="Train one spec on every series of a collection (or a list of series)",
    responses={
        404: {"description": "No such collection, or a `series_ids` entry does not exist."},
        409: {"description": "The `Idempotency-Key` came before with another body."},
        422: {
            "description": "Invalid spec, both or neither of `collection` and `series_ids`, or "
            "no series the spec can train (each one's reason is in `errors`)."
        },
    },
)
def create_training_batch(
    body: TrainingBatchCreate,
    session: SessionDep,
    settings: SettingsDep,
    accepted: AcceptedDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> TrainingBatchRead:
    """One training job per series, each checked against its data as `POST /v1/training-jobs`
    would: a series the spec cannot train is listed in `skipped` with the reason and gets no
    job. The jobs run on whatever workers take training jobs (the embedded pool or every Celery
    worker); follow the batch at `Location`. With an `Idempotency-Key`, a retry of this
    request answers with the batch the first one created."""
    job_ids: list[int] = []

    def create() -> int:
        batch, jobs = batch_service.create_batch(
            session,
            settings,
            collection=body.collection,
            series_ids=body.series_ids,
            target=body.target,
            model_prefix=body.model_prefix,
            spec=body.spec(),
            promotion=body.promotion_request(),
            scope=body.scope,
            model_name=body.model_name,
        )
        job_ids.extend(job.id for job in jobs)
        return batch.id

    batch_id, replayed = create_once(
        session, "create_training_batch", idempotency_key, body, create
    )
    accepted(job_ids, f"/v1/training-batches/{batch_id}", replayed=replayed)
    return _read(session, batch_id)


@router.get("", response_model=Page[TrainingBatchRead], summary="List training batches")
def list_training_batches(session: SessionDep, paging: PageDep) -> Page[TrainingBatchRead]:
    """Newest first."""
    views, total = batch_service.list_batches(session, paging)
    return paging.page([batch_read(v) for v in views], total)


@router.get("/{batch_id}", response_model=TrainingBatchRead, summary="A batch's progress")
def get_training_batch(batch_id: IdPath, session: SessionDep) -> TrainingBatchRead:
    """Jobs counted by status, the share finished and an ETA; the jobs themselves are at
    `jobs_url`."""
    return _read(session, batch_id)


@router.post("/{batch_id}/cancel", response_model=TrainingBatchRead, summary="Cancel a batch")
def cancel_training_batch(batch_id: IdPath, session: SessionDep) -> TrainingBatchRead:
    """Queued jobs are cancelled at once, running ones stop at the end of their current epoch;
    finished jobs and their versions stay. Cancelling a finished batch changes nothing."""
    batch_service.cancel_batch(session, batch_id)
    return _read(session, batch_id)


@router.get(
    "/{batch_id}/leaderboard",
    response_model=Leaderboard,
    summary="Per series: version, holdout RMSE next to naive, skill (JSON or CSV)",
    responses={200: {"content": {"text/csv": {"example": "symbol,series_id,job_id,status\n"}}}},
)
def get_leaderboard(
    batch_id: IdPath,
    session: SessionDep,
    format: Annotated[OutputFormat, Query()] = "json",  # noqa: A002
) -> Response:
    """Every job of the batch, best skill first (a job without a version yet, or that failed,
    comes last with its status and error). A global batch has one row per member series: the
    global model's holdout RMSE on that series next to naive and to the series' own model."""
    batch = batch_service.get_batch(session, batch_id)
    entries = batch_service.leaderboard(session, batch)
    if batch.scope == "global":
        rows = [row for e in entries for row in member_rows(e)]
    else:
        rows = [leaderboard_row(e) for e in entries]
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(LeaderboardRow.model_fields))
        writer.writeheader()
        writer.writerows(r.model_dump(mode="json") for r in rows)
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="batch-{batch_id}-leaderboard.csv"'
            },
        )
    skills = [r.skill for r in rows if r.skill is not None]
    body = Leaderboard(
        batch_id=batch_id,
        rows=rows,
        beats_naive=sum(s > 0 for s in skills),
        median_skill=statistics.median(skills) if skills else None,
    )
    return Response(body.model_dump_json(), media_type="application/json")
