"""Forecasts for clients and dashboards, and accuracy reports with plots."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import Connection
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.deps import IMAGE_MEDIA_TYPES, ImageEndpoint, SessionDep, add_image_routes, is_head_probe
from app.errors import InvalidRequest, SeriesGone
from app.forecasting import service
from app.forecasting.bundle_cache import BundleCache, NotLoaded
from app.forecasting.deps import Forecasting, ForecastingDep, LatencyObserver
from app.forecasting.long_format import CSV_CONTENT, csv_response, long_format_csv, unique_id
from app.forecasting.report import backtest_summary, compare, report_csv, version_report
from app.forecasting.report_plots import render_report
from app.forecasting.request_steps import prepare, served_of
from app.forecasting.response_cache import CachedResponse
from app.forecasting.schemas import (
    DEFAULT_LEVELS,
    Comparison,
    ForecastQuery,
    ForecastRequest,
    ForecastResponse,
    VersionReport,
)
from app.forecasting.served_forecast import ForecastServed
from app.forecasting.version_lookup import resolve_version
from app.registry import service as registry
from app.vocabulary import FormatQuery, ImageFormat, NamePath, OutputFormat, VersionPath

T = TypeVar("T")
router = APIRouter(tags=["forecasts"])
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model, version or alias."}
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CSV_CONTENT,
    **_NOT_FOUND,
    409: {"description": "The training series was deleted: send `values`."},
    422: {"description": "Horizon out of range, too few values, NaN values, unknown level."},
    503: {"description": "The version's files are missing or corrupt."},
}


def _forecast(
    request: ForecastRequest,
    conn: Connection,
    settings: Settings,
    cache: BundleCache,
    observe: LatencyObserver | None = None,
    *,
    load: bool = True,
) -> tuple[dict[str, Any], ForecastServed | None]:
    """Resolve, load (unless ``load`` is False: then :class:`NotLoaded` for a version not
    loaded yet), read, forecast (timed when it succeeds); with what the ledger keeps."""
    started = time.perf_counter()
    prepared = prepare(request, conn, settings, cache, load=load)
    result = service.forecast(
        prepared.loaded,
        prepared.version,
        prepared.history,
        horizon=request.horizon,
        levels=request.level,
        intervals=prepared.intervals,
    )
    if observe is not None:
        observe(time.perf_counter() - started)
    return result, served_of(prepared, result)


async def _computed(forecasting: Forecasting, compute: Callable[[bool], T]) -> T:
    """``compute(load)`` where it is fastest (wrk, 16 connections, one process, BENCHMARKS.md):
    on SQLite, two local-file reads of microseconds, on the event loop (a threadpool hop cut
    throughput to 0.7x), unless the version must be loaded first (files fetched and checked,
    ONNX session built: ~10 ms, or a download): that, like everything on PostgreSQL (network
    round trips), runs in the threadpool, so that it never stalls the other requests."""
    if forecasting.db.backend == "sqlite":
        try:
            return compute(False)
        except NotLoaded:
            pass
    return await run_in_threadpool(compute, True)


def _forecast_now(
    request: ForecastRequest, forecasting: Forecasting, load: bool
) -> tuple[dict[str, Any], ForecastServed | None]:
    with forecasting.db.engine.connect() as conn:
        return _forecast(
            request, conn, forecasting.settings, forecasting.bundles, forecasting.observe,
            load=load,
        )  # fmt: skip


@router.post(
    "/v1/forecast",
    response_model=ForecastResponse,
    summary="Forecast the next periods with prediction intervals",
    responses=_RESPONSES,
)
async def post_forecast(
    body: ForecastRequest,
    forecasting: ForecastingDep,
    format: FormatQuery = "json",  # noqa: A002
) -> Response:
    """Recursive multi-step forecast from the version's series as it is now (days appended
    after training are used, no retraining needed), another series, or sent `values`. Kept in
    the ledger when it comes from a stored series (or `record_for_series`). `format=csv`:
    Nixtla's long format (`unique_id, ds, <model>, <model>-lo-80 …`)."""
    result, served = await _computed(forecasting, partial(_forecast_now, body, forecasting))
    if served is not None:
        forecasting.record(served)
    if format == "csv":
        return _one_csv(result)
    return JSONResponse(result)


def _one_csv(result: dict[str, Any]) -> Response:
    content = long_format_csv([(unique_id(result), result)], result["model"])
    return csv_response(content, f"{result['model']}-v{result['version']}-forecast.csv")


def _cached_forecast(body: ForecastRequest, forecasting: Forecasting, load: bool) -> CachedResponse:
    result, served = _forecast_now(body, forecasting, load)
    content = json.dumps(result).encode()
    return f'"{hashlib.sha256(content).hexdigest()[:32]}"', content, served


