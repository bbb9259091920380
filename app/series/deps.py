"""Dependencies of the series routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

# Called in an append's transaction with the series id and the range of dates stored or
# replaced (main wires the ledger's scoring; series does not know who listens).
ObservationsAdded = Callable[[Session, int, tuple[datetime, datetime]], None]


# Called in a series delete's transaction with its id (the ledger settles what can no longer be
# observed).
SeriesDeleted = Callable[[Session, int], None]


async def get_series_deleted(request: Request) -> SeriesDeleted:
    listener: SeriesDeleted = request.app.state.on_series_deleted
    return listener


async def get_observations_added(request: Request) -> ObservationsAdded:
    listener: ObservationsAdded = request.app.state.on_observations_added
    return listener


ObservationsAddedDep = Annotated[ObservationsAdded, Depends(get_observations_added)]
SeriesDeletedDep = Annotated[SeriesDeleted, Depends(get_series_deleted)]
