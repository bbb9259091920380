"""Retrain policies: the ledger starts a job on its own, and the gate promotes its version."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pandas as pd

from tests.ledger.helpers import append, train_drift
from tests.training.helpers import eventually, wait_for
from tests.training.helpers import upload_prices as upload

NO_GATE = {"beats_naive": False, "beats_current": False}


def fired_job(client: httpx.Client, model: str) -> dict[str, Any]:
    policy = eventually(
        lambda: client.get(f"/v1/models/{model}/policy").json(),
        lambda body: body["fired_job_id"] is not None,
        timeout=20,
    )
    return wait_for(client, policy["fired_job_id"])


def test_new_observations_retrain_and_promote(client: httpx.Client) -> None:
    rng = np.random.default_rng(2)
    dates = pd.bdate_range("2020-01-02", periods=110)
    prices = 30 + np.cumsum(rng.normal(0, 0.3, 110))
    series_id = upload(client, "policy", dates[:100], prices[:100])
    train_drift(client, series_id, "policy-drift")
    moved = client.post("/v1/models/policy-drift/aliases/champion/promote",
                        json={"version": 1, "require": NO_GATE})  # fmt: skip
    assert moved.status_code == 200, moved.text
    policy = {"retrain_every_new_observations": 3, "promote_to": "champion", "require": NO_GATE}
    put = client.put("/v1/models/policy-drift/policy", json=policy)
    assert put.status_code == 200, put.text
    assert put.json()["fired_job_id"] is None

    for day in range(100, 102):  # two new days: not yet
        append(client, series_id, dates[day], float(prices[day]))
    assert client.get("/v1/models/policy-drift/policy").json()["fired_job_id"] is None
    append(client, series_id, dates[102], float(prices[102]))  # the third fires it

    job = fired_job(client, "policy-drift")
    assert job["status"] == "succeeded", job
    assert job["trigger"].startswith("retrain_every_new_observations: 3 new observations")
    fired = client.get("/v1/models/policy-drift/policy").json()
    assert fired["fired_job_id"] == job["id"]
    assert fired["updated_at"] == put.json()["updated_at"]  # when it was set, not when it fired
    assert fired["fired_at"] > fired["updated_at"]
    assert job["model_version"]["version"] == 2
    assert job["promotion"]["promoted"] is True
    assert client.get("/v1/models/policy-drift").json()["aliases"] == {"champion": 2}
    assert (
        client.get("/v1/models/policy-drift/versions/2")
        .json()["metrics"]["data"]["end"]
        .startswith(dates[102].strftime("%Y-%m-%d"))
    )


def test_poor_realized_skill_retrains(client: httpx.Client) -> None:
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2020-01-02", periods=120)
    prices = 30 + np.cumsum(rng.normal(0, 0.3, 120))
    series_id = upload(client, "skill", dates[:100], prices[:100])
    train_drift(client, series_id, "skill-drift")
    # Drift is about as good as naive: its realized skill stays far below 0.5.
    rule = {"retrain_when": {"realized_skill_below": 0.5, "min_scored": 4}}
    assert client.put("/v1/models/skill-drift/policy", json=rule).status_code == 200
    for day in range(100, 106):
        assert client.get("/v1/forecast", params={"model": "skill-drift"}).status_code == 200
        time.sleep(0.3)  # let the ledger write the forecast before its day arrives
        append(client, series_id, dates[day], float(prices[day]))
    job = fired_job(client, "skill-drift")
    assert job["trigger"].startswith("retrain_when: realized skill ")
    assert "of version 1 is below 0.5 over 4 scored points" in job["trigger"]
    assert job["status"] == "succeeded"
    assert job["promotion"] is None  # no promote_to: the new version is just registered


def test_impossible_policies_are_refused_naming_the_field(client: httpx.Client) -> None:
    series_id = upload(client, "refuse", pd.bdate_range("2020-01-02", periods=60),
                       np.linspace(10, 12, 60))  # fmt: skip
    train_drift(client, series_id, "refuse-drift")
    for body, field in [
        ({"retrain_when": {"realized_skill_below": 1.5}}, "realized_skill_below"),
        ({"retrain_when": {"realized_skill_below": 0, "min_scored": 0}}, "min_scored"),
        ({"retrain_every_new_observations": 0}, "retrain_every_new_observations"),
        ({"retrain_every_new_observations": 5, "promote_to": "no way"}, "promote_to"),
        ({}, "retrain_when or retrain_every_new_observations"),
    ]:
        refused = client.put("/v1/models/refuse-drift/policy", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert field in refused.text, (body, refused.text)
    assert client.get("/v1/models/refuse-drift/policy").status_code == 404
    assert client.put("/v1/models/nope/policy",
                      json={"retrain_every_new_observations": 5}).status_code == 404  # fmt: skip
    assert client.delete("/v1/models/refuse-drift/policy").status_code == 404


def test_concurrent_first_puts_of_a_policy_all_succeed(client: httpx.Client) -> None:
    """Each found no policy and inserted one: the later ones failed on the key (a 500)."""
    series_id = upload(client, "race", pd.bdate_range("2020-01-02", periods=60),
                       np.linspace(10, 12, 60))  # fmt: skip
    train_drift(client, series_id, "race-drift")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda n: client.put("/v1/models/race-drift/policy",
                                 json={"retrain_every_new_observations": 10 + n}),
            range(8),
        ))  # fmt: skip
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    kept = client.get("/v1/models/race-drift/policy").json()
    assert kept["policy"]["retrain_every_new_observations"] in range(10, 18)
