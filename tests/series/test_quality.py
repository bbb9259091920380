"""A quality summary extended by appended rows says what a full recount would say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.series.quality import extend_summary, quality_summary


def summary(frame: pd.DataFrame, frequency: str, exchange: str | None) -> dict[str, object]:
    return quality_summary(
        frame, frequency=frequency, exchange=exchange, duplicate_rows=0, empty_cells={},
        filled_cells=0, unsorted_input=False,
    )  # fmt: skip


def frame_of(index: pd.DatetimeIndex, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = rng.normal(10, 6, len(index))  # some values ≤ 0 on purpose
    return pd.DataFrame({"close": close, "volume": rng.integers(0, 9, len(index))}, index=index)


def drop(index: pd.DatetimeIndex, rng: np.random.Generator, share: float) -> pd.DatetimeIndex:
    keep = rng.random(len(index)) >= share
    keep[0] = keep[-1] = True
    return index[keep]


@pytest.mark.parametrize(
    ("frequency", "exchange", "full"),
    [
        ("B", None, pd.bdate_range("2019-01-02", periods=400)),
        ("B", "XNYS", pd.bdate_range("2019-01-02", periods=400)),
        ("D", None, pd.date_range("2019-01-01", periods=400)),
        ("W-FRI", None, pd.date_range("2010-01-01", periods=200, freq="W-FRI")),
        ("h", None, pd.date_range("2020-01-01 09:00", periods=500, freq="h")),
    ],
)
@pytest.mark.parametrize("seed", range(6))
def test_extending_equals_recounting(
    frequency: str, exchange: str | None, full: pd.DatetimeIndex, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    index = drop(full, rng, share=[0.0, 0.02, 0.1][seed % 3])
    if seed % 2:  # a stray Saturday print at the end, in the appended part
        index = index.append(pd.DatetimeIndex([index[-1] + pd.offsets.Week(weekday=5)]))
    frame = frame_of(index, seed)
    cut = int(len(frame) * [0.5, 0.9, 0.97][seed % 3])
    head, tail = frame.iloc[:cut], frame.iloc[cut:]
    before = summary(head, frequency, exchange)
    stored = (head.index[0], head.index[-1])
    extended = extend_summary(before, stored, tail, frequency=frequency, exchange=exchange)
    if extended is None:  # only where the last stored date is off the calendar
        assert before["gaps"]["off_calendar"] > 0  # type: ignore[index]
        return
    whole = summary(frame, frequency, exchange)
    assert extended == {"gaps": whole["gaps"], "non_positive_prices": whole["non_positive_prices"]}


def test_a_longer_new_gap_becomes_the_largest_and_a_tie_keeps_the_earlier() -> None:
    days = pd.bdate_range("2021-01-04", periods=60)
    head_index = days[:30].delete([10, 11])  # a two-day gap
    for tail_index, largest_after in (
        (days[30:].delete([5, 6, 7]), days[34]),  # three days: the new one is the largest
        (days[30:].delete([5, 6]), days[9]),  # two days again: the earlier stays
    ):
        head, tail = frame_of(head_index), frame_of(tail_index, 1)
        before = summary(head, "B", None)
        extended = extend_summary(before, (head_index[0], head_index[-1]), tail, frequency="B",
                                  exchange=None)  # fmt: skip
        assert extended is not None
        assert extended["gaps"]["largest"]["after"] == largest_after.strftime("%Y-%m-%d")
        assert extended["gaps"] == summary(pd.concat([head, tail]), "B", None)["gaps"]
