"""The ledger point state machine, one function per transition, on the caller's session.
Nothing else writes ``ledger_point.status``.

A served forecast's points are recorded ``pending`` (:func:`record`) and settled by
:func:`score`: ``scored`` once an observation of the target date exists (scored again when it
is replaced), ``missing`` once the series went past the date without a value (a holiday, a gap;
never scored as zero), or when the series is deleted (:func:`settle_deleted_series`).

Scoring is set-based SQL (one join on the observation table's primary key), so an append that
settles a million points costs a couple of statements, not a loop. The versions whose points were
scored get their interval adaptation recomputed before the transaction commits
(:func:`app.ledger.adaptation_store.refresh_later`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from app.db.orm import LedgerPoint, Observation
from app.db.types import utcnow
from app.forecasting.served_forecast import ForecastServed
from app.ledger import adaptation_store
from app.vocabulary import PointStatus


def record(session: Session, served: ForecastServed, forecast_id: int, field_id: int) -> None:
    """A served forecast's points, ``pending``."""
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
    session.execute(insert(LedgerPoint), rows)


def score(
    session: Session,
    *,
    series_id: int | None = None,
    dates: tuple[datetime, datetime] | None = None,
    forecast_ids: Sequence[int] | None = None,
) -> None:
    """Settle ledger points against the observations: those of one series whose target dates
    lie in ``dates`` (after an append of those dates; scored again if already scored, so
    replaced values count), or those of some forecasts (just recorded: their dates may be
    stored already). A point whose date the series went past without a value is ``missing``;
    a value arriving later for that date scores it after all. The versions of the points scored
    get their interval adaptation recomputed before the transaction commits."""
    point = LedgerPoint
    if series_id is not None:
        assert dates is not None
        scope = [point.series_id == series_id, point.target_ts.between(*dates)]
        unsettled = [point.series_id == series_id]
    else:
        scope = [point.forecast_id.in_(forecast_ids or [])]
        unsettled = scope
    now = utcnow()
    session.execute(
        update(point)
        .where(
            *scope,
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
        .where(*unsettled, point.status == PointStatus.PENDING, point.target_ts < last_observed)
        .values(status=PointStatus.MISSING, scored_at=now)
        .execution_options(synchronize_session=False)
    )
    adaptation_store.refresh_later(session, scope)


def settle_deleted_series(session: Session, series_id: int) -> None:
    """A deleted series' pending points can never be observed: they become ``missing``."""
    session.execute(
        update(LedgerPoint)
        .where(LedgerPoint.series_id == series_id, LedgerPoint.status == PointStatus.PENDING)
        .values(status=PointStatus.MISSING, scored_at=utcnow())
        .execution_options(synchronize_session=False)
    )
