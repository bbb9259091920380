"""Collections over real HTTP on both databases: a long-format file becomes one series per symbol,
all or nothing, with every error naming its symbol; listed, filtered, sorted, deleted whole."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from app.db.orm import Collection
from app.errors import CollectionTooLarge
from app.series import collection_service
from app.series.long_format import parse_long_records
from app.series.parsing import ParseOptions
from tests.series.helpers import assert_problem


def long_csv(symbols: list[str], days: int = 5, *, layout: str = "kaggle") -> str:
    """Each symbol's prices (the same whatever ``days``) in Kaggle's all-stocks layout
    (``…,Name``) or as ``symbol,date,price``."""
    dates = pd.bdate_range("2020-01-02", periods=days).strftime("%Y-%m-%d")
    frames = []
    for symbol in symbols:
        rng = np.random.default_rng(sum(map(ord, symbol)))
        close = rng.uniform(10, 500) * np.exp(np.cumsum(rng.normal(0, 0.01, 30)))[:days]
        if layout == "kaggle":
            frames.append(pd.DataFrame({"date": dates, "open": close.round(2),
                                        "close": close.round(2), "Name": symbol}))  # fmt: skip
        else:
            frames.append(pd.DataFrame({"symbol": symbol, "date": dates, "price": close.round(2)}))
    return pd.concat(frames).to_csv(index=False)


def upload(client: httpx.Client, collection: str, text: str, **params: str) -> httpx.Response:
    return client.post(
        f"/v1/collections/{collection}/series",
        files={"file": ("all_stocks.csv", text, "text/csv")},
        params=params,
    )


def nothing_stored(client: httpx.Client) -> None:
    assert client.get("/v1/series").json()["total"] == 0
    assert client.get("/v1/collections").json()["total"] == 0


def test_a_long_file_creates_one_series_per_symbol_then_appends(client: httpx.Client) -> None:
    response = upload(client, "sp5", long_csv(["MSFT", "AAPL", "BRK.B"]))
    assert response.status_code == 201, response.text
    assert response.headers["location"] == "/v1/collections/sp5"
    body = response.json()
    assert (body["created"], body["appended"]) == (3, 0)
    assert (body["collection"], body["series_count"]) == ("sp5", 3)
    assert [m["symbol"] for m in body["members"]] == ["AAPL", "BRK.B", "MSFT"]
    member = body["members"][2]["series"]
    assert (member["name"], member["collection"], member["symbol"]) == ("sp5:MSFT", "sp5", "MSFT")
    assert member["fields"] == ["open", "close"]  # the Name column is the symbol, not a field
    assert member["row_count"] == 5
    assert member["quality"]["gaps"]["missing_periods"] == 0

    # Six days now: one new date per symbol, five sent again unchanged; a new symbol is created.
    response = upload(client, "sp5", long_csv(["MSFT", "AAPL", "BRK.B", "NVDA"], days=6))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["appended"]) == (1, 3)
    by_symbol = {m["symbol"]: m for m in body["members"]}
    assert by_symbol["MSFT"]["action"] == "appended"
    assert (by_symbol["MSFT"]["inserted"], by_symbol["MSFT"]["unchanged"]) == (1, 5)
    assert by_symbol["MSFT"]["series"]["row_count"] == 6
    assert (by_symbol["NVDA"]["action"], by_symbol["NVDA"]["inserted"]) == ("created", 6)

    msft = by_symbol["MSFT"]["series"]["id"]
    observations = client.get(f"/v1/series/{msft}/observations", params={"format": "csv"}).text
    assert observations.splitlines()[0] == "date,open,close"
    assert len(observations.splitlines()) == 7


def test_nixtla_json_and_symbol_column_option(client: httpx.Client) -> None:
    rows = [{"unique_id": s, "ds": f"2021-03-0{d}", "y": float(d * (i + 1))}
            for i, s in enumerate(["H1", "H2"]) for d in (1, 2, 3)]  # fmt: skip
    response = client.post("/v1/collections/m4/series", json={"observations": rows})
    assert response.status_code == 201, response.text
    assert [m["series"]["fields"] for m in response.json()["members"]] == [["y"], ["y"]]

    text = "when,code,value\n2021-03-01,X,1\n2021-03-02,X,2\n"
    response = client.post(
        "/v1/collections/m4/series",
        files={"file": ("x.csv", text)},
        data={"symbol_column": "code", "date_column": "when"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["members"][0]["series"]["name"] == "m4:X"

    # Symbols are text as written: 007 stays 007 and NA is a ticker; a JSON number 7 is "7".
    text = "symbol,date,y\n007,2021-03-01,1\nNA,2021-03-01,2\n7,2021-03-01,3\n"
    response = client.post("/v1/collections/codes/series", files={"file": ("c.csv", text)})
    assert [m["symbol"] for m in response.json()["members"]] == ["007", "7", "NA"]
    response = client.post(
        "/v1/collections/codes/series",
        json={"observations": [{"symbol": 7, "date": "2021-03-02", "y": 4}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["members"][0]["action"] == "appended"


def test_lists_filter_sort_and_page_the_members(client: httpx.Client) -> None:
    assert upload(client, "idx", long_csv(["AAA", "AAB", "BBB"])).status_code == 201
    assert upload(client, "other", long_csv(["AAC"])).status_code == 201
    client.post("/v1/series", json={"name": "AAZ", "observations": [{"date": "2020-01-02",
                                                                     "close": 1}]})  # fmt: skip

    def names(**params: Any) -> list[str]:
        response = client.get("/v1/series", params=params)
        assert response.status_code == 200, response.text
        return [s["name"] for s in response.json()["items"]]

    assert names(collection="idx", sort="-symbol") == ["idx:BBB", "idx:AAB", "idx:AAA"]
    assert names(prefix="AA", sort="name") == ["AAZ", "idx:AAA", "idx:AAB", "other:AAC"]
    assert names(collection="idx", prefix="AA", limit=1, offset=1, sort="symbol") == ["idx:AAB"]
    page = client.get("/v1/series", params={"collection": "idx", "limit": 2}).json()
    assert (page["total"], len(page["items"])) == (3, 2)
    assert names(collection="nope") == []
    assert names(prefix="%") == []  # a LIKE wildcard is a literal here
    assert names(prefix="aa") == []  # case-sensitive on every database

    collections = client.get("/v1/collections").json()
    assert [(c["name"], c["series_count"]) for c in collections["items"]] == [
        ("idx", 3),
        ("other", 1),
    ]
    named = client.get("/v1/collections", params={"prefix": "ot"}).json()
    assert [c["name"] for c in named["items"]] == ["other"]
    members = client.get("/v1/collections/idx/series").json()
    assert [m["symbol"] for m in members["items"]] == ["AAA", "AAB", "BBB"]
    assert (members["total"], members["limit"], members["offset"]) == (3, 50, 0)
    page = client.get("/v1/collections/idx/series", params={"prefix": "AA", "sort": "-symbol"})
    assert [m["symbol"] for m in page.json()["items"]] == ["AAB", "AAA"]
    last = client.get("/v1/collections/idx/series", params={"limit": 1, "offset": 2}).json()
    assert [m["symbol"] for m in last["items"]] == ["BBB"]
    assert_problem(client.get("/v1/collections/none/series"), 404)
    assert_problem(client.get("/v1/series", params={"sort": "price"}), 422)
    assert_problem(client.get("/v1/series", params={"collection": "no/pe"}), 422)


def test_deleting_a_collection_deletes_its_series_only(client: httpx.Client) -> None:
    assert upload(client, "gone", long_csv(["A", "B"])).status_code == 201
    assert upload(client, "kept", long_csv(["A"])).status_code == 201
    assert client.delete("/v1/collections/gone").status_code == 204
    assert [s["name"] for s in client.get("/v1/series").json()["items"]] == ["kept:A"]
    assert_problem(client.get("/v1/collections/gone"), 404, "collection-not-found")
    assert_problem(client.delete("/v1/collections/gone"), 404, "collection-not-found")
    # The name is free again.
    assert upload(client, "gone", long_csv(["C"])).status_code == 201


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (
            "symbol,date,price\nA,2020-01-02,1\n,2020-01-03,2\n",
            {"row": 3, "message": "empty symbol"},
        ),
        (
            "symbol,date,price\nA,2020-01-02,1\nA,2020-01-02,2\n",
            {"row": 2, "symbol": "A", "column": "date"},
        ),
        (
            "symbol,date,price\nA,2020-01-02,1\nB,2020-01-02,x\n",
            {"row": 3, "symbol": "B", "column": "price", "message": "not a number: 'x'"},
        ),
        ("symbol,date,price\nA,2020-01-02,1\nB/C,2020-01-02,1\n", {"row": 3, "symbol": "B/C"}),
        ("ticker_code,date,price\nA,2020-01-02,1\n", {"row": 1, "message": "no symbol column"}),
        (
            "symbol,date,price\nA,2020-01-02,1\nB,2020-01-03,\n",
            {"row": 3, "symbol": "B", "column": "price"},
        ),
    ],
    ids=[
        "empty-symbol",
        "conflicting-rows",
        "not-a-number",
        "bad-symbol",
        "no-symbol-column",
        "empty-cell",
    ],  # fmt: skip
)
def test_a_bad_row_names_its_symbol_and_stores_nothing(
    client: httpx.Client, text: str, expect: dict[str, Any]
) -> None:
    problem = assert_problem(upload(client, "bad", text), 422, "invalid-upload")
    assert any(expect.items() <= e.items() for e in problem["errors"]), problem
    nothing_stored(client)


def test_every_bad_symbol_is_named_and_every_bad_row_counted(client: httpx.Client) -> None:
    many = [f"Ünï Cöde,2020-01-{d:02d},1" for d in range(1, 29)] * 3
    text = "\n".join(["symbol,date,price", *many, "a/b,2020-01-02,1", "d e,2020-01-02,1",
                      "OK,2020-01-02,1", ",2020-01-03,1"])  # fmt: skip
    problem = assert_problem(upload(client, "bad", text), 422, "invalid-upload")
    assert problem["errors_total"] == 3 * 28 + 3
    assert len(problem["errors"]) == 20
    assert {e.get("symbol") for e in problem["errors"]} == {"Ünï Cöde", "a/b", "d e", None}
    assert (
        "87 row(s) without a valid symbol (4 distinct: empty, 'a/b', 'd e', 'Ünï Cöde')"
        in (problem["detail"])
    )
    nothing_stored(client)


def test_an_append_conflict_in_one_symbol_stores_nothing_of_any(client: httpx.Client) -> None:
    assert upload(client, "c", long_csv(["A", "B"], days=3, layout="plain")).status_code == 201
    changed = long_csv(["A", "B"], days=4, layout="plain").replace(
        "B,2020-01-03,", "B,2020-01-03,9"
    )
    problem = assert_problem(upload(client, "c", changed), 409, "observation-conflict")
    assert "'B'" in problem["detail"]
    assert problem["errors"][0]["symbol"] == "B"
    rows = [s["row_count"] for s in client.get("/v1/series").json()["items"]]
    assert rows == [3, 3]  # A's fourth day was not stored either
    assert upload(client, "c", changed, on_conflict="replace").status_code == 200


def test_fields_must_match_when_appending_to_a_member(client: httpx.Client) -> None:
    assert upload(client, "f", long_csv(["A"], layout="plain")).status_code == 201
    problem = assert_problem(upload(client, "f", long_csv(["A"])), 422, "invalid-upload")
    assert {e.get("symbol") for e in problem["errors"]} == {"A"}


def test_a_collection_over_its_limit_is_refused(session: Any) -> None:
    options = ParseOptions()
    rows = [{"symbol": s, "date": "2020-01-02", "close": 1.0} for s in ("A", "B", "C")]
    parsed = parse_long_records(rows, options, symbol_column=None, sha256="0" * 64)
    with pytest.raises(CollectionTooLarge, match="would hold 3 series"):
        collection_service.upload_members(
            session, name="small", parsed=parsed, exchange=None, source_filename=None,
            on_conflict="error", max_series=2,
        )  # fmt: skip
    assert session.scalar(select(func.count()).select_from(Collection)) == 0
    collection_service.upload_members(
        session, name="small", parsed=dict(list(parsed.items())[:2]), exchange=None,
        source_filename=None, on_conflict="error", max_series=2,
    )  # fmt: skip
    with pytest.raises(CollectionTooLarge, match=r"\(2 stored, 1 new\)"):
        collection_service.upload_members(
            session, name="small", parsed={"C": parsed["C"]}, exchange=None,
            source_filename=None, on_conflict="error", max_series=2,
        )  # fmt: skip
