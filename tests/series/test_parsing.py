"""Pure parsing and calendar rules (no HTTP, no database)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from app.errors import InvalidUpload
from app.ml.calendar import IRREGULAR, infer_frequency
from app.series.parsing import ParseOptions, parse_csv, resample_aggregation, snake_case


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Adj Close", "adj_close"),
        ("OpenInt", "open_int"),
        ("Volume_(BTC)", "volume_btc"),
        ("Volume_(Currency)", "volume_currency"),
        ("Weighted_Price", "weighted_price"),
        (" close ", "close"),
        ("HIGH", "high"),
    ],
)
def test_snake_case(raw: str, expected: str) -> None:
    assert snake_case(raw) == expected


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (pd.bdate_range("2020-01-01", periods=60), "B"),
        (pd.date_range("2020-01-01", periods=60, freq="D"), "D"),
        (pd.date_range("2020-01-03", periods=30, freq="W-FRI"), "W-FRI"),
        (pd.date_range("2020-01-01", periods=24, freq="MS"), "MS"),
        (pd.date_range("2020-01-31", periods=24, freq="ME"), "ME"),
        (pd.date_range("2020-01-01", periods=600, freq="min"), "min"),
        (pd.date_range("2020-01-01", periods=100, freq="15min"), "15min"),
        (pd.date_range("2020-01-01", periods=100, freq="h"), "h"),
        (pd.DatetimeIndex(["2020-01-01", "2020-03-17", "2021-06-02"]), IRREGULAR),
    ],
)
def test_infer_frequency(index: pd.DatetimeIndex, expected: str) -> None:
    assert infer_frequency(index) == expected


def test_business_days_with_holidays_stay_business_daily() -> None:
    days = pd.bdate_range("2020-01-01", periods=250)
    assert infer_frequency(days.delete([0, 13, 35, 70])) == "B"


@pytest.mark.parametrize(
    ("field", "how"),
    [
        ("open", "first"),
        ("high", "max"),
        ("low", "min"),
        ("close", "last"),
        ("adj_close", "last"),
        ("volume_btc", "sum"),
        ("weighted_price", "mean"),
    ],
)
def test_resample_rules(field: str, how: str) -> None:
    assert resample_aggregation(field) == how


def test_unix_seconds_and_milliseconds() -> None:
    seconds = parse_csv(io.BytesIO(b"Timestamp,v\n1483228800,1\n"), ParseOptions())
    millis = parse_csv(io.BytesIO(b"Timestamp,v\n1483228800000,1\n"), ParseOptions())
    assert seconds.frame.index[0] == millis.frame.index[0] == pd.Timestamp("2017-01-01")


def test_compact_dates_are_not_unix_times() -> None:
    parsed = parse_csv(io.BytesIO(b"date,v\n20161230,1\n"), ParseOptions())
    assert parsed.frame.index[0] == pd.Timestamp("2016-12-30")


def test_zoned_timestamps_become_utc() -> None:
    parsed = parse_csv(io.BytesIO(b"time,v\n2024-01-01T09:30:00-05:00,1\n"), ParseOptions())
    assert parsed.frame.index[0] == pd.Timestamp("2024-01-01 14:30:00")


def test_utf8_bom_is_accepted() -> None:
    parsed = parse_csv(io.BytesIO(b"\xef\xbb\xbfDate,Close\n2024-01-01,1\n"), ParseOptions())
    assert list(parsed.frame.columns) == ["close"]


def test_infinite_values_are_rejected() -> None:
    with pytest.raises(InvalidUpload) as err:
        parse_csv(io.BytesIO(b"date,v\n2024-01-01,inf\n"), ParseOptions())
    assert err.value.errors[0].message == "not a finite number"


def test_sub_second_timestamps_are_rejected() -> None:
    with pytest.raises(InvalidUpload) as err:
        parse_csv(io.BytesIO(b"time,v\n2024-01-01T00:00:00.5,1\n"), ParseOptions())
    assert "finer than 1 s" in err.value.errors[0].message


def dates_of(text: str, order: str | None = None) -> list[str]:
    options = ParseOptions(date_order=order)  # type: ignore[arg-type]
    return [str(d.date()) for d in parse_csv(io.BytesIO(text.encode()), options).frame.index]


def refusals(text: str, order: str | None = None) -> list[tuple[int | None, str]]:
    with pytest.raises(InvalidUpload) as err:
        dates_of(text, order)
    return [(e.row, e.message) for e in err.value.errors]


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("date,v\n01/02/2020,1\n13/02/2020,2\n", None, ["2020-02-01", "2020-02-13"]),
        ("date,v\n02/01/2020,1\n02/13/2020,2\n", None, ["2020-02-01", "2020-02-13"]),
        ("date,v\n31.12.2016 13:45,1\n01.01.2017 09:00,2\n", None, ["2016-12-31", "2017-01-01"]),
        ("date,v\n01-02-20,1\n01-03-20,2\n", "day_first", ["2020-02-01", "2020-03-01"]),
        ("date,v\n01/02/2020,1\n01/03/2020,2\n", "month_first", ["2020-01-02", "2020-01-03"]),
        ("date,v\n1/1/2020,1\n2/2/2020,2\n", None, ["2020-01-01", "2020-02-02"]),
        ("date,v\n2020-01-02,1\n2020-01-03,2\n", "day_first", ["2020-01-02", "2020-01-03"]),
    ],
)
def test_day_and_month_order_is_read_from_the_dates_or_sent(
    text: str, order: str | None, expected: list[str]
) -> None:
    assert dates_of(text, order) == expected


def test_dates_that_never_show_their_order_are_refused_not_guessed() -> None:
    """Monthly dates written day first (1 February, 1 March …) read month first by pandas
    would be consecutive days of January."""
    text = "date,v\n01/02/2020,1\n01/03/2020,2\n01/04/2020,3\n"
    [(row, message)] = refusals(text)
    assert row == 2
    assert "ambiguous date '01/02/2020'" in message
    assert "date_order" in message
    assert dates_of(text, "day_first") == ["2020-02-01", "2020-03-01", "2020-04-01"]


def test_dates_against_the_order_are_refused() -> None:
    assert refusals("date,v\n13/01/2020,1\n01/13/2020,2\n") == [
        (3, "dates written in both orders: '13/01/2020' puts the day first, '01/13/2020' the month")
    ]
    assert refusals("date,v\n12/01/2020,1\n13/01/2020,2\n", "month_first") == [
        (3, "'13/01/2020' has no month 13 (month_first was sent)")
    ]
