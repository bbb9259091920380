"""Request and response bodies of the series API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue

from app.db.column_records import DataQuality
from app.db.orm import Collection, Series
from app.db.rows import from_row
from app.ml.calendar import format_period, is_known_exchange
from app.series.collection_service import MemberAction
from app.series.parsing import RESAMPLE_PATTERN, DateOrder, FillMethod, ParseOptions
from app.series.service import OnConflict
from app.vocabulary import FreeText, Number

SeriesName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}$",
        description="Unique name: letters, digits, `.`, `_`, `-` (not first), at most 80.",
        examples=["MSFT"],
    ),
]


def _known_exchange(code: str | None) -> str | None:
    if code is not None and not is_known_exchange(code):
        raise ValueError(f"unknown exchange calendar '{code}'; use a code such as XNYS or XLON")
    return code


Exchange = Annotated[
    str | None,
    AfterValidator(_known_exchange),
    Field(
        description="Exchange calendar code (ISO 10383 MIC as used by `exchange_calendars`), "
        "e.g. `XNYS`; its holidays are then not counted as gaps and forecasts skip them.",
        examples=["XNYS"],
    ),
]
Resample = Annotated[
    str | None,
    Field(
        pattern=RESAMPLE_PATTERN,
        description="Aggregate to this period before storing, e.g. `1D` for intraday files: "
        "`open` first, `high` max, `low` min, `close`/`adj_close`/`price`/`value` last, "
        "`volume*` sum, any other field mean. Periods without data are left out.",
        examples=["1D"],
    ),
]
Fill = Annotated[
    FillMethod | None,
    Field(description="`ffill` carries the last value forward into empty cells."),
]
ObservationRecord = dict[str, Number | str | None]
OnConflictQuery = Annotated[
    OnConflict,
    Query(description="What to do with dates already stored with different values."),
]

_OBSERVATIONS_EXAMPLE: list[JsonValue] = [
    {"date": "2016-12-29", "open": 62.86, "close": 62.90},
    {"date": "2016-12-30", "open": 62.96, "close": 62.14},
]


class UploadOptions(BaseModel):
    """How to read the data of any upload (form fields next to a CSV file, or JSON keys)."""

    model_config = ConfigDict(extra="forbid")

    date_column: FreeText | None = Field(
        default=None,
        description="Column holding dates; defaults to the first of date, datetime, timestamp, "
        "time, day, ds. Dates are ISO 8601 (zones converted to UTC) or Unix seconds/ms.",
    )
    resample: Resample = None
    fill: Fill = None
    date_order: DateOrder | None = Field(
        default=None,
        description="Dates written with the day and month as numbers (31/12/2016, 12.31.2016): "
        "`day_first` or `month_first`. Unset: read from the dates, where a number above 12 "
        "settles it; dates that never settle it (01/02/2020 … 12/01/2020) are refused (422).",
    )

    def parse_options(self) -> ParseOptions:
        return ParseOptions(
            date_column=self.date_column,
            resample=self.resample,
            fill=self.fill,
            date_order=self.date_order,
        )


class JsonObservations(UploadOptions):
    observations: list[ObservationRecord] = Field(
        min_length=1,
        description="One object per date: the date (ISO 8601 or Unix seconds) and numeric fields.",
    )


class SeriesUploadForm(UploadOptions):
    """Form fields sent next to the CSV ``file`` in a multipart upload."""

    name: SeriesName
    exchange: Exchange = None


class SeriesCreate(SeriesUploadForm, JsonObservations):
    """JSON alternative to the CSV upload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "MSFT", "observations": _OBSERVATIONS_EXAMPLE}]},
    )


class ObservationsAppend(JsonObservations):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"observations": _OBSERVATIONS_EXAMPLE}]}
    )


