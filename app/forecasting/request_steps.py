"""One forecast request from resolution to what the ledger keeps, in the steps a batch shares:
:func:`prepare` (check, resolve the version, load its bundle, read the history), the network
call (alone, or one for many), then :func:`served_of`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection

from app.config import Settings
from app.errors import ErrorItem, InvalidRequest
from app.forecasting import service
from app.forecasting.bundle_cache import BundleCache, LoadedBundle
from app.forecasting.schemas import ForecastRequest
from app.forecasting.served_forecast import ForecastServed, served_forecast
from app.forecasting.served_intervals import ServedIntervals
from app.forecasting.service import History
from app.forecasting.version_lookup import ResolvedVersion, resolve_version


@dataclass(frozen=True)
class Prepared:
    request: ForecastRequest
    version: ResolvedVersion
    loaded: LoadedBundle
    history: History
    intervals: ServedIntervals


Resolver = Callable[[Connection, str, int | None, str | None], ResolvedVersion]


def _resolve(
    conn: Connection, model: str, version: int | None, alias: str | None
) -> ResolvedVersion:
    return resolve_version(conn, model, version=version, alias=alias)


def prepare(
    request: ForecastRequest,
    conn: Connection,
    settings: Settings,
    cache: BundleCache,
    resolve: Resolver = _resolve,
    *,
    load: bool = True,
) -> Prepared:
    """``load``: as in :meth:`BundleCache.get` (False: :class:`NotLoaded` rather than load)."""
    if request.horizon > settings.max_horizon:
        raise InvalidRequest(
            f"horizon {request.horizon} is over the maximum of {settings.max_horizon} "
            "(FORECAST_MAX_HORIZON).",
            errors=[ErrorItem(loc="horizon", message=f"at most {settings.max_horizon}")],
        )
    version = resolve(conn, request.model, request.version, request.alias)
    if request.record_for_series is not None:
        service.require_series_field(conn, request.record_for_series, version.target, request.as_of)
    loaded = cache.get(conn, version, load=load)
    history = service.load_history(
        conn,
        version,
        loaded,
        series_id=request.series_id,
        values=request.values,
        as_of=pd.Timestamp(request.as_of).tz_localize(None) if request.as_of else None,
    )
    intervals = cache.served_intervals(conn, version, loaded)
    return Prepared(request, version, loaded, history, intervals)


def served_of(prepared: Prepared, result: dict[str, Any]) -> ForecastServed | None:
    """What the ledger keeps of a computed forecast (None: nothing to score it against)."""
    request, history = prepared.request, prepared.history
    served = served_forecast(
        result,
        series_id=history.series_id if request.values is None else request.record_for_series,
        as_of=history.last_date,
        base_value=float(history.values[-1]),
    )
    if request.record_for_series is not None and served is None:
        raise InvalidRequest(
            "This version's forecasts have no dates (irregular frequency), so they cannot be "
            "scored against a series: leave out record_for_series.",
            errors=[ErrorItem(loc="body.record_for_series", message="forecast has no dates")],
        )
    return served
