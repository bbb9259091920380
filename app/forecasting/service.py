"""Forecast use cases: which version, which data, which dates; then the numbers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.orm import ModelAlias, ModelVersion, Series
from app.errors import AliasNotFound, Conflict, ErrorItem, InvalidRequest, VersionNotFound
from app.forecasting.cache import LoadedBundle
from app.forecasting.schemas import ForecastPoint, ForecastResponse
from app.ml.calendar import next_periods
from app.registry import service as registry
from app.series.observations import read_tail
from app.series.quality import format_period

DEFAULT_ALIAS = "champion"


class SeriesGone(Conflict):
    slug = "series-deleted"
    title = "Training series deleted"


@dataclass(frozen=True)
class History:
    values: np.ndarray
    last_date: pd.Timestamp | None
    series_id: int | None


def resolve_version(
    session: Session, name: str, *, version: int | None, alias: str | None
) -> ModelVersion:
    """An explicit version, else the alias, else ``champion``, else the latest ready version."""
    model = registry.get_model(session, name)
    if version is not None:
        found = registry.get_version(session, name, version)
        registry.require_ready(found)
        return found
    wanted = alias or DEFAULT_ALIAS
    target = session.scalar(
        select(ModelVersion)
        .join(ModelAlias, ModelAlias.version_id == ModelVersion.id)
        .where(ModelAlias.model_id == model.id, ModelAlias.alias == wanted)
    )
    if target is not None:
        return target
    if alias is not None:
        raise AliasNotFound(f"Model '{name}' has no alias '{alias}'.")
    latest = registry.latest_version(session, model)
    if latest is None:
        raise VersionNotFound(f"Model '{name}' has no ready version yet.")
    return latest


def load_history(
    session: Session,
    version: ModelVersion,
    need: int,
    *,
    series_id: int | None = None,
    values: list[float] | None = None,
    as_of: pd.Timestamp | None = None,
) -> History:
    """The last ``need`` values to forecast from: sent by the client or read from the series."""
    if values is not None:
        if len(values) < need:
            raise InvalidRequest(
                f"values has {len(values)} value(s); this model needs at least {need}.",
                errors=[ErrorItem(loc="body.values", message=f"at least {need} values needed")],
            )
        return History(np.asarray(values[-need:], dtype=np.float64), as_of, None)
    wanted = series_id if series_id is not None else version.series_id
    series = session.get(Series, wanted) if wanted is not None else None
    if series is None:
        if series_id is not None:
            raise InvalidRequest(f"No series with id {series_id}.")
        raise SeriesGone(
            f"The series this version was trained on (id {version.series_id}) was deleted; "
            f"send `values` (at least {need}) to forecast from your own data."
        )
    field = next((f for f in series.fields if f.name == version.target), None)
    if field is None:
        raise InvalidRequest(f"Series {series.id} has no field '{version.target}'.")
    dates, history = read_tail(session, series.id, field.id, need)
    if len(history) < need:
        raise InvalidRequest(
            f"Series {series.id} has {len(history)} observation(s); this model needs {need}."
        )
    return History(history, dates[-1], series.id)


def forecast(
    loaded: LoadedBundle,
    version: ModelVersion,
    history: History,
    *,
    horizon: int,
    levels: list[int],
) -> ForecastResponse:
    point = loaded.forecaster.recursive(history.values[None, :], horizon)[0]
    frequency = str(loaded.manifest.get("frequency") or "irregular")
    dates = (
        next_periods(history.last_date, frequency, loaded.manifest.get("exchange"), horizon)
        if history.last_date is not None
        else None
    )
    bounds = {level: loaded.intervals.bounds(point, level) for level in levels}
    points = []
    for step in range(horizon):
        row: dict[str, object] = {
            "step": step + 1,
            "date": format_period(dates[step]) if dates is not None else None,
            "value": float(point[step]),
        }
        for level, (lo, hi) in bounds.items():
            row[f"lo_{level}"] = float(lo[step])
            row[f"hi_{level}"] = float(hi[step])
        points.append(ForecastPoint.model_validate(row))
    return ForecastResponse(
        model=version.model.name,
        version=version.version,
        series_id=history.series_id,
        field=version.target,
        as_of=format_period(history.last_date) if history.last_date is not None else None,
        horizon=horizon,
        frequency=frequency,
        levels=levels,
        points=points,
    )
