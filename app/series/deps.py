"""Dependencies of the series routes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session

from app.deps import app_state

# Called in an append's transaction with the series id and the range of dates stored or
# replaced (main wires the ledger's scoring; series does not know who listens).
ObservationsAdded = Callable[[Session, int, tuple[datetime, datetime]], None]


# Called in a series delete's transaction with its id (the ledger settles what can no longer be
# observed).
SeriesDeleted = Callable[[Session, int], None]


ObservationsAddedDep = Annotated[ObservationsAdded, Depends(app_state("on_observations_added"))]
SeriesDeletedDep = Annotated[SeriesDeleted, Depends(app_state("on_series_deleted"))]
