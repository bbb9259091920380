"""Dependencies of the forecast routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.config import Settings
from app.db.session import Database
from app.deps import app_state
from app.forecasting.bundle_cache import BundleCache
from app.forecasting.response_cache import ResponseCache
from app.forecasting.served_forecast import ForecastRecorder

# Given the seconds a computed forecast took (main wires it to the latency histogram).
LatencyObserver = Callable[[float], None]


@dataclass(frozen=True)
class Forecasting:
    """What the forecast routes are handed, built once by main: one dependency rather than
    six on the hot path (each costs its share of an uncached forecast, BENCHMARKS.md)."""

    db: Database
    settings: Settings
    bundles: BundleCache
    responses: ResponseCache
    observe: LatencyObserver
    record: ForecastRecorder


ForecastingDep = Annotated[Forecasting, Depends(app_state("forecasting"))]
