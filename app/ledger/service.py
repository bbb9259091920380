"""Ledger use cases on the caller's session: keep served forecasts (their points' states are
:mod:`app.ledger.points`'), read them back for accuracy, prune."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Subquery, case, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.orm import (
    LedgerPoint,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    Series,
    SeriesField,
    ServedForecast,
)
from app.db.session import savepoint
from app.db.types import utcnow
from app.forecasting.served_forecast import ForecastServed
from app.ledger import points
from app.vocabulary import PointStatus

log = logging.getLogger(__name__)


@dataclass
class Serving:
    """One served forecast and how often it was served since the last write."""

    served: ForecastServed
    count: int
    first_at: datetime
    last_at: datetime


def _key(served: ForecastServed) -> dict[str, Any]:
    """The columns that make a served forecast the same one (:attr:`ForecastServed.key`)."""
    levels = ",".join(str(level) for level in served.levels)
    fields = ("version", "series_id", "field", "as_of", "horizon")
    return {"model_name": served.model, "levels": levels, **{f: getattr(served, f) for f in fields}}


def _existing(session: Session, served: ForecastServed) -> ServedForecast | None:
    return session.scalar(select(ServedForecast).filter_by(**_key(served)))


def write(session: Session, servings: Iterable[Serving]) -> list[int]:
    """Record forecasts served since the last write: new ones with their points, seen ones
    counted again. Returns the ids of the new ones (already scored against what is stored:
    a forecast of dates already observed is settled at once)."""
    new_ids: list[int] = []
    field_ids: dict[tuple[int, str], int | None] = {}
    for serving in sorted(servings, key=lambda s: s.served.key):  # one lock order everywhere
        served = serving.served
        row = _existing(session, served)
        if row is None:
            key = (served.series_id, served.field)
            if key not in field_ids:
                # Wait for an append to this series in flight (it holds the row FOR UPDATE) so
                # that scoring below sees its observations (PostgreSQL; SQLite writes one at a
                # time anyway).
                session.execute(
                    select(Series.id)
                    .where(Series.id == served.series_id)
                    .with_for_update(read=True)
                )
                field_ids[key] = session.scalar(
                    select(SeriesField.id).where(
                        SeriesField.series_id == served.series_id, SeriesField.name == served.field
                    )
                )
            field_id = field_ids[key]
            if field_id is None:  # the series was deleted since: nothing to score against
                continue
            try:
                with savepoint(session):
                    row = ServedForecast(
                        **_key(served),
                        base_value=served.base_value,
                        first_served_at=serving.first_at,
                        last_served_at=serving.last_at,
                        served_count=serving.count,
                    )
                    session.add(row)
                    session.flush()
                    points.record(session, served, row.id, field_id)
                new_ids.append(row.id)
                continue
            except IntegrityError:  # another process recorded it first: count it there
                row = _existing(session, served)
                if row is None:
                    raise
        # One statement: several API processes may count the same forecast at once.
        session.execute(
            update(ServedForecast)
            .where(ServedForecast.id == row.id)
            .values(
                served_count=ServedForecast.served_count + serving.count,
                last_served_at=case(
                    (ServedForecast.last_served_at < serving.last_at, serving.last_at),
                    else_=ServedForecast.last_served_at,
                ),
                first_served_at=case(
                    (ServedForecast.first_served_at > serving.first_at, serving.first_at),
                    else_=ServedForecast.first_served_at,
                ),
            )
            .execution_options(synchronize_session=False)
        )
    if new_ids:
        points.score(session, forecast_ids=new_ids)
    return new_ids


def read_points(
    session: Session,
    model: str,
    *,
    versions: Sequence[int] | None = None,
    series_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Ledger points of a model's served forecasts (the columns :mod:`app.ledger.accuracy`
    reads), with what each version's holdout promised at each step and its in-sample naive
    scale.

    A point is counted once: the same origin served with another horizon or other levels has
    the same step values (one is kept, the one with the most interval levels)."""
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
            ServedForecast.as_of,
        )
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
    frame = pd.DataFrame(rows, columns=[c.name for c in stmt.selected_columns])
    frame = frame.rename(columns={"target_ts": "target"})
    frame["status"] = frame["status"].astype(str)
    frame["levels"] = frame["bounds"].map(len)
    frame = (
        frame.sort_values(["levels", "forecast_id"], ascending=[False, True], kind="stable")
        .drop_duplicates(["version", "series_id", "as_of", "step"])
        .sort_values(["target", "forecast_id"], kind="stable")
        .drop(columns=["levels", "as_of"])
        .reset_index(drop=True)
    )
    promised, scale, trained_on = _promises(session, model, sorted(set(frame["version"])))
    frame["promised_rmse"] = [
        promised.get((v, None, s), promised.get((v, series, s)))
        for v, series, s in zip(frame["version"], frame["series_id"], frame["step"], strict=True)
    ]
    # MASE only where the version's in-sample scale applies: its own training series.
    frame["scale"] = [
        scale.get(v) if trained_on.get(v) == series else None
        for v, series in zip(frame["version"], frame["series_id"], strict=True)
    ]
    return frame


