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


async def get_observations_added(request: Request) -> ObservationsAdded:
    listener: ObservationsAdded = request.app.state.on_observations_added
    return listener


ObservationsAddedDep = Annotated[ObservationsAdded, Depends(get_observations_added)]
