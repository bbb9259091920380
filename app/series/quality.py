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
