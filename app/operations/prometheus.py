"""Prometheus metrics, one registry per app (several apps in one process never collide).

- ``http_requests_total{method,route,status}``, ``http_request_duration_seconds{method,route}``:
  observed by :class:`app.operations.middleware.RequestContextMiddleware`, labelled by route
  template (``/v1/series/{series_id}``; ``<unmatched>`` for paths no route knows). Scrapes of
  ``/metrics`` itself are not counted.
- ``forecast_latency_seconds``: time spent computing a forecast (cached responses excluded).
- ``forecast_bundle_cache_hits_total`` / ``…_misses_total`` / ``forecast_bundle_cache_size``
  (summed over the server processes).
- ``forecast_jobs{state}`` and ``forecast_training_duration_seconds`` (first start to finish
  of succeeded jobs): read from the database at scrape time, since jobs run in other processes
  and the database is the truth. Not reported when the database cannot be read.
- The ledger, also read at scrape time: ``forecast_realized_rmse_to_naive{model,alias}`` and
  ``forecast_realized_rmse_to_promised{model,alias}`` (one-step forecasts served by the
  alias's version: realized RMSE over naive's on the same dates, and over the holdout's),
  ``forecast_realized_scored{model,alias}`` and ``forecast_ledger_points{status}``.

Under ``python -m app.serve`` with several server processes (``PROMETHEUS_MULTIPROC_DIR`` set
before they start), the request and cache instruments live in files they share, and a scrape
answered by any of them reports the sum of all (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import (
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Executable, case, func, select

from app.db.orm import TrainingJob
from app.db.session import Database
from app.vocabulary import JobStatus

log = logging.getLogger(__name__)
# No *_created series: they double the output and nobody reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

METRICS_PATH = "/metrics"
TRAINING_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
FORECAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class RealizedAccuracy:
    """One alias's realized one-step accuracy, as the ledger reports it (main adapts it)."""

    model: str
    alias: str
    scored: int
    to_naive: float | None
    to_promised: float | None


@dataclass(frozen=True)
class LedgerReading:
    aliases: list[RealizedAccuracy]
    points: dict[str, int]


