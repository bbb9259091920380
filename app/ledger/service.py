"""Ledger use cases on the caller's session: keep served forecasts, score them, prune.

Scoring is set-based SQL (one join on the observation table's primary key), so an append that
settles a million ledger points costs a couple of statements, not a loop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.orm import (
    LedgerPoint,
    ModelAlias,
    ModelVersion,
    Observation,
    RegisteredModel,
    SeriesField,
    ServedForecast,
)
from app.db.types import utcnow
from app.forecasting.served import ForecastServed
from app.ledger.accuracy import COLUMNS
from app.vocabulary import PointStatus

log = logging.getLogger(__name__)


@dataclass
class Serving:
    """One served forecast and how often it was served since the last write."""

    served: ForecastServed
    count: int
    first_at: datetime
    last_at: datetime


def _levels_key(levels: Sequence[int]) -> str:
    return ",".join(str(level) for level in levels)


def _existing(session: Session, served: ForecastServed) -> ServedForecast | None:
    return session.scalar(
        select(ServedForecast).where(
            ServedForecast.model_name == served.model,
            ServedForecast.version == served.version,
            ServedForecast.series_id == served.series_id,
            ServedForecast.field == served.field,
            ServedForecast.as_of == served.as_of,
            ServedForecast.horizon == served.horizon,
            ServedForecast.levels == _levels_key(served.levels),
        )
    )


def _points(served: ForecastServed, forecast_id: int, field_id: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for point in served.points:
        bounds = {k: v for k, v in point.items() if k.startswith(("lo_", "hi_"))}
        rows.append(
            {
                "forecast_id": forecast_id,
                "step": point["step"],
                "series_id": served.series_id,
                "field_id": field_id,
                "target_ts": pd.Timestamp(point["date"]).to_pydatetime(),
                "value": point["value"],
                "bounds": bounds,
                "status": PointStatus.PENDING,
            }
        )
    return rows


def write(session: Session, servings: Iterable[Serving]) -> list[int]:
    """Record forecasts served since the last write: new ones with their points, seen ones
    counted again. Returns the ids of the new ones (already scored against what is stored:
    a forecast of dates already observed is settled at once)."""
    new_ids: list[int] = []
    field_ids: dict[tuple[int, str], int | None] = {}
    for serving in servings:
        served = serving.served
        row = _existing(session, served)
        if row is None:
            key = (served.series_id, served.field)
            if key not in field_ids:
                field_ids[key] = session.scalar(
                    select(SeriesField.id).where(
                        SeriesField.series_id == served.series_id, SeriesField.name == served.field
                    )
                )
            field_id = field_ids[key]
            if field_id is None:  # the series was deleted since: nothing to score against
                continue
            try:
                with session.begin_nested():
                    row = ServedForecast(
                        model_name=served.model,
                        version=served.version,
                        series_id=served.series_id,
                        field=served.field,
                        as_of=served.as_of,
                        horizon=served.horizon,
                        levels=_levels_key(served.levels),
                        base_value=served.base_value,
                        first_served_at=serving.first_at,
                        last_served_at=serving.last_at,
                        served_count=serving.count,
                    )
                    session.add(row)
                    session.flush()
                    session.execute(insert(LedgerPoint), _points(served, row.id, field_id))
                new_ids.append(row.id)
                continue
            except IntegrityError:  # another process recorded it first: count it there
                row = _existing(session, served)
                if row is None:
                    raise
        row.served_count += serving.count
        row.last_served_at = max(row.last_served_at, serving.last_at)
        row.first_served_at = min(row.first_served_at, serving.first_at)
    if new_ids:
        score(session, forecast_ids=new_ids)
    return new_ids


def score(
    session: Session,
    *,
    series_id: int | None = None,
    forecast_ids: Sequence[int] | None = None,
    rewritten: tuple[datetime, datetime] | None = None,
) -> None:
    """Settle the points of one series (after an append) or of some forecasts (just recorded)
    whose target dates are observed: ``scored`` with the actual, or ``missing`` when the series
    went past the date without a value. ``rewritten``: a date range whose values were replaced;
    points there are scored again."""
    point = LedgerPoint
    scope = (
        [point.series_id == series_id]
        if series_id is not None
        else [point.forecast_id.in_(forecast_ids or [])]
    )
    unsettled = point.status != PointStatus.SCORED
    if rewritten is not None:
        unsettled = or_(unsettled, point.target_ts.between(*rewritten))
    now = utcnow()
    session.execute(
        update(point)
        .where(
            *scope,
            unsettled,
            point.series_id == Observation.series_id,
            point.field_id == Observation.field_id,
            point.target_ts == Observation.ts,
        )
        .values(actual=Observation.value, status=PointStatus.SCORED, scored_at=now)
        .execution_options(synchronize_session=False)
    )
    last_observed = (
        select(func.max(Observation.ts))
        .where(Observation.series_id == point.series_id, Observation.field_id == point.field_id)
        .scalar_subquery()
    )
    session.execute(
        update(point)
        .where(*scope, point.status == PointStatus.PENDING, point.target_ts < last_observed)
        .values(status=PointStatus.MISSING, scored_at=now)
        .execution_options(synchronize_session=False)
    )


def read_points(
    session: Session,
    model: str,
    *,
    versions: Sequence[int] | None = None,
    series_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Ledger points of a model's served forecasts (columns: :data:`accuracy.COLUMNS`), with
    what each version's holdout promised at each step and its in-sample naive scale."""
    stmt = (
        select(
            LedgerPoint.forecast_id,
            ServedForecast.version,
            ServedForecast.series_id,
            LedgerPoint.step,
            LedgerPoint.target_ts,
            LedgerPoint.status,
            LedgerPoint.value,
            LedgerPoint.actual,
            ServedForecast.base_value,
            LedgerPoint.bounds,
        )  # fmt: skip
        .join(ServedForecast, ServedForecast.id == LedgerPoint.forecast_id)
        .where(ServedForecast.model_name == model)
        .order_by(LedgerPoint.target_ts, LedgerPoint.forecast_id)
    )
    if versions is not None:
        stmt = stmt.where(ServedForecast.version.in_(versions))
    if series_id is not None:
        stmt = stmt.where(ServedForecast.series_id == series_id)
    if start is not None:
        stmt = stmt.where(LedgerPoint.target_ts >= start)
    if end is not None:
        stmt = stmt.where(LedgerPoint.target_ts <= end)
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=COLUMNS[:10])
    frame["status"] = frame["status"].astype(str)
    promised, scale = _promises(session, model, sorted(set(frame["version"])))
    frame["promised_rmse"] = [
        promised.get((v, s)) for v, s in zip(frame["version"], frame["step"], strict=True)
    ]
    frame["scale"] = frame["version"].map(scale)
    return frame


