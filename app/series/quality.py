"""Data-quality summary of a stored series: duplicates, gaps, suspicious and empty values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.ml.calendar import expected_index, format_period
from app.series.parsing import PRICE_FIELDS


def gap_summary(index: pd.DatetimeIndex, frequency: str, exchange: str | None) -> dict[str, Any]:
    """Periods the calendar expects but the data lacks, and data on days it does not expect."""
    calendar = exchange if exchange and frequency in ("B", "D") else frequency
    expected = expected_index(index[0], index[-1], frequency, exchange)
    if expected is None:
        return {"calendar": calendar, "missing_periods": None, "largest": None, "off_calendar": 0}
    present = expected.isin(index)
    missing_positions = np.flatnonzero(~present)
    largest = None
    if len(missing_positions):
        # Split the missing positions into runs of consecutive expected periods.
        breaks = np.flatnonzero(np.diff(missing_positions) != 1) + 1
        runs = np.split(missing_positions, breaks)
        run = max(runs, key=len)
        largest = {
            "after": format_period(expected[run[0] - 1]) if run[0] > 0 else None,
            "before": format_period(expected[run[-1] + 1]) if run[-1] + 1 < len(expected) else None,
            "missing": len(run),
        }
    return {
        "calendar": calendar,
        "missing_periods": len(missing_positions),
        "largest": largest,
        "off_calendar": int((~index.isin(expected)).sum()),
    }


def quality_summary(
    frame: pd.DataFrame,
    *,
    frequency: str,
    exchange: str | None,
    duplicate_rows: int,
    empty_cells: dict[str, int],
    filled_cells: int,
    unsorted_input: bool,
) -> dict[str, Any]:
    prices = [c for c in frame.columns if c in PRICE_FIELDS]
    non_positive = {c: int((frame[c] <= 0).sum()) for c in prices}
    return {
        "duplicate_rows": duplicate_rows,
        "empty_cells": empty_cells,
        "filled_cells": filled_cells,
        "non_positive_prices": {c: n for c, n in non_positive.items() if n},
        "unsorted_input": unsorted_input,
        "gaps": gap_summary(pd.DatetimeIndex(frame.index), frequency, exchange),
    }


def extend_summary(
    previous: dict[str, Any],
    stored: tuple[pd.Timestamp, pd.Timestamp],
    new: pd.DataFrame,
    *,
    frequency: str,
    exchange: str | None,
) -> dict[str, Any] | None:
    """Gaps and non-positive prices of a series after ``new`` rows, all dated after its last
    stored date, were appended: what :func:`quality_summary` would say of the whole series,
    from the previous summary, the first and last ``stored`` dates and the new rows alone (a
    daily append need not re-read years of data). None where that cannot be exact: a calendar
    with no rule, or a last stored date off it."""
    first_stored, last_stored = stored
    index = pd.DatetimeIndex([last_stored, *pd.DatetimeIndex(new.index)])
    expected = expected_index(index[0], index[-1], frequency, exchange)
    gaps = dict(previous["gaps"])
    if expected is None or gaps["missing_periods"] is None or last_stored not in expected:
        return None
    step = pd.tseries.frequencies.to_offset(frequency)
    if isinstance(step, pd.offsets.Tick) and (last_stored - first_stored) % pd.Timedelta(step):
        return None  # intraday steps are counted from the first date: off that grid
    tail = gap_summary(index, frequency, exchange)
    gaps["missing_periods"] += tail["missing_periods"]
    old, more = gaps["largest"], tail["largest"]
    if more is not None and (old is None or more["missing"] > old["missing"]):
        gaps["largest"] = more  # a tie keeps the earlier gap, as the full count does
    gaps["off_calendar"] += tail["off_calendar"]
    non_positive = dict(previous["non_positive_prices"])
    for column in new.columns:
        if column in PRICE_FIELDS:
            count = non_positive.get(column, 0) + int((new[column] <= 0).sum())
            if count:
                non_positive[column] = count
    return {"gaps": gaps, "non_positive_prices": non_positive}
