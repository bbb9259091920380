"""HTTP endpoints of collections: multi-symbol uploads, listing and deleting a set of series."""

from __future__ import annotations

from typing import IO, Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from app.deps import SessionDep, SettingsDep
from app.pagination import Page, PageDep, sort_query
from app.series import collection_service
from app.series import service as series_service
from app.series.deps import ObservationsAddedDep, SeriesDeletedDep
from app.series.long_format import parse_long_csv, parse_long_records
from app.series.parsing import ParsedFrame
from app.series.schemas import (
    CollectionRead,
    CollectionUpload,
    CollectionUploadForm,
    CollectionUploadResult,
    MemberUploaded,
    OnConflictQuery,
    SeriesRead,
    collection_read,
    series_read,
)
from app.series.service import SeriesSort
from app.series.uploads import UPLOAD_ERRORS, Upload, read_upload, upload_body
from app.vocabulary import COLLECTION_PATTERN, FreeText

router = APIRouter(prefix="/v1/collections", tags=["collections"])

CollectionPath = Annotated[
    str, Path(pattern=COLLECTION_PATTERN, description="The collection's name.")
]
Members = dict[str, ParsedFrame]
LongUpload = Upload[CollectionUploadForm, CollectionUpload, Members]
LONG_CSV_EXAMPLE = (
    "symbol,date,close\nAAPL,2016-12-29,116.73\nAAPL,2016-12-30,115.82\n"
    "MSFT,2016-12-29,62.90\nMSFT,2016-12-30,62.14\n"
)


def _members_of_csv(file: IO[bytes], options: CollectionUploadForm) -> Members:
    return parse_long_csv(file, options.parse_options(), symbol_column=options.symbol_column)


def _members_of_json(body: CollectionUpload, sha256: str) -> Members:
    return parse_long_records(
        body.observations, body.parse_options(), symbol_column=body.symbol_column, sha256=sha256
    )


async def _long_upload(request: Request) -> LongUpload:
    return await read_upload(
        request,
        CollectionUploadForm,
        CollectionUpload,
        csv_parser=_members_of_csv,
        json_parser=_members_of_json,
    )


@router.post(
    "/{collection}/series",
    response_model=CollectionUploadResult,
    summary="Upload many series at once (long format: one row per symbol and date)",
    openapi_extra=upload_body(CollectionUploadForm, CollectionUpload, csv_example=LONG_CSV_EXAMPLE),
    responses={
        201: {"model": CollectionUploadResult, "description": "Created the collection."},
        409: {
            "description": "A symbol's date is already stored with other values "
            "(see on_conflict); `errors` name the symbol."
        },  # fmt: skip
        **UPLOAD_ERRORS,
    },
)
def upload_collection(
    collection: CollectionPath,
    upload: Annotated[LongUpload, Depends(_long_upload)],
    session: SessionDep,
    settings: SettingsDep,
    observed: ObservationsAddedDep,
    response: Response,
    on_conflict: OnConflictQuery = "error",
) -> CollectionUploadResult:
    """Creates one series per new symbol (named `<collection>:<symbol>`) and appends to the
    symbols already in the collection (their rows must carry every field of that series), all or
    nothing: any invalid row, of any symbol, stores nothing, and every error names its symbol.
    The collection is created by its first upload (201; 200 after) and holds at most
    FORECAST_MAX_COLLECTION_SERIES series."""
    options = upload.options
    assert isinstance(options, CollectionUploadForm)
    stored, created, outcomes = collection_service.upload_members(
        session,
        name=collection,
        parsed=upload.parsed,
        exchange=options.exchange,
        source_filename=upload.filename,
        on_conflict=on_conflict,
        max_series=settings.max_collection_series,
    )
    for outcome in outcomes:
        if outcome.action == "appended" and (outcome.counts.inserted or outcome.counts.replaced):
            dates = upload.parsed[outcome.symbol].frame.index
            observed(
                session,
                outcome.series.id,
                (dates.min().to_pydatetime(), dates.max().to_pydatetime()),
            )
    if created:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/v1/collections/{stored.name}"
    return CollectionUploadResult(
        collection=stored.name,
        series_count=collection_service.series_counts(session, [stored])[stored.id],
        created=sum(o.action == "created" for o in outcomes),
        appended=sum(o.action == "appended" for o in outcomes),
        members=[
            MemberUploaded(
                symbol=o.symbol,
                action=o.action,
                inserted=o.counts.inserted,
                replaced=o.counts.replaced,
                unchanged=o.counts.unchanged,
                series=series_read(o.series),
            )
            for o in outcomes
        ],
    )


@router.get("", response_model=Page[CollectionRead], summary="List collections")
def list_collections(
    session: SessionDep,
    paging: PageDep,
    prefix: Annotated[
        FreeText | None,
        Query(max_length=80, description="Only collections whose name starts with this."),
    ] = None,
) -> Page[CollectionRead]:
    """By name. A collection's series are listed by `GET /v1/collections/{name}/series`."""
    items, total = collection_service.list_collections(session, paging, prefix)
    counts = collection_service.series_counts(session, items)
    return paging.page([collection_read(c, counts[c.id]) for c in items], total)


@router.get("/{collection}", response_model=CollectionRead, summary="One collection")
def get_collection(collection: CollectionPath, session: SessionDep) -> CollectionRead:
    found = collection_service.get_collection(session, collection)
    return collection_read(found, collection_service.series_counts(session, [found])[found.id])


@router.get(
    "/{collection}/series", response_model=Page[SeriesRead], summary="A collection's series"
)
def list_collection_series(
    collection: CollectionPath,
    session: SessionDep,
    paging: PageDep,
    prefix: Annotated[
        FreeText | None,
        Query(max_length=80, description="Only series whose symbol or name starts with this."),
    ] = None,
    sort: Annotated[SeriesSort, sort_query("`symbol`")] = "symbol",
) -> Page[SeriesRead]:
    """A page of its series, by symbol unless sorted otherwise: the same list as
    `GET /v1/series?collection=<name>`, but a collection that does not exist is a 404."""
    collection_service.get_collection(session, collection)
    items, total = series_service.list_series(
        session, paging, collection=collection, prefix=prefix, sort=sort
    )
    return paging.page([series_read(s) for s in items], total)


@router.delete(
    "/{collection}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a collection and all its series",
)
def delete_collection(
    collection: CollectionPath, session: SessionDep, deleted: SeriesDeletedDep
) -> Response:
    """Every member series goes, with its observations, as `DELETE /v1/series/{id}` would do it
    one by one: versions trained on them stay, and the ledger keeps what it scored."""
    for series_id in collection_service.delete_collection(session, collection):
        deleted(session, series_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
