"""Turn an uploaded CSV file or JSON records into a validated frame, or say row by row why not.

The result is a float frame indexed by a sorted, unique, naive-UTC ``DatetimeIndex`` named
``date``, with snake_case field names. Nothing here touches the database.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, Literal

import numpy as np
import pandas as pd

from app.errors import ErrorItem, InvalidUpload

FillMethod = Literal["ffill"]
DateOrder = Literal["day_first", "month_first"]
# What an upload does with a text column that is not its date column.
TextColumns = Literal["ignore", "reject"]
MAX_FIELD_NAME = 64
DATE_COLUMN_NAMES = ("date", "datetime", "timestamp", "time", "day", "ds")
PRICE_FIELDS = frozenset(
    {"open", "high", "low", "close", "adj_close", "price", "value", "weighted_price", "vwap"}
)
# Unix timestamps at or above this are taken as milliseconds (seconds would be year 5138+).
_UNIX_MS_THRESHOLD = 100_000_000_000
_UNIX_MIN_SECONDS = 100_000_000
# Dates a timestamp can hold everywhere (pandas nanoseconds): 1678 to 2261.
EARLIEST_DATE = pd.Timestamp("1678-01-01")
LATEST_DATE = pd.Timestamp("2261-12-31")
_HASH_CHUNK = 1 << 20
RESAMPLE_PATTERN = r"^[1-9]\d{0,3}(min|h|D|W)$"
# 31/12/2016, 12.31.16, 31-12-2016 13:45: day and month in either order, then the year.
_DAY_MONTH_YEAR = r"^\s*(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?:\d{4}|\d{2})(?!\d)"


@dataclass(frozen=True)
class ParseOptions:
    date_column: str | None = None
    resample: str | None = None
    fill: FillMethod | None = None
    date_order: DateOrder | None = None


@dataclass
class ParsedFrame:
    """A validated upload and what was noticed while cleaning it."""

    frame: pd.DataFrame
    sha256: str
    duplicate_rows: int = 0
    empty_cells: dict[str, int] = field(default_factory=dict)
    filled_cells: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    was_sorted: bool = True
    source_rows: int = 0
    # Row (CSV line or JSON index) each date came from; None after resampling.
    source_row: pd.Series | None = None


def snake_case(name: str) -> str:
    """Normalise a column name: ``Adj Close`` → ``adj_close``, ``Volume_(BTC)`` → ``volume_btc``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()


def resample_aggregation(field_name: str) -> str:
    """How a field is aggregated by ``resample``: OHLC rules, sums for volumes, else mean."""
    if field_name == "open":
        return "first"
    if field_name == "high":
        return "max"
    if field_name == "low":
        return "min"
    if field_name in ("close", "adj_close", "price", "value"):
        return "last"
    if field_name.startswith("volume"):
        return "sum"
    return "mean"


# --------------------------------------------------------------------------- entry points


def read_csv_table(
    file: IO[bytes],
    options: ParseOptions,
    *,
    text_column: Callable[[list[str], str], str] | None = None,
) -> tuple[pd.DataFrame, str, str]:
    """The raw table of a CSV upload, its date column and the sha256 of its bytes.
    ``text_column(header, date_column)`` names a column read as it is written (``007`` stays
    ``007``, ``NA`` and an empty cell stay text), e.g. ticker symbols."""
    sha256 = _check_utf8_and_hash(file)
    file.seek(0)
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        header = next(csv.reader(text, skipinitialspace=True), None)
        if not header or not any(h.strip() for h in header):
            raise InvalidUpload("The file is empty: expected a header row and data rows.")
        counts = Counter(h.strip() for h in header)
        repeated = sorted(n for n, times in counts.items() if n and times > 1)
        if repeated:  # pandas would rename the second 'close' to 'close.1' and store both
            raise InvalidUpload(
                f"The header repeats {repeated}: each column needs a name of its own.",
                errors=[
                    ErrorItem(row=1, column=n, message="duplicate column name") for n in repeated
                ],
            )
        date_column = find_date_column(header, options.date_column)
        converters = {text_column(header, date_column): str} if text_column else None
        text.seek(0)
        with warnings.catch_warnings():
            # pandas 3 deprecates the option, but its default parser is not exact for 17-digit
            # values: round_trip keeps every stored number equal to the one in the file.
            warnings.filterwarnings("ignore", "The 'float_precision'", FutureWarning)
            warnings.filterwarnings("ignore", "The 'float_precision'", DeprecationWarning)
            raw = pd.read_csv(
                text,
                skipinitialspace=True,
                skip_blank_lines=True,
                float_precision="round_trip",
                converters=converters,
            )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise InvalidUpload(f"The file is not well-formed CSV: {exc}".strip()) from exc
    finally:
        text.detach()
    if raw.empty:
        raise InvalidUpload("The file has a header but no data rows.")
    return raw, date_column, sha256


