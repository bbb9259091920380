"""What every domain router uses: settings, the request's database access, image routes.

Domain objects that live on ``app.state`` (the dispatcher, the caches, the artifact store) get
their dependencies in their own package's ``deps.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.session import Database
from app.db.types import to_unix_seconds
from app.errors import ErrorItem, InvalidRequest
from app.vocabulary import ImageFormat

# Set in the scope of a HEAD that app.operations.middleware.HeadAsGet answers as a GET: a route
# may skip what only a real read should do (a forecast probed so is not a served forecast).
HEAD_FLAG = "forecast.head"


def is_head_probe(request: Request) -> bool:
    return bool(request.scope.get(HEAD_FLAG))


def app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency that returns ``request.app.state.<name>``, the object main put there."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"get_{name}"
    return dependency


get_database = app_state("db")


def get_session(db: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """The request's unit of work: committed when the endpoint returns, before the response."""
    with db.session_scope() as session:
        yield session


def require_ordered(start: datetime | None, end: datetime | None) -> None:
    """A ``start``/``end`` query whose start is after its end: a 422, not a silently empty
    answer (naive times are UTC, as stored)."""
    if start is not None and end is not None and to_unix_seconds(start) > to_unix_seconds(end):
        raise InvalidRequest(
            f"start {start.isoformat()} is after end {end.isoformat()}.",
            errors=[ErrorItem(loc="query.end", message="before start")],
        )


SettingsDep = Annotated[Settings, Depends(app_state("settings"))]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


IMAGE_MEDIA_TYPES: dict[ImageFormat, str] = {"png": "image/png", "svg": "image/svg+xml"}
ImageEndpoint = Callable[..., Response]


def add_image_routes(
    router: APIRouter,
    path: str,
    endpoint: Callable[[ImageFormat], ImageEndpoint],
    *,
    name: str,
    summary: str,
    descriptions: dict[ImageFormat, str | None],
    responses: dict[int | str, dict[str, Any]],
) -> None:
    """``GET <path>.png`` and ``<path>.svg``, the same image in each format: ``endpoint(format)``
    serves it, named ``<name>_<format>`` (its operation id), ``summary`` formatted with PNG or
    SVG."""
    for image_format, description in descriptions.items():
        router.add_api_route(
            f"{path}.{image_format}",
            endpoint(image_format),
            methods=["GET"],
            name=f"{name}_{image_format}",
            summary=summary.format(image_format.upper()),
            description=description,
            response_class=Response,
            responses={200: {"content": {IMAGE_MEDIA_TYPES[image_format]: {}}}, **responses},
        )
