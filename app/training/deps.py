"""Dependencies of the training routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.training.jobs.reconciler import Dispatcher


async def get_dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


DispatcherDep = Annotated[Dispatcher, Depends(get_dispatcher)]
