"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.session import Database
from app.forecasting.cache import BundleCache, ResponseCache
from app.registry.store import ArtifactStore
from app.training.dispatch import Dispatcher


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.store
    return store


async def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


async def get_bundle_cache(request: Request) -> BundleCache:
    cache: BundleCache = request.app.state.bundles
    return cache


async def get_forecast_cache(request: Request) -> ResponseCache:
    cache: ResponseCache = request.app.state.forecasts
    return cache


def get_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, before the response."""
    with db.session_scope() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]
DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
BundleCacheDep = Annotated[BundleCache, Depends(get_bundle_cache)]
ForecastCacheDep = Annotated[ResponseCache, Depends(get_forecast_cache)]