@router.get(
    "/v1/forecast",
    response_model=ForecastResponse,
    summary="Forecast for dashboards (cacheable: ETag + If-None-Match → 304)",
    responses={**_RESPONSES, 304: {"description": "Not modified since the given ETag."}},
)
async def get_forecast(
    request: Request,
    query: Annotated[ForecastQuery, Query()],
    forecasting: ForecastingDep,
    format: FormatQuery = "json",  # noqa: A002
) -> Response:
    """The same forecast as `POST /v1/forecast` from a stored series (give `version` or
    `alias`, not both). Identical requests within `FORECAST_FORECAST_CACHE_S` share one
    computed response."""
    levels = query.level or DEFAULT_LEVELS
    key = (query.model, query.version, query.alias, query.series_id, query.horizon,
           tuple(sorted(set(levels))))  # fmt: skip
    responses = forecasting.responses
    cached = responses.get(key)  # async route: a cached answer never leaves the event loop
    if cached is None:
        generation = responses.generation()
        try:
            body = ForecastRequest.model_validate({**query.model_dump(), "level": levels})
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from exc
        cached = await _computed(forecasting, partial(_cached_forecast, body, forecasting))
        responses.put(key, generation, cached)
    etag, content, served = cached
    if served is not None and not is_head_probe(request):  # a probe is not a forecast
        forecasting.record(served)
    if format == "csv":  # another representation of the same forecast: its own tag
        etag = f'{etag[:-1]}-csv"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=60"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if format == "csv":
        csv = _one_csv(json.loads(content))
        csv.headers.update(headers)
        return csv
    return Response(content, media_type="application/json", headers=headers)


@router.get(
    "/v1/models/{name}/versions/{version}/report",
    response_model=VersionReport,
    summary="Accuracy report next to the naive and drift baselines (JSON or CSV)",
    responses={**_NOT_FOUND, 200: {"content": {"text/csv": {}}}},
)
def get_report(
    name: NamePath,
    version: VersionPath,
    session: SessionDep,
    format: OutputFormat = "json",  # noqa: A002
) -> Response:
    """The holdout evaluation (one-step metrics, RMSE per step, interval coverage) and the
    latest backtest. `format=csv`: tidy rows of section, forecaster, h, metric, value."""
    found = registry.get_ready_version(session, name, version)
    report = version_report(found, registry.latest_backtest(session, found))
    if format == "csv":
        return Response(report_csv(report), media_type="text/csv")
    return JSONResponse(report.model_dump(mode="json"))


def _plot(
    image_format: ImageFormat, name: str, version: int, session: Session, forecasting: Forecasting
) -> Response:
    found = registry.get_ready_version(session, name, version)
    if found.scope == "global":
        raise InvalidRequest(
            f"Version {version} of '{name}' is a global model: its holdout is per member series "
            f"(GET /v1/models/{name}/versions/{version}/members); no single plot is drawn."
        )
    conn, settings, cache = session.connection(), forecasting.settings, forecasting.bundles
    loaded = cache.get(conn, resolve_version(conn, name, version=version, alias=None))
    try:  # drawn in the plot, not served as a forecast: not recorded in the ledger
        forecast, _ = _forecast(
            ForecastRequest(model=name, version=version, horizon=min(20, settings.max_horizon)),
            conn,
            settings,
            cache,
        )
    except SeriesGone:
        forecast = None  # the holdout part still tells the story
    holdout = loaded.evaluation.holdout
    backtest = registry.latest_backtest(session, found)
    image = render_report(
        title=f"{name} v{version}: {found.target}",
        field=found.target,
        holdout_dates=holdout.dates,
        actual=holdout.actual,
        predicted=holdout.predicted,
        forecast=forecast,
        backtest=backtest_summary(found, backtest) if backtest is not None else None,
        image_format=image_format,
    )
    return Response(image, media_type=IMAGE_MEDIA_TYPES[image_format])


def _report_plot(image_format: ImageFormat) -> ImageEndpoint:
    def report_plot(
        name: NamePath, version: VersionPath, session: SessionDep, forecasting: ForecastingDep
    ) -> Response:
        return _plot(image_format, name, version, session, forecasting)

    return report_plot


add_image_routes(
    router,
    "/v1/models/{name}/versions/{version}/report",
    _report_plot,
    name="get_report",
    summary="Report plot ({})",
    descriptions={
        "png": "The holdout (actual and one-step forecasts), a 20-step forecast with its "
        "intervals and,\nwhen the version has one, its backtest per fold.",
        "svg": "The same plot as `report.png`, as SVG.",
    },
    responses=_NOT_FOUND,
)


@router.get(
    "/v1/models/{name}/compare",
    response_model=Comparison,
    summary="Versions' metrics side by side",
    responses=_NOT_FOUND,
)
def compare_versions(
    name: NamePath,
    session: SessionDep,
    versions: Annotated[
        str,
        Query(
            pattern=r"^[1-9][0-9]{0,8}(,[1-9][0-9]{0,8})*$",
            examples=["1,2"],
            description="Version numbers, comma-separated.",
        ),
    ],
) -> Comparison:
    numbers = [int(v) for v in versions.split(",")]
    found = [registry.get_ready_version(session, name, n) for n in numbers]
    return Comparison(model=name, versions=compare(found))
