"""Series use cases. Services flush; the caller's unit of work commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd
from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.column_records import DataQuality
from app.db.orm import Collection, Observation, Series, SeriesField
from app.db.session import lock_for_write
from app.errors import (
    ErrorItem,
    InvalidRequest,
    InvalidUpload,
    ObservationConflict,
    SeriesNameTaken,
    SeriesNotFound,
    found,
)
from app.ml.calendar import format_period, infer_frequency
from app.pagination import PageParams, fetch_page, ordering, starts_with
from app.series.observations import delete_observations, read_observations, write_observations
from app.series.parsing import ParsedFrame
from app.series.quality import extend_summary, quality_summary

OnConflict = Literal["error", "replace"]


@dataclass(frozen=True)
class AppendCounts:
    """What an append did, in dates: added, replaced with other values, sent again as they
    were."""

    inserted: int
    replaced: int
    unchanged: int


@dataclass(frozen=True)
class NewSeries:
    """A validated upload to store as a series (a collection's members carry their symbol)."""

    name: str
    parsed: ParsedFrame
    exchange: str | None = None
    source_filename: str | None = None
    collection: Collection | None = None
    symbol: str | None = None


def _name_taken(name: str) -> SeriesNameTaken:
    return SeriesNameTaken(f"A series named '{name}' already exists; pick another name.")


def create_series(session: Session, new: list[NewSeries]) -> list[Series]:
    """Store validated uploads as new series with all their fields and observations: one
    INSERT per table for all of them, and one bulk write of every observation."""
    names = [n.name for n in new]
    taken = session.scalar(select(Series.name).where(Series.name.in_(names)).limit(1))
    if taken is not None:
        raise _name_taken(taken)
    created = []
    for item in new:
        frame = item.parsed.frame
        index = pd.DatetimeIndex(frame.index)
        series = Series(
            name=item.name,
            collection=item.collection,
            symbol=item.symbol,
            exchange=item.exchange,
            frequency=infer_frequency(index),
            source_filename=item.source_filename,
            content_sha256=item.parsed.sha256,
            row_count=len(frame),
            first_date=index[0].to_pydatetime(),
            last_date=index[-1].to_pydatetime(),
            fields=[SeriesField(name=str(c), position=i) for i, c in enumerate(frame.columns)],
        )
        series.quality = _quality(series, item.parsed, frame)
        created.append(series)
    session.add_all(created)
    try:
        session.flush()
    except IntegrityError as exc:  # lost a race for a name
        raise SeriesNameTaken(
            f"Another request stored a series named {names[0]!r}"
            + (f" (or one of {len(names) - 1} more)" if len(names) > 1 else "")
            + " at the same time; pick another name or send again."
        ) from exc
    write_observations(
        session,
        [(s.id, {f.name: f.id for f in s.fields}, n.parsed.frame)
         for s, n in zip(created, new, strict=True)],
    )  # fmt: skip
    return created


def _quality(
    series: Series,
    parsed: ParsedFrame,
    frame: pd.DataFrame,
    *,
    previous: DataQuality | None = None,
) -> DataQuality:
    """The quality summary of what is stored now; counts of what the uploads dropped or filled
    add up over a series' uploads (``previous``)."""
    summary = quality_summary(
        frame,
        frequency=series.frequency,
        exchange=series.exchange,
        duplicate_rows=parsed.duplicate_rows + (previous.duplicate_rows if previous else 0),
        empty_cells=parsed.empty_cells,
        filled_cells=parsed.filled_cells + (previous.filled_cells if previous else 0),
        unsorted_input=not parsed.was_sorted,
    )
    return DataQuality.model_validate(
        {
            "source_rows": parsed.source_rows,
            "ignored_columns": parsed.ignored_columns,
            **summary,
        }
    )


def get_series(session: Session, series_id: int, *, for_update: bool = False) -> Series:
    """The series; ``for_update``: locked until the transaction ends (on SQLite the database)."""
    stmt = select(Series).where(Series.id == series_id)
    if for_update:
        lock_for_write(session)
        stmt = stmt.with_for_update(of=Series)
    return found(session.scalar(stmt), SeriesNotFound(f"No series with id {series_id}."))


SORTABLE = {
    "id": Series.id,
    "name": Series.name,
    "symbol": Series.symbol,
    "row_count": Series.row_count,
    "first_date": Series.first_date,
    "last_date": Series.last_date,
    "updated_at": Series.updated_at,
}

SeriesSort = Literal[
    "id", "-id", "name", "-name", "symbol", "-symbol", "row_count", "-row_count",
    "first_date", "-first_date", "last_date", "-last_date", "updated_at", "-updated_at",
]  # fmt: skip


def list_series(
    session: Session,
    paging: PageParams,
    *,
    collection: str | None = None,
    prefix: str | None = None,
    sort: str = "id",
) -> tuple[list[Series], int]:
    """A page of series, optionally of one collection and/or whose symbol or name starts with
    ``prefix``; ``sort`` is a key of :data:`SORTABLE`, ``-`` first for descending."""
    stmt = select(Series)
    if collection is not None:
        stmt = stmt.join(Collection).where(Collection.name == collection)
    if prefix:
        stmt = stmt.where(or_(starts_with(Series.symbol, prefix), starts_with(Series.name, prefix)))
    return fetch_page(session, stmt, paging, ordering(sort, SORTABLE, Series.id))


def delete_series(session: Session, series_id: int) -> None:
    """Delete a series, its observations and (by ON DELETE CASCADE) its fields."""
    get_series(session, series_id, for_update=True)  # a concurrent delete then finds none
    session.execute(delete(Observation).where(Observation.series_id == series_id))
    session.execute(delete(Series).where(Series.id == series_id))


def field_ids(series: Series, names: list[str] | None = None) -> dict[str, int]:
    """Field name → id, in the series' column order; unknown names are a 422."""
    known = {f.name: f.id for f in series.fields}
    if not names:
        return known
    unknown = [n for n in names if n not in known]
    if unknown:  # names a client reads by (?field=): a bad request, not a bad upload
        raise InvalidRequest(
            f"Unknown field(s) {unknown}; this series has {list(known)}.",
            errors=[ErrorItem(loc="query.field", message=f"unknown field '{n}'") for n in unknown],
        )
    return {n: known[n] for n in names}


def read_frame(
    session: Session,
    series: Series,
    *,
    fields: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    tail: int | None = None,
) -> pd.DataFrame:
    return read_observations(
        session, series.id, field_ids(series, fields), start=start, end=end, tail=tail
    )


def read_field(session: Session, series: Series, field: str) -> pd.Series:
    """One field's values, indexed by time (what a job trains on)."""
    return read_frame(session, series, fields=[field])[field]


def append_observations(
    session: Session, series: Series, parsed: ParsedFrame, *, on_conflict: OnConflict
) -> AppendCounts:
    """Add dates to a series. Identical repeats are a no-op; changed values need ``replace``."""
    ids = field_ids(series)
    sent = parsed.frame
    missing = [n for n in ids if n not in sent.columns]
    extra = [str(c) for c in sent.columns if c not in ids]
    if missing or extra:
        raise InvalidUpload(
            f"The columns must be this series' fields {list(ids)}"
            + (f"; missing {missing}" if missing else "")
            + (f"; unknown {extra}" if extra else "")
            + ".",
            errors=[ErrorItem(column=c, message="missing field") for c in missing]
            + [ErrorItem(column=c, message="unknown field") for c in extra],
        )
    sent = sent[list(ids)]
    index = pd.DatetimeIndex(sent.index)
    stored = read_observations(
        session, series.id, ids, start=index[0].to_pydatetime(), end=index[-1].to_pydatetime()
    )
    stored_index = pd.DatetimeIndex(stored.index)
    overlap = index.intersection(stored_index)
    differs = (sent.loc[overlap].to_numpy() != stored.loc[overlap].to_numpy()).any(axis=1)
    changed = overlap[differs]
    new = index.difference(stored_index)
    if len(changed) and on_conflict == "error":
        raise ObservationConflict(
            f"{len(changed)} date(s) are already stored with different values; send "
            "on_conflict=replace to overwrite them.",
            errors=_conflict_items(parsed, sent, stored, changed),
        )
    try:
        if len(changed):
            delete_observations(session, series.id, list(ids.values()), changed)
        write_observations(session, [(series.id, ids, sent.loc[new.union(changed)])])
        session.flush()
    except IntegrityError as exc:  # a concurrent append stored some of these dates first
        raise ObservationConflict(
            "Another request stored some of these dates at the same time; send them again."
        ) from exc
    if len(changed) or len(new):
        at_end = len(new) and new[0] > pd.Timestamp(series.last_date)
        if not len(changed) and at_end and len(new) * 10 <= series.row_count:
            _extend_stats(session, series, parsed, sent.loc[new])
        else:
            _refresh_stats(session, series, parsed)
    return AppendCounts(
        inserted=len(new), replaced=len(changed), unchanged=len(overlap) - len(changed)
    )


def _conflict_items(
    parsed: ParsedFrame, sent: pd.DataFrame, stored: pd.DataFrame, changed: pd.DatetimeIndex
) -> list[ErrorItem]:
    items = []
    for ts in changed[:20]:
        for col, new, old in zip(
            sent.columns, sent.loc[ts].to_numpy(), stored.loc[ts].to_numpy(), strict=True
        ):
            if new != old:
                row = None if parsed.source_row is None else int(parsed.source_row.loc[ts])
                items.append(
                    ErrorItem(
                        row=row,
                        column=str(col),
                        message=f"{format_period(ts)}: stored {float(old)}, sent {float(new)}",
                    )
                )
    return items


def _refresh_stats(session: Session, series: Series, parsed: ParsedFrame) -> None:
    """Recompute row count, date range, frequency and quality over everything stored."""
    frame = read_frame(session, series)
    index = pd.DatetimeIndex(frame.index)
    series.row_count = len(frame)
    series.first_date = index[0].to_pydatetime()
    series.last_date = index[-1].to_pydatetime()
    series.frequency = infer_frequency(index)
    series.quality = _quality(series, parsed, frame, previous=series.quality)
    session.flush()


def _extend_stats(
    session: Session, series: Series, parsed: ParsedFrame, tail: pd.DataFrame
) -> None:
    """Update the stats after rows appended at the end, from those rows alone; the frequency
    stays (the new rows are under a tenth of the series). Recomputes in full where the quality
    summary cannot be extended exactly."""
    previous = series.quality
    extended = extend_summary(
        previous.model_dump(),
        (pd.Timestamp(series.first_date), pd.Timestamp(series.last_date)),
        tail,
        frequency=series.frequency,
        exchange=series.exchange,
    )
    if extended is None:
        _refresh_stats(session, series, parsed)
        return
    series.row_count += len(tail)
    series.last_date = pd.DatetimeIndex(tail.index)[-1].to_pydatetime()
    series.quality = DataQuality.model_validate(
        {
            "source_rows": parsed.source_rows,
            "ignored_columns": parsed.ignored_columns,
            "duplicate_rows": parsed.duplicate_rows + previous.duplicate_rows,
            "empty_cells": parsed.empty_cells,
            "filled_cells": parsed.filled_cells + previous.filled_cells,
            "unsorted_input": not parsed.was_sorted,
            **extended,
        }
    )


def observations_as_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as ``{"date": …, <field>: value}`` dicts, the shape the JSON upload accepts."""
    index = pd.DatetimeIndex(frame.index)
    daily = bool((index == index.normalize()).all())
    dates = index.strftime("%Y-%m-%d" if daily else "%Y-%m-%dT%H:%M:%S")
    out = frame.copy()
    out.insert(0, "date", np.asarray(dates))
    return out.to_dict(orient="records")  # type: ignore[return-value]
