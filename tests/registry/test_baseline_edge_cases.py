"""Baseline versions at the edges of what can be measured, over real HTTP: a report without
seasonal naive, versions stored before it was reported, forecasts whose intervals cannot be
computed, and promotion on a metric that is undefined. Each answers a clear 4xx or a report,
never a 500. Baselines train instantly, so these tests stay fast."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pandas as pd
from sqlalchemy import JSON, bindparam, create_engine, text

from tests.conftest import LiveServer
from tests.series.helpers import assert_problem
from tests.training.helpers import random_walk_series, start_job, wait_for

MODEL = "edge"


def train(client: httpx.Client, series_id: int, **spec: Any) -> dict[str, Any]:
    body = {"series_id": series_id, "model_name": MODEL, **spec}
    job = wait_for(client, start_job(client, **body)["id"])
    assert job["status"] == "succeeded", job
    return job


def read_ok(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_version_without_seasonal_naive_still_reports(
    client: httpx.Client, live_server: LiveServer
) -> None:
    # 300 observations, a holdout of 60: a season of 500 never fits before it.
    series_id = random_walk_series(client)
    train(client, series_id, architecture="naive", season_length=500, references=[])
    version = read_ok(client, f"/v1/models/{MODEL}/versions/1")
    assert version["metrics"]["seasonal_naive"] is None
    assert version["metrics"]["multi_step"]["seasonal_naive_rmse"] is None
    report = read_ok(client, f"/v1/models/{MODEL}/versions/1/report")
    assert [row["forecaster"] for row in report["one_step"]] == ["model", "naive", "drift"]
    assert report["multi_step"][0]["seasonal_naive_rmse"] is None
    compared = read_ok(client, f"/v1/models/{MODEL}/compare", versions="1")
    assert compared["versions"][0]["seasonal_naive_rmse"] is None
    assert client.get(f"/v1/models/{MODEL}/versions/1/report.png").status_code == 200

    # A version registered before seasonal naive was reported has no such keys at all (written
    # as raw JSON: the ORM column would write every key of its record).
    engine = create_engine(live_server.settings.database_url)
    with engine.begin() as conn:
        stored = conn.execute(text("SELECT CAST(metrics AS TEXT) FROM model_version"))
        metrics = json.loads(stored.scalar_one())
        for key in ("seasonal_naive", "skill_vs_seasonal_naive"):
            metrics.pop(key)
        metrics["multi_step"].pop("seasonal_naive_rmse")
        conn.execute(
            text("UPDATE model_version SET metrics = :metrics").bindparams(
                bindparam("metrics", type_=JSON)
            ),
            {"metrics": metrics},
        )
    engine.dispose()
    assert read_ok(client, f"/v1/models/{MODEL}/versions/1")["metrics"]["seasonal_naive"] is None
    assert read_ok(client, f"/v1/models/{MODEL}/versions")  # the list reads it too
    report = read_ok(client, f"/v1/models/{MODEL}/versions/1/report")
    assert [row["forecaster"] for row in report["one_step"]] == ["model", "naive", "drift"]
    read_ok(client, f"/v1/models/{MODEL}/compare", versions="1")


def test_forecasts_whose_intervals_cannot_be_computed_are_422(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    train(client, series_id, architecture="naive")
    # Relative (log-ratio) intervals around a forecast that is not positive.
    negative = client.post("/v1/forecast", json={"model": MODEL, "values": [-5.0] * 30})
    assert "positive" in assert_problem(negative, 422)["detail"]
    # A volatility so extreme that the bounds overflow.
    wild = [1e-300, 1e300] * 15
    overflow = client.post("/v1/forecast", json={"model": MODEL, "values": wild})
    assert "not finite" in assert_problem(overflow, 422)["detail"]


def test_promotion_on_an_undefined_metric_is_refused_with_the_reason(
    client: httpx.Client,
) -> None:
    # A constant price: the naive forecast never errs, so MASE (MAE / naive MAE) is undefined.
    dates = pd.bdate_range("2016-01-04", periods=100)
    observations = [{"date": d.strftime("%Y-%m-%d"), "close": 10.0} for d in dates]
    created = client.post("/v1/series", json={"name": "flat", "observations": observations})
    assert created.status_code == 201, created.text
    train(client, created.json()["id"], architecture="naive")
    response = client.post(
        f"/v1/models/{MODEL}/aliases/champion/promote",
        json={"version": 1, "require": {"metric": "mase", "beats_current": False}},
    )
    problem = assert_problem(response, 409, "promotion-refused")
    (check,) = problem["checks"]
    assert check == {
        "check": "beats_naive", "holds": False, "metric": "mase", "basis": "holdout",
        "candidate": None, "naive": None,
    }  # fmt: skip
    assert "unavailable" in problem["detail"]
    assert client.get(f"/v1/models/{MODEL}").json()["aliases"] == {}
