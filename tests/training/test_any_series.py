"""The default trains on any real series, statistical references are in every report, and
``auto``, ``ets`` and direct networks serve their forecasts (real files from tests/data)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.series.helpers import assert_problem, upload_csv
from tests.support.data import DATA_DIR
from tests.training.helpers import start_job, wait_for

# The default spec, but short: two epochs, one seed (every choice is still the service's).
QUICK = {"epochs": 2, "units": 4, "ensemble": 1}

pytestmark = pytest.mark.sqlite_only


def upload(client: httpx.Client, name: str, filename: str) -> int:
    response = upload_csv(client, name, (DATA_DIR / filename).read_bytes(), filename)
    assert response.status_code == 201, response.text
    series_id: int = response.json()["id"]
    return series_id


def trained_version(client: httpx.Client, **spec: Any) -> dict[str, Any]:
    job = wait_for(client, start_job(client, **spec)["id"], timeout=240)
    assert job["status"] == "succeeded", job
    version: dict[str, Any] = client.get(
        f"/v1/models/{job['model_name']}/versions/{job['model_version']['version']}"
    ).json()
    return version


def test_the_default_trains_on_negatives_and_reports_every_reference(client: httpx.Client) -> None:
    series_id = upload(client, "realint", "realint_quarterly.csv")
    version = trained_version(client, series_id=series_id, **QUICK)
    choices = version["bundle"]["choices"]
    assert choices["target_transform"]["value"] == "difference"
    assert "≤ 0" in choices["target_transform"]["reason"]
    assert choices["season_length"]["value"] == 4  # quarterly
    assert choices["architecture"]["value"] == "lstm"
    assert version["spec"]["window"] == choices["window"]["value"]
    # every candidate window is listed; 200 quarters leave too few validation targets to score
    # them, and the choice says so rather than trusting a dozen points
    candidates = choices["window"]["candidates"]
    assert {"5", "9", "20"} <= set(candidates)
    assert set(candidates.values()) == {None}
    assert "too short to compare the candidate windows" in choices["window"]["reason"]
    # the network leans toward naive as validation says (here: too short a span to say)
    shrinkage = version["bundle"]["shrinkage"]
    assert 0 <= shrinkage["weight"] <= 1
    assert shrinkage["reason"]
    report = client.get("/v1/models/realint-lstm/versions/1/report").json()
    assert report["shrinkage"] == shrinkage
    rows = {row["forecaster"]: row for row in report["one_step"]}
    references = {"ar", "ets", "arima", "theta"}
    assert {"model", "naive", "drift", "seasonal_naive", *references} <= set(rows)
    assert all(row["rmse"] > 0 for row in rows.values())
    assert {fit["status"] for fit in report["reference_fits"].values()} == {"fitted"}
    assert set(report["multi_step"][4]["references_rmse"]) == references
    assert report["choices"] == choices
    csv = client.get("/v1/models/realint-lstm/versions/1/report", params={"format": "csv"}).text
    assert ",theta,5,rmse," in csv
    compared = client.get("/v1/models/realint-lstm/compare", params={"versions": "1"}).json()
    compare = compared["versions"][0]
    assert set(compare["references_rmse"]) == references


def test_an_explicit_log_return_on_negatives_says_why_and_the_way_out(
    client: httpx.Client,
) -> None:
    series_id = upload(client, "realint", "realint_quarterly.csv")
    response = client.post(
        "/v1/training-jobs", json={"series_id": series_id, "target_transform": "log_return"}
    )
    problem = assert_problem(response, 422)
    assert "needs positive values" in problem["detail"]
    assert "Leave target_transform unset" in problem["detail"]


def test_a_statistical_version_serves_forecasts_with_intervals(client: httpx.Client) -> None:
    series_id = upload(client, "elnino", "elnino_monthly.csv")
    version = trained_version(client, series_id=series_id, architecture="theta", references=[])
    assert version["bundle"]["kind"] == "reference"
    assert version["bundle"]["reference"].startswith("AutoTheta(season_length=12")
    result = client.get("/v1/forecast", params={"model": "elnino-theta", "horizon": 12}).json()
    assert [p["date"] for p in result["points"]][:2] == ["2011-01-01", "2011-02-01"]
    assert all(p["lo_80"] < p["value"] < p["hi_80"] for p in result["points"])
    # the forecast follows the season: February–April (warm) above August–October (cool)
    values = [p["value"] for p in result["points"]]
    assert min(values[1:4]) > max(values[7:10])


def test_auto_serves_the_winner_of_its_tournament(client: httpx.Client) -> None:
    series_id = upload(client, "realint", "realint_quarterly.csv")
    version = trained_version(client, series_id=series_id, architecture="auto", **QUICK)
    tournament = version["bundle"]["tournament"]
    names = {row["candidate"] for row in tournament["candidates"]}
    assert {"naive", "seasonal_naive", "ar", "ets", "arima", "theta", "lstm", "gru"} <= names
    # the score a winner is chosen by (the mean over both spans of RMSE ÷ naive's), in the
    # table's order: from the simplest candidate to the most complex
    ratios = {r["candidate"]: r["ratio_to_naive"] for r in tournament["candidates"]}
    order = list(ratios)
    winner = tournament["winner"]
    if winner == "combination":  # two candidates served together, each weighed
        combination = tournament["combination"]
        assert combination["cross_fitted_rmse"] < 0.99 * combination["best_single_rmse"]
        assert version["spec"]["architecture"] == "auto"
        assert version["bundle"]["kind"] == "combination"
    else:
        if winner != "naive":  # more than 1 % ahead of naive and of every simpler candidate
            simpler = [ratios[c] for c in order[: order.index(winner)] if ratios[c] is not None]
            assert ratios[winner] < 0.99
            assert all(ratios[winner] < 0.99 * r for r in simpler)
        served = "lstm" if winner.startswith("lstm") else winner
        assert version["spec"]["architecture"] == served
    assert version["bundle"]["choices"]["architecture"]["reason"].startswith("auto tournament")
    job = client.get(f"/v1/training-jobs/{version['job_id']}").json()
    progress, candidates = job["progress"], len(tournament["candidates"])
    if progress["stage"] is not None:  # a statistical winner: the tournament's last word
        assert progress["stage"] == f"auto: {winner} chosen, fitting it"
        assert (progress["epoch"], progress["epochs"], progress["loss"]) == (
            candidates,
            candidates,
            None,
        )
    else:  # a network winner, fitted with its epochs after the tournament
        assert progress["loss"] is not None
    model = job["model_name"]
    result = client.get("/v1/forecast", params={"model": model, "horizon": 3}).json()
    assert len(result["points"]) == 3


def test_ar_reaches_a_day_back_and_serves_from_its_parameters(client: httpx.Client) -> None:
    """Hourly load with a daily cycle: the validated window covers yesterday's same hour, and
    the version is the ridge autoregression itself, its parameters in the manifest."""
    series_id = upload(client, "load", "seasonal_hourly_load.csv")
    version = trained_version(client, series_id=series_id, architecture="ar", references=[])
    assert version["bundle"]["kind"] == "autoregression"
    assert version["spec"]["window"] >= 25
    assert version["bundle"]["autoregression"]["window"] == version["spec"]["window"]
    assert version["metrics"]["skill"] > 0.3  # far ahead of naive on a daily cycle
    result = client.get("/v1/forecast", params={"model": "load-ar", "horizon": 24}).json()
    assert len(result["points"]) == 24
    assert all(p["lo_95"] < p["value"] < p["hi_95"] for p in result["points"])


def test_a_direct_network_says_so_in_its_forecasts(client: httpx.Client) -> None:
    series_id = upload(client, "elnino", "elnino_monthly.csv")
    spec = {**QUICK, "strategy": "direct", "direct_horizon": 6, "references": []}
    version = trained_version(client, series_id=series_id, **spec)
    assert version["bundle"]["outputs"] == 6
    result = client.get("/v1/forecast", params={"model": "elnino-lstm", "horizon": 14}).json()
    assert result["strategy"] == "direct"
    assert len(result["points"]) == 14


def test_a_series_too_short_for_a_network_trains_naive_and_says_so(client: httpx.Client) -> None:
    quarterly = "date,value\n" + "\n".join(
        f"{2000 + i // 4}-{3 * (i % 4) + 1:02d}-01,{(i * 7) % 5 - 2}" for i in range(60)
    )
    response = upload_csv(client, "short", quarterly.encode(), "short.csv")
    assert response.status_code == 201, response.text
    version = trained_version(client, series_id=response.json()["id"], references=[])
    assert version["spec"]["architecture"] == "naive"
    assert "too short for a network" in version["bundle"]["choices"]["architecture"]["reason"]


def daily_cycle_csv(hours: int = 2000) -> bytes:
    """Hourly values with a daily cycle and a little noise: what ``ar`` on a day of lags
    forecasts well and a one-epoch network of two units does not."""
    rng = np.random.default_rng(0)
    t = np.arange(hours)
    values = 100 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(scale=0.5, size=hours)
    dates = pd.date_range("2026-01-01", periods=hours, freq="h")
    rows = "".join(f"{d:%Y-%m-%dT%H:%M:%S},{v:.4f}\n" for d, v in zip(dates, values, strict=True))
    return ("date,value\n" + rows).encode()


def test_a_network_that_ar_improves_is_served_combined_with_it(client: httpx.Client) -> None:
    response = upload_csv(client, "cycle", daily_cycle_csv(), "cycle.csv")
    assert response.status_code == 201, response.text
    weak = {"units": 2, "epochs": 1, "ensemble": 1, "autoregression": False, "references": []}
    series_id = response.json()["id"]
    version = trained_version(client, series_id=series_id, model_name="cycle-combined", **weak)
    bundle = version["bundle"]
    assert bundle["kind"] == "combination"
    assert [member["kind"] for member in bundle["members"]] == ["network", "autoregression"]
    assert sum(bundle["weights"]) == pytest.approx(1.0)
    assert bundle["weights"][1] > bundle["weights"][0]  # ar is far better than this network
    choice = bundle["choices"]["combination"]
    assert choice["value"] == "lstm+ar"
    assert "better than lstm alone" in choice["reason"]
    assert bundle["shrinkage"] == bundle["members"][0]["shrinkage"]
    result = client.get("/v1/forecast", params={"model": "cycle-combined", "horizon": 24}).json()
    assert len(result["points"]) == 24
    assert all(p["lo_95"] < p["value"] < p["hi_95"] for p in result["points"])

    alone = trained_version(
        client, series_id=series_id, model_name="cycle-alone", combine_with_ar=False, **weak
    )
    assert alone["bundle"]["kind"] == "network"
    assert "combination" not in alone["bundle"]["choices"]

    def holdout_rmse(model: str) -> float:
        report = client.get(f"/v1/models/{model}/versions/1/report").json()
        rmse: float = next(r["rmse"] for r in report["one_step"] if r["forecaster"] == "model")
        return rmse

    assert holdout_rmse("cycle-combined") < 0.9 * holdout_rmse("cycle-alone")


def test_a_short_smooth_series_is_served_combined_with_ar_on_significance(
    client: httpx.Client,
) -> None:
    """500 business days of a smooth curve: some 35 validation forecasts, under the 100 on which
    any gain combines, so the gain must be significant; `ar` forecasts the curve almost exactly
    and a one-epoch network of two units does not, so it is."""
    days = pd.bdate_range("2024-01-01", periods=500)
    t = np.arange(len(days))
    values = 50 + 5 * np.sin(2 * np.pi * t / 60) + 0.02 * t
    rows = "".join(f"{d:%Y-%m-%d},{v:.6f}\n" for d, v in zip(days, values, strict=True))
    response = upload_csv(client, "smooth", ("date,value\n" + rows).encode(), "smooth.csv")
    assert response.status_code == 201, response.text
    weak = {"units": 2, "epochs": 1, "ensemble": 1, "autoregression": False, "references": []}
    version = trained_version(client, series_id=response.json()["id"], model_name="smooth", **weak)
    choice = version["bundle"]["choices"]["combination"]
    assert choice["value"] == "lstm+ar", choice
    points = re.search(r"the (\d+) validation points; significant \(t = ", choice["reason"])
    assert points is not None, choice
    assert 30 <= int(points.group(1)) < 100
    report = client.get("/v1/models/smooth/versions/1/report").json()
    rmse = {r["forecaster"]: r["rmse"] for r in report["one_step"]}
    assert rmse["model"] < 0.1 * rmse["naive"]
