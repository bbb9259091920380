"""Accepted uploads: the layouts users already have, through real HTTP, on both databases."""

from __future__ import annotations

import hashlib
import io

import httpx
import pandas as pd
import pytest

from tests.series.helpers import bitstamp_minutes, upload_csv
from tests.support.data import DATA_DIR, MSFT_CSV


def test_msft_kaggle_file(client: httpx.Client) -> None:
    content = MSFT_CSV.read_bytes()
    response = upload_csv(client, "MSFT", content, "msft.csv", exchange="XNYS")
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/series/{body['id']}"
    assert body["row_count"] == 7765
    assert body["fields"] == ["open", "high", "low", "close", "volume", "open_int"]
    assert body["frequency"] == "B"
    assert (body["first_date"], body["last_date"]) == ("1986-03-13", "2016-12-30")
    assert body["content_sha256"] == hashlib.sha256(content).hexdigest()
    quality = body["quality"]
    assert quality["gaps"]["calendar"] == "XNYS"
    # Against the NYSE calendar only real missing sessions count as gaps (holidays don't).
    assert quality["gaps"]["missing_periods"] < 10
    assert quality["gaps"]["off_calendar"] == 0
    assert quality["duplicate_rows"] == 0
    assert quality["empty_cells"] == {}
    assert client.get(f"/v1/series/{body['id']}").json() == body


def test_business_day_gaps_without_exchange_count_holidays(client: httpx.Client) -> None:
    body = upload_csv(client, "MSFT", MSFT_CSV.read_bytes()).json()
    gaps = body["quality"]["gaps"]
    assert gaps["calendar"] == "B"
    # ~9 exchange holidays a year over 30 years are missing business days.
    assert gaps["missing_periods"] > 200


def test_yahoo_layout_normalises_field_names(client: httpx.Client) -> None:
    response = upload_csv(client, "SPY", (DATA_DIR / "yahoo_spy_2023_01.csv").read_bytes())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["fields"] == ["open", "high", "low", "close", "adj_close", "volume"]
    assert body["frequency"] == "B"
    assert body["row_count"] == 10
    # 2023-01-16 (Martin Luther King Jr. Day) is a business day without data.
    assert body["quality"]["gaps"]["missing_periods"] == 1


def test_generic_date_value(client: httpx.Client) -> None:
    content = b"date,value\n2024-01-05,10\n2024-01-06,11.5\n2024-01-07,12\n"
    body = upload_csv(client, "generic", content).json()
    assert body["fields"] == ["value"]
    assert body["frequency"] == "D"
    rows = client.get(f"/v1/series/{body['id']}/observations").json()["observations"]
    assert rows == [
        {"date": "2024-01-05", "value": 10.0},
        {"date": "2024-01-06", "value": 11.5},
        {"date": "2024-01-07", "value": 12.0},
    ]


def test_unsorted_dates_are_sorted(client: httpx.Client) -> None:
    content = b"date,value\n2024-01-03,3\n2024-01-01,1\n2024-01-02,2\n"
    body = upload_csv(client, "unsorted", content).json()
    assert body["quality"]["unsorted_input"] is True
    rows = client.get(f"/v1/series/{body['id']}/observations").json()["observations"]
    assert [r["value"] for r in rows] == [1.0, 2.0, 3.0]


def test_identical_duplicate_rows_are_dropped(client: httpx.Client) -> None:
    content = b"date,value\n2024-01-01,1\n2024-01-01,1\n2024-01-02,2\n"
    body = upload_csv(client, "dups", content).json()
    assert body["row_count"] == 2
    assert body["quality"]["duplicate_rows"] == 1


def test_spaces_after_commas_in_the_header(client: httpx.Client) -> None:
    content = b"Symbol, Date, Close\nABC, 2024-01-01, 1\nABC, 2024-01-02, 2\n"
    response = upload_csv(client, "spaced", content)
    assert response.status_code == 201, response.text
    assert response.json()["fields"] == ["close"]


def test_sparse_seconds_do_not_blow_up_the_gap_count(client: httpx.Client) -> None:
    content = b"Timestamp,v\n1500000000,1\n1500000001,2\n1500000002,3\n1815000000,4\n"
    body = upload_csv(client, "sparse", content).json()
    assert body["frequency"] == "s"
    assert body["quality"]["gaps"]["missing_periods"] is None


def test_text_columns_are_ignored(client: httpx.Client) -> None:
    content = b"Date,Symbol,Close\n2024-01-01,ABC,1\n2024-01-02,ABC,2\n"
    body = upload_csv(client, "with-symbol", content).json()
    assert body["fields"] == ["close"]
    assert body["quality"]["ignored_columns"] == ["Symbol"]


