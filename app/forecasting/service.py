"""Forecast use cases: which data and which dates for a resolved version, then the numbers.

Forecasts only read: the hot path runs prebuilt Core statements on one connection per request.
An ORM session there cost more than the queries (BENCHMARKS.md: an uncached forecast spent
~0.1 ms of its ~1 ms in session setup and commit).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from app.db.orm import Series, SeriesField
from app.errors import ErrorItem, InvalidRequest, SeriesGone, SeriesNotFound
from app.forecasting.bundle_cache import LoadedBundle
from app.forecasting.served_intervals import ServedIntervals
from app.forecasting.version_lookup import ResolvedVersion
from app.ml.calendar import format_period, next_period_labels, next_periods
from app.ml.transforms import needs_positive
from app.series.observations import read_tail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class History:
    values: np.ndarray
    last_date: pd.Timestamp | None
    series_id: int | None
    # The calendar the next dates follow when it is not the version's own: a series other
    # than the one it was trained on (any series, for a global model). None: the manifest's.
    calendar: tuple[str, str | None] | None = None


def load_history(
    conn: Connection,
    version: ResolvedVersion,
    loaded: LoadedBundle,
    *,
    series_id: int | None = None,
    values: list[float] | None = None,
    as_of: pd.Timestamp | None = None,
) -> History:
    """The last values to forecast from: sent by the client or read from the series (at least
    what the model needs, up to what the intervals measure volatility on)."""
    forecaster = loaded.forecaster
    need = forecaster.history_needed
    history = _client_or_stored_history(
        conn, version, need, loaded.history_wanted, series_id, values, as_of
    )
    non_positive = int((history.values[-need:] <= 0).sum())
    if needs_positive(forecaster.transform) and non_positive:
        raise InvalidRequest(
            f"This model forecasts relative moves ({forecaster.transform}) and needs positive "
            f"values; the last {need} contain {non_positive} value(s) ≤ 0.",
            errors=[ErrorItem(loc="body.values", message="values must be > 0")],
        )
    return history


def _client_or_stored_history(
    conn: Connection,
    version: ResolvedVersion,
    need: int,
    wanted_values: int,
    series_id: int | None,
    values: list[float] | None,
    as_of: pd.Timestamp | None,
) -> History:
    if values is not None:
        if len(values) < need:
            raise InvalidRequest(
                f"values has {len(values)} value(s); this model needs at least {need}.",
                errors=[ErrorItem(loc="body.values", message=f"at least {need} values needed")],
            )
        return History(np.asarray(values[-wanted_values:], dtype=np.float64), as_of, None)
    wanted = series_id if series_id is not None else version.series_id
    if wanted is None and version.scope == "global":
        raise InvalidRequest(
            f"'{version.model}' is a global model: it forecasts any series. Give `series_id` "
            f"(a member or any other series), or send `values` (at least {need}).",
            errors=[ErrorItem(loc="query.series_id", message="required for a global model")],
        )
    if wanted is None:
        raise SeriesGone(
            "This version has no series of its own here (the one it was trained on was "
            "deleted, or it was imported without one): give `series_id`, or send `values` "
            f"(at least {need}) to forecast from your own data."
        )
    history, last_date = read_tail(conn, wanted, version.target, wanted_values)
    if len(history) >= need:
        calendar = None
        if wanted != version.series_id:  # another series' dates follow its own calendar
            found = conn.execute(
                select(Series.frequency, Series.exchange).where(Series.id == wanted)
            ).first()
            calendar = (found[0], found[1]) if found is not None else None
        return History(history, last_date, wanted, calendar)
    with Session(bind=conn) as session:
        series = session.get(Series, wanted)
        fields = {f.name for f in series.fields} if series is not None else set()
    if series is None:
        if series_id is not None:
            raise SeriesNotFound(f"No series with id {series_id}.")
        raise SeriesGone(
            f"The series this version was trained on (id {version.series_id}) was deleted; "
            f"send `values` (at least {need}) to forecast from your own data."
        )
    if version.target not in fields:
        raise InvalidRequest(f"Series {series.id} has no field '{version.target}'.")
    raise InvalidRequest(
        f"Series {series.id} has {len(history)} observation(s); this model needs {need}."
    )


def require_series_field(
    conn: Connection, series_id: int, field: str, as_of: datetime | None
) -> None:
    """A forecast from client values tied to a stored series (``record_for_series``) is scored
    against that series' ``field``: both must exist, and ``as_of`` may not lie before the
    series' last date (a forecast of dates already known would be scored with hindsight)."""
    found = conn.execute(
        select(SeriesField.id, Series.last_date)
        .join(Series, Series.id == SeriesField.series_id)
        .where(SeriesField.series_id == series_id, SeriesField.name == field)
    ).first()
    if found is not None:
        last = found[1]
        if as_of is not None and pd.Timestamp(as_of).tz_localize(None) < pd.Timestamp(last):
            raise InvalidRequest(
                f"as_of {as_of.date()} is before series {series_id}'s last date "
                f"{last.date()}: a forecast of dates already known cannot be kept in the ledger.",
                errors=[ErrorItem(loc="body.as_of", message="before the series' last date")],
            )
        return
    if conn.execute(select(Series.id).where(Series.id == series_id)).first() is None:
        raise SeriesNotFound(
            f"No series with id {series_id}.",
            errors=[ErrorItem(loc="body.record_for_series", message="unknown series")],
        )
    raise InvalidRequest(
        f"Series {series_id} has no field '{field}' to score this forecast against.",
        errors=[ErrorItem(loc="body.record_for_series", message=f"no field '{field}'")],
    )