def _promises(
    session: Session, model: str, versions: Sequence[int]
) -> tuple[dict[tuple[int, int | None, int], float], dict[int, float], dict[int, int | None]]:
    """Per (version, series, step): the holdout RMSE at that step (step 1: the one-step RMSE;
    series None: whatever series it forecast). A global version promises, for each member, that
    member's own one-step holdout RMSE (its pooled RMSE, in price units across members, says
    nothing about one series) and nothing for other series or steps. Per version: the in-sample
    naive MAE its MASE was scaled by, and the series it was trained on. Deleted versions have
    none of these."""
    promised: dict[tuple[int, int | None, int], float] = {}
    scale: dict[int, float] = {}
    trained_on: dict[int, int | None] = {}
    if not versions:
        return promised, scale, trained_on
    rows = session.execute(
        select(
            ModelVersion.version,
            ModelVersion.metrics,
            ModelVersion.series_id,
            ModelVersion.scope,
            ModelVersion.members,
        )  # fmt: skip
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(RegisteredModel.name == model, ModelVersion.version.in_(versions))
    ).all()
    for version, metrics, series_id, scope, members in rows:
        trained_on[version] = series_id
        if scope == "global":
            for member in members or []:
                if member.rmse is not None:
                    promised[(version, member.series_id, 1)] = member.rmse
            continue
        promised[(version, None, 1)] = metrics.model.rmse
        for h, value in zip(metrics.multi_step.h, metrics.multi_step.model_rmse, strict=True):
            if value is not None and h > 1:
                promised[(version, None, h)] = value
        if metrics.model.mase:
            scale[version] = metrics.model.mae / metrics.model.mase
    return promised, scale, trained_on


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

    @property
    def to_naive(self) -> float | None:
        """rmse / naive_rmse (None until something is scored)."""
        return self.rmse / self.naive_rmse if self.rmse is not None and self.naive_rmse else None

    @property
    def to_promised(self) -> float | None:
        """rmse / promised_rmse."""
        if self.rmse is None or not self.promised_rmse:
            return None
        return self.rmse / self.promised_rmse


def scored_once(*where: ColumnElement[bool]) -> Subquery:
    """Scored points, each counted once: the same origin (version, series, field, as-of date)
    served with another horizon or other levels repeats the same step values."""
    return (
        select(
            ServedForecast.model_name.label("model"),
            ServedForecast.version.label("version"),
            func.min(LedgerPoint.value).label("value"),
            func.min(LedgerPoint.actual).label("actual"),
            func.min(ServedForecast.base_value).label("base"),
        )
        .join(ServedForecast, ServedForecast.id == LedgerPoint.forecast_id)
        .where(LedgerPoint.status == PointStatus.SCORED, *where)
        .group_by(
            ServedForecast.model_name,
            ServedForecast.version,
            ServedForecast.series_id,
            ServedForecast.field,
            ServedForecast.as_of,
            LedgerPoint.step,
        )  # fmt: skip
        .subquery()
    )


def squared_errors(points: Subquery) -> tuple[ColumnElement[Any], ...]:
    """count, Σ(actual − forecast)², Σ(actual − naive)² over :func:`scored_once` points."""
    error = points.c.actual - points.c.value
    naive = points.c.actual - points.c.base
    return func.count(points.c.value), func.sum(error * error), func.sum(naive * naive)


def alias_accuracy(session: Session, *models: ColumnElement[bool]) -> list[AliasAccuracy]:
    """Per model and alias: realized one-step RMSE, naive's on the same dates and the
    version's holdout one-step RMSE (aggregated in SQL over the aliased versions' points only;
    read at every metrics scrape); ``models``: conditions on ``RegisteredModel`` to keep."""
    aliased = (
        select(RegisteredModel.name, ModelVersion.version)
        .join(ModelAlias, ModelAlias.model_id == RegisteredModel.id)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .where(*models)
    )
    points = scored_once(
        LedgerPoint.step == 1,
        tuple_(ServedForecast.model_name, ServedForecast.version).in_(aliased),
    )
    rows = session.execute(
        select(
            RegisteredModel.name,
            ModelAlias.alias,
            ModelVersion.version,
            ModelVersion.metrics,
            *squared_errors(points),
        )  # fmt: skip
        .join(ModelAlias, ModelAlias.model_id == RegisteredModel.id)
        .join(ModelVersion, ModelVersion.id == ModelAlias.version_id)
        .outerjoin(
            points,
            (points.c.model == RegisteredModel.name) & (points.c.version == ModelVersion.version),
        )
        .where(*models)
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
