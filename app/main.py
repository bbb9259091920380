"""Application factory: ``uvicorn app.main:create_app --factory``.

The top of the dependency graph: it builds the domain objects (database, artifact store,
caches, job dispatcher) and hands the operations layer what it needs from them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.session import Database
from app.errors import install_handlers
from app.forecasting.batch_forecast_router import router as batch_router
from app.forecasting.bundle_cache import BundleCache
from app.forecasting.deps import Forecasting
from app.forecasting.response_cache import (
    WRITES_FILE,
    InvalidateOnWrite,
    ResponseCache,
    WriteCounter,
)
from app.forecasting.router import router as forecasting_router
from app.forecasting.served_forecast import ForecastServed
from app.forecasting.service import warm_calendars
from app.ledger import adaptation_store, policy
from app.ledger import points as ledger_points
from app.ledger import service as ledger
from app.ledger.recorder import LedgerRecorder, RecorderGauges
from app.ledger.router import book_router as ledger_book_router
from app.ledger.router import router as ledger_router
from app.logs import configure_logging
from app.operations import health
from app.operations.contract import install_contract, operation_id
from app.operations.dashboard import install_dashboard
from app.operations.docs import create_api
from app.operations.health import Readiness
from app.operations.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    HeadAsGet,
    RequestContextMiddleware,
    request_ids,
)
from app.operations.prometheus import (
    LedgerReading,
    Metrics,
    RealizedAccuracy,
    RealizedCoverage,
)
from app.operations.prometheus import router as metrics_router
from app.operations.security import ApiKeyMiddleware, install_openapi_security
from app.registry.router import router as registry_router
from app.registry.store import ArtifactStore, make_store
from app.series.collection_router import router as collection_router
from app.series.deps import ObservationsAdded
from app.series.router import router as series_router
from app.training.batch_router import router as training_batch_router
from app.training.jobs.reconciler import Dispatcher
from app.training.router import router as training_router

log = logging.getLogger(__name__)
# The service's version: the OpenAPI document's and forecast_build_info's.
VERSION = "0.1.0"

DESCRIPTION = """
Upload price series, train LSTM/GRU forecasters in the background, keep every trained model in a
versioned registry and ask for forecasts with honest accuracy reports.

Errors are `application/problem+json` documents (RFC 9457) with `type`, `title`, `status`,
`detail` and, for uploads, `errors: [{row, column, message}]`.

