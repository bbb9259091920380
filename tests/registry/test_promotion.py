"""Metric-gated promotion over real HTTP: the alias moves only when the numbers say so."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest

from tests.series.helpers import assert_problem
from tests.training.helpers import random_walk_series, start_job, wait_for

MODEL = "gate"


def train(client: httpx.Client, series_id: int, **spec: Any) -> dict[str, Any]:
    body = {"series_id": series_id, "model_name": MODEL, **spec}
    job = wait_for(client, start_job(client, **body)["id"])
    assert job["status"] == "succeeded", job
    return job


def version(client: httpx.Client, number: int) -> dict[str, Any]:
    response = client.get(f"/v1/models/{MODEL}/versions/{number}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def promote(client: httpx.Client, number: int, **require: Any) -> httpx.Response:
    body: dict[str, Any] = {"version": number}
    if require:
        body["require"] = require
    return client.post(f"/v1/models/{MODEL}/aliases/champion/promote", json=body)


def champion(client: httpx.Client) -> int | None:
    aliases: dict[str, int] = client.get(f"/v1/models/{MODEL}").json()["aliases"]
    return aliases.get("champion")


@pytest.fixture
def two_versions(client: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two versions on the same data and holdout, so their errors compare directly (baselines:
    the rule reads the registry's numbers, whatever produced them, and they train at once)."""
    series_id = random_walk_series(client)
    train(client, series_id, architecture="drift")
    train(client, series_id, architecture="naive")
    return version(client, 1), version(client, 2)


def test_better_version_is_promoted_and_worse_refused_with_numbers(
    client: httpx.Client, two_versions: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    first, second = two_versions
    assert first["metrics"]["holdout"] == second["metrics"]["holdout"]
    by_rmse = sorted((first, second), key=lambda v: v["metrics"]["model"]["rmse"])
    better, worse = by_rmse[0]["version"], by_rmse[1]["version"]

    response = promote(client, better, beats_naive=False)
    assert response.status_code == 200, response.text
    assert response.json()["previous_version"] is None
    assert champion(client) == better

    response = promote(client, worse, beats_naive=False)
    problem = assert_problem(response, 409, "promotion-refused")
    (check,) = problem["checks"]
    assert check["check"] == "beats_current"
    assert check["holds"] is False
    assert check["metric"] == "rmse"
    assert check["candidate"] == pytest.approx(by_rmse[1]["metrics"]["model"]["rmse"])
    assert check["current"] == pytest.approx(by_rmse[0]["metrics"]["model"]["rmse"])
    assert check["current_version"] == better
    assert champion(client) == better  # unchanged

    # Without the comparison the move is allowed (an operator's explicit choice).
    response = promote(client, worse, beats_naive=False, beats_current=False)
    assert response.status_code == 200, response.text
    assert response.json()["previous_version"] == better
    assert champion(client) == worse


def test_beats_naive_uses_the_holdout_numbers(
    client: httpx.Client, two_versions: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    first, _ = two_versions
    metrics = first["metrics"]
    response = promote(client, 1, beats_current=False, metric="mae")
    beats = metrics["model"]["mae"] < metrics["naive"]["mae"]
    if beats:
        assert response.status_code == 200, response.text
        checks = response.json()["checks"]
    else:
        checks = assert_problem(response, 409, "promotion-refused")["checks"]
    assert checks == [
        {
            "check": "beats_naive",
            "holds": beats,
            "metric": "mae",
            "basis": "holdout",
            "candidate": pytest.approx(metrics["model"]["mae"]),
            "naive": pytest.approx(metrics["naive"]["mae"]),
        }
        | ({"current": None, "current_version": None} if beats else {})
    ]


def test_naive_baseline_never_beats_naive(client: httpx.Client) -> None:
    """The naive architecture *is* the naive forecast: equal is not better."""
    series_id = random_walk_series(client)
    train(client, series_id, architecture="naive")
    metrics = version(client, 1)["metrics"]
    assert metrics["model"]["rmse"] == pytest.approx(metrics["naive"]["rmse"], rel=1e-12)
    problem = assert_problem(promote(client, 1), 409, "promotion-refused")
    assert "beats_naive" in problem["detail"]
    assert champion(client) is None


def test_training_job_promotes_when_the_rule_holds(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    job = train(
        client,
        series_id,
        architecture="drift",
        promote_to="champion",
        promote_require={"beats_naive": False},
    )
    assert job["promotion"]["promoted"] is True
    assert champion(client) == 1
    # A second identical baseline is not better than the champion: the job succeeds, the
    # alias stays, and the job says why with the numbers.
    job = train(client, series_id, architecture="drift", promote_to="champion")
    promotion = job["promotion"]
    assert promotion["promoted"] is False
    assert promotion["alias"] == "champion"
    assert {c["check"] for c in promotion["checks"] if not c["holds"]} >= {"beats_current"}
    assert champion(client) == 1


def test_promotion_errors(client: httpx.Client) -> None:
    series_id = random_walk_series(client)
    train(client, series_id, architecture="naive")
    assert_problem(promote(client, 7), 404, "version-not-found")
    response = client.post("/v1/models/nope/aliases/champion/promote", json={"version": 1})
    assert_problem(response, 404, "model-not-found")
    for body in (
        {},
        {"version": 0},
        {"version": 1, "require": {"metric": "r2"}},
        {"version": 1, "require": {"beats_naive": "sometimes"}},
        {"version": 1, "extra": True},
    ):
        response = client.post(f"/v1/models/{MODEL}/aliases/champion/promote", json=body)
        assert_problem(response, 422)
    response = client.post(f"/v1/models/{MODEL}/aliases/1bad/promote", json={"version": 1})
    assert_problem(response, 422)


def test_a_version_of_another_target_is_not_promoted_over_the_alias(client: httpx.Client) -> None:
    """Trained on close, then on high under the same name: comparing each against naive on its
    own data would let the champion silently switch to forecasting another quantity."""
    rows = [
        {"date": d.strftime("%Y-%m-%d"), "close": 50.0 + 0.1 * i + (i % 3), "high": 51.0 + 0.1 * i}
        for i, d in enumerate(pd.bdate_range("2015-01-02", periods=200))
    ]
    series_id = client.post("/v1/series", json={"name": "two", "observations": rows}).json()["id"]
    lenient = {"beats_naive": False, "beats_current": False}
    train(client, series_id, architecture="drift", target="close")
    assert promote(client, 1, **lenient).status_code == 200
    job = train(
        client, series_id, architecture="drift", target="high",
        promote_to="champion", promote_require=lenient,
    )  # fmt: skip
    assert job["promotion"]["promoted"] is False
    assert "forecasts 'high'" in job["promotion"]["detail"]
    problem = assert_problem(promote(client, 2, **lenient), 409, "promotion-refused")
    assert "version 1 'close'" in problem["detail"]
    assert champion(client) == 1
    moved = client.put(f"/v1/models/{MODEL}/aliases/champion", json={"version": 2})
    assert moved.status_code == 200, moved.text  # the explicit override
    assert champion(client) == 2