class Metrics:
    """The app's registry and the instruments the request path observes."""

    def __init__(self, db: Database, ledger: Callable[[], LedgerReading] | None = None) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by method and route template.",
            ["method", "route"],
            registry=self.registry,
        )
        self.forecast_latency = Histogram(
            "forecast_latency_seconds",
            "Time the API spends computing one forecast (resolve, load, read, predict).",
            buckets=FORECAST_BUCKETS,
            registry=self.registry,
        )
        self.bundle_hits = Counter(
            "forecast_bundle_cache_hits",
            "Forecasts served from an already loaded bundle.",
            registry=self.registry,
        )
        self.bundle_misses = Counter(
            "forecast_bundle_cache_misses",
            "Forecasts that had to load (and verify) a bundle first.",
            registry=self.registry,
        )
        self.bundle_size = Gauge(
            "forecast_bundle_cache_size",
            "Model versions loaded now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._from_database: list[Collector] = [JobCollector(db)]
        if ledger is not None:
            self._from_database.append(LedgerCollector(ledger))
        self._shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if self._shared_dir:
            _forget_dead_processes(self._shared_dir)
        else:
            for collector in self._from_database:
                self.registry.register(collector)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        if route == METRICS_PATH:
            return
        method = method if method in KNOWN_METHODS else "OTHER"
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_duration.labels(method, route).observe(seconds)

    def bundle_lookup(self, hit: bool) -> None:
        (self.bundle_hits if hit else self.bundle_misses).inc()

    def bundles_loaded(self, count: int) -> None:
        self.bundle_size.set(count)

    def render(self) -> bytes:
        if not self._shared_dir:
            return generate_latest(self.registry)
        registry = CollectorRegistry()  # every process's instruments, summed
        multiprocess.MultiProcessCollector(registry, path=self._shared_dir)  # type: ignore[no-untyped-call]
        for collector in self._from_database:
            registry.register(collector)
        return generate_latest(registry)


_LIVE_GAUGE = re.compile(r"^gauge_live\w*?_(\d+)\.db$")


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of server processes that died (the server restarted them), so a
    sum over live processes does not count them."""
    for name in os.listdir(directory):
        found = _LIVE_GAUGE.match(name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass


class JobCollector(Collector):
    """Jobs by state and training durations, counted in the database at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not query the database.
        yield GaugeMetricFamily("forecast_jobs", "", labels=["state"])
        yield HistogramMetricFamily("forecast_training_duration_seconds", "")

    def collect(self) -> Iterable[Metric]:
        try:
            with self.db.engine.connect() as conn:
                counts = dict(
                    conn.execute(
                        select(TrainingJob.status, func.count()).group_by(TrainingJob.status)
                    ).all()
                )
                histogram = conn.execute(_training_histogram(conn.dialect.name)).one()
        except Exception as exc:  # a scrape must not fail because the database blinked
            log.warning("job metrics unavailable: %s", type(exc).__name__)
            return
        jobs = GaugeMetricFamily(
            "forecast_jobs", "Training jobs by state (from the database).", labels=["state"]
        )
        for state in JobStatus:
            jobs.add_metric([state.value], counts.get(state, 0))
        yield jobs
        total, seconds, *cumulative = histogram
        buckets = [
            (str(float(le)), int(n or 0))
            for le, n in zip(TRAINING_BUCKETS, cumulative, strict=True)
        ]
        yield HistogramMetricFamily(
            "forecast_training_duration_seconds",
            "Training time of succeeded jobs, first start to finish (from the database).",
            buckets=[*buckets, ("+Inf", int(total or 0))],
            sum_value=float(seconds or 0.0),
        )


class LedgerCollector(Collector):
    """Realized accuracy per model and alias, and ledger points by status, at scrape time."""

    def __init__(self, read: Callable[[], LedgerReading]) -> None:
        self.read = read

    def describe(self) -> Iterable[Metric]:
        yield GaugeMetricFamily("forecast_realized_rmse_to_naive", "", labels=["model", "alias"])
        yield GaugeMetricFamily("forecast_realized_rmse_to_promised", "", labels=["model", "alias"])
        yield GaugeMetricFamily("forecast_realized_scored", "", labels=["model", "alias"])
        yield GaugeMetricFamily("forecast_ledger_points", "", labels=["status"])

    def collect(self) -> Iterable[Metric]:
        try:
            reading = self.read()
        except Exception as exc:  # a scrape must not fail because the database blinked
            log.warning("ledger metrics unavailable: %s", type(exc).__name__)
            return
        to_naive = GaugeMetricFamily(
            "forecast_realized_rmse_to_naive",
            "Realized one-step RMSE of the alias's version over naive's on the same dates.",
            labels=["model", "alias"],
        )
        to_promised = GaugeMetricFamily(
            "forecast_realized_rmse_to_promised",
            "Realized one-step RMSE of the alias's version over its holdout one-step RMSE.",
            labels=["model", "alias"],
        )
        scored = GaugeMetricFamily(
            "forecast_realized_scored",
            "Scored one-step forecasts of the alias's version.",
            labels=["model", "alias"],
        )
        for row in reading.aliases:
            labels = [row.model, row.alias]
            scored.add_metric(labels, row.scored)
            if row.to_naive is not None:
                to_naive.add_metric(labels, row.to_naive)
            if row.to_promised is not None:
                to_promised.add_metric(labels, row.to_promised)
        points = GaugeMetricFamily(
            "forecast_ledger_points", "Ledger points by status.", labels=["status"]
        )
        for status, count in reading.points.items():
            points.add_metric([status], count)
        yield from (to_naive, to_promised, scored, points)


def _training_histogram(dialect: str) -> Executable:
    """One row: count, sum and cumulative bucket counts of the succeeded jobs' durations,
    aggregated in the database (the job table only grows; scrapes must not read every row)."""
    start, end = TrainingJob.started_at, TrainingJob.finished_at
    span: ColumnElement[Any] = (
        func.extract("epoch", end - start)
        if dialect == "postgresql"
        else (func.julianday(end) - func.julianday(start)) * 86400.0  # SQLite: ISO text
    )
    duration = case((span < 0, 0.0), else_=span)  # clocks of two hosts after a takeover
    return select(
        func.count(),
        func.sum(duration),
        *(func.sum(case((duration <= le, 1), else_=0)) for le in TRAINING_BUCKETS),
    ).where(TrainingJob.status == JobStatus.SUCCEEDED, start.is_not(None), end.is_not(None))


router = APIRouter(tags=["operations"])


@router.get(
    METRICS_PATH,
    summary="Prometheus metrics (text format)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
def metrics(request: Request) -> Response:
    """HTTP, forecast, bundle-cache and job metrics in the Prometheus text format."""
    # Runs in a worker thread: the job metrics query the database.
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
