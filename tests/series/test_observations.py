"""Reading and appending observations."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import pandas as pd

from tests.series.helpers import assert_problem, upload_csv
from tests.support.data import MSFT_CSV

BASE = b"date,close,volume\n2024-01-02,10,100\n2024-01-03,11,110\n2024-01-04,12,120\n"


def make_series(client: httpx.Client, content: bytes = BASE, name: str = "S") -> int:
    response = upload_csv(client, name, content)
    assert response.status_code == 201, response.text
    series_id: int = response.json()["id"]
    return series_id


def observations(client: httpx.Client, series_id: int, **params: str) -> list[dict[str, object]]:
    response = client.get(f"/v1/series/{series_id}/observations", params=params)
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()["observations"]
    return rows


def test_msft_round_trips_exactly(client: httpx.Client) -> None:
    series_id = make_series(client, MSFT_CSV.read_bytes(), "MSFT")
    response = client.get(f"/v1/series/{series_id}/observations", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    got = pd.read_csv(io.StringIO(response.text), dtype=str)
    sent = pd.read_csv(MSFT_CSV, dtype=str)
    assert list(got["date"]) == list(sent["Date"])
    for ours, theirs in [("open", "Open"), ("close", "Close"), ("volume", "Volume")]:
        assert (got[ours].astype(float).to_numpy() == sent[theirs].astype(float).to_numpy()).all()


def test_field_and_date_range(client: httpx.Client) -> None:
    series_id = make_series(client)
    rows = observations(client, series_id, field="close", start="2024-01-03", end="2024-01-04")
    assert rows == [{"date": "2024-01-03", "close": 11.0}, {"date": "2024-01-04", "close": 12.0}]
    both = observations(client, series_id, field="volume,close", end="2024-01-02")
    assert both == [{"date": "2024-01-02", "volume": 100.0, "close": 10.0}]


def test_tail_reads_only_the_last_dates(client: httpx.Client) -> None:
    series_id = make_series(client)
    assert observations(client, series_id, tail="2") == [
        {"date": "2024-01-03", "close": 11.0, "volume": 110.0},
        {"date": "2024-01-04", "close": 12.0, "volume": 120.0},
    ]
    # Within the range: the last dates up to `end`; more than there are: all of them.
    rows = observations(client, series_id, field="close", end="2024-01-03", tail="1")
    assert rows == [{"date": "2024-01-03", "close": 11.0}]
    assert len(observations(client, series_id, tail="10")) == 3
    csv = client.get(f"/v1/series/{series_id}/observations", params={"tail": 1, "format": "csv"})
    assert csv.text.splitlines() == ["date,close,volume", "2024-01-04,12.0,120.0"]
    for bad in ("0", "-1", "x"):
        params = {"tail": bad}
        assert_problem(client.get(f"/v1/series/{series_id}/observations", params=params), 422)


def test_unknown_field_is_422(client: httpx.Client) -> None:
    series_id = make_series(client)
    response = client.get(f"/v1/series/{series_id}/observations", params={"field": "nope"})
    body = assert_problem(response, 422, "invalid-request")  # a bad read, not a bad upload
    assert "close" in body["detail"]
    assert body["errors"][0]["loc"] == "query.field"


def test_bad_query_values_are_422(client: httpx.Client) -> None:
    series_id = make_series(client)
    for params in ({"start": "yesterday"}, {"format": "xml"}):
        assert_problem(client.get(f"/v1/series/{series_id}/observations", params=params), 422)
    # start after end selects nothing: said, not answered with an empty list
    backwards = {"start": "2024-01-05", "end": "2024-01-01T12:00:00+01:00"}
    body = assert_problem(client.get(f"/v1/series/{series_id}/observations", params=backwards), 422)
    assert "is after end" in body["detail"]


def test_append_json_then_csv(client: httpx.Client) -> None:
    series_id = make_series(client)
    response = client.post(
        f"/v1/series/{series_id}/observations",
        json={"observations": [{"date": "2024-01-05", "close": 13, "volume": 130}]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["inserted"], body["replaced"], body["unchanged"]) == (1, 0, 0)
    assert body["series"]["row_count"] == 4
    assert body["series"]["last_date"] == "2024-01-05"
    response = client.post(
        f"/v1/series/{series_id}/observations",
        files={"file": ("more.csv", b"date,close,volume\n2024-01-08,14,140\n", "text/csv")},
    )
    assert response.json()["inserted"] == 1
    assert [r["close"] for r in observations(client, series_id)] == [10, 11, 12, 13, 14]


def test_resending_identical_rows_is_a_no_op(client: httpx.Client) -> None:
    series_id = make_series(client)
    before = client.get(f"/v1/series/{series_id}").json()
    response = client.post(
        f"/v1/series/{series_id}/observations",
        files={"file": ("same.csv", BASE, "text/csv")},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["inserted"], body["replaced"], body["unchanged"]) == (0, 0, 3)
    assert body["series"]["row_count"] == before["row_count"]


def test_changed_value_is_409_unless_replace(client: httpx.Client) -> None:
    series_id = make_series(client)
    changed = b"date,close,volume\n2024-01-04,12.5,120\n2024-01-05,13,130\n"
    files = {"file": ("changed.csv", changed, "text/csv")}
    body = assert_problem(client.post(f"/v1/series/{series_id}/observations", files=files), 409)
    assert body["errors"] == [
        {"row": 2, "column": "close", "message": "2024-01-04: stored 12.0, sent 12.5"}
    ]
    assert len(observations(client, series_id)) == 3  # nothing stored, not even 2024-01-05
    response = client.post(
        f"/v1/series/{series_id}/observations",
        params={"on_conflict": "replace"},
        files={"file": ("changed.csv", changed, "text/csv")},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["inserted"], response.json()["replaced"]) == (1, 1)
    assert [r["close"] for r in observations(client, series_id)] == [10, 11, 12.5, 13]


def test_append_needs_every_field(client: httpx.Client) -> None:
    series_id = make_series(client)
    response = client.post(
        f"/v1/series/{series_id}/observations",
        json={"observations": [{"date": "2024-01-05", "close": 13, "open": 1}]},
    )
    body = assert_problem(response, 422)
    assert {(e["column"], e["message"]) for e in body["errors"]} == {
        ("volume", "missing field"),
        ("open", "unknown field"),
    }


def test_append_bad_rows_and_unknown_series(client: httpx.Client) -> None:
    series_id = make_series(client)
    files = {"file": ("bad.csv", b"date,close,volume\n2024-01-05,x,1\n", "text/csv")}
    assert_problem(client.post(f"/v1/series/{series_id}/observations", files=files), 422)
    assert_problem(client.post("/v1/series/999/observations", files=files), 404)
    response = client.post(
        f"/v1/series/{series_id}/observations",
        params={"on_conflict": "merge"},
        json={"observations": [{"date": "2024-01-05", "close": 13, "volume": 1}]},
    )
    assert_problem(response, 422)


def test_concurrent_appends_and_deletes_of_one_series(client: httpx.Client) -> None:
    """Each reads, decides, then writes: on SQLite two appends of one date interleaved and the
    second failed on the unique key (a 500), and two deletes both answered 204."""
    series_id = make_series(client)

    def send(date: str, close: float) -> httpx.Response:
        rows = [{"date": date, "close": close, "volume": 130.0}]
        return client.post(f"/v1/series/{series_id}/observations", json={"observations": rows})

    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(lambda _: send("2024-01-05", 13.0), range(8)))
        different = list(pool.map(lambda i: send("2024-01-08", 14.0 + i), range(8)))
    assert [r.status_code for r in same] == [200] * 8, [r.text for r in same]
    assert sum(r.json()["inserted"] for r in same) == 1
    assert sorted(r.status_code for r in different) == [200] + [409] * 7, [
        r.text for r in different
    ]
    assert len(observations(client, series_id)) == 5
    with ThreadPoolExecutor(4) as pool:
        deleted = list(pool.map(lambda _: client.delete(f"/v1/series/{series_id}"), range(4)))
    assert sorted(r.status_code for r in deleted) == [204, 404, 404, 404]
