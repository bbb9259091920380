"""Bad input: every case gets a problem document that says what to fix, and stores nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.series.helpers import assert_problem, upload_csv

MiB = 1024 * 1024


def assert_nothing_stored(client: httpx.Client) -> None:
    assert client.get("/v1/series").json()["total"] == 0


@pytest.mark.parametrize(
    ("content", "detail_part"),
    [
        pytest.param(b"", "empty", id="empty-file"),
        pytest.param(b"\n\n", "empty", id="blank-lines-only"),
        pytest.param(b"Date,Open,Close\n", "no data rows", id="header-only"),
        pytest.param(b"when,close\n2024-01-01,1\n", "No date column", id="no-date-column"),
    ],
)
def test_file_without_usable_rows(client: httpx.Client, content: bytes, detail_part: str) -> None:
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert detail_part in body["detail"]
    assert_nothing_stored(client)


def test_unparseable_dates_are_listed_by_row(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,1\nnot-a-date,2\n2024-01-03,3\n,4\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert body["errors"] == [
        {
            "row": 3,
            "column": "date",
            "message": "unparseable date 'not-a-date' (expected ISO "
            "8601, e.g. 2024-01-13, or Unix seconds)",
        },
        {"row": 5, "column": "date", "message": "empty date"},
    ]
    assert_nothing_stored(client)


def test_day_first_dates_are_refused_until_their_order_is_sent(client: httpx.Client) -> None:
    """Through each upload: a CSV series, JSON, a collection's file, an append."""
    content = b"date,close\n01/02/2020,1\n01/03/2020,2\n01/04/2020,3\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert body["errors"][0]["row"] == 2
    assert "date_order" in body["errors"][0]["message"]
    assert_nothing_stored(client)
    series = upload_csv(client, "x", content, date_order="day_first").json()
    assert (series["first_date"], series["last_date"], series["frequency"]) == (
        "2020-02-01",
        "2020-04-01",
        "MS",
    )
    rows = [{"date": "01/05/2020", "close": 4.0}]
    appended = f"/v1/series/{series['id']}/observations"
    assert_problem(client.post(appended, json={"observations": rows}), 422)
    done = client.post(appended, json={"observations": rows, "date_order": "day_first"})
    assert done.json()["series"]["last_date"] == "2020-05-01"
    long = b"symbol,date,close\nA,01/02/2020,1\nA,01/03/2020,2\n"
    path = "/v1/collections/eu/series"
    assert_problem(client.post(path, files={"file": ("eu.csv", long)}), 422)
    made = client.post(path, files={"file": ("eu.csv", long)}, data={"date_order": "day_first"})
    assert made.status_code == 201, made.text
    assert_problem(upload_csv(client, "y", content, date_order="dd/mm"), 422)


def test_non_numeric_cells_are_listed_by_row_and_column(client: httpx.Client) -> None:
    content = b"date,close,volume\n2024-01-01,1,10\n2024-01-02,abc,11\n2024-01-03,3,1e\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert {(e["row"], e["column"]) for e in body["errors"]} == {(3, "close"), (4, "volume")}
    assert "abc" in body["errors"][0]["message"]
    assert_nothing_stored(client)


def test_errors_are_capped_at_twenty(client: httpx.Client) -> None:
    rows = "".join(f"2024-01-{d:02d},x\n" for d in range(1, 29))
    content = ("date,close\n2023-12-31,1\n" + rows).encode()
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert len(body["errors"]) == 20
    assert body["errors_total"] == 28
    assert body["errors"][0]["row"] == 3


