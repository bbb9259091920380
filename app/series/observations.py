"""Bulk reads and writes of observations: COPY on PostgreSQL, executemany on SQLite.

Observations are the only large table, so they bypass ORM objects; everything else about a
series goes through the ORM in :mod:`app.series.service`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

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


Cells = tuple[int, Mapping[str, int], pd.DataFrame]  # series id, field name → id, frame


def write_observations(session: Session, items: Sequence[Cells]) -> int:
    """Insert every cell of each frame (DatetimeIndex × field columns) under its series and
    field ids, all in one COPY (PostgreSQL) or one executemany (SQLite); returns rows written."""
    columns = [
        (series_id, field_id, pd.DatetimeIndex(frame.index), frame[name])
        for series_id, field_ids, frame in items
        for name, field_id in field_ids.items()
    ]
    rows = np.empty(sum(len(c[2]) for c in columns), dtype=_PG_ROW)
    start = 0
    for series_id, field_id, index, values in columns:
        part = rows[start : start + len(index)]
        part["series_id"] = series_id
        part["field_id"] = field_id
        part["ts"] = _unix_seconds(index)
        part["value"] = values.to_numpy(dtype="float64")
        start += len(index)
    if not len(rows):
        return 0
    connection = session.connection()
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        _pg_copy(raw, rows)
    else:  # SQLite, the other supported backend
        assert raw is not None
        for start in range(0, len(rows), _CHUNK_ROWS):  # Python objects for a chunk only
            chunk = rows[start : start + _CHUNK_ROWS]
            raw.executemany(
                "INSERT INTO observation (series_id, field_id, ts, value) VALUES (?, ?, ?, ?)",
                zip(
                    chunk["series_id"].tolist(), chunk["field_id"].tolist(),
                    chunk["ts"].tolist(), chunk["value"].tolist(), strict=True,
                ),
            )  # fmt: skip
    return len(rows)


def _pg_copy(raw: Any, rows: np.ndarray) -> None:
    rows["nfields"] = 4
    rows["len_series"] = 4
    rows["len_field"] = 4
    rows["len_ts"] = 8
    rows["len_value"] = 8
    with raw.cursor() as cursor, cursor.copy(_PG_COPY_SQL) as copy:
        copy.write(_PG_COPY_HEADER)
        for start in range(0, len(rows), _CHUNK_ROWS):
            copy.write(rows[start : start + _CHUNK_ROWS].tobytes())
        copy.write(_PG_COPY_TRAILER)


def read_observations(
    session: Session,
    series_id: int,
    field_ids: Mapping[str, int],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Fields as columns over a sorted DatetimeIndex named ``date`` (inclusive range)."""
    raw_ts = _RAW_TS
    columns: dict[str, pd.Series] = {}
    for name, field_id in field_ids.items():
        stmt = select(raw_ts, Observation.value).where(
            Observation.series_id == series_id, Observation.field_id == field_id
        )
        if start is not None:
            stmt = stmt.where(raw_ts >= to_unix_seconds(start))
        if end is not None:
            stmt = stmt.where(raw_ts <= to_unix_seconds(end))
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
