"""Realized accuracy: how good the forecasts the service actually served turned out to be."""

from __future__ import annotations

import io
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.column_records import RetrainPolicy
from app.db.orm import ModelPolicy, ModelVersion
from app.db.types import utcnow
from app.deps import (
    IMAGE_MEDIA_TYPES,
    ImageEndpoint,
    SessionDep,
    SettingsDep,
    add_image_routes,
    require_ordered,
)
from app.errors import AliasNotFound, InvalidRequest, PolicyNotFound
from app.ledger import adaptation, adaptation_store, book, service
from app.ledger.accuracy import grouped, summarize
from app.ledger.accuracy_plots import render_accuracy
from app.ledger.schemas import (
    AccuracyReport,
    AliasAccuracyRead,
    GroupBy,
    PolicyRead,
    VersionAdaptation,
    policy_read,
)
from app.pagination import Page, PageDep, sort_query
from app.registry import service as registry
from app.vocabulary import (
    MAX_ID,
    AliasName,
    ImageFormat,
    IsoDateTime,
    ModelCollectionQuery,
    ModelPrefixQuery,
    NamePath,
    OutputFormat,
)

router = APIRouter(prefix="/v1/models", tags=["ledger"])
book_router = APIRouter(prefix="/v1/accuracy", tags=["ledger"])


@book_router.get(
    "", response_model=Page[AliasAccuracyRead], summary="Every model × alias, worst first"
)
def list_alias_accuracy(
    session: SessionDep,
    paging: PageDep,
    prefix: ModelPrefixQuery = None,
    collection: ModelCollectionQuery = None,
    sort: Annotated[book.BookSort, sort_query("`skill`: the ones losing to naive first")] = "skill",
) -> Page[AliasAccuracyRead]:
    """The whole book in one list: for each alias of each model, the version it serves with
    its realized one-step RMSE, skill against naive, realized ÷ promised and interval
    coverage from the ledger. Unscored rows come last whatever the order."""
    rows = book.accuracy(session, prefix=prefix, collection=collection, sort=sort)
    return paging.page(rows[paging.offset : paging.offset + paging.limit], len(rows))


_CSV_EXAMPLE = "group,forecasts,scored,missing,pending,rmse,…\nall,200,200,0,4,0.71,…\n"
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown model or alias."}}

VersionQuery = Annotated[
    list[Annotated[int, Query(ge=1, le=MAX_ID)]] | None,
    Query(description="Only these versions (repeat for several). Default: every version."),
]
AliasQuery = Annotated[
    AliasName | None, Query(description="Only the version this alias points at now.")
]
SeriesQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Only this series.")]
StartQuery = Annotated[IsoDateTime | None, Query(description="First target date, inclusive.")]
EndQuery = Annotated[IsoDateTime | None, Query(description="Last target date, inclusive.")]


def _versions(
    session: Session, name: str, versions: list[int] | None, alias: str | None
) -> list[int] | None:
    model = registry.get_model(session, name)  # 404 for an unknown name
    if alias is None:
        return versions
    if versions is not None:
        raise InvalidRequest("give version or alias, not both")
    pointed = {a.alias: a.version_id for a in model.aliases}
    if alias not in pointed:
        raise AliasNotFound(f"Model '{name}' has no alias '{alias}'.")
    return [session.get_one(ModelVersion, pointed[alias]).version]


@router.get(
    "/{name}/accuracy",
    response_model=AccuracyReport,
    summary="Realized accuracy of the served forecasts, next to naive and to what was promised",
    responses={200: {"content": {"text/csv": {"example": _CSV_EXAMPLE}}}, **_NOT_FOUND},
)
def get_accuracy(
    name: NamePath,
    session: SessionDep,
    settings: SettingsDep,
    version: VersionQuery = None,
    alias: AliasQuery = None,
    series_id: SeriesQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    group_by: Annotated[GroupBy, Query(description="One row per step, week, month, …")] = "none",
    format: Annotated[OutputFormat, Query()] = "json",  # noqa: A002
) -> Response:
    """Every forecast served from a stored series is kept in the ledger and scored as the
    series' dates are observed (appends). Points whose date passed without a value (holidays)
    are counted as `missing`, never scored. `promised_rmse` comes from each version's holdout,
    step by step; versions deleted since keep their realized figures but promise nothing.
    `interval_adaptation` (JSON only): how each version's intervals are adapted to their
    realized coverage, per step and level."""
    require_ordered(start, end)
    chosen = _versions(session, name, version, alias)
    points = service.read_points(
        session, name, versions=chosen, series_id=series_id, start=start, end=end
    )
    versions = sorted(int(v) for v in set(points["version"]))
    min_points = settings.interval_adaptation_min_points
    report = AccuracyReport(
        model=name,
        versions=versions,
        series_id=series_id,
        start=start.isoformat() if start else None,
        end=end.isoformat() if end else None,
        group_by=group_by,
        total=summarize(points, "all"),
        groups=grouped(points, group_by),
        interval_adaptation=[
            VersionAdaptation(
                version=stored.version,
                updated_at=stored.updated_at,
                eta=stored.adaptation.eta,
                min_points=min_points,
                steps=adaptation.steps(stored.adaptation, min_points),
            )
            for stored in adaptation_store.read(session, name, versions)
        ],
    )
    if format == "csv":
        return Response(_csv(report), media_type="text/csv")
    return JSONResponse(report.model_dump(mode="json"))


