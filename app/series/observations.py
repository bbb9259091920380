"""Bulk reads and writes of observations: COPY on PostgreSQL, executemany on SQLite.

Observations are the only large table, so they bypass ORM objects; everything else about a
series goes through the ORM in :mod:`app.series.service`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    bindparam,
    delete,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session

from app.db.orm import Observation, SeriesField
from app.db.types import to_unix_seconds

_PG_COPY_SQL = "COPY observation (series_id, field_id, ts, value) FROM STDIN (FORMAT BINARY)"
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_PG_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
# One tuple of the binary COPY format: field count, then (length, value) per column.
_PG_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_series", ">i4"),
        ("series_id", ">i4"),
        ("len_field", ">i4"),
        ("field_id", ">i4"),
        ("len_ts", ">i4"),
        ("ts", ">i8"),
        ("len_value", ">i4"),
        ("value", ">f8"),
    ]
)
_CHUNK_ROWS = 200_000
_RAW_TS = type_coerce(Observation.ts, BigInteger)  # skips per-row datetime conversion


def _unix_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    return index.as_unit("s").asi8


ObservationBlock = tuple[int, Mapping[str, int], pd.DataFrame]  # series id, field ids, frame


def _row_chunks(items: Sequence[ObservationBlock]) -> Iterator[np.ndarray]:
    """Every cell as a row of the binary COPY layout, packed into chunks of at most
    ``_CHUNK_ROWS`` (one buffer, reused: each chunk must be consumed before the next is asked
    for)."""
    total = sum(len(frame) * len(field_ids) for _, field_ids, frame in items)
    size = min(total, _CHUNK_ROWS)  # a one-day append needs a few rows, not 200,000
    buffer = np.empty(size, dtype=_PG_ROW)
    buffer["nfields"] = 4
    buffer["len_series"] = buffer["len_field"] = 4
    buffer["len_ts"] = buffer["len_value"] = 8
    filled = 0
    for series_id, field_ids, frame in items:
        ts = _unix_seconds(pd.DatetimeIndex(frame.index))
        for name, field_id in field_ids.items():
            values = frame[name].to_numpy(dtype="float64")
            done = 0
            while done < len(ts):
                take = min(len(ts) - done, size - filled)
                part = buffer[filled : filled + take]
                part["series_id"] = series_id
                part["field_id"] = field_id
                part["ts"] = ts[done : done + take]
                part["value"] = values[done : done + take]
                filled += take
                done += take
                if filled == size:
                    yield buffer
                    filled = 0
    if filled:
        yield buffer[:filled]


def write_observations(session: Session, items: Sequence[ObservationBlock]) -> int:
    """Insert every cell of each frame (DatetimeIndex × field columns) under its series and
    field ids: one binary COPY on PostgreSQL, batched executemany on SQLite, a chunk of rows in
    memory at a time; returns rows written."""
    if not any(len(frame) and field_ids for _, field_ids, frame in items):
        return 0
    connection = session.connection()
    raw = connection.connection.driver_connection
    assert raw is not None
    written = 0
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(_PG_COPY_SQL) as copy:
            copy.write(_PG_COPY_HEADER)
            for rows in _row_chunks(items):
                copy.write(rows.tobytes())
                written += len(rows)
            copy.write(_PG_COPY_TRAILER)
        return written
    for rows in _row_chunks(items):  # SQLite, the other supported backend
        raw.executemany(
            "INSERT INTO observation (series_id, field_id, ts, value) VALUES (?, ?, ?, ?)",
            zip(
                rows["series_id"].tolist(), rows["field_id"].tolist(),
                rows["ts"].tolist(), rows["value"].tolist(), strict=True,
            ),
        )  # fmt: skip
        written += len(rows)
    return written


def read_observations(
    session: Session,
    series_id: int,
    field_ids: Mapping[str, int],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    tail: int | None = None,
) -> pd.DataFrame:
    """Fields as columns over a sorted DatetimeIndex named ``date`` (inclusive range); with
    ``tail``, only the last ``tail`` dates of that range (of the dates any of the fields has)."""
    raw_ts = _RAW_TS
    within = []
    if start is not None:
        within.append(raw_ts >= to_unix_seconds(start))
    if end is not None:
        within.append(raw_ts <= to_unix_seconds(end))
    if tail is not None and field_ids:
        # The tail's first date: the tail-th latest date of the range, one query.
        first = session.scalar(
            select(raw_ts)
            .where(
                Observation.series_id == series_id,
                Observation.field_id.in_(list(field_ids.values())),
                *within,
            )
            .distinct()
            .order_by(raw_ts.desc())
            .offset(tail - 1)
            .limit(1)
        )
        if first is not None:
            within.append(raw_ts >= first)
    columns: dict[str, pd.Series] = {}
    for name, field_id in field_ids.items():
        stmt = select(raw_ts, Observation.value).where(
            Observation.series_id == series_id, Observation.field_id == field_id, *within
        )
        rows = session.execute(stmt.order_by(raw_ts)).all()
        ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        values = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
        columns[name] = pd.Series(values, index=pd.to_datetime(ts, unit="s"))
    frame = pd.DataFrame(columns) if columns else pd.DataFrame()
    frame.index = pd.DatetimeIndex(frame.index, name="date").as_unit("s")
    return frame


# Built once with bound parameters: the forecast hot path skips statement construction.
_TAIL = (
    select(_RAW_TS, Observation.value)
    .where(
        Observation.series_id == bindparam("series_id"),
        Observation.field_id
        == select(SeriesField.id)
        .where(
            SeriesField.series_id == bindparam("series_id"), SeriesField.name == bindparam("field")
        )
        .scalar_subquery(),
    )
    .order_by(_RAW_TS.desc())
    .limit(bindparam("count", type_=Integer))
)


def read_tail(
    conn: Connection, series_id: int, field: str, count: int
) -> tuple[np.ndarray, pd.Timestamp | None]:
    """The last ``count`` values of a field by name, oldest first, and the date of the last one:
    one query, an index range scan (the hot path of every forecast)."""
    rows = conn.execute(_TAIL, {"series_id": series_id, "field": field, "count": count}).all()
    if not rows:
        return np.empty(0), None
    values = np.array([r[1] for r in reversed(rows)], dtype=np.float64)
    return values, pd.Timestamp(rows[0][0], unit="s")


def delete_observations(
    session: Session, series_id: int, field_ids: Sequence[int], dates: pd.DatetimeIndex
) -> None:
    """Delete the given dates of the given fields (used by ``on_conflict=replace``)."""
    ts = _unix_seconds(dates).tolist()
    raw_ts = _RAW_TS
    for start in range(0, len(ts), 500):
        session.execute(
            delete(Observation).where(
                Observation.series_id == series_id,
                Observation.field_id.in_(list(field_ids)),
                raw_ts.in_(ts[start : start + 500]),
            )
        )
