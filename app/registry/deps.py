"""Dependencies of the registry routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends

from app.deps import app_state
from app.registry.store import ArtifactStore

# Called with the id of a version being deleted (the forecast bundle cache drops it); main wires
# the listener, so the registry does not know who it is.
VersionDeleted = Callable[[int], None]


StoreDep = Annotated[ArtifactStore, Depends(app_state("store"))]
VersionDeletedDep = Annotated[VersionDeleted, Depends(app_state("on_version_deleted"))]