def _csv(report: AccuracyReport) -> str:
    rows = []
    for group in [report.total, *report.groups]:
        row = group.model_dump(exclude={"coverage"})
        row.update({f"coverage_{level}": value for level, value in group.coverage.items()})
        rows.append(row)
    buffer = io.StringIO()
    pd.DataFrame(rows).to_csv(buffer, index=False)
    return buffer.getvalue()


def _plot(
    image_format: ImageFormat, name: str, session: Session, version: list[int] | None,
    alias: str | None, series_id: int | None,
) -> Response:  # fmt: skip
    chosen = _versions(session, name, version, alias)
    points = service.read_points(session, name, versions=chosen, series_id=series_id)
    image = render_accuracy(points, title=name, image_format=image_format)
    return Response(image, media_type=IMAGE_MEDIA_TYPES[image_format])


def _accuracy_plot(image_format: ImageFormat) -> ImageEndpoint:
    def accuracy_plot(
        name: NamePath, session: SessionDep, version: VersionQuery = None,
        alias: AliasQuery = None, series_id: SeriesQuery = None,
    ) -> Response:  # fmt: skip
        return _plot(image_format, name, session, version, alias, series_id)

    return accuracy_plot


add_image_routes(
    router,
    "/{name}/accuracy",
    _accuracy_plot,
    name="get_accuracy",
    summary="Realized one-step error over time per version ({})",
    descriptions={"png": None, "svg": None},
    responses=_NOT_FOUND,
)


@router.put(
    "/{name}/policy",
    response_model=PolicyRead,
    summary="Set the model's retrain policy",
    responses=_NOT_FOUND,
)
def set_policy(name: NamePath, body: RetrainPolicy, session: SessionDep) -> PolicyRead:
    """Checked after every append to the series the watched version (the `promote_to` alias's,
    else the latest) was trained on. When a rule fires, a training job with that version's spec
    starts on the latest data (its `trigger` says which rule fired, with the numbers) and its
    version is promoted to `promote_to` through the gate (`require`). Replacing a policy keeps
    the record of its last firing."""
    model = registry.get_model(session, name, for_update=True)  # one first PUT creates the row
    if session.scalar(
        select(ModelVersion.id)
        .where(ModelVersion.model_id == model.id, ModelVersion.scope == "global")
        .limit(1)
    ):
        raise InvalidRequest(
            f"'{name}' is a global model: retrain policies watch one series and are not "
            "supported for global models yet; retrain it with a new global training batch."
        )
    row = session.get(ModelPolicy, model.id)
    if row is None:
        row = ModelPolicy(model_id=model.id, policy=body)
        session.add(row)
    else:
        row.policy = body
        row.updated_at = utcnow()
    session.flush()
    return policy_read(name, row)


@router.get(
    "/{name}/policy",
    response_model=PolicyRead,
    summary="The model's retrain policy and its last firing",
    responses={404: {"description": "Unknown model, or no policy."}},
)
def get_policy(name: NamePath, session: SessionDep) -> PolicyRead:
    model = registry.get_model(session, name)
    row = session.get(ModelPolicy, model.id)
    if row is None:
        raise PolicyNotFound(f"Model '{name}' has no retrain policy.")
    return policy_read(name, row)


@router.delete(
    "/{name}/policy",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove the model's retrain policy",
    responses={404: {"description": "Unknown model, or no policy."}},
)
def delete_policy(name: NamePath, session: SessionDep) -> Response:
    model = registry.get_model(session, name)
    row = session.get(ModelPolicy, model.id)
    if row is None:
        raise PolicyNotFound(f"Model '{name}' has no retrain policy.")
    session.delete(row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
