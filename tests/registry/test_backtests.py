"""Walk-forward backtests over real HTTP: in a training spec and on demand, stored with the
version, shown in its report and plot, used as promotion evidence."""

from __future__ import annotations

import struct
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, random_walk_series, start_job, wait_for

MODEL = "bt"
FOLDS = {"windows": 3, "step": 10, "horizon": 5}


def train(client: httpx.Client, series_id: int, **spec: Any) -> dict[str, Any]:
    job = wait_for(client, start_job(client, series_id=series_id, model_name=MODEL, **spec)["id"])
    assert job["status"] == "succeeded", job
    return job


def backtests(client: httpx.Client, version: int = 1) -> list[dict[str, Any]]:
    response = client.get(f"/v1/models/{MODEL}/versions/{version}/backtests")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def closes(client: httpx.Client, series_id: int) -> pd.Series:
    response = client.get(f"/v1/series/{series_id}/observations")
    assert response.status_code == 200, response.text
    rows = response.json()["observations"]
    return pd.Series([r["close"] for r in rows], index=pd.to_datetime([r["date"] for r in rows]))


def test_spec_backtest_is_stored_with_the_version(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    train(client, series_id, architecture="naive", backtest=FOLDS)
    (backtest,) = backtests(client)
    result = backtest["result"]
    assert backtest["spec"] == {**FOLDS, "refit": True}
    assert [f["fold"] for f in result["folds"]] == [1, 2, 3]

    # The folds end on the last observation; each fold's naive RMSE is recomputed here from
    # the uploaded prices, and the naive architecture scores exactly the naive forecast.
    prices = closes(client, series_id)
    n = len(prices)
    cutoffs = [n - 10 - 5 + 1 - (2 - k) * 10 for k in range(3)]
    for fold, cutoff in zip(result["folds"], cutoffs, strict=True):
        assert pd.Timestamp(fold["cutoff"]) == prices.index[cutoff]
        y = prices.to_numpy()[cutoff : cutoff + 10]
        previous = prices.to_numpy()[cutoff - 1 : cutoff + 9]
        naive_rmse = float(np.sqrt(np.mean((y - previous) ** 2)))
        one_step = fold["one_step"]
        assert one_step["naive"]["rmse"] == pytest.approx(naive_rmse, rel=1e-9)
        assert one_step["model"]["rmse"] == pytest.approx(naive_rmse, rel=1e-9)
        assert len(fold["per_step_rmse"]["model"]) == 5
        assert set(fold["coverage"]) >= {"80", "95"}
    mean = result["aggregate"]["mean"]["one_step"]
    assert mean["drift"]["rmse"] > 0
    assert mean["seasonal_naive"]["rmse"] > 0

    report = client.get(f"/v1/models/{MODEL}/versions/1/report").json()
    summary = report["backtest"]
    assert summary["id"] == backtest["id"]
    assert [f["cutoff"] for f in summary["folds"]] == [f["cutoff"] for f in result["folds"]]
    assert summary["folds"][0]["naive_rmse"] == result["folds"][0]["one_step"]["naive"]["rmse"]
    csv = client.get(f"/v1/models/{MODEL}/versions/1/report", params={"format": "csv"}).text
    assert "backtest_fold_1_cutoff_" in csv
    png = client.get(f"/v1/models/{MODEL}/versions/1/report.png")
    assert png.status_code == 200
    width, height = struct.unpack(">II", png.content[16:24])
    assert (width, height) == (1000, 800)  # the backtest panel is drawn


def test_on_demand_backtest_of_a_version_without_refit(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    train(client, series_id, architecture="drift")
    holdout_start = client.get(f"/v1/models/{MODEL}/versions/1").json()["metrics"]["holdout"][
        "start"
    ]
    response = client.post(
        f"/v1/models/{MODEL}/versions/1/backtests", json={**FOLDS, "refit": False}
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "backtest"
    assert job["model_version"]["version"] == 1
    assert response.headers["location"] == f"/v1/training-jobs/{job['id']}"
    job = wait_for(client, job["id"])
    assert job["status"] == "succeeded", job
    (backtest,) = backtests(client)
    assert job["backtest_url"] == f"/v1/models/{MODEL}/versions/1/backtests/{backtest['id']}"
    assert client.get(job["backtest_url"]).json() == backtest
    result = backtest["result"]
    assert result["refit"] is False
    assert all(f["cutoff"] >= holdout_start[:10] for f in result["folds"])
    # Scored as it is: the drift version and the drift baseline fitted on data up to the
    # version's training data differ only in the slope's data; both are real numbers.
    assert all(f["one_step"]["model"]["rmse"] > 0 for f in result["folds"])
    # Its intervals were calibrated on that holdout: their coverage there is not reported.
    assert all(f["coverage"] is None for f in result["folds"])
    assert result["aggregate"]["mean"]["coverage"] is None
    listed = client.get("/v1/training-jobs", params={"kind": "backtest"}).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]


@pytest.mark.slow
@pytest.mark.sqlite_only
def test_network_backtest_refits_every_fold(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    train(client, series_id, **TINY, backtest={"windows": 2, "step": 10, "horizon": 3})
    (backtest,) = backtests(client)
    folds = backtest["result"]["folds"]
    assert len(folds) == 2
    assert all(f["epochs_run"] >= 1 for f in folds)
    assert folds[0]["train"]["points"] < folds[1]["train"]["points"]
    # A fold never trains on its test part.
    assert all(f["train"]["end"] < f["cutoff"] for f in folds)

    # A version being backtested cannot be deleted until its backtest is over.
    url = f"/v1/models/{MODEL}/versions/1"
    job = client.post(f"{url}/backtests", json={"windows": 2, "step": 10, "horizon": 3})
    assert job.status_code == 202, job.text
    assert "being backtested" in assert_problem(client.delete(url), 409)["detail"]
    assert wait_for(client, job.json()["id"])["status"] == "succeeded"
    assert client.delete(url).status_code == 204


def test_promotion_uses_the_backtest(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    train(client, series_id, architecture="drift", backtest=FOLDS)
    response = client.post(
        f"/v1/models/{MODEL}/aliases/champion/promote",
        json={"version": 1, "require": {"beats_current": False}},
    )
    backtest_id = backtests(client)[0]["id"]
    mean = backtests(client)[0]["result"]["aggregate"]["mean"]["one_step"]
    holds = mean["model"]["rmse"] < mean["naive"]["rmse"]
    checks = (
        response.json()["checks"]
        if holds
        else assert_problem(response, 409, "promotion-refused")["checks"]
    )
    assert checks[0]["basis"] == f"backtest {backtest_id}"
    assert checks[0]["candidate"] == pytest.approx(mean["model"]["rmse"])
    assert checks[0]["naive"] == pytest.approx(mean["naive"]["rmse"])


def test_backtest_errors(client: httpx.Client) -> None:
    series_id = random_walk_series(client, n=120)
    # Too many folds for the data: refused before anything is queued.
    response = client.post(
        "/v1/training-jobs",
        json={"series_id": series_id, "architecture": "naive", "backtest": {"windows": 50}},
    )
    problem = assert_problem(response, 422, "invalid-training-spec")
    assert "fold" in problem["detail"]
    for backtest in ({"windows": 0}, {"horizon": 0}, {"step": -1}, {"refit": "yes"}, {"x": 1}):
        response = client.post(
            "/v1/training-jobs",
            json={"series_id": series_id, "architecture": "naive", "backtest": backtest},
        )
        assert_problem(response, 422)
    # Too many forecasts for a worker's memory, whatever the series' length.
    huge = {"windows": 100, "step": 100_000, "horizon": 1000}
    response = client.post(
        "/v1/training-jobs",
        json={"series_id": series_id, "architecture": "naive", "backtest": huge},
    )
    assert "windows × step × horizon" in assert_problem(response, 422)["detail"]
    # Without refit the version this job trains is scored, on its own holdout only (24 points).
    response = client.post(
        "/v1/training-jobs",
        json={"series_id": series_id, "architecture": "naive",
              "backtest": {"windows": 5, "step": 10, "horizon": 5, "refit": False}},
    )  # fmt: skip
    assert "did not train on" in assert_problem(response, 422, "invalid-training-spec")["detail"]
    assert client.get("/v1/training-jobs").json()["total"] == 0

    train(client, series_id, architecture="naive")
    url = f"/v1/models/{MODEL}/versions/1/backtests"
    # Without refit the folds must lie after the data the version trained on.
    problem = assert_problem(
        client.post(url, json={"windows": 5, "step": 10, "horizon": 5, "refit": False}),
        422,
        "invalid-training-spec",
    )
    assert "did not train on" in problem["detail"]
    assert_problem(client.post(url, json={"windows": 0}), 422)
    assert_problem(client.post(f"/v1/models/{MODEL}/versions/9/backtests", json={}), 404)
    assert_problem(client.get(f"{url}/12345"), 404, "backtest-not-found")
    assert client.delete(f"/v1/series/{series_id}").status_code == 204
    assert_problem(client.post(url, json=FOLDS), 409, "series-deleted")