def csv_line_numbers(raw: pd.DataFrame) -> np.ndarray:
    """CSV line of each row: the header is line 1 (blank lines are skipped by pandas)."""
    return np.arange(len(raw)) + 2


def parse_csv(file: IO[bytes], options: ParseOptions) -> ParsedFrame:
    """Validate a CSV upload (UTF-8, header row, one date column, numeric fields)."""
    raw, date_column, sha256 = read_csv_table(file, options)
    rows = csv_line_numbers(raw)
    cells = clean_cells(
        raw, date_column, rows, text_columns="ignore", date_order=options.date_order
    )
    return finish(cells, options, sha256)


def parse_records(
    records: Sequence[Mapping[str, Any]], options: ParseOptions, *, sha256: str
) -> ParsedFrame:
    """Validate JSON observations ``[{date, <field>: value, …}]``; rows are 0-based indices."""
    if not records:
        raise InvalidUpload("No observations were sent.")
    raw = records_frame(records)
    date_column = find_date_column(list(raw.columns), options.date_column)
    cells = clean_cells(
        raw, date_column, np.arange(len(raw)), text_columns="reject", date_order=options.date_order
    )
    return finish(cells, options, sha256)


# --------------------------------------------------------------------------- steps


def records_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """JSON observations as a table, refusing a NUL character in a key (a field's name: text
    PostgreSQL cannot store; in a CSV file :func:`_check_utf8_and_hash` finds it)."""
    raw = pd.DataFrame.from_records(list(records))
    for column in raw.columns:
        if "\x00" in str(column):
            raise InvalidUpload(
                f"Field name {str(column)!r} holds a NUL character (U+0000); names cannot.",
                errors=[ErrorItem(column=str(column), message="NUL character in a field name")],
            )
    return raw


def _check_utf8_and_hash(file: IO[bytes]) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    newlines = 0
    offset = 0
    while chunk := file.read(_HASH_CHUNK):
        digest.update(chunk)
        if (nul := chunk.find(b"\x00")) >= 0:  # text that PostgreSQL cannot store
            line = newlines + chunk.count(b"\n", 0, nul) + 1
            raise InvalidUpload(
                f"The file holds a NUL byte at byte {offset + nul} (line {line}): CSV text "
                "cannot (a UTF-16 file? Save it as UTF-8 CSV and upload again).",
                errors=[ErrorItem(row=line, message=f"NUL byte at offset {offset + nul}")],
            )
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            bad = offset + exc.start
            line = newlines + chunk.count(b"\n", 0, exc.start) + 1
            raise InvalidUpload(
                f"The file is not UTF-8 text: invalid byte 0x{chunk[exc.start]:02x} at byte "
                f"{bad} (line {line}). Save it as UTF-8 CSV and upload again.",
                errors=[ErrorItem(row=line, message=f"invalid UTF-8 byte at offset {bad}")],
            ) from exc
        newlines += chunk.count(b"\n")
        offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise InvalidUpload("The file is not UTF-8 text: it ends inside a character.") from exc
    if offset == 0:
        raise InvalidUpload("The file is empty: expected a header row and data rows.")
    return digest.hexdigest()