def _promises(
    session: Session, model: str, versions: Sequence[int]
) -> tuple[dict[tuple[int, int], float], dict[int, float]]:
    """Per (version, step): the holdout RMSE at that step (step 1: the one-step RMSE); per
    version: the in-sample naive MAE its MASE was scaled by. Deleted versions have neither."""
    promised: dict[tuple[int, int], float] = {}
    scale: dict[int, float] = {}
    if not versions:
        return promised, scale
    rows = session.execute(
        select(ModelVersion.version, ModelVersion.metrics)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(RegisteredModel.name == model, ModelVersion.version.in_(versions))
    ).all()
    for version, metrics in rows:
        promised[(version, 1)] = metrics.model.rmse
        for h, value in zip(metrics.multi_step.h, metrics.multi_step.model_rmse, strict=True):
            if value is not None and h > 1:
                promised[(version, h)] = value
        if metrics.model.mase:
            scale[version] = metrics.model.mae / metrics.model.mase
    return promised, scale


@dataclass(frozen=True)
class AliasAccuracy:
    """Realized one-step accuracy of the version an alias points at, over its whole ledger."""

    model: str
    alias: str
    version: int
    scored: int
    rmse: float | None
    naive_rmse: float | None
    promised_rmse: float | None


def alias_accuracy(session: Session) -> list[AliasAccuracy]:
    """Per model and alias: realized one-step RMSE, naive's on the same dates and the
    version's holdout one-step RMSE (aggregated in SQL; read at every metrics scrape)."""
    error = LedgerPoint.actual - LedgerPoint.value
    naive = LedgerPoint.actual - ServedForecast.base_value
    rows = session.execute(
        select(
            RegisteredModel.name,
            ModelAlias.alias,
            ModelVersion.version,
            ModelVersion.metrics,
            func.count(LedgerPoint.step),
            func.sum(error * error),
            func.sum(naive * naive),
        )  # fmt: skip
        .join(ModelAlias, ModelAlias.model_id == RegisteredModel.id)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .outerjoin(
            ServedForecast,
            (ServedForecast.model_name == RegisteredModel.name)
            & (ServedForecast.version == ModelVersion.version),
        )
        .outerjoin(
            LedgerPoint,
            (LedgerPoint.forecast_id == ServedForecast.id)
            & (LedgerPoint.step == 1)
            & (LedgerPoint.status == PointStatus.SCORED),
        )
        .group_by(RegisteredModel.name, ModelAlias.alias, ModelVersion.version, ModelVersion.id)
        .order_by(RegisteredModel.name, ModelAlias.alias)
    ).all()
    return [
        AliasAccuracy(
            model=name,
            alias=alias,
            version=version,
            scored=count,
            rmse=math.sqrt(sq / count) if count and sq is not None else None,
            naive_rmse=math.sqrt(naive_sq / count) if count and naive_sq is not None else None,
            promised_rmse=metrics.model.rmse,
        )
        for name, alias, version, metrics, count, sq, naive_sq in rows
    ]


def point_counts(session: Session) -> dict[str, int]:
    """Ledger points by status."""
    counts = dict(
        session.execute(select(LedgerPoint.status, func.count()).group_by(LedgerPoint.status)).all()
    )
    return {status.value: int(counts.get(status, 0)) for status in PointStatus}


def prune(session: Session, *, older_than_days: int) -> int:
    """Delete served forecasts last served before the cutoff (their points go with them)."""
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = session.execute(
        delete(ServedForecast)
        .where(ServedForecast.last_served_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