When the service has an API key (`FORECAST_API_KEY`), writes need it as
`Authorization: Bearer <key>` or `X-API-Key: <key>` (reads too with `FORECAST_PROTECT_READS`):
use **Authorize**. Every response carries an `X-Request-ID` (yours, if you sent a valid one).
"""


def _warm_calendars(db: Database) -> None:
    try:
        with db.session_scope() as session:
            warm_calendars(session)
    except Exception:  # warming is an optimisation; never fail start-up over it
        log.exception("could not warm exchange calendars")


def _not_recorded(_: ForecastServed) -> None:
    """FORECAST_LEDGER=false."""


def _ledger_reading(db: Database) -> LedgerReading:
    with db.session_scope() as session:
        rows = ledger.alias_accuracy(session)
        points = ledger.point_counts(session)
        coverage = adaptation_store.alias_coverage(session)
    return LedgerReading(
        aliases=[
            RealizedAccuracy(
                model=r.model,
                alias=r.alias,
                scored=r.scored,
                to_naive=r.to_naive,
                to_promised=r.to_promised,
            )
            for r in rows
        ],
        points=points,
        coverage=[
            RealizedCoverage(c.model, c.alias, c.level, c.points, c.covered) for c in coverage
        ],
    )


def _submit(dispatcher: Dispatcher, job_ids: list[int]) -> None:
    """After the append committed: a failure here must not turn it into an error (the
    reconciler sends queued jobs that never reached the queue)."""
    for job_id in job_ids:
        try:
            dispatcher.submit(job_id)
        except Exception:
            log.exception("could not submit job %s; the reconciler will", job_id)


def _lifespan(
    settings: Settings,
    db: Database,
    store: ArtifactStore,
    dispatcher: Dispatcher,
    recorder: LedgerRecorder | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start-up (migrate, check the artifact store, start the job queue and the ledger's
    writer) and shutdown (write what the ledger holds, stop the queue)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(upgrade_to_head, db.engine)
            log.info("database schema is at head")
        problem = await run_in_threadpool(store.problem)
        if problem is not None:  # serve anyway: /readyz keeps saying so until it is fixed
            log.error("artifact store %s cannot be used: %s", store.location, problem)
        dispatcher.start()
        if recorder is not None:
            recorder.start()
        threading.Thread(
            target=_warm_calendars, args=(db,), name="warm-calendars", daemon=True
        ).start()
        yield
        if recorder is not None:  # the server has finished its requests: write what is left
            await run_in_threadpool(recorder.stop)
        await run_in_threadpool(dispatcher.stop)
        db.dispose()

    return lifespan


def _on_observations_added(settings: Settings, dispatcher: Dispatcher) -> ObservationsAdded:
    def observations_added(
        session: Session, series_id: int, dates: tuple[datetime, datetime]
    ) -> None:
        """Score the ledger, then let retrain policies start jobs (queued once committed)."""
        ledger_points.score(session, series_id=series_id, dates=dates)
        started = policy.evaluate(session, settings, series_id)
        if started:
            event.listen(session, "after_commit", lambda _: _submit(dispatcher, started), once=True)

    return observations_added


def _add_middleware(
    app: FastAPI, settings: Settings, forecasts: ResponseCache, metrics: Metrics
) -> None:
    """The last added runs first: request id → access log/metrics → CORS → API key → response
    cache invalidation → size limit → HEAD as GET."""
    app.add_middleware(HeadAsGet)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(InvalidateOnWrite, cache=forecasts)
    if settings.api_key is not None:
        app.add_middleware(ApiKeyMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", REQUEST_ID_HEADER,
                           "If-None-Match"],
            expose_headers=[REQUEST_ID_HEADER, "ETag", "Location", "WWW-Authenticate"],
            max_age=600,
        )  # fmt: skip
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(request_ids)


def _include_routers(app: FastAPI) -> None:
    """Routes are matched in this order: the forecasts dashboards refresh first (matching the
    routes before them took ~8 % of an uncached forecast, BENCHMARKS.md)."""
    for router in (
        health.router,
        forecasting_router,
        batch_router,
        metrics_router,
        series_router,
        collection_router,
        training_router,
        training_batch_router,
        registry_router,
        ledger_router,
        ledger_book_router,
    ):
        app.include_router(router)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    db = Database(settings.database_url)
    store = make_store(settings)
    dispatcher = Dispatcher(settings, db)
    readiness = Readiness(
        db=db,
        broker_url=settings.broker_url,
        store_problem=store.problem,
        cannot_train=lambda: dispatcher.queue.unavailable,
    )
    metrics = Metrics(
        db,
        ledger=lambda: _ledger_reading(db),
        version=VERSION,
        readiness=lambda: health.check(readiness),
    )
    bundles = BundleCache(
        store, settings.bundle_cache_size, metrics.bundle_lookup, metrics.bundles_loaded,
        adaptation_min_points=settings.interval_adaptation_min_points,
    )  # fmt: skip
    shared = settings.api_shared_dir
    forecasts = ResponseCache(
        settings.forecast_cache_s, WriteCounter(shared / WRITES_FILE if shared else None)
    )
    recorder = (
        LedgerRecorder(db, flush_s=settings.ledger_flush_s,
                       retention_days=settings.ledger_retention_days,
                       gauges=RecorderGauges(failed=metrics.ledger_write_failures.inc,
                                             dropped=metrics.ledger_dropped.inc,
                                             pending=metrics.ledger_pending.set))
        if settings.ledger
        else None
    )  # fmt: skip
    app = create_api(
        title="Forecast service",
        version=VERSION,
        description=DESCRIPTION,
        lifespan=_lifespan(settings, db, store, dispatcher, recorder),
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.store = store
    app.state.forecasting = Forecasting(
        db=db,
        settings=settings,
        bundles=bundles,
        responses=forecasts,
        observe=metrics.forecast_latency.observe,
        record=recorder if recorder is not None else _not_recorded,
    )
    app.state.dispatcher = dispatcher
    app.state.metrics = metrics
    app.state.on_version_deleted = bundles.evict
    app.state.on_observations_added = _on_observations_added(settings, dispatcher)
    app.state.on_series_deleted = ledger_points.settle_deleted_series
    app.state.readiness = readiness
    install_handlers(app)
    _add_middleware(app, settings, forecasts, metrics)
    install_openapi_security(app, settings)
    install_contract(app, settings)  # after the security hook: its 401s become problems too
    _include_routers(app)
    install_dashboard(app)
    return app
