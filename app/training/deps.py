"""Dependencies of the training routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import BackgroundTasks, Depends, Response

from app.deps import app_state
from app.training.idempotency import REPLAYED_HEADER
from app.training.jobs.reconciler import Dispatcher

DispatcherDep = Annotated[Dispatcher, Depends(app_state("dispatcher"))]


class Accepted:
    """A 202 for new jobs: their ids go to the queue after the response (so after the request's
    commit; the reconciler resends any that never arrive), and ``Location`` points at what the
    client follows."""

    def __init__(
        self, dispatcher: DispatcherDep, response: Response, background: BackgroundTasks
    ) -> None:
        self.dispatcher, self.response, self.background = dispatcher, response, background

    def __call__(self, job_ids: list[int], location: str, *, replayed: bool = False) -> None:
        """``replayed``: the answer to a retried request (its ``Idempotency-Key`` came before),
        whose jobs were queued by the first."""
        for job_id in job_ids:
            self.background.add_task(self.dispatcher.submit, job_id)
        self.response.headers["Location"] = location
        if replayed:
            self.response.headers[REPLAYED_HEADER] = "true"


AcceptedDep = Annotated[Accepted, Depends()]
