"""Dependencies of the forecast routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.forecasting.bundles import BundleCache
from app.forecasting.responses import ResponseCache
from app.forecasting.served import ForecastRecorder

# Given the seconds a computed forecast took (main wires it to the latency histogram).
LatencyObserver = Callable[[float], None]


async def get_bundle_cache(request: Request) -> BundleCache:
    cache: BundleCache = request.app.state.bundles
    return cache


async def get_response_cache(request: Request) -> ResponseCache:
    cache: ResponseCache = request.app.state.forecasts
    return cache


async def get_latency_observer(request: Request) -> LatencyObserver:
    observe: LatencyObserver = request.app.state.observe_forecast_latency
    return observe


async def get_recorder(request: Request) -> ForecastRecorder:
    record: ForecastRecorder = request.app.state.record_forecast
    return record


BundleCacheDep = Annotated[BundleCache, Depends(get_bundle_cache)]
ResponseCacheDep = Annotated[ResponseCache, Depends(get_response_cache)]
LatencyDep = Annotated[LatencyObserver, Depends(get_latency_observer)]
RecorderDep = Annotated[ForecastRecorder, Depends(get_recorder)]
