"""The ledger end to end: forecasts served over HTTP are kept, scored as days are appended,
and read back as realized accuracy next to naive and to what the holdout promised."""

from __future__ import annotations

import io
import math
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from app.db.orm import ServedForecast
from app.db.session import Database, make_engine
from tests.conftest import empty_database, server_settings, start_server
from tests.ledger.helpers import accuracy, append, train_drift
from tests.training.helpers import eventually
from tests.training.helpers import upload_prices as upload

TRAIN_DAYS = 300
LOOP_DAYS = 200
HORIZON = 5


def rmse(errors: list[float]) -> float:
    return math.sqrt(sum(e * e for e in errors) / len(errors))


def gauge(scraped: str, name: str) -> float:
    line = next(ln for ln in scraped.splitlines()
                if ln.startswith(f'{name}{{alias="champion",model="loop-drift"}}'))  # fmt: skip
    return float(line.rsplit(" ", 1)[1])


def test_a_daily_loop_is_scored_exactly(client: httpx.Client) -> None:
    """Train, then for 200 days: forecast 5 days ahead, append the day. The ledger's realized
    RMSE per step is the one computed here from the same forecasts and actuals."""
    rng = np.random.default_rng(11)
    dates = pd.bdate_range("2018-01-02", periods=TRAIN_DAYS + LOOP_DAYS)
    prices = 40 * np.exp(np.cumsum(rng.normal(0.0004, 0.012, len(dates))))
    series_id = upload(client, "loop", dates[:TRAIN_DAYS], prices[:TRAIN_DAYS])
    train_drift(client, series_id, "loop-drift")

    served: list[list[float]] = []
    for i in range(LOOP_DAYS):
        today = TRAIN_DAYS - 1 + i
        forecast = client.get("/v1/forecast", params={"model": "loop-drift", "horizon": HORIZON})
        assert forecast.status_code == 200, forecast.text
        body = forecast.json()
        assert body["as_of"] == dates[today].strftime("%Y-%m-%d")
        served.append([p["value"] for p in body["points"]])
        if i == 0:  # served twice: recorded once, counted twice
            assert client.get("/v1/forecast", params={"model": "loop-drift", "horizon": HORIZON})
        if i == 1:  # the same origin with horizon 1 and one level: its step 1 counts once
            again = client.get("/v1/forecast", params={"model": "loop-drift", "level": 80})
            assert again.json()["points"][0]["value"] == served[-1][0]
        if today + 1 < len(dates):
            append(client, series_id, dates[today + 1], float(prices[today + 1]))

    # Forecast i (as of day TRAIN_DAYS-1+i) step k targets day TRAIN_DAYS-1+i+k.
    last = len(dates) - 1
    expected = sum(min(HORIZON, last - (TRAIN_DAYS - 1 + i)) for i in range(LOOP_DAYS))
    report = accuracy(client, "loop-drift", expected, group_by="step")
    assert report["total"]["scored"] == expected
    assert report["total"]["pending"] == LOOP_DAYS * HORIZON - expected
    assert report["total"]["missing"] == 0
    assert report["versions"] == [1]
    for row in report["groups"]:
        k = int(row["group"])
        model_errors, naive_errors = [], []
        for i, points in enumerate(served):
            origin = TRAIN_DAYS - 1 + i
            if origin + k <= last:
                model_errors.append(prices[origin + k] - points[k - 1])
                naive_errors.append(prices[origin + k] - prices[origin])
        assert row["scored"] == len(model_errors)
        assert row["rmse"] == pytest.approx(rmse(model_errors), abs=1e-9)
        assert row["naive_rmse"] == pytest.approx(rmse(naive_errors), abs=1e-9)
        assert row["skill_vs_naive"] == pytest.approx(1 - row["rmse"] / row["naive_rmse"])
        assert row["promised_rmse"] is not None
        assert row["realized_to_promised"] == pytest.approx(row["rmse"] / row["promised_rmse"])
        assert set(row["coverage"]) == {"80", "95"}
        assert 0 <= row["coverage"]["80"] <= row["coverage"]["95"] <= 1
    assert [int(r["group"]) for r in report["groups"]] == [1, 2, 3, 4, 5]
    assert report["groups"][0]["scored"] == LOOP_DAYS

    # Rewriting history re-scores what forecast it.
    moved = float(prices[last] * 1.1)
    append(client, series_id, dates[last], moved, on_conflict="replace")
    one_step = [prices[TRAIN_DAYS + i] - p[0] for i, p in enumerate(served)]
    one_step[-1] = moved - served[-1][0]
    eventually(
        lambda: client.get("/v1/models/loop-drift/accuracy", params={"group_by": "step"}).json(),
        lambda body: body["groups"][0]["rmse"] == pytest.approx(rmse(one_step), abs=1e-9),
    )

    # The same numbers as CSV, by month; the plot.
    csv = client.get(
        "/v1/models/loop-drift/accuracy", params={"group_by": "month", "format": "csv"}
    )
    table = pd.read_csv(io.StringIO(csv.text))
    assert table["group"].iloc[0] == "all"
    assert table["scored"].iloc[1:].sum() == table["scored"].iloc[0]
    plot = client.get("/v1/models/loop-drift/accuracy.png")
    assert plot.status_code == 200
    assert plot.content.startswith(b"\x89PNG")

    # Prometheus: the champion's realized one-step RMSE over naive's, and over its promise.
    ungated = {"version": 1, "require": {"beats_naive": False}}
    promoted = client.post("/v1/models/loop-drift/aliases/champion/promote", json=ungated)
    assert promoted.status_code == 200, promoted.text
    scraped = client.get("/metrics").text
    step1 = client.get("/v1/models/loop-drift/accuracy", params={"group_by": "step"}).json()
    row = step1["groups"][0]
    assert gauge(scraped, "forecast_realized_rmse_to_naive_ratio") == pytest.approx(
        row["rmse"] / row["naive_rmse"]
    )
    assert gauge(scraped, "forecast_realized_rmse_to_promised_ratio") == pytest.approx(
        row["realized_to_promised"]
    )
    assert gauge(scraped, "forecast_realized_scored_points") == LOOP_DAYS
    assert 'forecast_ledger_points{status="pending"} ' in scraped

    # A deleted series leaves its ledger readable.
    assert client.delete(f"/v1/series/{series_id}").status_code == 204
    kept = client.get("/v1/models/loop-drift/accuracy").json()
    assert kept["total"]["scored"] == expected
    assert kept["total"]["pending"] == 0  # its dates can never be observed now
    assert kept["total"]["missing"] == LOOP_DAYS * HORIZON - expected
    backwards = {"start": "2024-02-01", "end": "2024-01-01"}
    response = client.get("/v1/models/loop-drift/accuracy", params=backwards)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == "query.end"


