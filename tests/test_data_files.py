"""The data files in tests/data: each one is described in its README, and the hourly real series
are the slices the README says (whole hours, no gap, no clock-change artefact)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tests.support.data import DATA_DIR

README = DATA_DIR / "README.md"


def test_every_data_file_has_a_readme_entry_and_every_entry_a_file() -> None:
    described = set(re.findall(r"^- `([^`]+)`:", README.read_text(), flags=re.MULTILINE))
    present = {p.name for p in DATA_DIR.iterdir() if p.suffix == ".csv"}
    assert present == described


@pytest.mark.parametrize(
    ("filename", "first", "last", "points", "low", "high"),
    [
        ("electricity_hourly.csv", "2014-03-31T00:00", "2014-10-25T23:00", 5016, 1000.0, 5000.0),
        ("sf_traffic_hourly.csv", "2016-01-04T00:00", "2016-09-11T23:00", 6048, 0.0, 1.0),
    ],
)
def test_hourly_series_are_whole_weeks_of_contiguous_hours(
    filename: str, first: str, last: str, points: int, low: float, high: float
) -> None:
    frame = pd.read_csv(DATA_DIR / filename)
    assert list(frame.columns) == ["date", "value"]
    dates = pd.DatetimeIndex(pd.to_datetime(frame["date"], format="%Y-%m-%dT%H:%M:%S"))
    values = frame["value"]
    assert len(frame) == points
    assert (dates[0], dates[-1]) == (pd.Timestamp(first), pd.Timestamp(last))
    assert dates[0].day_name() == "Monday"
    assert (pd.Series(dates).diff().iloc[1:] == pd.Timedelta(hours=1)).all()
    assert values.notna().all()
    # Above ``low``: the spring clock-change hours (5.8–54 kW) and the zeros lie outside.
    assert values.gt(low).all()
    assert values.lt(high).all()
