"""POST /v1/forecast/batch: many forecasts in one request, each item on its own."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.ledger.helpers import train_drift
from tests.training.helpers import eventually
from tests.training.helpers import upload_prices as upload

pytestmark = pytest.mark.sqlite_only


def test_items_succeed_or_fail_on_their_own(client: httpx.Client) -> None:
    dates = pd.bdate_range("2021-01-04", periods=80)
    ids = [upload(client, f"s{i}", dates, 10 + i + np.linspace(0, 1, 80)) for i in range(3)]
    train_drift(client, ids[0], "batch-drift")
    items = [
        {"model": "batch-drift", "horizon": 3},
        {"model": "batch-drift", "series_id": ids[1], "horizon": 3},
        {"model": "batch-drift", "series_id": ids[2], "horizon": 3, "level": [95]},
        {"model": "batch-drift", "values": [1.0, 2.0, 3.0, 4.0, 5.0], "horizon": 2},
        {"model": "nope"},
        {"model": "batch-drift", "horizon": 0},
        {"model": "batch-drift", "series_id": 999_999},
    ]
    response = client.post("/v1/forecast/batch", json={"items": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["succeeded"], body["failed"]) == (4, 3)
    answers = body["items"]
    assert [a["index"] for a in answers] == list(range(len(items)))
    for item, answer in zip(items[:4], answers[:4], strict=True):
        assert "error" not in answer, answer
        alone = client.post("/v1/forecast", json=item).json()
        assert answer["forecast"] == alone  # the same numbers as one at a time
    assert answers[4]["error"]["status"] == 404
    assert answers[5]["error"]["status"] == 422
    assert answers[5]["error"]["errors"][0]["loc"] == "items.5.horizon"
    assert answers[6]["error"]["status"] == 404
    # The three from stored series are in the ledger, like single forecasts.
    report = eventually(
        lambda: client.get("/v1/models/batch-drift/accuracy", params={"group_by": "series"}),
        lambda response: len(response.json()["groups"]) == 3,
    )
    groups = {g["group"]: g["pending"] for g in report.json()["groups"]}
    assert groups == {str(i): 3 for i in ids}


def test_the_batch_itself_is_checked(client: httpx.Client) -> None:
    assert client.post("/v1/forecast/batch", json={"items": []}).status_code == 422
    too_many = {"items": [{"model": "m"}] * 1001}
    assert client.post("/v1/forecast/batch", json=too_many).status_code == 422
    assert client.post("/v1/forecast/batch", json={"items": [1]}).status_code == 422


def test_a_whole_collection_in_one_request(client: httpx.Client) -> None:
    dates = pd.bdate_range("2021-01-04", periods=60).strftime("%Y-%m-%d")
    rows = "".join(f"{s},{d},{10 + i + k / 10}\n" for i, s in enumerate(["A^X", "B", "C"])
                   for k, d in enumerate(dates))  # fmt: skip
    upload_response = client.post(
        "/v1/collections/book/series", files={"file": ("l.csv", "symbol,date,close\n" + rows)}
    )
    assert upload_response.status_code == 201, upload_response.text
    batch = client.post("/v1/training-batches", json={
        "collection": "book", "model_prefix": "book-drift", "architecture": "drift",
    }).json()  # fmt: skip
    eventually(
        lambda: client.get(f"/v1/training-batches/{batch['id']}").json(),
        lambda b: b["status"] == "done",
        timeout=60,
    )
    each = {"horizon": 2, "level": [80]}
    response = client.post(
        "/v1/forecast/batch",
        json={"collection": "book", "model_prefix": "book-drift", "each": each},
    )
    assert response.status_code == 200, response.text
    answers = response.json()["items"]
    assert [a["symbol"] for a in answers] == ["A^X", "B", "C"]
    members = client.get("/v1/collections/book/series").json()["items"]
    for answer, member in zip(answers, members, strict=True):
        model = "book-drift." + member["symbol"].replace("^", "_")
        alone = client.post(
            "/v1/forecast", json={"model": model, "series_id": member["id"], **each}
        ).json()
        assert answer["forecast"] == alone
    # One model for every member (here B's, on A's and C's data as well).
    one = client.post(
        "/v1/forecast/batch", json={"collection": "book", "model": "book-drift.B"}
    ).json()
    assert (one["succeeded"], one["total"], one["limit"], one["offset"]) == (3, 3, 1000, 0)
    page = client.post(
        "/v1/forecast/batch",
        json={"collection": "book", "model": "book-drift.B", "offset": 1, "limit": 1},
    ).json()
    assert [a["symbol"] for a in page["items"]] == ["B"]
    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert (
        client.post("/v1/forecast/batch", json={"collection": "nope", "model": "m"}).status_code
        == 404
    )
    for bad in (
        {"collection": "book"},
        {"collection": "book", "model": "m", "model_prefix": "p"},
        {"collection": "book", "model": "m", "items": [{"model": "m"}]},
        {"items": [{"model": "m"}], "each": {"horizon": 2}},
        {"items": [{"model": "m"}], "offset": 1},
        {"collection": "book", "model": "m", "each": {"series_id": 1}},
    ):
        assert client.post("/v1/forecast/batch", json=bad).status_code == 422, bad