@pytest.mark.sqlite_only
def test_a_date_that_passes_without_a_value_is_missing_not_zero(client: httpx.Client) -> None:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2019-01-02", periods=80)
    prices = 20 + np.cumsum(rng.normal(0, 0.2, 80))
    series_id = upload(client, "gappy", dates[:70], prices[:70])
    train_drift(client, series_id, "gappy-drift")
    served = client.get("/v1/forecast", params={"model": "gappy-drift", "horizon": 3}).json()
    # Day 70 never comes (a holiday the calendar did not know); day 71 does.
    append(client, series_id, dates[71], float(prices[71]))
    report = accuracy(client, "gappy-drift", 1, group_by="step")
    steps = {row["group"]: row for row in report["groups"]}
    assert steps["1"]["missing"] == 1
    assert steps["1"]["scored"] == 0
    assert steps["1"]["rmse"] is None
    assert steps["2"]["scored"] == 1
    assert steps["2"]["rmse"] == pytest.approx(abs(prices[71] - served["points"][1]["value"]))
    assert steps["3"]["pending"] == 1
    # A late value for the date scores it after all.
    append(client, series_id, dates[70], float(prices[70]))
    late = client.get("/v1/models/gappy-drift/accuracy", params={"group_by": "step"}).json()
    assert late["groups"][0]["scored"] == 1
    assert late["groups"][0]["missing"] == 0


