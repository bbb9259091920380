"""Split a long-format upload (one row per symbol and date) into one validated frame per symbol.

Layouts read: ``symbol,date,price``; Kaggle's all-stocks ``date,open,high,low,close,volume,Name``;
Nixtla's ``unique_id,ds,y``. Cells are checked for the whole table at once; sorting, repeated
rows, resampling and filling then happen per symbol. Every error names its symbol.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import IO, Any

import numpy as np
import pandas as pd

from app.errors import MAX_LISTED_ERRORS, ErrorItem, InvalidUpload
from app.series.parsing import (
    Cells,
    ParsedFrame,
    ParseOptions,
    TextColumns,
    clean_cells,
    csv_line_numbers,
    find_date_column,
    finish,
    raise_cell_errors,
    read_csv_table,
    records_frame,
    snake_case,
)

SYMBOL_COLUMN_NAMES = ("symbol", "ticker", "name", "unique_id")
SYMBOL_PATTERN = r"^[A-Za-z0-9^][A-Za-z0-9._^=-]{0,39}$"
_SYMBOL = re.compile(SYMBOL_PATTERN)


def parse_long_csv(
    file: IO[bytes], options: ParseOptions, *, symbol_column: str | None
) -> dict[str, ParsedFrame]:
    def symbols(header: list[str], date_column: str) -> str:
        return _find_symbol_column(header, symbol_column, date_column)

    raw, date_column, sha256 = read_csv_table(file, options, text_column=symbols)
    return _split(
        raw,
        date_column,
        symbols(list(raw.columns), date_column),
        csv_line_numbers(raw),
        options,
        sha256,
        text_columns="ignore",
    )


def parse_long_records(
    records: Sequence[Mapping[str, Any]],
    options: ParseOptions,
    *,
    symbol_column: str | None,
    sha256: str,
) -> dict[str, ParsedFrame]:
    if not records:
        raise InvalidUpload("No observations were sent.")
    raw = records_frame(records)
    date_column = find_date_column(list(raw.columns), options.date_column)
    symbols = _find_symbol_column(list(raw.columns), symbol_column, date_column)
    return _split(
        raw, date_column, symbols, np.arange(len(raw)), options, sha256, text_columns="reject"
    )


def _find_symbol_column(columns: Sequence[str], requested: str | None, date_column: str) -> str:
    wanted = (requested,) if requested is not None else SYMBOL_COLUMN_NAMES
    for name in wanted:
        for col in columns:
            if col != date_column and snake_case(str(col)) == snake_case(name):
                return str(col)
    if requested is not None:
        raise InvalidUpload(
            f"symbol_column '{requested}' is not a column; columns are {list(columns)}.",
            errors=[ErrorItem(row=1, column=requested, message="no such column")],
        )
    raise InvalidUpload(
        f"No symbol column found among {list(columns)}. Name it one of "
        f"{list(SYMBOL_COLUMN_NAMES)} or pass symbol_column.",
        errors=[ErrorItem(row=1, message="no symbol column")],
    )


def _symbols(column: pd.Series, rows: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
    """Each row's symbol as a code into the sorted distinct symbols, or a 422 naming the rows
    without a valid one. Only the distinct values are cleaned (hundreds, not every row)."""
    codes, distinct = pd.factorize(column, use_na_sentinel=True)
    cleaned = [_text(v) for v in distinct]
    symbols, merged = np.unique(np.array([*cleaned, ""], dtype=object), return_inverse=True)
    codes = merged[codes]  # -1 (no value) picks the "" appended last
    names = [str(v) for v in symbols]
    bad = np.array([not _SYMBOL.match(v) for v in names], dtype=bool)  # "" included
    bad_rows = np.flatnonzero(bad[codes])
    if len(bad_rows):
        _refuse_symbols(bad_rows, codes, names, rows, name)
    return codes, names


def _refuse_symbols(
    bad_rows: np.ndarray, codes: np.ndarray, names: list[str], rows: np.ndarray, column: str
) -> None:
    """A 422 that names every distinct bad symbol once (up to the problem's list), then more
    rows of them, and counts every row: one upload shows all there is to fix."""
    _, first = np.unique(codes[bad_rows], return_index=True)
    firsts = bad_rows[np.sort(first)]
    others = np.setdiff1d(bad_rows, firsts)
    listed = np.sort(np.concatenate([firsts, others])[:MAX_LISTED_ERRORS])
    errors = [
        ErrorItem(row=int(rows[i]), column=column, message="empty symbol")
        if not names[codes[i]]
        else ErrorItem(
            row=int(rows[i]), column=column, symbol=names[codes[i]][:40],
            message="a symbol is 1 to 40 letters, digits or . _ ^ = - (not . _ = - first)",
        )
        for i in listed
    ]  # fmt: skip
    distinct = [names[c][:40] for c in np.unique(codes[bad_rows])]
    shown = ", ".join(repr(d) if d else "empty" for d in distinct[:10])
    shown += " …" if len(distinct) > 10 else ""
    raise InvalidUpload(
        f"{len(bad_rows)} row(s) without a valid symbol ({len(distinct)} distinct: {shown}); "
        "see errors.",
        errors=errors,
        extra={"errors_total": len(bad_rows)} if len(bad_rows) > len(errors) else None,
    )


def _text(value: object) -> str:
    """A symbol as text: JSON numbers read as floats, so 7 (7.0) is "7" as in a CSV file."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _split(
    raw: pd.DataFrame,
    date_column: str,
    symbol_column: str,
    rows: np.ndarray,
    options: ParseOptions,
    sha256: str,
    *,
    text_columns: TextColumns,
) -> dict[str, ParsedFrame]:
    codes, names = _symbols(raw[symbol_column], rows, symbol_column)
    cells = clean_cells(
        raw.drop(columns=[symbol_column]),
        date_column,
        rows,
        text_columns=text_columns,
        date_order=options.date_order,
    )
    if cells.errors:
        symbol_of_row = dict(zip(rows.tolist(), (names[c] for c in codes), strict=True))
        raise_cell_errors([replace(e, symbol=symbol_of_row.get(e.row)) for e in cells.errors])
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    parsed: dict[str, ParsedFrame] = {}
    errors: list[ErrorItem] = []
    refused: list[str] = []
    for code, symbol in enumerate(names):
        positions = order[bounds[code] : bounds[code + 1]]
        if not len(positions):
            continue
        member = Cells(cells.frame.iloc[positions], cells.ignored, [])
        try:
            parsed[str(symbol)] = finish(member, options, sha256)
        except InvalidUpload as exc:
            refused.append(str(symbol))
            problems = exc.errors or [ErrorItem(message=exc.detail)]
            errors.extend(replace(e, symbol=str(symbol)) for e in problems)
    if refused:
        shown = ", ".join(refused[:10]) + (" …" if len(refused) > 10 else "")
        raise InvalidUpload(
            f"{len(refused)} symbol(s) have invalid rows ({shown}); see errors. Nothing was "
            "stored.",
            errors=errors,
        )
    return parsed