class SeriesRead(BaseModel):
    id: int
    name: str = Field(description="A collection's members are named `<collection>:<symbol>`.")
    collection: str | None = Field(description="The collection it belongs to, if any.")
    symbol: str | None = Field(description="Its symbol within the collection.")
    exchange: str | None
    frequency: str = Field(
        description="Inferred pandas frequency: `B` business-daily, `D`, `W-FRI`, `MS`, `ME`, "
        "`min`, `h` …, or `irregular`.",
        examples=["B"],
    )
    fields: list[str] = Field(examples=[["open", "high", "low", "close", "volume", "open_int"]])
    row_count: int = Field(description="Number of dates stored.", examples=[7765])
    first_date: str = Field(examples=["1986-03-13"])
    last_date: str = Field(examples=["2016-12-30"])
    content_sha256: str = Field(description="sha256 of the bytes of the original upload.")
    source_filename: str | None
    quality: DataQuality
    created_at: datetime
    updated_at: datetime


def series_read(series: Series) -> SeriesRead:
    return from_row(
        SeriesRead,
        series,
        collection=series.collection.name if series.collection else None,
        fields=[f.name for f in series.fields],
        first_date=format_period(pd.Timestamp(series.first_date)),
        last_date=format_period(pd.Timestamp(series.last_date)),
    )


class ObservationsRead(BaseModel):
    series_id: int
    fields: list[str]
    observations: list[dict[str, Any]] = Field(examples=[_OBSERVATIONS_EXAMPLE])


class AppendResult(BaseModel):
    inserted: int = Field(description="Dates added.")
    replaced: int = Field(description="Dates whose values were replaced (on_conflict=replace).")
    unchanged: int = Field(description="Dates sent again with identical values (no-op).")
    series: SeriesRead


# --------------------------------------------------------------------------- collections

SymbolColumn = Annotated[
    str | None,
    Field(
        description="Column holding each row's symbol; defaults to the first of `symbol`, "
        "`ticker`, `name` (Kaggle's `Name`), `unique_id` (Nixtla). A symbol is 1 to 40 "
        "letters, digits or `. _ ^ = -`.",
        examples=["symbol"],
    ),
]

_LONG_EXAMPLE: list[JsonValue] = [
    {"symbol": "AAPL", "date": "2016-12-29", "close": 116.73},
    {"symbol": "AAPL", "date": "2016-12-30", "close": 115.82},
    {"symbol": "MSFT", "date": "2016-12-29", "close": 62.90},
    {"symbol": "MSFT", "date": "2016-12-30", "close": 62.14},
]


class CollectionUploadForm(UploadOptions):
    """Form fields sent next to a long-format CSV ``file`` (one row per symbol and date)."""

    symbol_column: SymbolColumn = None
    exchange: Exchange = Field(
        default=None, description="Exchange calendar of the series this upload creates."
    )


class CollectionUpload(CollectionUploadForm, JsonObservations):
    """JSON alternative to the long-format CSV: one object per symbol and date."""

    observations: list[ObservationRecord] = Field(
        min_length=1,
        description="One object per symbol and date: the symbol, the date (ISO 8601 or Unix "
        "seconds) and numeric fields.",
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"observations": _LONG_EXAMPLE}]}
    )


class CollectionRead(BaseModel):
    name: str = Field(examples=["sp500"])
    series_count: int = Field(description="Member series.", examples=[500])
    created_at: datetime
    updated_at: datetime


class MemberUploaded(BaseModel):
    symbol: str = Field(examples=["AAPL"])
    action: MemberAction
    inserted: int = Field(description="Dates added (all of them for a created series).")
    replaced: int = Field(description="Dates whose values were replaced (on_conflict=replace).")
    unchanged: int = Field(description="Dates sent again with identical values (no-op).")
    series: SeriesRead


class CollectionUploadResult(BaseModel):
    collection: str = Field(description="The collection's name.", examples=["sp500"])
    series_count: int = Field(description="Its series, after this upload.", examples=[500])
    created: int = Field(description="Series this upload created.")
    appended: int = Field(description="Existing member series this upload appended to.")
    members: list[MemberUploaded] = Field(description="One entry per symbol, by symbol.")


def collection_read(collection: Collection, series_count: int) -> CollectionRead:
    return from_row(CollectionRead, collection, series_count=series_count)
