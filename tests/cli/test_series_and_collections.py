"""``forecast append`` and ``forecast collections …`` against a live server over real HTTP."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest

from app.cli.problems import (
    EXIT_BAD_REQUEST,
    EXIT_CONFLICT,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_UNEXPECTED,
    EXIT_USAGE,
)
from tests.cli.gateway import gateway
from tests.cli.helpers import forecast, long_csv
from tests.conftest import LiveServer
from tests.training.helpers import random_walk_series

pytestmark = pytest.mark.sqlite_only


def test_append_values_or_a_file_and_the_refusals(
    live_server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    url = live_server.base_url
    series_id = random_walk_series(client, n=30)  # business days 2015-01-02 … 2015-02-12
    added = forecast(url, "append", str(series_id), "2015-02-13=51.5", "2015-02-16=52")
    assert added.exit_code == 0, added.output
    assert "2 inserted, 0 replaced, 0 unchanged; now 32 rows to 2015-02-16" in added.output

    rows = tmp_path / "rows.csv"
    rows.write_text("date,close\n2015-02-16,52\n2015-02-17,52.5\n")
    appended = forecast(url, "append", str(series_id), "--file", str(rows))
    assert appended.exit_code == 0, appended.output
    assert "1 inserted, 0 replaced, 1 unchanged; now 33 rows" in appended.output
    stdin = forecast(
        url, "append", str(series_id), "--file", "-", stdin="date,close\n2015-02-18,53\n"
    )
    assert stdin.exit_code == 0, stdin.output
    stored = client.get(f"/v1/series/{series_id}/observations").json()["observations"]
    assert stored[-4:] == [
        {"date": "2015-02-13", "close": 51.5}, {"date": "2015-02-16", "close": 52.0},
        {"date": "2015-02-17", "close": 52.5}, {"date": "2015-02-18", "close": 53.0},
    ]  # fmt: skip

    conflict = forecast(url, "append", str(series_id), "2015-02-18=60")
    assert conflict.exit_code == EXIT_CONFLICT, conflict.output
    assert "(409)" in conflict.stderr
    replaced = forecast(url, "append", str(series_id), "2015-02-18=60", "--on-conflict", "replace")
    assert "0 inserted, 1 replaced" in replaced.output

    eu = tmp_path / "eu.csv"
    eu.write_text("date,close\n02/03/2015,54\n")
    unclear = forecast(url, "append", str(series_id), "--file", str(eu))
    assert unclear.exit_code == EXIT_BAD_REQUEST, unclear.output
    assert "ambiguous date '02/03/2015'" in unclear.stderr
    read = forecast(url, "append", str(series_id), "--file", str(eu), "--date-order", "day_first")
    assert "1 inserted, 0 replaced, 0 unchanged; now 35 rows to 2015-03-02" in read.output

    bad_date = forecast(url, "append", str(series_id), "someday=60")
    assert bad_date.exit_code == EXIT_BAD_REQUEST
    assert "(422)" in bad_date.stderr
    assert forecast(url, "append", "999999", "2015-02-19=1", "--field", "close").exit_code == (
        EXIT_NOT_FOUND
    )
    for usage in (["append", str(series_id)], ["append", str(series_id), "2015-02-19"],
                  ["append", str(series_id), "2015-02-19=abc"]):  # fmt: skip
        refused = forecast(url, *usage)
        assert refused.exit_code == EXIT_USAGE, refused.output
    rows_of_two = [{"date": "2015-01-02", "close": 1.0, "high": 1.5}]
    two = client.post("/v1/series", json={"name": "two", "observations": rows_of_two}).json()
    several = forecast(url, "append", str(two["id"]), "2015-01-05=2")
    assert several.exit_code == EXIT_USAGE, several.output
    assert "fields close, high" in several.output
    assert "--file" in several.output


def test_a_collection_uploaded_listed_paged_and_deleted(
    live_server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    url = live_server.base_url
    data = tmp_path / "desk.csv"
    data.write_text(long_csv({"AAA": 40, "BBB": 50, "CCC": 60}))
    uploaded = forecast(url, "collections", "upload", "desk", str(data))
    assert uploaded.exit_code == 0, uploaded.output
    lines = uploaded.output.splitlines()
    assert lines[0].split() == ["symbol", "action", "series_id", "inserted", "replaced",
                                "unchanged", "rows"]  # fmt: skip
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["AAA", "created"],
        ["BBB", "created"],
        ["CCC", "created"],
    ]
    assert lines[4] == "collection desk: 3 created, 0 appended; 3 series"

    more = tmp_path / "more.csv"
    more.write_text("symbol,date,close\nAAA,2018-02-27,30\nDDD,2018-01-02,5\nDDD,2018-01-03,6\n")
    again = forecast(url, "collections", "upload", "desk", str(more), "--format", "csv")
    by_symbol = {r["symbol"]: r for r in csv.DictReader(io.StringIO(again.stdout))}
    assert by_symbol["AAA"]["action"] == "appended"
    assert by_symbol["AAA"]["inserted"] == "1"
    assert by_symbol["DDD"]["action"] == "created"

    listed = forecast(url, "collections", "list", "--format", "json")
    assert [(c["name"], c["series_count"]) for c in json.loads(listed.output)["items"]] == [
        ("desk", 4)
    ]
    shown = forecast(url, "collections", "show", "desk", "--format", "csv")
    assert next(csv.DictReader(io.StringIO(shown.output)))["series_count"] == "4"

    # A page of the members, its place in the list on stderr; then the next page.
    page = forecast(url, "collections", "members", "desk", "--limit", "2")
    assert [line.split()[1] for line in page.stdout.splitlines()[1:]] == ["AAA", "BBB"]
    assert page.stderr.strip() == "1–2 of 4; next: --offset 2"
    rest = forecast(url, "collections", "members", "desk", "--limit", "2", "--offset", "2")
    assert [line.split()[1] for line in rest.stdout.splitlines()[1:]] == ["CCC", "DDD"]
    assert rest.stderr.strip() == "3–4 of 4"
    longest = forecast(url, "collections", "members", "desk", "--sort", "-row_count",
                       "--prefix", "desk:", "--format", "json")  # fmt: skip
    body = json.loads(longest.output)
    assert [s["symbol"] for s in body["items"]] == ["CCC", "BBB", "AAA", "DDD"]
    assert (body["total"], body["limit"], body["offset"]) == (4, 50, 0)
    bad_sort = forecast(url, "collections", "members", "desk", "--sort", "colour")
    assert bad_sort.exit_code == EXIT_BAD_REQUEST
    assert "Request validation failed (422)" in bad_sort.stderr

    members_of_series = forecast(url, "series", "--collection", "desk", "--prefix", "desk:B")
    assert [line.split()[1] for line in members_of_series.stdout.splitlines()[1:]] == ["desk:BBB"]

    kept = forecast(url, "collections", "delete", "desk", stdin="n\n")
    assert kept.exit_code == EXIT_INTERRUPTED, kept.output
    assert "nothing was done" in kept.stderr
    assert client.get("/v1/collections/desk").status_code == 200
    # A name is sent as typed: never another collection's path, nor a query.
    for typo in ("desk?typo", "desk#1"):
        missed = forecast(url, "collections", "delete", typo, "--yes")
        assert missed.exit_code in (EXIT_BAD_REQUEST, EXIT_NOT_FOUND), (typo, missed.output)
    for slashed in ("x/../desk", "desk/", "desk/series"):  # a server decodes %2F into the path
        refused = forecast(url, "collections", "show", slashed)
        assert refused.exit_code == EXIT_USAGE, (slashed, refused.output)
        assert "cannot contain '/'" in refused.output
    with gateway(url) as front:  # a redirect (http → https, say) is not a success
        front.redirect_to = "https://elsewhere.example"
        redirected = forecast(front.url, "collections", "delete", "desk", "--yes")
    assert redirected.exit_code == EXIT_UNEXPECTED, redirected.output
    assert "not followed" in redirected.stderr
    assert client.get("/v1/collections/desk").status_code == 200
    deleted = forecast(url, "collections", "delete", "desk", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert client.get("/v1/series").json()["total"] == 0
    gone = forecast(url, "collections", "members", "desk")
    assert gone.exit_code == EXIT_NOT_FOUND
    assert "Collection not found (404)" in gone.stderr


def test_a_bad_long_file_names_the_symbol_and_row(live_server: LiveServer, tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("symbol,date,close\nAAA,2018-01-02,1\nBBB,2018-01-02,abc\n")
    refused = forecast(live_server.base_url, "collections", "upload", "desk", str(data))
    assert refused.exit_code == EXIT_BAD_REQUEST
    assert "Invalid upload (422)" in refused.stderr
    assert "symbol BBB, row 3, column close:" in refused.stderr
