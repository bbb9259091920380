"""Intervals that keep their promise, end to end: forecasts served over HTTP whose actuals fall
outside their intervals far more often than promised come back wider once the ledger has
scored enough of them, and say so; the accuracy endpoint shows the adaptation; other versions
are untouched."""

from __future__ import annotations

import math
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.ledger.helpers import accuracy, append, train_drift
from tests.training.helpers import upload_prices as upload

TRAIN_DAYS = 250
LOOP_DAYS = 30  # = FORECAST_INTERVAL_ADAPTATION_MIN_POINTS (default): step 1 adapts, step 2 not
MODEL = "adapt-drift"


def forecast(client: httpx.Client, version: int, horizon: int = 2) -> dict[str, Any]:
    response = client.get(
        "/v1/forecast", params={"model": MODEL, "version": version, "horizon": horizon}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def log_width(point: dict[str, Any], side: str, level: int) -> float:
    return math.log(point[f"{side}_{level}"] / point["value"])


def test_intervals_that_miss_widen_and_say_so(client: httpx.Client) -> None:
    rng = np.random.default_rng(21)
    dates = pd.bdate_range("2019-01-02", periods=TRAIN_DAYS + LOOP_DAYS)
    prices = 40 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, len(dates))))
    series_id = upload(client, "adapt", dates[:TRAIN_DAYS], prices[:TRAIN_DAYS])
    train_drift(client, series_id, MODEL)  # version 1: served every day
    train_drift(client, series_id, MODEL)  # version 2: the same data, never served until the end

    for i in range(LOOP_DAYS):
        body = forecast(client, 1)
        assert body["intervals"]["method"] == "split conformal"  # fewer than 30 scored yet
        assert body["intervals"]["width_factor"] == {"80": [1.0, 1.0], "95": [1.0, 1.0]}
        # The actual lands above the 95 % interval: a miss at both levels, every day.
        append(client, series_id, dates[TRAIN_DAYS + i], body["points"][0]["hi_95"] * 1.01)

    report = accuracy(client, MODEL, 2 * LOOP_DAYS - 1, version=1, group_by="step")
    assert report["groups"][0]["coverage"] == {"80": 0.0, "95": 0.0}

    # Step 1 has 30 scored points, all missed: θ = η·(30 − α·30), within ±ln 4.
    factor_80 = round(math.exp(0.05 * (30 - 0.2 * 30)), 4)  # applied and shown to 4 decimals
    factor_95 = min(round(math.exp(0.05 * (30 - 0.05 * 30)), 4), 4.0)
    adapted = forecast(client, 1)
    assert adapted["intervals"] == {
        "method": "adaptive conformal",
        "adapted_on": {"80": [30, 0], "95": [30, 0]},  # step 2: 29 scored, not yet
        "width_factor": {"80": [factor_80, 1.0], "95": [4.0, 1.0]},
    }
    assert factor_95 == 4.0

    # The same data forecast by the version that was never served: calibrated intervals.
    plain = forecast(client, 2)
    assert plain["intervals"]["method"] == "split conformal"
    assert plain["intervals"]["adapted_on"] == {"80": [0, 0], "95": [0, 0]}
    assert adapted["points"][0]["value"] == pytest.approx(plain["points"][0]["value"])
    for level, factor in ((80, factor_80), (95, factor_95)):
        for side in ("lo", "hi"):
            wide = log_width(adapted["points"][0], side, level)
            calibrated = log_width(plain["points"][0], side, level)
            assert wide == pytest.approx(factor * calibrated, rel=1e-9)
        # step 2 is not adapted, but never narrower than step 1
        assert adapted["points"][1][f"hi_{level}"] >= plain["points"][1][f"hi_{level}"]
        assert log_width(adapted["points"][1], "hi", level) >= log_width(
            adapted["points"][0], "hi", level
        )

    # Batches serve the same adapted intervals.
    batch = client.post(
        "/v1/forecast/batch",
        json={"items": [{"model": MODEL, "version": v, "horizon": 2} for v in (1, 2)]},
    )
    assert batch.status_code == 200, batch.text
    items = batch.json()["items"]
    assert items[0]["forecast"]["intervals"] == adapted["intervals"]
    for got, single in zip(items[0]["forecast"]["points"], adapted["points"], strict=True):
        assert [got[f"hi_{lv}"] for lv in (80, 95)] == pytest.approx(
            [single[f"hi_{lv}"] for lv in (80, 95)]
        )
    assert items[1]["forecast"]["intervals"] == plain["intervals"]

    # The accuracy endpoint shows it, per version, step and level.
    shown = client.get(f"/v1/models/{MODEL}/accuracy", params={"version": 1}).json()
    (one,) = shown["interval_adaptation"]
    assert (one["version"], one["eta"], one["min_points"]) == (1, 0.05, 30)
    rows = {(r["step"], r["level"]): r for r in one["steps"]}
    assert rows[(1, 80)] == {
        "step": 1, "level": 80, "nominal": 0.8, "points": 30, "coverage": 0.0,
        "width_factor": factor_80, "adapted": True,
    }  # fmt: skip
    assert rows[(1, 95)]["width_factor"] == 4.0
    assert rows[(2, 80)]["points"] == 29
    assert (rows[(2, 80)]["adapted"], rows[(2, 80)]["width_factor"]) == (False, 1.0)

    # A new version, trained on the latest data, starts unadapted.
    train_drift(client, series_id, MODEL)
    fresh = forecast(client, 3)
    assert fresh["intervals"]["method"] == "split conformal"
    assert fresh["intervals"]["width_factor"] == {"80": [1.0, 1.0], "95": [1.0, 1.0]}
    both = client.get(f"/v1/models/{MODEL}/accuracy").json()
    assert [a["version"] for a in both["interval_adaptation"]] == [1]


def test_the_accuracy_of_a_model_never_served_has_no_adaptation(client: httpx.Client) -> None:
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2019-01-02", periods=120)
    series_id = upload(client, "quiet", dates, 20 * np.exp(np.cumsum(rng.normal(0, 0.01, 120))))
    train_drift(client, series_id, "quiet-drift")
    body = client.get("/v1/models/quiet-drift/accuracy").json()
    assert body["interval_adaptation"] == []
