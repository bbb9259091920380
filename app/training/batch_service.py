"""Training batches: one spec trained on many series as one job per series, followed as one
resource (aggregate progress, cancel, leaderboard). Services flush; the request commits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.column_records import PromotionOutcome, SkippedSeries
from app.db.orm import ModelVersion, Series, TrainingBatch, TrainingJob
from app.errors import AppError, BatchNotFound, ErrorItem, InvalidSpec, SeriesNotFound, found
from app.ml.dataset import DatasetError
from app.ml.defaults import Member, resolve_global
from app.ml.spec import Scope, TrainingSpec
from app.pagination import PageParams, fetch_page
from app.registry import service as registry
from app.series import collection_service
from app.series import service as series_service
from app.training import service
from app.training.jobs import lifecycle
from app.vocabulary import ACTIVE, MAX_MODEL_NAME, BatchStatus, JobKind, JobStatus, model_name_part


@dataclass(frozen=True)
class BatchView:
    """A batch with its jobs counted by status and the times its progress is measured by."""

    batch: TrainingBatch
    counts: dict[JobStatus, int]
    started_at: datetime | None
    last_finished_at: datetime | None
    global_model: str | None = None  # scope global: the one model its one job registers

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return self.total - sum(self.counts[s] for s in ACTIVE)

    @property
    def status(self) -> BatchStatus:
        return self.batch.status

    def eta_s(self, now: datetime) -> float | None:
        """Remaining jobs at the rate jobs have run to an end (succeeded or failed; a cancelled
        job may never have run) since the first one started."""
        if self.status == BatchStatus.DONE:
            return 0.0
        ran = self.counts[JobStatus.SUCCEEDED] + self.counts[JobStatus.FAILED]
        if self.started_at is None or not ran:
            return None
        elapsed = (now - self.started_at).total_seconds()
        return elapsed / ran * (self.total - self.finished)


def create_batch(
    session: Session,
    settings: Settings,
    *,
    collection: str | None,
    series_ids: list[int] | None,
    target: str | None,
    model_prefix: str | None,
    spec: TrainingSpec,
    promotion: PromotionOutcome | None,
    scope: Scope = "series",
    model_name: str | None = None,
) -> tuple[TrainingBatch, list[TrainingJob]]:
    """A job per series the spec can train (scope ``series``), or one job training one global
    model on all of them; the series that cannot train are listed in ``skipped`` with the
    reason. If none can train, the batch is refused (422)."""
    service.check_epochs(settings, spec)
    found = None
    if collection is not None:
        found = collection_service.get_collection(session, collection)
        members = collection_service.members(session, found)
        if not members:
            raise InvalidSpec(f"Collection '{collection}' holds no series.")
    else:
        members = _series_by_id(session, series_ids or [])
    batch = lifecycle.create_batch(
        session,
        collection_id=found.id if found else None,
        collection_name=found.name if found else None,
        target=target,
        spec=spec,
        model_prefix=model_prefix,
        scope=scope,
    )
    if scope == "global":
        job = _global_job(
            session, settings, batch, members, target, model_name, spec, promotion
        )  # fmt: skip
        return batch, [job]
    jobs, skipped = [], []
    names: dict[str, str] = {}  # model name → the series it was given to
    for series in members:
        name = (
            service.default_model_name(series, spec.kind)
            if model_prefix is None
            else f"{model_prefix}.{model_name_part(series.symbol or series.name)}"
        )
        try:
            if len(name) > MAX_MODEL_NAME:
                raise InvalidSpec(f"its model name '{name}' would be over {MAX_MODEL_NAME} "
                                  "characters; use a shorter model_prefix")  # fmt: skip
            if name in names:
                raise InvalidSpec(f"its model name '{name}' is also that of series "
                                  f"'{names[name]}' in this batch")  # fmt: skip
            jobs.append(
                service.create_job(
                    session,
                    settings,
                    series_id=series.id,
                    target=target,
                    model_name=name,
                    spec=spec,
                    promotion=promotion,
                    batch=batch,
                )  # fmt: skip
            )
            names[name] = series.name
        except AppError as exc:  # this series cannot train; the others may
            skipped.append(SkippedSeries(series_id=series.id, name=series.name, detail=exc.detail))
    if not jobs:
        raise InvalidSpec(
            f"None of the {len(members)} series can train with this spec.",
            errors=[
                ErrorItem(message=f"series {s.name} (id {s.series_id}): {s.detail}")
                for s in skipped
            ],  # fmt: skip
        )
    lifecycle.record_skipped(session, batch, skipped)
    return batch, jobs


def _global_job(
    session: Session,
    settings: Settings,
    batch: TrainingBatch,
    members: list[Series],
    target: str | None,
    model_name: str | None,
    spec: TrainingSpec,
    promotion: PromotionOutcome | None,
) -> TrainingJob:
    """One job training one network on every member the spec can use: checked on their data
    now (as a single job is), so an impossible global model never queues."""
    defaults = Counter(f for f in (_target_or_none(s, target) for s in members) if f)
    if not defaults:
        raise InvalidSpec(
            "No series of the batch has the target field; name one with `target`.",
            errors=[ErrorItem(loc="body.target", message="no default target field")],
        )
    field = target or defaults.most_common(1)[0][0]
    usable, skipped = [], []
    for series in members:
        if field in {f.name for f in series.fields}:
            usable.append(Member(series.id, series_service.read_field(session, series, field)))
        else:
            skipped.append(SkippedSeries(series_id=series.id, name=series.name,
                                         detail=f"no field '{field}'"))  # fmt: skip
    by_id = {s.id: s for s in members}
    try:
        frequency = Counter(s.frequency for s in members).most_common(1)[0][0]
        resolved = resolve_global(usable, spec, frequency)
    except DatasetError as exc:
        raise InvalidSpec(str(exc)) from exc
    for series_id, reason in resolved.skipped.items():
        series = by_id[series_id]
        skipped.append(SkippedSeries(series_id=series_id, name=series.name, detail=reason))
    name = model_name or (
        f"{model_name_part(batch.collection_name)}-global-{spec.kind}"
        if batch.collection_name
        else f"global-{spec.kind}-batch{batch.id}"
    )
    registry.require_scope(session, name, "global")
    job = lifecycle.create_job(
        session,
        kind=JobKind.TRAIN,
        scope="global",
        member_ids=[m.key for m in usable if m.key in resolved.plans],
        model_name=name,
        target=field,
        spec=spec,
        max_attempts=settings.job_max_attempts,
        promotion=promotion,
        batch_id=batch.id,
    )
    lifecycle.record_skipped(session, batch, skipped)
    return job


def _target_or_none(series: Series, target: str | None) -> str | None:
    try:
        return service.resolve_target(series, target)
    except InvalidSpec:
        return None


def _series_by_id(session: Session, ids: list[int]) -> list[Series]:
    found = {s.id: s for s in session.scalars(select(Series).where(Series.id.in_(ids)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise SeriesNotFound(
            f"No series with id {', '.join(map(str, missing[:10]))}"
            + (" …" if len(missing) > 10 else "")
            + ".",
            errors=[
                ErrorItem(loc=f"body.series_ids.{ids.index(i)}", message="unknown series")
                for i in missing
            ],
        )
    return [found[i] for i in ids]


def get_batch(session: Session, batch_id: int) -> TrainingBatch:
    missing = BatchNotFound(f"No training batch with id {batch_id}.")
    return found(session.get(TrainingBatch, batch_id), missing)


def views(session: Session, batches: list[TrainingBatch]) -> list[BatchView]:
    """Each batch with its counts and times, in one query for any number of batches."""
    ids = [b.id for b in batches]
    counts: dict[int, dict[JobStatus, int]] = {i: dict.fromkeys(JobStatus, 0) for i in ids}
    started: dict[int, datetime | None] = {}
    finished: dict[int, datetime | None] = {}
    named: dict[int, str] = {}
    rows = session.execute(
        select(
            TrainingJob.batch_id,
            TrainingJob.status,
            func.count(),
            func.min(TrainingJob.started_at),
            func.max(TrainingJob.finished_at),
            func.min(TrainingJob.model_name),
        )
        .where(TrainingJob.batch_id.in_(ids))
        .group_by(TrainingJob.batch_id, TrainingJob.status)
    )
    for batch_id, status, count, first_start, last_finish, model_name in rows:
        if batch_id is None:  # not selected; for the type checker
            continue
        counts[batch_id][status] = count
        started[batch_id] = _earliest(started.get(batch_id), first_start)
        finished[batch_id] = _latest(finished.get(batch_id), last_finish)
        named[batch_id] = model_name
    return [
        BatchView(b, counts[b.id], started.get(b.id), finished.get(b.id),
                  named.get(b.id) if b.scope == "global" else None)
        for b in batches
    ]  # fmt: skip


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min((t for t in (a, b) if t is not None), default=None)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max((t for t in (a, b) if t is not None), default=None)


def list_batches(session: Session, paging: PageParams) -> tuple[list[BatchView], int]:
    """Newest first."""
    batches, total = fetch_page(session, select(TrainingBatch), paging, [TrainingBatch.id.desc()])
    return views(session, batches), total


def cancel_batch(session: Session, batch_id: int) -> TrainingBatch:
    """Queued jobs are cancelled at once, running ones asked to stop; finished ones stay."""
    batch = get_batch(session, batch_id)
    lifecycle.cancel_batch(session, batch.id)
    return batch


@dataclass(frozen=True)
class Entry:
    """One job of a batch with its series and, once it succeeded, its version."""

    job: TrainingJob
    series: Series | None
    version: ModelVersion | None

    @property
    def skill(self) -> float | None:
        return self.version.metrics.skill if self.version is not None else None


def leaderboard(session: Session, batch: TrainingBatch) -> list[Entry]:
    """Every job of the batch, best skill first; jobs without a measured version last."""
    rows = session.execute(
        select(TrainingJob, Series, ModelVersion)
        .outerjoin(Series, Series.id == TrainingJob.series_id)
        .outerjoin(ModelVersion, ModelVersion.id == TrainingJob.model_version_id)
        .where(TrainingJob.batch_id == batch.id)
        .order_by(TrainingJob.id)
    ).all()
    entries = [Entry(job, series, version) for job, series, version in rows]
    return sorted(entries, key=lambda e: -e.skill if e.skill is not None else np.inf)
