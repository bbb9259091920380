"""Dependencies of the registry routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.registry.store import ArtifactStore

# Called with the id of a version being deleted (the forecast bundle cache drops it); main wires
# the listener, so the registry does not know who it is.
VersionDeleted = Callable[[int], None]


async def get_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.store
    return store


async def get_version_deleted(request: Request) -> VersionDeleted:
    listener: VersionDeleted = request.app.state.on_version_deleted
    return listener


StoreDep = Annotated[ArtifactStore, Depends(get_store)]
VersionDeletedDep = Annotated[VersionDeleted, Depends(get_version_deleted)]
