"""HTTP endpoints for series and their observations."""

from __future__ import annotations

import io
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from app.deps import SessionDep, require_ordered
from app.pagination import Page, PageDep, sort_query
from app.series import service
from app.series.deps import ObservationsAddedDep, SeriesDeletedDep
from app.series.parsing import ParsedFrame
from app.series.schemas import (
    AppendResult,
    ObservationsAppend,
    ObservationsRead,
    OnConflictQuery,
    SeriesCreate,
    SeriesRead,
    SeriesUploadForm,
    UploadOptions,
    series_read,
)
from app.series.service import SeriesSort
from app.series.uploads import (
    UPLOAD_ERRORS,
    Upload,
    frame_of_csv,
    frame_of_json,
    read_upload,
    upload_body,
)
from app.vocabulary import (
    COLLECTION_PATTERN,
    MAX_ID,
    FreeText,
    IdPath,
    IsoDateTime,
    OutputFormat,
)

router = APIRouter(prefix="/v1/series", tags=["series"])

SeriesUpload = Upload[SeriesUploadForm, SeriesCreate, ParsedFrame]
AppendUpload = Upload[UploadOptions, ObservationsAppend, ParsedFrame]


CSV_EXAMPLE = "date,close\n2016-12-28,62.99\n2016-12-29,62.90\n2016-12-30,62.14\n"


async def _series_upload(request: Request) -> SeriesUpload:
    return await read_upload(
        request, SeriesUploadForm, SeriesCreate, csv_parser=frame_of_csv, json_parser=frame_of_json
    )


async def _append_upload(request: Request) -> AppendUpload:
    return await read_upload(
        request,
        UploadOptions,
        ObservationsAppend,
        csv_parser=frame_of_csv,
        json_parser=frame_of_json,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SeriesRead,
    summary="Upload a price series (CSV file or JSON)",
    openapi_extra=upload_body(SeriesUploadForm, SeriesCreate, csv_example=CSV_EXAMPLE),
    responses={409: {"description": "The name is taken."}, **UPLOAD_ERRORS},
)
def create_series(
    upload: Annotated[SeriesUpload, Depends(_series_upload)],
    session: SessionDep,
    response: Response,
) -> SeriesRead:
    """Accepts Yahoo Finance and Kaggle stock CSVs, generic `date,value` files and intraday files
    with Unix timestamps (aggregate them with `resample=1D`). Nothing is stored unless the whole
    upload is valid."""
    options = upload.options
    assert isinstance(options, SeriesUploadForm)
    (series,) = service.create_series(
        session,
        [
            service.NewSeries(
                name=options.name,
                parsed=upload.parsed,
                exchange=options.exchange,
                source_filename=upload.filename,
            )
        ],
    )
    response.headers["Location"] = f"/v1/series/{series.id}"
    return series_read(series)


@router.get("", response_model=Page[SeriesRead], summary="List series")
def list_series(
    session: SessionDep,
    paging: PageDep,
    collection: Annotated[
        str | None,
        Query(pattern=COLLECTION_PATTERN, description="Only the members of this collection."),
    ] = None,
    prefix: Annotated[
        FreeText | None,
        Query(max_length=80, description="Only series whose symbol or name starts with this."),
    ] = None,
    sort: Annotated[SeriesSort, sort_query("`id`")] = "id",
) -> Page[SeriesRead]:
    items, total = service.list_series(
        session, paging, collection=collection, prefix=prefix, sort=sort
    )
    return paging.page([series_read(s) for s in items], total)


@router.get("/{series_id}", response_model=SeriesRead, summary="Get one series")
def get_series(series_id: IdPath, session: SessionDep) -> SeriesRead:
    return series_read(service.get_series(session, series_id))


@router.delete(
    "/{series_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a series and its observations",
)
def delete_series(series_id: IdPath, session: SessionDep, deleted: SeriesDeletedDep) -> Response:
    """Its observations go with it. Versions trained on it stay; they forecast from sent
    `values` (a forecast from the deleted series answers 409). What the ledger scored stays;
    forecasts of its dates still pending are marked missing (they can never be observed)."""
    service.delete_series(session, series_id)
    deleted(session, series_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{series_id}/observations",
    response_model=ObservationsRead,
    summary="Read observations (JSON or CSV)",
    responses={200: {"content": {"text/csv": {"example": "date,close\n2016-12-30,62.14\n"}}}},
)
def list_observations(
    series_id: IdPath,
    session: SessionDep,
    field: Annotated[
        list[str] | None,
        Query(description="Field(s) to return; repeat or comma-separate. Default: all."),
    ] = None,
    start: Annotated[IsoDateTime | None, Query(description="First date, inclusive.")] = None,
    end: Annotated[IsoDateTime | None, Query(description="Last date, inclusive.")] = None,
    tail: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ID,
            description="Only the last this many dates (of the range, when start or end is "
            "given): what a chart of recent history needs, without the whole series.",
        ),
    ] = None,
    format: Annotated[OutputFormat, Query()] = "json",  # noqa: A002
) -> Response:
    require_ordered(start, end)
    series = service.get_series(session, series_id)
    names = [n.strip() for f in field or [] for n in f.split(",") if n.strip()] or None
    frame = service.read_frame(session, series, fields=names, start=start, end=end, tail=tail)
    records = service.observations_as_records(frame)
    if format == "csv":
        buffer = io.StringIO()
        pd.DataFrame.from_records(records, columns=["date", *frame.columns]).to_csv(
            buffer, index=False
        )
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{series.name}.csv"'},
        )
    body = ObservationsRead(series_id=series.id, fields=list(frame.columns), observations=records)
    return JSONResponse(body.model_dump(mode="json"))


@router.post(
    "/{series_id}/observations",
    response_model=AppendResult,
    summary="Append observations (CSV file or JSON)",
    openapi_extra=upload_body(UploadOptions, ObservationsAppend, csv_example=CSV_EXAMPLE),
    responses={
        404: {"description": "No such series."},
        409: {"description": "A date is already stored with other values (see on_conflict)."},
        **UPLOAD_ERRORS,
    },
)
def append_observations(
    series_id: IdPath,
    upload: Annotated[AppendUpload, Depends(_append_upload)],
    session: SessionDep,
    observed: ObservationsAddedDep,
    on_conflict: OnConflictQuery = "error",
) -> AppendResult:
    """Rows must carry every field of the series. Re-sending stored rows is a no-op. Served
    forecasts of the dates sent are scored in the same transaction (the ledger)."""
    series = service.get_series(session, series_id, for_update=True)
    counts = service.append_observations(session, series, upload.parsed, on_conflict=on_conflict)
    if counts.inserted or counts.replaced:
        dates = upload.parsed.frame.index
        observed(session, series.id, (dates.min().to_pydatetime(), dates.max().to_pydatetime()))
    return AppendResult(
        inserted=counts.inserted,
        replaced=counts.replaced,
        unchanged=counts.unchanged,
        series=series_read(series),
    )