def test_duplicate_dates_with_different_values(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,1\n2024-01-02,2\n2024-01-02,2.5\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert [e["row"] for e in body["errors"]] == [3, 4]
    assert "different values" in body["detail"]
    assert_nothing_stored(client)


def test_empty_cells_are_rejected_without_fill(client: httpx.Client) -> None:
    content = b"date,close,volume\n2024-01-01,1,10\n2024-01-02,,11\n2024-01-03,3,null\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert {(e["row"], e["column"]) for e in body["errors"]} == {(3, "close"), (4, "volume")}
    assert "fill=ffill" in body["detail"]
    assert_nothing_stored(client)


def test_ffill_cannot_fill_a_leading_empty_cell(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,\n2024-01-02,2\n"
    body = assert_problem(upload_csv(client, "x", content, fill="ffill"), 422)
    assert body["errors"][0]["row"] == 2
    assert "no earlier value" in body["errors"][0]["message"]


def test_bytes_that_are_not_utf8(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,1\n2024-01-02,2\n" + b"\xff\xfe,3\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert "not UTF-8" in body["detail"]
    assert body["errors"][0]["row"] == 4
    assert_nothing_stored(client)


def test_latin1_file_is_rejected(client: httpx.Client) -> None:
    content = "date,clôture\n2024-01-01,1\n".encode("latin-1")
    assert_problem(upload_csv(client, "x", content), 422)


def test_malformed_csv(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,1\n2024-01-02,2,3,4\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert "CSV" in body["detail"]


def test_upload_over_the_limit_is_413_by_content_length(client: httpx.Client) -> None:
    content = b"date,close\n" + b"2024-01-01,1\n" * (3 * MiB // 13)
    body = assert_problem(upload_csv(client, "big", content), 413)
    assert "MiB" in body["detail"]
    assert_nothing_stored(client)


def test_upload_over_the_limit_is_413_while_streaming(client: httpx.Client) -> None:
    """No Content-Length (chunked): the limit is enforced on the bytes as they arrive."""
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\ndate,close\r\n"
    )
    chunk = b"2024-01-01,1\n" * 5000

    def body() -> object:
        yield head
        for _ in range(3 * MiB // len(chunk)):
            yield chunk

    response = client.post(
        "/v1/series", content=body(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)
    assert_nothing_stored(client)


def test_json_body_over_the_limit_is_413(client: httpx.Client) -> None:
    rows = [{"date": f"2024-01-{1 + i % 28:02d}", "close": i} for i in range(120_000)]
    assert_problem(client.post("/v1/series", json={"name": "x", "observations": rows}), 413)


def test_name_already_taken(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,1\n"
    assert upload_csv(client, "taken", content).status_code == 201
    body = assert_problem(upload_csv(client, "taken", content), 409)
    assert "taken" in body["detail"]
    assert client.get("/v1/series").json()["total"] == 1


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        pytest.param({"observations": [{"date": "2024-01-01", "v": 1}]}, "body.name", id="no-name"),
        pytest.param({"name": "x"}, "body.observations", id="no-observations"),
        pytest.param({"name": "x", "observations": []}, "body.observations", id="empty-list"),
        pytest.param({"name": "x", "observations": {"a": 1}}, "body.observations", id="not-list"),
        pytest.param(
            {"name": "x", "observations": [{"date": "2024-01-01", "v": [1]}]},
            "body.observations.0.v",
            id="nested-value",
        ),
        pytest.param(
            {"name": "x", "observations": [{"date": "2024-01-01", "v": 1}], "colour": "red"},
            "body.colour",
            id="unknown-key",
        ),
        pytest.param({"name": "a/b", "observations": [{"v": 1}]}, "body.name", id="bad-name"),
        pytest.param(
            {"name": "x", "exchange": "NOPE", "observations": [{"date": "2024-01-01", "v": 1}]},
            "body.exchange",
            id="unknown-exchange",
        ),
        pytest.param(
            {"name": "x", "resample": "3 days", "observations": [{"date": "2024-01-01", "v": 1}]},
            "body.resample",
            id="bad-resample",
        ),
    ],
)
def test_json_of_the_wrong_shape(client: httpx.Client, payload: object, loc: str) -> None:
    body = assert_problem(client.post("/v1/series", json=payload), 422)
    assert any(e["loc"].startswith(loc) for e in body["errors"]), body["errors"]
    assert_nothing_stored(client)


def test_json_that_does_not_parse(client: httpx.Client) -> None:
    response = client.post(
        "/v1/series", content=b'{"name": "x", ', headers={"content-type": "application/json"}
    )
    assert_problem(response, 422)


def test_json_with_non_numeric_value(client: httpx.Client) -> None:
    payload = {"name": "x", "observations": [{"date": "2024-01-01", "close": "abc"}]}
    body = assert_problem(client.post("/v1/series", json=payload), 422)
    assert body["errors"] == [{"row": 0, "column": "close", "message": "not a number: 'abc'"}]


def test_multipart_without_file(client: httpx.Client) -> None:
    response = client.post("/v1/series", data={"name": "x"}, files={"other": ("a", b"b")})
    body = assert_problem(response, 422)
    assert "body.file" in {e["loc"] for e in body["errors"]}


def test_unknown_date_column(client: httpx.Client) -> None:
    body = assert_problem(
        upload_csv(client, "x", b"day,close\n2024-01-01,1\n", date_column="when"), 422
    )
    assert "date_column 'when'" in body["detail"]


def test_dates_out_of_range(client: httpx.Client) -> None:
    content = b"date,close\n2024-01-01,1\n9999-12-31,2\n"
    body = assert_problem(upload_csv(client, "x", content), 422)
    assert body["errors"] == [
        {"row": 3, "column": "date", "message": "date 9999-12-31 00:00:00 out of range"}
    ]


def test_huge_ids_are_422_not_500(client: httpx.Client) -> None:
    assert_problem(client.get(f"/v1/series/{2**63}"), 422)
    assert_problem(client.get("/v1/series", params={"offset": 2**63}), 422)
    assert_problem(client.get(f"/v1/training-jobs/{2**40}"), 422)
    assert_problem(client.get(f"/v1/models/m/versions/{2**40}"), 422)


def test_names_may_not_start_with_a_dot(client: httpx.Client) -> None:
    assert_problem(upload_csv(client, ".SPX", b"date,close\n2024-01-01,1\n"), 422)


def test_unsupported_media_type(client: httpx.Client) -> None:
    response = client.post(
        "/v1/series", content=b"date,close\n", headers={"content-type": "text/csv"}
    )
    assert_problem(response, 415)


def test_unknown_series_is_404(client: httpx.Client) -> None:
    assert_problem(client.get("/v1/series/12345"), 404)
    assert_problem(client.delete("/v1/series/12345"), 404)
    assert_problem(client.get("/v1/series/abc"), 422)


def test_a_boolean_is_not_a_value(client: httpx.Client) -> None:
    """JSON's true would otherwise be stored as 1.0."""
    rows = [{"date": "2024-01-01", "close": 1.5}, {"date": "2024-01-02", "close": True}]
    body = assert_problem(client.post("/v1/series", json={"name": "b", "observations": rows}), 422)
    assert any(e["loc"].startswith("body.observations.1.close") for e in body["errors"]), body
    assert_nothing_stored(client)


@pytest.mark.parametrize("header", ["date,close,close", "date,close,date"])
def test_a_repeated_column_name_is_refused(client: httpx.Client, header: str) -> None:
    """pandas renames the second one (close.1), which would be stored or ignored silently."""
    body = assert_problem(upload_csv(client, "x", f"{header}\n2024-01-01,1,2\n".encode()), 422)
    assert body["errors"][0]["message"] == "duplicate column name"
    assert_nothing_stored(client)


def test_a_problem_repeats_at_most_a_little_of_what_was_sent(client: httpx.Client) -> None:
    """A 1 MB date_column came back twice (in detail and in errors): 2 MB of 422."""
    huge = "d" * 1_000_000
    response = upload_csv(client, "x", b"date,close\n2024-01-01,1\n", date_column=huge)
    body = assert_problem(response, 422)
    assert len(response.content) < 5_000
    assert "more characters" in response.text
    assert body["detail"]
    assert_nothing_stored(client)
