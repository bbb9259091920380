"""Global models over real HTTP with the embedded worker pool, on both databases: one network
trained on every series of a collection, reported per series next to naive and each series' own
model, forecasting members and series it never saw; bad requests get problems."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.ledger.helpers import accuracy, append
from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, start_job, wait_for
from tests.training.test_batches import start_batch, upload_collection, wait_done

# A tiny global spec: one network (the global default), a few units, two epochs.
GLOBAL = {"scope": "global", "units": 4, "epochs": 2, "window": 10, "batch_size": 32}


def naive_rmse(prices: np.ndarray, holdout_start: int) -> float:
    """Tomorrow = today over the holdout, computed here from the data."""
    actual = prices[holdout_start:]
    return float(np.sqrt(np.mean((actual - prices[holdout_start - 1 : -1]) ** 2)))


def member_prices(client: httpx.Client, series_id: int) -> pd.Series:
    response = client.get(f"/v1/series/{series_id}/observations")
    assert response.status_code == 200, response.text
    rows = response.json()["observations"]
    return pd.Series([r["close"] for r in rows], index=pd.to_datetime([r["date"] for r in rows]))


def problem(response: httpx.Response, status: int, text: str) -> None:
    """A problem document whose detail or errors say ``text``."""
    body = assert_problem(response, status)
    assert text in json.dumps(body), body


def forecast_values(client: httpx.Client, model: str, values: list[float], **extra: Any) -> Any:
    response = client.post(
        "/v1/forecast", json={"model": model, "values": values, "horizon": 3, **extra}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_one_network_for_a_collection_reported_per_series(client: httpx.Client) -> None:
    # Three stocks at $20, $50 and $80, and one too short for a window and a holdout.
    upload_collection(client, "desk", {"AAA": 160, "BBB": 160, "CCC": 160, "TINY": 12})
    series = {s["symbol"]: s["id"] for s in client.get(
        "/v1/series", params={"collection": "desk"}).json()["items"]}  # fmt: skip
    # AAA has a model of its own, trained before (its holdout is the same: same data, same split).
    own = wait_for(client, start_job(client, series_id=series["AAA"], model_name="aaa-own",
                                     **TINY)["id"])  # fmt: skip
    assert own["status"] == "succeeded", own

    batch = start_batch(client, collection="desk", **GLOBAL)
    assert (batch["scope"], batch["counts"]["total"]) == ("global", 1)
    assert batch["model_name"] == "desk-global-lstm"  # what to forecast with, said at once
    assert [s["name"] for s in batch["skipped"]] == ["desk:TINY"]
    done = wait_done(client, batch["id"])
    assert done["counts"]["succeeded"] == 1, client.get("/v1/training-jobs").json()
    (job,) = client.get("/v1/training-jobs", params={"batch_id": batch["id"]}).json()["items"]
    assert (job["series_id"], job["model_name"]) == (None, "desk-global-lstm")
    on_desk = client.get("/v1/training-jobs", params={"collection": "desk", "sort": "id"}).json()
    assert [j["model_name"] for j in on_desk["items"]] == ["aaa-own", "desk-global-lstm"]

    version = client.get("/v1/models/desk-global-lstm/versions/1").json()
    assert (version["scope"], version["series_id"]) == ("global", None)
    assert version["bundle"]["normalisation"] == "window"
    assert version["spec"]["drift"] == "none"
    assert version["spec"]["references"] == []

    listed = client.get("/v1/models", params={"collection": "desk", "sort": "name"}).json()
    assert [m["name"] for m in listed["items"]] == ["aaa-own", "desk-global-lstm"]
    report = client.get(version["members_url"]).json()
    by_symbol = {m["symbol"]: m for m in report["members"]}
    assert set(by_symbol) == {"AAA", "BBB", "CCC"}  # TINY: in the batch's `skipped`
    for symbol in ("AAA", "BBB", "CCC"):
        member = by_symbol[symbol]
        prices = member_prices(client, series[symbol])
        start = int(prices.index.searchsorted(pd.Timestamp(member["holdout"]["start"])))
        assert member["holdout"]["points"] == len(prices) - start > 10
        assert member["naive_rmse"] == pytest.approx(naive_rmse(prices.to_numpy(), start), 1e-9)
        assert member["skill"] == pytest.approx(1 - member["rmse"] / member["naive_rmse"])
    # The pooled holdout holds every trained member's points.
    pooled = sum(by_symbol[s]["holdout"]["points"] for s in ("AAA", "BBB", "CCC"))
    assert version["metrics"]["holdout"]["points"] == pooled
    # AAA's own model on the same points; the others have none.
    aaa = by_symbol["AAA"]["own"]
    assert (aaa["model"], aaa["version"]) == ("aaa-own", 1)
    own_version = client.get("/v1/models/aaa-own/versions/1").json()
    assert aaa["rmse"] == pytest.approx(own_version["metrics"]["model"]["rmse"], 1e-6)
    assert aaa["skill_vs_own"] == pytest.approx(1 - by_symbol["AAA"]["rmse"] / aaa["rmse"])
    assert by_symbol["BBB"]["own"] is None
    assert "no model of its own" in by_symbol["BBB"]["detail"]
    assert report["compared_with_own"] == 1
    assert (report["total"], report["limit"], report["offset"]) == (3, None, 0)
    page = client.get(version["members_url"], params={"limit": 1, "offset": 2}).json()
    assert page["members"] == report["members"][2:]  # the last one, best skill first
    assert (page["total"], page["beats_naive"]) == (3, report["beats_naive"])  # counts: all

    board = client.get(f"/v1/training-batches/{batch['id']}/leaderboard").json()
    assert [r["symbol"] for r in board["rows"]] == [m["symbol"] for m in report["members"]]
    skills = [m["skill"] for m in report["members"]]
    assert board["median_skill"] == pytest.approx(np.median(skills))
    row = next(r for r in board["rows"] if r["symbol"] == "AAA")
    assert (row["own_model"], row["own_rmse"]) == ("aaa-own", aaa["rmse"])
    csv_board = client.get(
        f"/v1/training-batches/{batch['id']}/leaderboard", params={"format": "csv"}
    )
    table = list(csv.DictReader(io.StringIO(csv_board.text)))
    assert [r["symbol"] for r in table] == [r["symbol"] for r in board["rows"]]

    # The pooled report reads; a single plot of many series is refused with a pointer.
    report_json = client.get("/v1/models/desk-global-lstm/versions/1/report")
    assert report_json.status_code == 200, report_json.text
    assert report_json.json()["holdout"] == version["metrics"]["holdout"]
    problem(client.get("/v1/models/desk-global-lstm/versions/1/report.png"), 422, "members")

    # It forecasts any member by series_id, and every member in one batch request.
    response = client.get("/v1/forecast", params={
        "model": "desk-global-lstm", "series_id": series["BBB"], "horizon": 5})  # fmt: skip
    assert response.status_code == 200, response.text
    assert len(response.json()["points"]) == 5
    problem(client.get("/v1/forecast", params={"model": "desk-global-lstm"}), 422, "series_id")
    each = {"collection": "desk", "model": "desk-global-lstm", "each": {"horizon": 2}}
    batch_forecast = client.post("/v1/forecast/batch", json=each).json()
    assert batch_forecast["failed"] == 0
    assert {i["symbol"] for i in batch_forecast["items"]} == {"AAA", "BBB", "CCC", "TINY"}

    # A series it never saw, from values alone (cold start), at any price level: the forecast
    # scales with the prices (relative moves, each window normalised by its own scale) ...
    rng = np.random.default_rng(7)
    moves = rng.normal(0.0, 0.01, 40)
    values = list(1000 * np.exp(np.cumsum(moves)))
    base = forecast_values(client, "desk-global-lstm", values, level=[80])
    scaled = forecast_values(client, "desk-global-lstm", [v / 100 for v in values], level=[80])
    for a, b in zip(base["points"], scaled["points"], strict=True):
        assert b["value"] == pytest.approx(a["value"] / 100, rel=1e-5)
        assert b["lo_80"] == pytest.approx(a["lo_80"] / 100, rel=1e-5)
    # ... and a series twice as volatile gets a predicted move twice as large.
    calm = [float(v) for v in 50 * np.exp(np.cumsum(moves))]
    wild = [float(v) for v in 50 * np.exp(np.cumsum(2 * moves))]
    move_calm = np.log(forecast_values(client, "desk-global-lstm", calm)["points"][0]["value"]
                       / calm[-1])  # fmt: skip
    move_wild = np.log(forecast_values(client, "desk-global-lstm", wild)["points"][0]["value"]
                       / wild[-1])  # fmt: skip
    assert move_wild == pytest.approx(2 * move_calm, rel=1e-3, abs=1e-7)

    # Served forecasts come true: what the version promised BBB is BBB's own holdout RMSE.
    last = member_prices(client, series["BBB"])
    append(client, series["BBB"], last.index[-1] + pd.offsets.BDay(), float(last.iloc[-1]))
    realized = accuracy(client, "desk-global-lstm", 1, series_id=series["BBB"])
    assert realized["total"]["promised_rmse"] == pytest.approx(by_symbol["BBB"]["rmse"])


def test_bad_global_batches_get_problems_and_start_nothing(client: httpx.Client) -> None:
    upload_collection(client, "short", {"A": 12, "B": 12})
    upload_collection(client, "fine", {"C": 80})
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"collection": "fine", "model_prefix": "x"}, 422, "model_name"),
        ({"collection": "fine", "architecture": "naive"}, 422, "network"),
        ({"collection": "fine", "target_transform": "level"}, 422, "relative"),
        ({"collection": "fine", "drift": "baseline"}, 422, "drift"),
        ({"collection": "fine", "backtest": {"windows": 2, "horizon": 5}}, 422, "backtest"),
        ({"collection": "fine", "references": ["ets"]}, 422, "leave references out"),
        ({"collection": "short"}, 422, "none of the 2 series"),
        ({"collection": "nope"}, 404, "nope"),
    ]
    for body, status, text in cases:
        response = client.post("/v1/training-batches", json={**GLOBAL, **body})
        problem(response, status, text)
    problem(client.post("/v1/training-batches", json={
        **{k: v for k, v in GLOBAL.items() if k != "scope"}, "collection": "fine",
        "model_name": "m"}), 422, "model_name")  # fmt: skip
    assert client.get("/v1/training-batches").json()["total"] == 0
    assert client.get("/v1/training-jobs").json()["total"] == 0

    # A model's versions are all of one scope.
    member = client.get("/v1/series", params={"collection": "fine"}).json()["items"][0]["id"]
    job = wait_for(client, start_job(client, series_id=member, model_name="mixed", **TINY)["id"])
    assert job["status"] == "succeeded"
    problem(client.post("/v1/training-batches", json={
        **GLOBAL, "collection": "fine", "model_name": "mixed"}), 422, "scope")  # fmt: skip
    batch = start_batch(client, collection="fine", model_name="fine-g", **GLOBAL)
    assert batch["model_name"] == "fine-g"
    wait_done(client, batch["id"])
    response = client.post("/v1/training-jobs", json={
        "series_id": member, "model_name": "fine-g", **TINY})  # fmt: skip
    problem(response, 422, "scope")
    # A global version has no series of its own to backtest on, nor members for a single one.
    response = client.post("/v1/models/fine-g/versions/1/backtests",
                           json={"windows": 2, "horizon": 5})  # fmt: skip
    problem(response, 422, "global")
    problem(client.get("/v1/models/mixed/versions/1/members"), 422, "single series")
    policy = {"retrain_every_new_observations": 5}
    problem(client.put("/v1/models/fine-g/policy", json=policy), 422, "global")
