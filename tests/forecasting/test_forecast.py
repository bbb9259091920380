"""Forecasts over real HTTP from a really trained (tiny) version, on both databases."""

from __future__ import annotations

import io
import struct
import threading
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import LiveServer
from tests.series.helpers import assert_problem
from tests.training.helpers import TINY, start_job, wait_for

MODEL = "fx"


def upload_walk(
    client: httpx.Client, *, exchange: str | None = "XNYS", n: int = 300, name: str = "walk"
) -> int:
    """A positive random walk on NYSE sessions ending Friday 2016-12-30."""
    rng = np.random.default_rng(11)
    dates = pd.bdate_range(end="2016-12-30", periods=n)
    prices = 40 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    body: dict[str, Any] = {
        "name": name,
        "observations": [
            {"date": d.strftime("%Y-%m-%d"), "close": float(p)}
            for d, p in zip(dates, prices, strict=True)
        ],
    }
    if exchange:
        body["exchange"] = exchange
    response = client.post("/v1/series", json=body)
    assert response.status_code == 201, response.text
    series_id: int = response.json()["id"]
    return series_id


def train(client: httpx.Client, series_id: int, **spec: Any) -> dict[str, Any]:
    job = wait_for(
        client, start_job(client, series_id=series_id, model_name=MODEL, **{**TINY, **spec})["id"]
    )
    assert job["status"] == "succeeded", job
    return job


@pytest.fixture
def trained(client: httpx.Client) -> int:
    series_id = upload_walk(client)
    train(client, series_id)
    return series_id


def forecast(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/forecast", json={"model": MODEL, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.sqlite_only
def test_next_sessions_skip_weekends_and_holidays(client: httpx.Client, trained: int) -> None:
    result = forecast(client, horizon=5)
    assert result["as_of"] == "2016-12-30"
    assert [p["date"] for p in result["points"]] == [
        "2017-01-03",  # 2 January 2017 was a NYSE holiday
        "2017-01-04",
        "2017-01-05",
        "2017-01-06",
        "2017-01-09",  # after a weekend
    ]
    assert result["series_id"] == trained
    assert result["field"] == "close"
    assert (result["strategy"], result["frequency"], result["levels"]) == (
        "recursive",
        "B",
        [80, 95],
    )
    dashboard = client.get("/v1/forecast", params={"model": MODEL, "horizon": 5}).json()
    assert dashboard == result


@pytest.mark.sqlite_only
def test_without_exchange_next_business_day(client: httpx.Client) -> None:
    train(client, upload_walk(client, exchange=None))
    result = forecast(client, horizon=1)
    assert result["points"][0]["date"] == "2017-01-02"


@pytest.mark.usefixtures("trained")
def test_another_series_is_dated_by_its_own_calendar(client: httpx.Client) -> None:
    """The model trained on an NYSE series; a series without an exchange gets plain business
    days (and a global model's forecasts follow each series the same way)."""
    other = upload_walk(client, exchange=None, name="plain")
    assert forecast(client, horizon=1)["points"][0]["date"] == "2017-01-03"  # its own: NYSE
    result = forecast(client, horizon=1, series_id=other)
    assert result["series_id"] == other
    assert result["points"][0]["date"] == "2017-01-02"


@pytest.mark.sqlite_only
def test_recursive_equals_step_by_step(client: httpx.Client, trained: int) -> None:
    rows = client.get(f"/v1/series/{trained}/observations").json()["observations"]
    history = [r["close"] for r in rows][-40:]
    multi = [p["value"] for p in forecast(client, values=history, horizon=6)["points"]]
    stepwise: list[float] = []
    for _ in range(6):
        value = forecast(client, values=history + stepwise, horizon=1)["points"][0]["value"]
        stepwise.append(value)
    np.testing.assert_allclose(multi, stepwise, rtol=0, atol=1e-9)
    # The stored series gives the same numbers as sending its tail.
    assert forecast(client, horizon=6)["points"][0]["value"] == pytest.approx(multi[0], abs=1e-9)


@pytest.mark.usefixtures("trained")
@pytest.mark.sqlite_only
def test_onnx_matches_keras(client: httpx.Client) -> None:
    keras = pytest.importorskip("keras")
    from app.ml.inference import onnx_session

    archive = client.get(f"/v1/models/{MODEL}/versions/1/artifact").content
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 10, 1)).astype(np.float32)
    with zipfile.ZipFile(io.BytesIO(archive)) as z, pytest.MonkeyPatch.context() as mp:
        tmp = __import__("tempfile").mkdtemp()
        z.extractall(tmp)
        mp.chdir(tmp)
        network = keras.saving.load_model("network.keras")
        session = onnx_session(__import__("pathlib").Path("network.onnx"))
    expected = np.asarray(network(x, training=False))
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.usefixtures("trained")
@pytest.mark.sqlite_only
def test_intervals_contain_the_point_and_widen(client: httpx.Client) -> None:
    points = forecast(client, horizon=20, level=[50, 80, 95])["points"]
    for p in points:
        assert p["lo_95"] <= p["lo_80"] <= p["lo_50"] <= p["value"]
        assert p["value"] <= p["hi_50"] <= p["hi_80"] <= p["hi_95"]
    widths = [p["hi_95"] / p["value"] - p["lo_95"] / p["value"] for p in points]
    assert all(b >= a - 1e-12 for a, b in zip(widths, widths[1:], strict=False))
    assert widths[-1] > widths[0]


