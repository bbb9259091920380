"""Training batches over real HTTP with the embedded worker pool, on both databases: one request
trains a collection, one resource follows it, a leaderboard ranks it; bad requests get problems."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, eventually

FINISHED = ("succeeded", "failed", "cancelled")


def upload_collection(
    client: httpx.Client, name: str, lengths: dict[str, int], field: str = "close"
) -> None:
    """Positive random walks in long format, one per symbol, of the given lengths."""
    frames = []
    for i, (symbol, n) in enumerate(lengths.items()):
        rng = np.random.default_rng(i)
        price = (20 + 30 * i) * np.exp(np.cumsum(rng.normal(0.0005, 0.01, n)))
        dates = pd.bdate_range("2018-01-02", periods=n).strftime("%Y-%m-%d")
        frames.append(pd.DataFrame({"symbol": symbol, "date": dates, field: price.round(4)}))
    response = client.post(
        f"/v1/collections/{name}/series",
        files={"file": ("long.csv", pd.concat(frames).to_csv(index=False), "text/csv")},
    )
    assert response.status_code == 201, response.text


def start_batch(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/training-batches", json=body)
    assert response.status_code == 202, response.text
    batch: dict[str, Any] = response.json()
    assert response.headers["location"] == f"/v1/training-batches/{batch['id']}"
    return batch


def wait_done(client: httpx.Client, batch_id: int, timeout: float = 120) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        response = client.get(f"/v1/training-batches/{batch_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return eventually(read, lambda b: b["status"] == "done", timeout=timeout)


def test_a_collection_trains_in_one_call_and_ranks_on_a_leaderboard(client: httpx.Client) -> None:
    upload_collection(client, "desk", {"AAA": 160, "BBB": 160, "TINY": 12})
    batch = start_batch(client, collection="desk", model_prefix="desk-lstm", **TINY)
    assert (batch["collection"], batch["model_name"]) == ("desk", None)  # one per series
    assert batch["counts"]["total"] == 2
    # The 12-day series cannot hold a window of 10 plus a holdout: skipped, with the reason.
    assert [s["name"] for s in batch["skipped"]] == ["desk:TINY"]
    assert batch["skipped"][0]["detail"]

    done = wait_done(client, batch["id"])
    assert done["counts"] == {"total": 2, "queued": 0, "running": 0, "succeeded": 2, "failed": 0,
                              "cancelled": 0}  # fmt: skip
    assert (done["progress"], done["eta_s"]) == (1.0, 0.0)
    assert done["started_at"] <= done["finished_at"]

    jobs = client.get("/v1/training-jobs", params={"batch_id": batch["id"], "sort": "model_name"})
    assert [j["model_name"] for j in jobs.json()["items"]] == ["desk-lstm.AAA", "desk-lstm.BBB"]
    by_collection = client.get("/v1/training-jobs", params={"collection": "desk"}).json()
    assert by_collection["total"] == 2
    models = client.get("/v1/models", params={"collection": "desk", "sort": "-name"}).json()
    assert [m["name"] for m in models["items"]] == ["desk-lstm.BBB", "desk-lstm.AAA"]
    assert client.get("/v1/models", params={"prefix": "desk-lstm.B"}).json()["total"] == 1
    assert client.get("/v1/models", params={"collection": "other"}).json()["total"] == 0

    board = client.get(f"/v1/training-batches/{batch['id']}/leaderboard").json()
    rows = board["rows"]
    assert {r["symbol"] for r in rows} == {"AAA", "BBB"}
    skills = [r["skill"] for r in rows]
    assert skills == sorted(skills, reverse=True)
    for row in rows:
        assert row["version"] == 1
        assert row["skill"] == pytest.approx(1 - row["rmse"] / row["naive_rmse"])
        version = client.get(f"/v1/models/{row['model_name']}/versions/1").json()
        assert row["rmse"] == version["metrics"]["model"]["rmse"]
        assert row["naive_rmse"] == version["metrics"]["naive"]["rmse"]
    assert board["beats_naive"] == sum(s > 0 for s in skills)

    response = client.get(
        f"/v1/training-batches/{batch['id']}/leaderboard", params={"format": "csv"}
    )
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["symbol"] for r in table] == [r["symbol"] for r in rows]
    assert float(table[0]["rmse"]) == rows[0]["rmse"]

    listed = client.get("/v1/training-batches").json()
    assert [b["id"] for b in listed["items"]] == [batch["id"]]


def test_series_ids_and_default_model_names(client: httpx.Client) -> None:
    upload_collection(client, "ids", {"X^Y": 80}, field="y")  # Nixtla's name for the target
    standalone = client.post("/v1/series", json={"name": "solo", "observations": [
        {"date": d.strftime("%Y-%m-%d"), "close": 10 + i % 3}
        for i, d in enumerate(pd.bdate_range("2020-01-02", periods=80))
    ]}).json()["id"]  # fmt: skip
    member = client.get("/v1/series", params={"collection": "ids"}).json()["items"][0]["id"]
    batch = start_batch(client, series_ids=[member, standalone], architecture="drift")
    assert batch["collection"] is None
    wait_done(client, batch["id"])
    board = client.get(f"/v1/training-batches/{batch['id']}/leaderboard").json()
    # A collection member's model is named after it, with what a model name cannot hold as _.
    assert {r["model_name"] for r in board["rows"]} == {"ids.X_Y-drift", "solo-drift"}
    assert all(r["status"] == "succeeded" for r in board["rows"])
    # nothing left to cancel: a no-op, and the batch is not shown as cancelled
    late = client.post(f"/v1/training-batches/{batch['id']}/cancel")
    assert late.status_code == 200, late.text
    assert late.json()["cancel_requested"] is False
    jobs = client.get("/v1/training-jobs", params={"batch_id": batch["id"], "sort": "id"}).json()
    assert [j["target"] for j in jobs["items"]] == ["y", "close"]


def test_cancelling_a_batch_stops_every_job_it_has_left(client: httpx.Client) -> None:
    upload_collection(client, "big", {f"S{i}": 200 for i in range(4)})
    batch = start_batch(client, collection="big", **{**TINY, "epochs": 200, "patience": 0})
    response = client.post(f"/v1/training-batches/{batch['id']}/cancel")
    assert response.status_code == 200, response.text
    assert response.json()["cancel_requested"] is True
    done = wait_done(client, batch["id"], timeout=60)
    assert done["counts"]["cancelled"] >= 2  # the queued ones at once, the running ones soon
    assert done["counts"]["queued"] == done["counts"]["running"] == 0
    jobs = client.get("/v1/training-jobs", params={"batch_id": batch["id"]}).json()["items"]
    assert all(j["status"] in FINISHED for j in jobs)
    again = client.post(f"/v1/training-batches/{batch['id']}/cancel")
    assert again.status_code == 200  # finished jobs stay as they are


def test_bad_batches_get_problems_and_start_nothing(client: httpx.Client) -> None:
    upload_collection(client, "short", {"A": 12, "B": 12})
    upload_collection(client, "fine", {"C": 80})
    series_id = client.get("/v1/series").json()["items"][0]["id"]
    cases = [
        ({"collection": "short", "series_ids": [series_id]}, 422),
        ({}, 422),
        ({"series_ids": [series_id, series_id]}, 422),
        ({"collection": "nope"}, 404),
        ({"series_ids": [series_id, 999_999]}, 404),
        ({"collection": "fine", "epochs": 100_000}, 422),
        ({"collection": "fine", "target": "x" * 65}, 422),
        ({"collection": "fine", "model_prefix": "bad/prefix"}, 422),
        ({"collection": "fine", "model_prefix": "p" * 60}, 422),
    ]
    for body, status in cases:
        assert_problem(client.post("/v1/training-batches", json=body), status)
    problem = assert_problem(
        client.post("/v1/training-batches", json={"collection": "short", **TINY}), 422
    )
    assert [e["message"].split(":")[0] for e in problem["errors"]] == [
        "series short",
        "series short",
    ]
    assert "short:A (id" in problem["errors"][0]["message"]
    missing = assert_problem(
        client.post("/v1/training-batches", json={"series_ids": [series_id, 999_999]}), 404
    )
    assert missing["errors"][0]["loc"] == "body.series_ids.1"
    assert client.get("/v1/training-batches").json()["total"] == 0
    assert client.get("/v1/training-jobs").json()["total"] == 0


def test_model_names_a_batch_cannot_give_are_skipped_with_the_reason(
    client: httpx.Client,
) -> None:
    upload_collection(client, "odd", {"A=B": 60, "A^B": 60, "C": 60})
    batch = start_batch(client, collection="odd", model_prefix="odd", architecture="drift")
    assert batch["counts"]["total"] == 2
    (skipped,) = batch["skipped"]
    assert skipped["name"] == "odd:A^B"  # A=B came first and is also odd.A_B
    assert "odd.A_B" in skipped["detail"]
    wait_done(client, batch["id"])
    assert_problem(client.get("/v1/training-batches/12345"), 404, "batch-not-found")
