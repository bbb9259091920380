"""Retrain policies: after an append is scored, start a training job where a model's policy
fires, in the append's own transaction (the job is queued with the data that fired it).

Each firing is remembered on the policy: the realized-skill rule fires once per served
version; the every-N-observations rule counts from the served version's data end or from the
last firing, whichever is later. A job of the model still queued or running holds both back.
A policy that cannot be evaluated (or whose job cannot start) is logged and skipped: it never
fails the append that triggered it.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.column_records import PromotionOutcome, RetrainPolicy
from app.db.orm import (
    ModelAlias,
    ModelPolicy,
    ModelVersion,
    Observation,
    RegisteredModel,
    Series,
    SeriesField,
    ServedForecast,
    TrainingJob,
)
from app.db.session import savepoint
from app.db.types import utcnow
from app.errors import AppError
from app.ledger.service import scored_once, squared_errors
from app.training import service as training
from app.vocabulary import JobKind, JobStatus, VersionStatus

log = logging.getLogger(__name__)


def served_version(
    session: Session, model: RegisteredModel, alias: str | None
) -> ModelVersion | None:
    """The version the policy watches: the alias's, else the latest ready one."""
    if alias is not None:
        pointed = session.scalar(
            select(ModelVersion)
            .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
            .where(ModelAlias.model_id == model.id, ModelAlias.alias == alias)
        )
        if pointed is not None:
            return pointed
    return session.scalar(
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id, ModelVersion.status == VersionStatus.READY)
        .order_by(ModelVersion.version.desc())
        .limit(1)
    )


def _busy(session: Session, name: str) -> bool:
    return (
        session.scalar(
            select(func.count()).where(
                TrainingJob.model_name == name,
                TrainingJob.kind == JobKind.TRAIN,
                TrainingJob.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]),
            )
        )
        or 0
    ) > 0


def _skill_reason(
    session: Session, policy: ModelPolicy, model: str, version: ModelVersion
) -> str | None:
    rule = policy.policy.retrain_when
    if rule is None or policy.skill_fired_for_version == version.version:
        return None
    points = scored_once(
        ServedForecast.model_name == model,
        ServedForecast.version == version.version,
        ServedForecast.series_id == version.series_id,
    )
    count, model_sum, naive_sum = session.execute(select(*squared_errors(points))).one()
    if count < rule.min_scored or model_sum is None or not naive_sum:
        return None
    rmse, naive_rmse = math.sqrt(model_sum / count), math.sqrt(naive_sum / count)
    skill = 1 - rmse / naive_rmse
    if skill >= rule.realized_skill_below:
        return None
    return (
        f"retrain_when: realized skill {skill:.4f} of version {version.version} is below "
        f"{rule.realized_skill_below} over {count} scored points (RMSE {rmse:.6g}, naive "
        f"{naive_rmse:.6g})"
    )


def _new_observations_reason(
    session: Session, policy: ModelPolicy, version: ModelVersion
) -> str | None:
    every = policy.policy.retrain_every_new_observations
    if every is None or version.series_id is None:
        return None
    since: datetime = pd.Timestamp(version.metrics.data.end).to_pydatetime()
    if policy.fired_at_last_date is not None and policy.fired_at_last_date > since:
        since = policy.fired_at_last_date
    count = (
        session.scalar(
            select(func.count())
            .select_from(Observation)
            .join(SeriesField, SeriesField.id == Observation.field_id)
            .where(
                Observation.series_id == version.series_id,
                SeriesField.name == version.target,
                Observation.ts > since,
            )
        )
        or 0
    )
    if count < every:
        return None
    return (
        f"retrain_every_new_observations: {count} new observations of {version.target} after "
        f"{since:%Y-%m-%d %H:%M} (every {every})"
    )


def evaluate(session: Session, settings: Settings, series_id: int) -> list[int]:
    """Start the jobs the policies of models served from this series call for; returns their
    ids (to hand to the queue once the transaction commits)."""
    started: list[int] = []
    rows = session.execute(
        select(ModelPolicy, RegisteredModel).join(
            RegisteredModel, RegisteredModel.id == ModelPolicy.model_id
        )
    ).all()
    for policy, model in rows:
        try:
            with savepoint(session):
                job_id = _fire(session, settings, policy, model, series_id)
        except Exception:
            log.exception("retrain policy of %s could not be evaluated; skipped", model.name)
            continue
        if job_id is not None:
            started.append(job_id)
    return started


def _fire(
    session: Session, settings: Settings, policy: ModelPolicy, model: RegisteredModel,
    series_id: int,
) -> int | None:  # fmt: skip
    version = served_version(session, model, policy.policy.promote_to)
    if version is None or version.series_id != series_id or _busy(session, model.name):
        return None
    skill = _skill_reason(session, policy, model.name, version)
    reason = skill or _new_observations_reason(session, policy, version)
    if reason is None:
        return None
    job_id = _start(session, settings, policy.policy, model.name, version, reason)
    if job_id is None:
        return None
    series = session.get(Series, series_id)
    policy.fired_at = utcnow()
    policy.fired_for_version = version.version
    if skill is not None:
        policy.skill_fired_for_version = version.version
    policy.fired_at_last_date = series.last_date if series is not None else None
    policy.fired_job_id = job_id
    log.info("retrain policy of %s fired: %s (job %s)", model.name, reason, job_id)
    return job_id


def _start(
    session: Session,
    settings: Settings,
    policy: RetrainPolicy,
    model: str,
    version: ModelVersion,
    reason: str,
) -> int | None:
    assert version.series_id is not None
    promotion = (
        PromotionOutcome(alias=policy.promote_to, require=policy.require)
        if policy.promote_to is not None
        else None
    )
    try:
        with savepoint(session):
            job = training.create_job(
                session,
                settings,
                series_id=version.series_id,
                target=version.target,
                model_name=model,
                spec=version.spec,
                promotion=promotion,
                trigger=reason,
            )
    except AppError as exc:  # the spec no longer fits the data: say so, never fail the append
        log.warning("retrain policy of %s fired (%s) but could not start: %s", model, reason, exc)
        return None
    return job.id
