"""Prometheus metrics, one registry per app (several apps in one process never collide).

Names follow Prometheus' conventions: the unit as a suffix (``_seconds``), ``_ratio`` for a
quotient, ``_total`` for counters, and ``forecast_build_info`` for the build. docs/monitoring.md
says what each is for, and monitoring/ holds the alert rules and Grafana dashboard built on them.

- ``http_requests_total{method,route,status}``, ``http_request_duration_seconds{method,route}``:
  observed by :class:`app.operations.middleware.RequestContextMiddleware`, labelled by route
  template (``/v1/series/{series_id}``; ``<unmatched>`` for paths no route knows). Scrapes of
  ``/metrics`` itself are not counted.
- ``forecast_latency_seconds``: time spent computing a forecast (cached responses excluded).
- ``forecast_bundle_cache_hits_total`` / ``…_misses_total`` and ``forecast_bundle_cache_versions``
  (model versions loaded now), summed over the server processes.
- ``forecast_build_info{version,python_version}``: always 1.
- ``forecast_ready`` (1 when ``/readyz`` would answer 200) and ``forecast_readiness_check{check}``
  (1 per check that passes), run at scrape time with ``/readyz``'s own checks and deadlines.
- ``forecast_jobs{state}``, ``forecast_oldest_queued_job_age_seconds`` (0 when none is queued)
  and ``forecast_training_duration_seconds`` (first start to finish of succeeded jobs): read
  from the database at scrape time, since jobs run in other processes and the database is the
  truth. Not reported when the database cannot be read.
- The ledger, also read at scrape time: ``forecast_realized_rmse_to_naive_ratio{model,alias}``
  and ``forecast_realized_rmse_to_promised_ratio{model,alias}`` (one-step forecasts served by
  the alias's version: realized RMSE over naive's on the same dates, and over the holdout's),
  ``forecast_realized_scored_points{model,alias}``,
  ``forecast_realized_interval_coverage_ratio{model,alias,level}`` and
  ``forecast_realized_interval_points{model,alias,level}`` (the share of the version's latest
  scored one-step points inside the interval served at that level, and how many points that
  is), and ``forecast_ledger_points{status}``.

Under ``python -m app.serve`` with several server processes (``PROMETHEUS_MULTIPROC_DIR`` set
before they start), the request and cache instruments live in files they share, and a scrape
answered by any of them reports the sum of all (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import logging
import os
import platform
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Executable, case, func, select

from app.db.orm import TrainingJob
from app.db.session import Database
from app.db.types import utcnow
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
class RealizedCoverage:
    """How often one alias's version covered the actual at one interval level: of its latest
    ``points`` scored one-step forecasts served with that level, ``covered`` were inside."""

    model: str
    alias: str
    level: int
    points: int
    covered: int


@dataclass(frozen=True)
class LedgerReading:
    aliases: list[RealizedAccuracy]
    points: dict[str, int]
    coverage: list[RealizedCoverage] = field(default_factory=list)


class Metrics:
    """The app's registry and the instruments the request path observes."""

    def __init__(
        self,
        db: Database,
        ledger: Callable[[], LedgerReading] | None = None,
        *,
        version: str = "unknown",
        readiness: Callable[[], dict[str, str]] | None = None,
    ) -> None:
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
            "forecast_bundle_cache_hits_total",
            "Forecasts served from an already loaded bundle.",
            registry=self.registry,
        )
        self.bundle_misses = Counter(
            "forecast_bundle_cache_misses_total",
            "Forecasts that had to load (and verify) a bundle first.",
            registry=self.registry,
        )
        self.bundle_size = Gauge(
            "forecast_bundle_cache_versions",
            "Model versions loaded now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.ledger_write_failures = Counter(
            "forecast_ledger_write_failures_total",
            "Writes of served forecasts to the ledger that failed (kept for the next write).",
            registry=self.registry,
        )
        self.ledger_dropped = Counter(
            "forecast_ledger_dropped_forecasts_total",
            "Served forecasts the ledger did not keep: its memory was full while writes failed.",
            registry=self.registry,
        )
        self.ledger_pending = Gauge(
            "forecast_ledger_pending_forecasts",
            "Served forecasts waiting in memory for the ledger's next write.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        # Read at every scrape by whichever process answers it (never shared through files).
        self._at_scrape: list[Collector] = [BuildCollector(version), JobCollector(db)]
        if readiness is not None:
            self._at_scrape.append(ReadinessCollector(readiness))
        if ledger is not None:
            self._at_scrape.append(LedgerCollector(ledger))
        self._shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if self._shared_dir:
            _forget_dead_processes(self._shared_dir)
        else:
            for collector in self._at_scrape:
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
        for collector in self._at_scrape:
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


class BuildCollector(Collector):
    """``forecast_build_info``: which build answers, as labels of a constant 1."""

    def __init__(self, version: str) -> None:
        self.labels = {"version": version, "python_version": platform.python_version()}

    def collect(self) -> Iterable[Metric]:
        info = InfoMetricFamily("forecast_build", "The service's version and Python's.")
        info.add_metric([], self.labels)
        yield info


class ReadinessCollector(Collector):
    """What ``/readyz`` would answer, checked at scrape time (each check ``ok`` or why not)."""

    def __init__(self, check: Callable[[], dict[str, str]]) -> None:
        self.check = check

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not run the checks.
        yield GaugeMetricFamily("forecast_ready", "")
        yield GaugeMetricFamily("forecast_readiness_check", "", labels=["check"])

    def collect(self) -> Iterable[Metric]:
        try:
            results = self.check()
        except Exception as exc:  # the checks catch their own failures; this is a bug's net
            log.warning("readiness unavailable: %s", type(exc).__name__)
            results = {"readiness": "failed"}
        ready = GaugeMetricFamily(
            "forecast_ready", "1 when /readyz would answer 200 (every check passes), else 0."
        )
        ready.add_metric([], float(all(v == "ok" for v in results.values())))
        checks = GaugeMetricFamily(
            "forecast_readiness_check",
            "1 for each /readyz check that passes (database, migrations, broker, artifact store, "
            "workers), 0 for one that fails.",
            labels=["check"],
        )
        for name, value in sorted(results.items()):
            checks.add_metric([name], float(value == "ok"))
        yield from (ready, checks)


class JobCollector(Collector):
    """Jobs by state, the oldest queued job's wait and training durations, counted in the
    database at scrape time."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not query the database.
        yield GaugeMetricFamily("forecast_jobs", "", labels=["state"])
        yield GaugeMetricFamily("forecast_oldest_queued_job_age_seconds", "")
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
                oldest_queued = conn.execute(
                    select(func.min(TrainingJob.created_at)).where(
                        TrainingJob.status == JobStatus.QUEUED
                    )
                ).scalar_one()  # the (status, created_at) index answers it
        except Exception as exc:  # a scrape must not fail because the database blinked
            log.warning("job metrics unavailable: %s", type(exc).__name__)
            return
        jobs = GaugeMetricFamily(
            "forecast_jobs", "Training jobs by state (from the database).", labels=["state"]
        )
        for state in JobStatus:
            jobs.add_metric([state.value], counts.get(state, 0))
        yield jobs
        waited = GaugeMetricFamily(
            "forecast_oldest_queued_job_age_seconds",
            "Seconds since the oldest queued training job was created (0 when none is queued).",
        )
        age = (utcnow() - oldest_queued).total_seconds() if oldest_queued is not None else 0.0
        waited.add_metric([], max(age, 0.0))
        yield waited
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
        per_alias, per_level = ["model", "alias"], ["model", "alias", "level"]
        yield GaugeMetricFamily("forecast_realized_rmse_to_naive_ratio", "", labels=per_alias)
        yield GaugeMetricFamily("forecast_realized_rmse_to_promised_ratio", "", labels=per_alias)
        yield GaugeMetricFamily("forecast_realized_scored_points", "", labels=per_alias)
        yield GaugeMetricFamily("forecast_realized_interval_coverage_ratio", "", labels=per_level)
        yield GaugeMetricFamily("forecast_realized_interval_points", "", labels=per_level)
        yield GaugeMetricFamily("forecast_ledger_points", "", labels=["status"])

    def collect(self) -> Iterable[Metric]:
        try:
            reading = self.read()
        except Exception as exc:  # a scrape must not fail because the database blinked
            log.warning("ledger metrics unavailable: %s", type(exc).__name__)
            return
        to_naive = GaugeMetricFamily(
            "forecast_realized_rmse_to_naive_ratio",
            "Realized one-step RMSE of the alias's version over naive's on the same dates.",
            labels=["model", "alias"],
        )
        to_promised = GaugeMetricFamily(
            "forecast_realized_rmse_to_promised_ratio",
            "Realized one-step RMSE of the alias's version over its holdout one-step RMSE.",
            labels=["model", "alias"],
        )
        scored = GaugeMetricFamily(
            "forecast_realized_scored_points",
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
        coverage = GaugeMetricFamily(
            "forecast_realized_interval_coverage_ratio",
            "Share of the alias's version's latest scored one-step forecasts (up to 2,000) whose "
            "actual fell inside the interval served at this level (nominal: level / 100).",
            labels=["model", "alias", "level"],
        )
        covered_of = GaugeMetricFamily(
            "forecast_realized_interval_points",
            "Scored one-step forecasts the interval coverage of this level is measured over.",
            labels=["model", "alias", "level"],
        )
        for found in reading.coverage:
            labels = [found.model, found.alias, str(found.level)]
            covered_of.add_metric(labels, found.points)
            if found.points:
                coverage.add_metric(labels, found.covered / found.points)
        points = GaugeMetricFamily(
            "forecast_ledger_points", "Ledger points by status.", labels=["status"]
        )
        for status, count in reading.points.items():
            points.add_metric([status], count)
        yield from (to_naive, to_promised, scored, coverage, covered_of, points)


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
    """HTTP, forecast, bundle-cache, readiness, job and ledger metrics in the Prometheus text
    format (names and meanings: docs/monitoring.md)."""
    # Runs in a worker thread: the readiness checks and the job and ledger metrics query the
    # database.
    registry: Metrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
