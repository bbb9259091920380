"""``format=csv``: forecasts in Nixtla's long format, read and scored by utilsforecast exactly as
a StatsForecast user would score their own, and the same numbers as the JSON answer."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pandas as pd
import pytest
from utilsforecast.evaluation import evaluate
from utilsforecast.losses import coverage, rmse

from tests.ledger.helpers import train_drift
from tests.series.helpers import assert_problem
from tests.training.helpers import upload_prices as upload

pytestmark = pytest.mark.sqlite_only

DATES = pd.bdate_range("2021-01-04", periods=80)


def _frame(response: httpx.Response) -> pd.DataFrame:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    # round_trip: pandas' default float parser can be a unit in the last place off (it read
    # 10.091304685399217 as …216), and these tests compare the numbers exactly.
    return pd.read_csv(io.StringIO(response.text), parse_dates=["ds"], float_precision="round_trip")


def test_one_forecast_as_csv_holds_the_json_numbers(client: httpx.Client) -> None:
    series_id = upload(client, "lf", DATES, 10 + np.sin(np.arange(80) / 5))
    train_drift(client, series_id, "lf-drift")
    query = {"model": "lf-drift", "horizon": 4, "level": [80, 95]}
    as_json = client.get("/v1/forecast", params=query).json()
    for response in (
        client.get("/v1/forecast", params={**query, "format": "csv"}),
        client.post("/v1/forecast", params={"format": "csv"}, json=query),
    ):
        frame = _frame(response)
        assert list(frame.columns) == [
            "unique_id", "ds", "lf-drift", "lf-drift-lo-95", "lf-drift-lo-80", "lf-drift-hi-80",
            "lf-drift-hi-95",
        ]  # fmt: skip
        assert (frame["unique_id"] == series_id).all()
        points = as_json["points"]
        assert list(frame["ds"].dt.strftime("%Y-%m-%d")) == [p["date"] for p in points]
        assert np.array_equal(frame["lf-drift"], [p["value"] for p in points])
        assert np.array_equal(frame["lf-drift-hi-95"], [p["hi_95"] for p in points])
    assert_problem(client.get("/v1/forecast", params={**query, "format": "xml"}), 422)


def test_batch_csv_is_scored_by_utilsforecast_like_by_hand(client: httpx.Client) -> None:
    """Forecasts from the first 60 values of three series, scored on the next 5 with
    utilsforecast's ``evaluate``: the same RMSE and coverage as numpy on the JSON answer."""
    prices = {s: 10 * (i + 1) + np.cumsum(np.random.default_rng(i).normal(0, 0.3, 80))
              for i, s in enumerate(["A", "B", "C"])}  # fmt: skip
    for symbol, values in prices.items():
        train_drift(client, upload(client, f"lf-{symbol}", DATES, values), f"lf.{symbol}")
    items = [
        {"model": f"lf.{s}", "values": list(v[:60]), "as_of": str(DATES[59].date()),
         "horizon": 5, "level": [80]}
        for s, v in prices.items()
    ]  # fmt: skip
    as_json = client.post("/v1/forecast/batch", json={"items": items + [{"model": "nope"}]})
    response = client.post(
        "/v1/forecast/batch", params={"format": "csv"}, json={"items": items + [{"model": "no"}]}
    )
    assert response.headers["X-Failed-Items"] == "1"
    forecasts = _frame(response)
    assert list(forecasts.columns) == ["unique_id", "ds", "forecast", "forecast-lo-80",
                                       "forecast-hi-80"]  # fmt: skip
    actuals = pd.DataFrame(
        [{"unique_id": f"lf.{s}", "ds": DATES[60 + k], "y": v[60 + k]}
         for s, v in prices.items() for k in range(5)]
    )  # fmt: skip
    scored = evaluate(
        forecasts.merge(actuals, on=["unique_id", "ds"], validate="one_to_one"),
        metrics=[rmse, coverage],
        models=["forecast"],
        level=[80],
    ).set_index(["unique_id", "metric"])["forecast"]
    for symbol, answer in zip(prices, as_json.json()["items"], strict=False):
        points = answer["forecast"]["points"]
        predicted = np.array([p["value"] for p in points])
        truth = prices[symbol][60:65]
        by_hand = float(np.sqrt(np.mean((truth - predicted) ** 2)))
        assert scored[(f"lf.{symbol}", "rmse")] == pytest.approx(by_hand, rel=1e-12)
        inside = [p["lo_80"] <= y <= p["hi_80"] for p, y in zip(points, truth, strict=True)]
        assert scored[(f"lf.{symbol}", "coverage_level80")] == pytest.approx(np.mean(inside))


def test_a_collections_csv_is_named_by_its_model_prefix(client: httpx.Client) -> None:
    rows = "".join(f"{s},{d.date()},{10 + i + k / 10}\n" for i, s in enumerate(["X", "Y"])
                   for k, d in enumerate(DATES[:60]))  # fmt: skip
    uploaded = client.post(
        "/v1/collections/lf/series", files={"file": ("l.csv", "symbol,date,close\n" + rows)}
    )
    assert uploaded.status_code == 201, uploaded.text
    for member in client.get("/v1/collections/lf/series").json()["items"]:
        train_drift(client, member["id"], f"lfp.{member['symbol']}")
    body = {"collection": "lf", "model_prefix": "lfp", "each": {"horizon": 2}, "limit": 1}
    response = client.post("/v1/forecast/batch", params={"format": "csv"}, json=body)
    frame = _frame(response)
    assert list(frame.columns[:3]) == ["unique_id", "ds", "lfp"]
    assert list(frame["unique_id"]) == ["X", "X"]
    assert (response.headers["X-Total"], response.headers["X-Limit"]) == ("2", "1")
