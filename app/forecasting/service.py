"""Forecast use cases: which version, which data, which dates; then the numbers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from app.db.orm import ModelAlias, ModelVersion, RegisteredModel, Series
from app.db.session import Database
from app.errors import AliasNotFound, ErrorItem, InvalidRequest, SeriesGone, VersionNotFound
from app.forecasting.cache import LoadedBundle
from app.ml.calendar import format_period, next_period_labels, next_periods
from app.ml.transforms import needs_positive
from app.registry import service as registry
from app.series.observations import read_tail

log = logging.getLogger(__name__)
DEFAULT_ALIAS = "champion"


@dataclass(frozen=True)
class History:
    values: np.ndarray
    last_date: pd.Timestamp | None
    series_id: int | None


@dataclass(frozen=True)
class ResolvedVersion:
    """The few columns of a version a forecast needs (no JSON parsing on the hot path)."""

    id: int
    model: str
    version: int
    target: str
    series_id: int | None
    created_at: datetime


def resolve_version(
    conn: Connection, name: str, *, version: int | None, alias: str | None
) -> ResolvedVersion:
    """An explicit version, else the alias, else ``champion``, else the latest ready version.

    One query on the hot path; the slower lookups below run only to explain a miss.
    """
    if version is not None:
        stmt, params = _BY_NUMBER, {"name": name, "version": version}
    elif alias is not None:
        stmt, params = _BY_ALIAS, {"name": name, "alias": alias}
    else:
        stmt, params = _DEFAULT, {"name": name, "alias": DEFAULT_ALIAS}
    row = conn.execute(stmt, params).first()
    if row is not None and row.status == "ready":
        return ResolvedVersion(
            id=row.id,
            model=name,
            version=row.version,
            target=row.target,
            series_id=row.series_id,
            created_at=row.created_at,
        )
    _explain_missing_version(Session(bind=conn), name, version=version, alias=alias)


# The three lookups, built once with bound parameters (the forecast hot path).
_VERSION = (
    select(
        ModelVersion.id,
        ModelVersion.version,
        ModelVersion.status,
        ModelVersion.target,
        ModelVersion.series_id,
        ModelVersion.created_at,
    )
    .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
    .where(RegisteredModel.name == bindparam("name"))
    .limit(1)
)
_POINTED = (ModelAlias.version_id == ModelVersion.id) & (ModelAlias.alias == bindparam("alias"))
_BY_NUMBER = _VERSION.where(ModelVersion.version == bindparam("version"))
_BY_ALIAS = _VERSION.join(ModelAlias, _POINTED)
_DEFAULT = (  # champion first, else the highest ready version
    _VERSION.outerjoin(ModelAlias, _POINTED)
    .where(ModelVersion.status == "ready")
    .order_by(ModelAlias.alias.is_(None), ModelVersion.version.desc())
)


def _explain_missing_version(
    session: Session, name: str, *, version: int | None, alias: str | None
) -> NoReturn:
    """Raise the precise 404 or 409 for a version that the fast query did not find."""
    registry.get_model(session, name)
    if version is not None:
        registry.require_ready(registry.get_version(session, name, version))
    elif alias is not None:
        raise AliasNotFound(f"Model '{name}' has no alias '{alias}'.")
    raise VersionNotFound(f"Model '{name}' has no ready version yet.")


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
    if wanted is None:
        raise SeriesGone(
            "The series this version was trained on was deleted; send `values` "
            f"(at least {need}) to forecast from your own data."
        )
    history, last_date = read_tail(conn, wanted, version.target, wanted_values)
    if len(history) >= need:
        return History(history, last_date, wanted)
    series = Session(bind=conn).get(Series, wanted)
    if series is None:
        if series_id is not None:
            raise InvalidRequest(f"No series with id {series_id}.")
        raise SeriesGone(
            f"The series this version was trained on (id {version.series_id}) was deleted; "
            f"send `values` (at least {need}) to forecast from your own data."
        )
    if version.target not in {f.name for f in series.fields}:
        raise InvalidRequest(f"Series {series.id} has no field '{version.target}'.")
    raise InvalidRequest(
        f"Series {series.id} has {len(history)} observation(s); this model needs {need}."
    )


def forecast(
    loaded: LoadedBundle,
    version: ResolvedVersion,
    history: History,
    *,
    horizon: int,
    levels: list[int],
) -> dict[str, Any]:
    """The forecast as a JSON-ready dict in the shape of :class:`ForecastResponse` (built
    directly: this is the hot path of every dashboard refresh)."""
    point = loaded.forecaster.recursive(history.values[None, :], horizon)[0]
    if not np.isfinite(point).all():  # e.g. values so large that exp() overflows
        raise InvalidRequest("The forecast is not a finite number for these values.")
    frequency = str(loaded.manifest.get("frequency") or "irregular")
    labels = (
        next_period_labels(history.last_date, frequency, loaded.manifest.get("exchange"), horizon)
        if history.last_date is not None
        else None
    )
    if loaded.intervals.needs_positive and (point <= 0).any():
        raise InvalidRequest(
            "This version's intervals are relative to the forecast (log ratios) and need a "
            "positive forecast; for these values it is not positive."
        )
    with np.errstate(over="ignore"):  # an overflow is caught just below
        bounds = [
            (level, *loaded.intervals.bounds(point, level, history.values[None, :]))
            for level in levels
        ]
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
        "strategy": "recursive",
        "frequency": frequency,
        "levels": levels,
        "points": points,
    }


def warm_calendars(db: Database) -> None:
    """Build the exchange calendars forecasts will need (the first build takes ~0.1 s each),
    so that no client request pays for it."""
    try:
        with db.session_scope() as session:
            rows = session.execute(
                select(Series.last_date, Series.frequency, Series.exchange).where(
                    Series.exchange.is_not(None)
                )
            ).all()
        for last, frequency, exchange in rows:
            next_periods(pd.Timestamp(last), frequency, exchange, 1)
    except Exception:  # warming is an optimisation; never fail start-up over it
        log.exception("could not warm exchange calendars")
