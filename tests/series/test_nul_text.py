"""A NUL character in any text a client sends is a 422 on both databases: PostgreSQL cannot
store one (SQLite can), so it is refused before it reaches either, and nothing is stored."""

from __future__ import annotations

import httpx
import pytest

from tests.series.helpers import assert_problem, upload_csv

CSV = b"date,close\n2024-01-02,1.5\n2024-01-03,1.6\n"


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/series?prefix=a%00b", "prefix"),
        ("/v1/models?prefix=a%00b", "prefix"),
        ("/v1/training-jobs?model_prefix=a%00b", "model_prefix"),
    ],
)
def test_a_search_prefix_with_nul(client: httpx.Client, path: str, parameter: str) -> None:
    body = assert_problem(client.get(path), 422, "validation-error")
    assert [e["loc"] for e in body["errors"]] == [f"query.{parameter}"]
    assert "NUL" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        pytest.param(b"date,cl\x00ose\n2024-01-02,1.5\n", 1, id="header"),
        pytest.param(CSV + b"2024-01-04,1\x007\n", 4, id="cell"),
    ],
)
def test_a_csv_with_a_nul_byte_says_where(client: httpx.Client, content: bytes, line: int) -> None:
    body = assert_problem(upload_csv(client, "nul", content), 422, "invalid-upload")
    assert "NUL byte" in body["detail"]
    assert body["errors"][0]["row"] == line
    assert client.get("/v1/series").json()["total"] == 0


def test_upload_options_and_the_file_name_with_nul(client: httpx.Client) -> None:
    body = assert_problem(upload_csv(client, "nul", CSV, date_column="da\x00te"), 422)
    assert [e["loc"] for e in body["errors"]] == ["body.date_column"]
    # written by hand: httpx percent-encodes a NUL in a file name, as browsers do
    multipart = (
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nnul\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + CSV + b"\r\n--b--\r\n"
    )
    response = client.post(
        "/v1/series", content=multipart, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    body = assert_problem(response, 422)
    assert [e["loc"] for e in body["errors"]] == ["body.file"]
    assert "NUL" in body["errors"][0]["message"]
    assert client.get("/v1/series").json()["total"] == 0


def test_json_observations_with_a_nul_in_a_field_name(client: httpx.Client) -> None:
    observations = [{"date": "2024-01-02", "cl\u0000ose": 1.5}]
    response = client.post("/v1/series", json={"name": "nul", "observations": observations})
    body = assert_problem(response, 422, "invalid-upload")
    assert body["errors"][0]["column"] == "cl\u0000ose"
    assert client.get("/v1/series").json()["total"] == 0


def test_a_collection_upload_with_a_nul_in_a_field_name(client: httpx.Client) -> None:
    rows = [{"symbol": "AA", "date": "2024-01-02", "cl\u0000ose": 1.5}]
    response = client.post("/v1/collections/nul/series", json={"observations": rows})
    body = assert_problem(response, 422, "invalid-upload")
    assert body["errors"][0]["column"] == "cl\u0000ose"
    assert client.get("/v1/series").json()["total"] == 0