def test_appended_days_are_used_without_retraining(client: httpx.Client, trained: int) -> None:
    before = forecast(client, horizon=1)
    client.post(
        f"/v1/series/{trained}/observations",
        json={"observations": [{"date": "2017-01-03", "close": 50.0}]},
    )
    after = forecast(client, horizon=1)
    assert after["as_of"] == "2017-01-03"
    assert after["points"][0]["date"] == "2017-01-04"
    assert after["points"][0]["value"] != before["points"][0]["value"]


def test_default_version_is_champion_else_latest(client: httpx.Client, trained: int) -> None:
    train(client, trained, units=5)
    assert forecast(client)["version"] == 2
    assert (
        client.put(f"/v1/models/{MODEL}/aliases/champion", json={"version": 1}).status_code == 200
    )
    assert forecast(client)["version"] == 1
    assert forecast(client, alias="champion")["version"] == 1
    assert forecast(client, version=2)["version"] == 2
    alias = client.get(f"/v1/models/{MODEL}/aliases/champion")
    assert alias.json() == {"name": MODEL, "alias": "champion", "version": 1}
    assert_problem(client.delete(f"/v1/models/{MODEL}/versions/1"), 409)
    assert client.delete(f"/v1/models/{MODEL}/aliases/champion").status_code == 204
    assert forecast(client)["version"] == 2
    assert_problem(client.get(f"/v1/models/{MODEL}/aliases/champion"), 404)
    assert_problem(client.get("/v1/models/no-such-model/aliases/champion"), 404)