def test_fill_ffill_carries_values_forward(client: httpx.Client) -> None:
    content = b"date,close,volume\n2024-01-01,1,10\n2024-01-02,,11\n2024-01-03,3,\n"
    response = upload_csv(client, "filled", content, fill="ffill")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["quality"]["filled_cells"] == 2
    assert body["quality"]["empty_cells"] == {"close": 1, "volume": 1}
    rows = client.get(f"/v1/series/{body['id']}/observations").json()["observations"]
    assert [r["close"] for r in rows] == [1.0, 1.0, 3.0]
    assert [r["volume"] for r in rows] == [10.0, 11.0, 11.0]


def test_non_positive_prices_are_reported(client: httpx.Client) -> None:
    content = b"date,close,volume\n2024-01-01,1,0\n2024-01-02,0,0\n2024-01-03,-1,5\n"
    body = upload_csv(client, "neg", content).json()
    assert body["quality"]["non_positive_prices"] == {"close": 2}


def test_bitstamp_intraday_resampled_daily(client: httpx.Client) -> None:
    minutes = 3 * 1440
    content = bitstamp_minutes(minutes)
    response = upload_csv(client, "BTC", content, "bitstamp.csv", resample="1D")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["fields"] == [
        "open", "high", "low", "close", "volume_btc", "volume_currency", "weighted_price",
    ]  # fmt: skip
    assert body["frequency"] == "D"
    assert body["quality"]["source_rows"] == minutes
    # Compute the documented aggregation independently and compare day by day.
    raw = pd.read_csv(io.BytesIO(content), dtype=str).astype(float).dropna()
    raw.index = pd.to_datetime(raw.pop("Timestamp"), unit="s")
    daily = raw.resample("1D")
    stored = client.get(f"/v1/series/{body['id']}/observations").json()["observations"]
    assert len(stored) == body["row_count"] == len(daily)
    for row, (day, group) in zip(stored, daily, strict=True):
        assert row["date"] == day.strftime("%Y-%m-%d")
        assert row["open"] == group["Open"].iloc[0]
        assert row["high"] == group["High"].max()
        assert row["low"] == group["Low"].min()
        assert row["close"] == group["Close"].iloc[-1]
        assert row["volume_btc"] == pytest.approx(group["Volume_(BTC)"].sum())
        assert row["weighted_price"] == pytest.approx(group["Weighted_Price"].mean())


def test_intraday_without_resample_keeps_minutes(client: httpx.Client) -> None:
    content = b"Timestamp,Close\n1325317920,4.39\n1325317980,4.40\n1325318040,4.41\n"
    body = upload_csv(client, "BTC-min", content).json()
    assert body["frequency"] == "min"
    assert body["first_date"] == "2011-12-31T07:52:00"
    assert body["quality"]["gaps"]["missing_periods"] == 0


def test_json_upload(client: httpx.Client) -> None:
    response = client.post(
        "/v1/series",
        json={
            "name": "json-series",
            "exchange": "XNYS",
            "observations": [
                {"date": "2016-12-30", "close": 62.14, "volume": 25579919},
                {"date": "2016-12-29", "close": 62.90, "volume": 10250600},
            ],
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["fields"] == ["close", "volume"]
    assert (body["first_date"], body["last_date"], body["row_count"]) == (
        "2016-12-29",
        "2016-12-30",
        2,
    )
    assert body["exchange"] == "XNYS"
    assert body["source_filename"] is None


def test_list_is_paginated(client: httpx.Client) -> None:
    for i in range(3):
        upload_csv(client, f"s{i}", b"date,value\n2024-01-01,1\n2024-01-02,2\n")
    page = client.get("/v1/series", params={"limit": 2}).json()
    assert page["total"] == 3
    assert page["limit"] == 2
    assert page["offset"] == 0
    assert [s["name"] for s in page["items"]] == ["s0", "s1"]
    rest = client.get("/v1/series", params={"limit": 2, "offset": 2}).json()
    assert [s["name"] for s in rest["items"]] == ["s2"]


def test_delete_removes_series_and_observations(client: httpx.Client) -> None:
    series_id = upload_csv(client, "gone", b"date,value\n2024-01-01,1\n").json()["id"]
    assert client.delete(f"/v1/series/{series_id}").status_code == 204
    assert client.get(f"/v1/series/{series_id}").status_code == 404
    assert client.get(f"/v1/series/{series_id}/observations").status_code == 404
    # The name is free again.
    assert upload_csv(client, "gone", b"date,value\n2024-01-01,1\n").status_code == 201