def find_date_column(columns: Sequence[str], requested: str | None) -> str:
    if requested is not None:
        for col in columns:
            if col == requested or snake_case(col) == snake_case(requested):
                return col
        raise InvalidUpload(
            f"date_column '{requested}' is not a column; columns are {list(columns)}.",
            errors=[ErrorItem(row=1, column=requested, message="no such column")],
        )
    for col in columns:
        if snake_case(col) in DATE_COLUMN_NAMES:
            return col
    raise InvalidUpload(
        f"No date column found among {list(columns)}. Name it one of {list(DATE_COLUMN_NAMES)} "
        "or pass date_column.",
        errors=[ErrorItem(row=1, message="no date column")],
    )


@dataclass
class Cells:
    """Every row of an upload checked cell by cell: dates and numeric fields, with the row each
    came from (``_row``), or the errors found; not yet sorted or deduplicated."""

    frame: pd.DataFrame
    ignored: list[str]
    errors: list[ErrorItem]


def clean_cells(
    raw: pd.DataFrame,
    date_column: str,
    rows: np.ndarray,
    *,
    text_columns: TextColumns,
    date_order: DateOrder | None = None,
) -> Cells:
    errors: list[ErrorItem] = []
    dates = _parse_dates(raw[date_column], rows, date_column, errors, date_order)
    values, ignored = _numeric_fields(
        raw.drop(columns=[date_column]), rows, errors, ignore_text=text_columns == "ignore"
    )
    if not errors and values.shape[1] == 0:
        raise InvalidUpload(
            f"No numeric columns besides the date column '{date_column}'"
            + (f" (text-only columns: {ignored})." if ignored else "."),
            errors=[ErrorItem(row=1, message="no numeric column")],
        )
    frame = values.set_axis(pd.DatetimeIndex(dates, name="date"), axis=0)
    frame.insert(0, "_row", rows)
    return Cells(frame, ignored, errors)


def raise_cell_errors(errors: list[ErrorItem]) -> None:
    if errors:
        errors.sort(key=lambda e: e.row or 0)
        raise InvalidUpload(_summary(errors, "cell"), errors=errors)


def finish(cells: Cells, options: ParseOptions, sha256: str) -> ParsedFrame:
    """Sort by date, drop repeated rows, then resample and fill as the options ask."""
    raise_cell_errors(cells.errors)
    frame = cells.frame
    source_rows = len(frame)
    was_sorted = bool(frame.index.is_monotonic_increasing)
    frame = frame.sort_index(kind="stable")
    frame, duplicate_rows = _drop_duplicate_rows(frame)
    row_of = frame.pop("_row")
    empty = {str(c): int(n) for c, n in frame.isna().sum().items() if n}
    parsed = ParsedFrame(
        frame=frame,
        sha256=sha256,
        duplicate_rows=duplicate_rows,
        empty_cells=empty,
        ignored_columns=cells.ignored,
        was_sorted=was_sorted,
        source_rows=source_rows,
        source_row=row_of,
    )
    if options.resample:
        parsed.frame = _resample(frame, options.resample)
        parsed.source_row = None
    _fill_or_reject_empty(parsed, options.fill)
    return parsed


def _bad_date(cell: Any) -> str:
    """Why a date cell did not parse: empty, beyond what pandas holds (it coerces dates past
    2262 to NaT; ISO dates are recognised as such), or not a date at all."""
    if pd.isna(cell):
        return "empty date"
    try:
        when = datetime.fromisoformat(str(cell).strip())
    except ValueError:
        return f"unparseable date '{cell}' (expected ISO 8601, e.g. 2024-01-13, or Unix seconds)"
    return f"date {when.replace(tzinfo=None)} out of range"