@pytest.mark.sqlite_only
def test_forecasts_from_client_values_are_kept_when_tied_to_a_series(client: httpx.Client) -> None:
    dates = pd.bdate_range("2019-01-02", periods=60)
    prices = np.linspace(10, 16, 60)
    series_id = upload(client, "values", dates[:50], prices[:50])
    train_drift(client, series_id, "values-drift")
    body = {"model": "values-drift", "values": [float(p) for p in prices[:50]], "horizon": 2,
            "as_of": dates[49].isoformat()}  # fmt: skip
    untied = client.post("/v1/forecast", json=body)
    assert untied.status_code == 200, untied.text
    tied = client.post("/v1/forecast", json={**body, "record_for_series": series_id})
    assert tied.status_code == 200, tied.text
    for day in (50, 51):
        append(client, series_id, dates[day], float(prices[day]))
    report = accuracy(client, "values-drift", 2)
    assert report["total"]["scored"] == 2
    assert report["total"]["forecasts"] == 1
    hindsight = client.post("/v1/forecast", json={**body, "as_of": dates[30].isoformat(),
                                                  "record_for_series": series_id})  # fmt: skip
    assert hindsight.status_code == 422
    assert hindsight.json()["errors"][0]["loc"] == "body.as_of"
    refused = client.post("/v1/forecast", json={"model": "values-drift", "horizon": 1,
                                                 "record_for_series": series_id})  # fmt: skip
    assert refused.status_code == 422
    unknown = client.post("/v1/forecast", json={**body, "record_for_series": 999_999})
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["loc"] == "body.record_for_series"
    # Deleting the version keeps what its forecasts scored (it just promises nothing any more).
    assert client.delete("/v1/models/values-drift/versions/1").status_code == 204
    kept = client.get("/v1/models/values-drift/accuracy").json()
    assert kept["total"]["scored"] == 2
    assert kept["versions"] == [1]
    assert kept["total"]["promised_rmse"] is None


@pytest.mark.sqlite_only
def test_a_clean_shutdown_writes_what_was_served(tmp_path: Path) -> None:
    """Served forecasts still in memory are written when the server stops."""
    with empty_database("sqlite", tmp_path) as url:
        server = start_server(server_settings(url, tmp_path / "models", ledger_flush_s=3600))
        try:
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                dates = pd.bdate_range("2019-01-02", periods=60)
                series_id = upload(client, "stop", dates, np.linspace(5, 6, 60))
                train_drift(client, series_id, "stop-drift")
                for _ in range(3):
                    response = client.get("/v1/forecast", params={"model": "stop-drift"})
                    assert response.status_code == 200
                # A monitor's HEAD probe answers the same headers and is not a served forecast.
                probe = client.head("/v1/forecast", params={"model": "stop-drift"})
                assert (probe.status_code, probe.headers["etag"]) == (200, response.headers["etag"])
        finally:
            server.stop()
        with Database(url).session_scope() as session:
            rows = session.execute(select(ServedForecast.served_count)).scalars().all()
    assert rows == [3]


def test_failing_ledger_writes_are_counted_and_what_waits_is_written_later(
    tmp_path: Path,
) -> None:
    """Inserts refused (a trigger here; a full disk or a hand-made constraint in life): the
    forecasts wait in memory, the metrics say so, and they are written once inserts work."""
    with empty_database("sqlite", tmp_path) as url:
        server = start_server(server_settings(url, tmp_path / "models", ledger_flush_s=0.2))
        engine = make_engine(url)
        try:
            with httpx.Client(base_url=server.base_url, timeout=60) as client:
                dates = pd.bdate_range("2019-01-02", periods=60)
                series_id = upload(client, "refused", dates, np.linspace(5, 6, 60))
                train_drift(client, series_id, "refused-drift")
                with engine.begin() as conn:
                    conn.exec_driver_sql(
                        "CREATE TRIGGER refuse BEFORE INSERT ON served_forecast "
                        "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                    )
                for horizon in (1, 2):
                    served = client.get("/v1/forecast", params={"model": "refused-drift",
                                                               "horizon": horizon})  # fmt: skip
                    assert served.status_code == 200

                def metric(name: str) -> float:
                    return next(float(line.rsplit(" ", 1)[1])
                                for line in client.get("/metrics").text.splitlines()
                                if line.startswith(f"{name} "))  # fmt: skip

                eventually(lambda: metric("forecast_ledger_write_failures_total"),
                           lambda failures: failures >= 2, timeout=10)  # fmt: skip
                eventually(lambda: metric("forecast_ledger_pending_forecasts"),
                           lambda pending: pending == 2, timeout=10)  # fmt: skip
                assert metric("forecast_ledger_dropped_forecasts_total") == 0
                with engine.begin() as conn:
                    conn.exec_driver_sql("DROP TRIGGER refuse")
                eventually(lambda: metric("forecast_ledger_pending_forecasts"),
                           lambda pending: pending == 0, timeout=10)  # fmt: skip
        finally:
            server.stop()
            engine.dispose()
        with Database(url).session_scope() as session:
            kept = session.execute(select(ServedForecast.horizon)).scalars().all()
    assert sorted(kept) == [1, 2]
