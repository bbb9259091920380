"""Application factory: ``uvicorn app.main:create_app --factory``."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.middleware.cors import CORSMiddleware

from app import health
from app.config import Settings
from app.db.migrate import upgrade_to_head
from app.db.session import Database
from app.errors import install_handlers
from app.forecasting.cache import BundleCache, InvalidateOnWrite, ResponseCache
from app.forecasting.router import router as forecasting_router
from app.forecasting.service import warm_calendars
from app.logs import configure_logging
from app.metrics import Metrics
from app.metrics import router as metrics_router
from app.middleware import REQUEST_ID_HEADER, BodySizeLimitMiddleware, RequestContextMiddleware
from app.registry.router import router as registry_router
from app.registry.store import make_store
from app.security import ApiKeyMiddleware, install_openapi_security
from app.series.router import router as series_router
from app.training.dispatch import Dispatcher
from app.training.router import router as training_router

log = logging.getLogger(__name__)

DESCRIPTION = """
Upload price series, train LSTM/GRU forecasters in the background, keep every trained model in a
versioned registry and ask for forecasts with honest accuracy reports.

Errors are `application/problem+json` documents (RFC 9457) with `type`, `title`, `status`,
`detail` and, for uploads, `errors: [{row, column, message}]`.

When the service has an API key (`FORECAST_API_KEY`), writes need it as
`Authorization: Bearer <key>` or `X-API-Key: <key>` (reads too with `FORECAST_PROTECT_READS`):
use **Authorize**. Every response carries an `X-Request-ID` (yours, if you sent a valid one).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings)
    db = Database(settings.database_url)

    dispatcher = Dispatcher(settings, db)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await run_in_threadpool(upgrade_to_head, db.engine)
            log.info("database schema is at head")
        dispatcher.start()
        threading.Thread(
            target=warm_calendars, args=(db,), name="warm-calendars", daemon=True
        ).start()
        yield
        await run_in_threadpool(dispatcher.stop)
        db.dispose()

    app = FastAPI(
        title="Forecast service", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.db = db
    app.state.store = make_store(settings.model_dir)
    app.state.bundles = BundleCache(app.state.store, settings.bundle_cache_size)
    app.state.forecasts = ResponseCache(settings.forecast_cache_s)
    app.state.dispatcher = dispatcher
    app.state.metrics = Metrics(db, app.state.bundles)
    install_handlers(app)
    # The last added runs first: request id/log/metrics → CORS → API key → cache → size limit.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_upload_bytes)
    app.add_middleware(InvalidateOnWrite, cache=app.state.forecasts)
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
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    install_openapi_security(app, settings)
    app.include_router(health.router)
    app.include_router(metrics_router)
    app.include_router(series_router)
    app.include_router(training_router)
    app.include_router(registry_router)
    app.include_router(forecasting_router)
    return app