def _parse_dates(
    column: pd.Series,
    rows: np.ndarray,
    name: str,
    errors: list[ErrorItem],
    date_order: DateOrder | None = None,
) -> pd.DatetimeIndex:
    if _is_unix_time(column):
        unit: Literal["s", "ms"] = "ms" if float(column.max()) >= _UNIX_MS_THRESHOLD else "s"
        parsed = pd.to_datetime(column, unit=unit, errors="coerce")
    else:
        if pd.api.types.is_numeric_dtype(column):  # e.g. 20161230
            column = column.map(_number_as_text)
        day_first = _day_first(column, rows, name, errors, date_order)
        parsed = pd.to_datetime(
            column, errors="coerce", utc=True, dayfirst=day_first
        ).dt.tz_localize(None)
    bad = parsed.isna().to_numpy()
    told = {e.row for e in errors}  # the order of day and month, said already
    for i in [i for i in np.flatnonzero(bad) if rows[i] not in told][:50]:
        errors.append(ErrorItem(row=int(rows[i]), column=name, message=_bad_date(column.iloc[i])))
    index = pd.DatetimeIndex(parsed).as_unit("us")
    out_of_range = ~bad & ((index < EARLIEST_DATE) | (index > LATEST_DATE))
    for i in np.flatnonzero(out_of_range)[:20]:
        errors.append(
            ErrorItem(row=int(rows[i]), column=name, message=f"date {index[i]} out of range")
        )
    sub_second = ~bad & (index.asi8 % 1_000_000 != 0)
    for i in np.flatnonzero(sub_second)[:20]:
        errors.append(ErrorItem(row=int(rows[i]), column=name, message="timestamps finer than 1 s"))
    return index.as_unit("s")


def _day_first(
    column: pd.Series,
    rows: np.ndarray,
    name: str,
    errors: list[ErrorItem],
    date_order: DateOrder | None,
) -> bool:
    """Whether dates written ``dd/mm/yyyy`` or ``mm/dd/yyyy`` (``/``, ``.`` or ``-``) put the day
    first: as ``date_order`` says, else as the column shows (a first number above 12 is a day, a
    second one above 12 is a day). A column where neither shows is refused rather than guessed
    (pandas would read 01/02/2020 as 2 January and a European 1 February silently wrong); so is
    a date that contradicts the order. Any other way of writing dates is left to pandas."""
    given = column.notna().to_numpy()
    if not given.any() or re.match(_DAY_MONTH_YEAR, str(column.iloc[given.argmax()])) is None:
        return False  # ISO dates and the like: no need to look at every cell
    stripped = column[given].astype(str).str.strip()
    text = stripped[stripped != ""].to_numpy()  # blank cells are "empty date" errors
    present = given.copy()
    present[given] = (stripped != "").to_numpy()
    parts = pd.Series(text, dtype=object).str.extract(_DAY_MONTH_YEAR)
    if parts["a"].isna().any():
        return False
    first, second = parts["a"].astype(int).to_numpy(), parts["b"].astype(int).to_numpy()
    row_of = rows[present]

    def refuse(at: int, message: str) -> None:
        errors.append(ErrorItem(row=int(row_of[at]), column=name, message=message))

    if date_order is None:
        days_first, days_second = np.flatnonzero(first > 12), np.flatnonzero(second > 12)
        if len(days_first) and len(days_second):
            day, month = text[days_first[0]], text[days_second[0]]
            refuse(days_second[0], f"dates written in both orders: '{day}' puts the day first, "
                                   f"'{month}' the month")  # fmt: skip
            return False
        if len(days_first) or len(days_second):
            return bool(len(days_first))
        unclear = np.flatnonzero(first != second)
        if len(unclear):
            refuse(unclear[0], f"ambiguous date '{text[unclear[0]]}': no date of the column has a "
                               "day above 12 to tell whether the day or the month comes first; "
                               "send date_order (day_first or month_first), or write dates as "
                               "ISO 8601 (2020-02-01)")  # fmt: skip
        return False
    day_first = date_order == "day_first"
    month = second if day_first else first
    for at in np.flatnonzero(month > 12)[:20]:
        refuse(at, f"'{text[at]}' has no month {month[at]} ({date_order} was sent)")
    return day_first


def _is_unix_time(column: pd.Series) -> bool:
    """Numbers from 1e8 on (1973-03-03 in seconds) are Unix times; 20161230 is a date."""
    return bool(
        pd.api.types.is_numeric_dtype(column)
        and column.notna().all()
        and float(column.min()) >= _UNIX_MIN_SECONDS
    )


def _number_as_text(value: Any) -> str | None:
    if pd.isna(value):
        return None
    return str(int(value)) if float(value).is_integer() else str(value)