def forecast(
    loaded: LoadedBundle,
    version: ResolvedVersion,
    history: History,
    *,
    horizon: int,
    levels: Sequence[int],
    intervals: ServedIntervals,
) -> dict[str, Any]:
    """The forecast as a JSON-ready dict in the shape of :class:`ForecastResponse` (built
    directly: this is the hot path of every dashboard refresh)."""
    point = loaded.forecaster.recursive(history.values[None, :], horizon)[0]
    return assemble(
        loaded, version, history, point, horizon=horizon, levels=levels, intervals=intervals
    )


def assemble(
    loaded: LoadedBundle,
    version: ResolvedVersion,
    history: History,
    point: np.ndarray,
    *,
    horizon: int,
    levels: Sequence[int],
    intervals: ServedIntervals,
    bounds_by_level: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Dates and intervals around one history's point forecast: ``intervals``, the version's
    as the ledger adapted them (``bounds_by_level``: the bounds when they were computed for
    many forecasts at once)."""
    if not np.isfinite(point).all():  # e.g. values so large that exp() overflows
        raise InvalidRequest("The forecast is not a finite number for these values.")
    frequency, exchange = history.calendar or (loaded.manifest.frequency, loaded.manifest.exchange)
    frequency = frequency or "irregular"
    labels = (
        next_period_labels(history.last_date, frequency, exchange, horizon)
        if history.last_date is not None
        else None
    )
    if loaded.intervals.needs_positive and (point <= 0).any():
        raise InvalidRequest(
            "This version's intervals are relative to the forecast (log ratios) and need a "
            "positive forecast; for these values it is not positive."
        )
    if bounds_by_level is None:
        with np.errstate(over="ignore"):  # an overflow is caught just below
            bounds_by_level = intervals.intervals.bands(point, levels, history.values[None, :])
    bounds = [(level, *bounds_by_level[level]) for level in levels]
    if not all(np.isfinite(lo).all() and np.isfinite(hi).all() for _, lo, hi in bounds):
        raise InvalidRequest("The forecast intervals are not finite numbers for these values.")
    points = []
    for step in range(horizon):
        row: dict[str, Any] = {
            "step": step + 1,
            "date": labels[step] if labels is not None else None,
            "value": float(point[step]),
        }
        for level, lo, hi in bounds:
            row[f"lo_{level}"] = float(lo[step])
            row[f"hi_{level}"] = float(hi[step])
        points.append(row)
    return {
        "model": version.model,
        "version": version.version,
        "series_id": history.series_id,
        "field": version.target,
        "as_of": format_period(history.last_date) if history.last_date is not None else None,
        "horizon": horizon,
        "strategy": loaded.manifest.strategy,
        "frequency": frequency,
        "levels": levels,
        "points": points,
        "intervals": intervals.describe(levels, horizon),
    }


def warm_calendars(session: Session) -> None:
    """Build the exchange calendars forecasts will need (the first build takes ~0.1 s each),
    so that no client request pays for it."""
    rows = session.execute(
        select(Series.last_date, Series.frequency, Series.exchange).where(
            Series.exchange.is_not(None)
        )
    ).all()
    for last, frequency, exchange in rows:
        next_periods(pd.Timestamp(last), frequency, exchange, 1)