@pytest.mark.sqlite_only
def test_etag_and_304(client: httpx.Client, trained: int) -> None:
    params = {"model": MODEL, "horizon": 3}
    first = client.get("/v1/forecast", params=params)
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get("/v1/forecast", params=params, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other_horizon = client.get("/v1/forecast", params={**params, "horizon": 4})
    assert other_horizon.headers["etag"] != etag
    # the CSV of the same forecast: its own tag, the same 304
    csv = client.get("/v1/forecast", params={**params, "format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["etag"] not in ("", etag)
    csv_etag = {"If-None-Match": csv.headers["etag"]}
    assert (
        client.get("/v1/forecast", params={**params, "format": "csv"}, headers=csv_etag).status_code
        == 304
    )
    assert client.get("/v1/forecast", params=params, headers=csv_etag).status_code == 200
    client.post(
        f"/v1/series/{trained}/observations",
        json={"observations": [{"date": "2017-01-03", "close": 50.0}]},
    )
    changed = client.get("/v1/forecast", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


@pytest.mark.sqlite_only
def test_forecast_posts_leave_the_cached_forecasts_alone(
    client: httpx.Client, live_server: LiveServer
) -> None:
    """POSTed forecasts only read: they must not make every cached dashboard forecast stale
    (a write does, whatever its outcome)."""
    writes = live_server.app.state.forecasting.responses.writes
    before = writes.value()
    client.post("/v1/forecast", json={"model": "nothing-here", "values": [1.0, 2.0]})
    client.post("/v1/forecast/batch", json={"model": "nothing-here", "series_ids": [1]})
    assert writes.value() == before
    assert client.delete("/v1/series/424242").status_code == 404
    assert writes.value() == before + 2


@pytest.mark.usefixtures("trained")
@pytest.mark.sqlite_only  # on PostgreSQL every forecast runs in the threadpool
def test_a_version_is_loaded_off_the_event_loop(
    client: httpx.Client, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a forecast of a loaded version runs on the event loop, but loading one (files
    checked, ONNX session built, or a download) would stall every other request there."""
    cache = live_server.app.state.forecasting.bundles
    cache.clear()
    loaded_on: list[threading.Thread] = []
    load = cache._load

    def spied(conn: Any, version: Any) -> Any:
        loaded_on.append(threading.current_thread())
        return load(conn, version)

    monkeypatch.setattr(cache, "_load", spied)
    first = forecast(client)
    assert client.get("/v1/forecast", params={"model": MODEL}).json()["points"] == first["points"]
    assert forecast(client) == first
    assert len(loaded_on) == 1
    assert loaded_on[0] is not live_server.thread  # the thread running the event loop


def test_deleted_version_leaves_the_cache(
    client: httpx.Client, trained: int, live_server: LiveServer
) -> None:
    forecast(client, version=1)
    cache = live_server.app.state.forecasting.bundles
    job = client.get("/v1/training-jobs", params={"series_id": trained}).json()["items"][0]
    with live_server.app.state.db.engine.connect() as conn:
        version_id = conn.exec_driver_sql(
            f"SELECT model_version_id FROM training_job WHERE id = {job['id']}"
        ).scalar()
    assert version_id in cache.cached_version_ids()
    assert client.delete(f"/v1/models/{MODEL}/versions/1").status_code == 204
    assert version_id not in cache.cached_version_ids()
    assert_problem(client.post("/v1/forecast", json={"model": MODEL, "version": 1}), 404)


@pytest.mark.usefixtures("trained")
@pytest.mark.sqlite_only
def test_missing_or_corrupt_files_answer_503(client: httpx.Client, live_server: LiveServer) -> None:
    live_server.app.state.forecasting.bundles.clear()
    onnx = live_server.settings.model_dir / MODEL / "1" / "network.onnx"
    onnx.write_bytes(b"garbage")
    body = assert_problem(client.post("/v1/forecast", json={"model": MODEL}), 503)
    assert "network.onnx" in body["detail"]
    onnx.unlink()
    assert_problem(client.get("/v1/forecast", params={"model": MODEL}), 503)


@pytest.mark.usefixtures("trained")
@pytest.mark.sqlite_only
def test_bad_forecast_requests(client: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"model": "nope"}, 404, "No model named 'nope'"),
        ({"model": MODEL, "version": 9}, 404, "no version 9"),
        ({"model": MODEL, "alias": "staging"}, 404, "no alias 'staging'"),
        ({"model": MODEL, "horizon": 0}, 422, ""),
        ({"model": MODEL, "horizon": 31}, 422, "FORECAST_MAX_HORIZON"),
        ({"model": MODEL, "values": [1.0, 2.0]}, 422, "needs at least 11"),
        ({"model": MODEL, "level": [42]}, 422, ""),
        ({"model": MODEL, "version": 1, "alias": "champion"}, 422, ""),
        ({"model": MODEL, "series_id": 999}, 404, "No series with id 999"),
        # JSON's true is neither an id nor a value
        ({"model": MODEL, "series_id": True}, 422, ""),
        ({"model": MODEL, "version": True}, 422, ""),
        ({"model": MODEL, "values": [1.0] * 10 + [True]}, 422, ""),
    ]
    for body, status, detail in cases:
        problem = assert_problem(client.post("/v1/forecast", json=body), status)
        assert detail in problem["detail"], (body, problem)
    for params in (
        {"model": MODEL, "version": 1, "alias": "champion"},
        {"model": MODEL, "level": 42},
        {"model": MODEL, "version": 2**40},
        {"model": ""},
    ):
        assert_problem(client.get("/v1/forecast", params=params), 422)
    zeros = assert_problem(
        client.post("/v1/forecast", json={"model": MODEL, "values": [0.0] * 11}), 422
    )
    assert "positive" in zeros["detail"]
    far = {"model": MODEL, "values": [1.0] * 11, "as_of": "9999-12-30"}
    assert_problem(client.post("/v1/forecast", json=far), 422)
    nan = client.post(
        "/v1/forecast",
        content=b'{"model": "fx", "values": [1, 2, NaN]}',
        headers={"content-type": "application/json"},
    )
    assert_problem(nan, 422)
    assert_problem(client.get("/v1/forecast", params={"model": MODEL, "horizon": 0}), 422)


def test_series_deleted_after_training(client: httpx.Client, trained: int) -> None:
    rows = client.get(f"/v1/series/{trained}/observations").json()["observations"]
    history = [r["close"] for r in rows][-11:]
    assert client.delete(f"/v1/series/{trained}").status_code == 204
    body = assert_problem(client.post("/v1/forecast", json={"model": MODEL}), 409)
    assert "`values`" in body["detail"]
    result = forecast(client, values=history, horizon=2)
    assert [p["date"] for p in result["points"]] == [None, None]
    dated = forecast(client, values=history, horizon=1, as_of="2016-12-30")
    assert dated["points"][0]["date"] == "2017-01-03"


def test_report_and_compare(client: httpx.Client, trained: int) -> None:
    train(client, trained, units=5)
    report = client.get(f"/v1/models/{MODEL}/versions/1/report").json()
    forecasters = [row["forecaster"] for row in report["one_step"]]
    assert forecasters == ["model", "naive", "drift", "seasonal_naive"]
    assert report["backtest"] is None
    naive = report["one_step"][1]
    model = report["one_step"][0]
    assert model["skill_vs_naive"] == pytest.approx(1 - model["rmse"] / naive["rmse"])
    assert [row["h"] for row in report["multi_step"]] == list(range(1, 31))
    assert report["multi_step"][0]["model_rmse"] == pytest.approx(model["rmse"])
    assert {row["level"] for row in report["intervals"]} == {50, 80, 90, 95, 99}
    assert all(0 <= row["measured"] <= 1 for row in report["intervals"])
    csv = client.get(f"/v1/models/{MODEL}/versions/1/report", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(csv.text))
    rmse = table.query("section == 'one_step' and forecaster == 'naive' and metric == 'rmse'")
    assert rmse["value"].iloc[0] == pytest.approx(naive["rmse"])
    side_by_side = client.get(f"/v1/models/{MODEL}/compare", params={"versions": "1,2"}).json()
    assert [v["version"] for v in side_by_side["versions"]] == [1, 2]
    assert side_by_side["versions"][0]["rmse"] == pytest.approx(model["rmse"])
    assert_problem(client.get(f"/v1/models/{MODEL}/compare", params={"versions": "1,7"}), 404)
    assert_problem(client.get(f"/v1/models/{MODEL}/compare", params={"versions": "x"}), 422)


@pytest.mark.usefixtures("trained")
@pytest.mark.sqlite_only
def test_report_plots_are_valid_images(client: httpx.Client) -> None:
    png = client.get(f"/v1/models/{MODEL}/versions/1/report.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png.content[16:24])
    assert (width, height) == (1000, 500)
    svg = client.get(f"/v1/models/{MODEL}/versions/1/report.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(svg.content)
    assert root.tag.endswith("svg")
    assert root.attrib["viewBox"] == "0 0 720 360"  # 10 × 5 inches at 72 pt
    text = svg.text
    for label in ("actual (holdout)", "one-step prediction", "forecast", "95% interval"):
        assert label in text


def test_an_as_of_with_a_clock_time_dates_the_next_sessions(
    client: httpx.Client, trained: int
) -> None:
    """A dashboard sends the moment it read the values; on a series of NYSE sessions the
    forecast is for the sessions after that day (it was a 500 from the calendar)."""
    rows = client.get(f"/v1/series/{trained}/observations").json()["observations"]
    history = [r["close"] for r in rows][-11:]
    for as_of in ("2016-12-30T15:30:00", "2016-12-30T15:30:00+09:00"):
        dated = forecast(client, values=history, horizon=2, as_of=as_of)
        assert [p["date"] for p in dated["points"]] == ["2017-01-03", "2017-01-04"]
        csv = client.post(
            "/v1/forecast", params={"format": "csv"},
            json={"model": MODEL, "values": history, "as_of": as_of},
        )  # fmt: skip
        assert csv.status_code == 200, csv.text
        assert "2017-01-03" in csv.text
    item = {"model": MODEL, "values": history, "as_of": "2016-12-30T15:30:00"}
    batch = client.post("/v1/forecast/batch", json={"items": [item, {"model": MODEL}]})
    assert batch.status_code == 200, batch.text
    assert batch.json()["succeeded"] == 2