def _numeric_fields(
    raw: pd.DataFrame, rows: np.ndarray, errors: list[ErrorItem], *, ignore_text: bool
) -> tuple[pd.DataFrame, list[str]]:
    """Numeric columns as float64 under snake_case names; all-text columns may be ignored."""
    out: dict[str, np.ndarray] = {}
    ignored: list[str] = []
    for col in raw.columns:
        series = raw[col]
        name = snake_case(str(col))
        if not name or name.startswith("unnamed"):
            ignored.append(str(col))
            continue
        if pd.api.types.is_bool_dtype(series):
            ignored.append(str(col))
            continue
        numbers = pd.to_numeric(series, errors="coerce").astype("float64")
        not_numeric = numbers.isna() & series.notna()
        if ignore_text and not_numeric.all() and series.notna().any():
            ignored.append(str(col))  # a text column such as a ticker symbol
            continue
        for i in np.flatnonzero(not_numeric.to_numpy())[:50]:
            errors.append(
                ErrorItem(
                    row=int(rows[i]), column=name, message=f"not a number: '{series.iloc[i]}'"
                )
            )
        infinite = np.isinf(numbers.to_numpy())
        for i in np.flatnonzero(infinite)[:20]:
            errors.append(ErrorItem(row=int(rows[i]), column=name, message="not a finite number"))
        if name in out:
            errors.append(ErrorItem(row=1, column=name, message="duplicate column name"))
            continue
        if len(name) > MAX_FIELD_NAME:
            errors.append(ErrorItem(row=1, column=name[:40] + "…", message="column name too long"))
            continue
        out[name] = numbers.to_numpy()
    return pd.DataFrame(out, index=raw.index), ignored


def _drop_duplicate_rows(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop repeats of an identical row; reject a date that carries different values."""
    dup = frame.index.duplicated(keep=False)
    if not dup.any():
        return frame, 0
    repeated = frame[dup]
    values = repeated.drop(columns="_row")
    distinct = values.fillna(np.inf).groupby(level=0).nunique().max(axis=1)
    conflicting = distinct[distinct > 1].index
    if len(conflicting):
        bad = repeated.loc[repeated.index.isin(conflicting)]
        errors = [
            ErrorItem(
                row=int(r),
                column="date",
                message=f"date {d:%Y-%m-%d %H:%M:%S} appears more than once with different values",
            )
            for d, r in zip(bad.index, bad["_row"], strict=True)
        ]
        raise InvalidUpload(
            f"{len(conflicting)} date(s) appear more than once with different values.",
            errors=errors,
        )
    kept = frame[~frame.index.duplicated(keep="first")]
    return kept, len(frame) - len(kept)


def _resample(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    agg = {c: resample_aggregation(str(c)) for c in frame.columns}
    resampled = frame.resample(rule).agg(agg)
    # Sums of nothing are 0: a period where a field had no value at all stays empty.
    counts = frame.resample(rule).count()
    resampled = resampled.where(counts > 0)
    # Periods with no data at all (weekends, outages) are absent, never invented.
    return resampled.dropna(how="all")


def _fill_or_reject_empty(parsed: ParsedFrame, fill: FillMethod | None) -> None:
    frame = parsed.frame
    empty = frame.isna()
    if not empty.to_numpy().any():
        return
    if fill == "ffill":
        filled = frame.ffill()
        parsed.filled_cells = int(empty.to_numpy().sum() - filled.isna().to_numpy().sum())
        parsed.frame = frame = filled
        empty = frame.isna()
        if not empty.to_numpy().any():
            return
    errors = []
    for col in frame.columns:
        for ts in frame.index[empty[col].to_numpy()][:50]:
            row = None if parsed.source_row is None else int(parsed.source_row.loc[ts])
            hint = "no earlier value to carry forward" if fill else "empty cell"
            errors.append(ErrorItem(row=row, column=str(col), message=f"{hint} at {ts}"))
    errors.sort(key=lambda e: e.row or 0)
    hint = "" if fill else " Pass fill=ffill to carry the last value forward."
    raise InvalidUpload(_summary(errors, "empty cell") + hint, errors=errors)


def _summary(errors: list[ErrorItem], what: str) -> str:
    rows = sorted({e.row for e in errors if e.row is not None})
    where = (
        f" in rows {', '.join(map(str, rows[:5]))}{' …' if len(rows) > 5 else ''}" if rows else ""
    )
    return f"{len(errors)} invalid {what}(s){where}; see errors."
