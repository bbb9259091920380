"""Impossible training specs are refused with 422 and the reason; nothing is queued."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.series.helpers import assert_problem
from tests.training.helpers import random_walk_series


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"window": 400}, "window 400 needs at least", id="window-over-rows"),
        pytest.param({"test_start": "2030-01-01"}, "holdout is empty", id="empty-holdout"),
        pytest.param({"test_start": "2015-01-05"}, "no training targets", id="holdout-too-early"),
        pytest.param({"epochs": 5000}, "FORECAST_MAX_EPOCHS", id="too-many-epochs"),
        pytest.param({"test_start": "2016-02-20"}, "at least 10", id="holdout-too-small"),
        pytest.param({"target": "volume"}, "no field 'volume'", id="unknown-target"),
        pytest.param(
            {"start": "2016-02-20", "window": 10}, "window 10 needs", id="range-too-short"
        ),
        pytest.param(
            {"start": "2030-01-01"}, "the series runs from 2015-01-02 to", id="range-after-data"
        ),
    ],
)
def test_spec_impossible_for_the_data(
    client: httpx.Client, spec: dict[str, Any], expected: str
) -> None:
    series_id = random_walk_series(client)
    body = assert_problem(
        client.post("/v1/training-jobs", json={"series_id": series_id, **spec}), 422
    )
    assert expected in body["detail"]
    assert client.get("/v1/training-jobs").json()["total"] == 0


@pytest.mark.parametrize(
    ("spec", "loc"),
    [
        pytest.param({"units": 0}, "body.units", id="zero-units"),
        pytest.param({"layers": 0}, "body.layers", id="zero-layers"),
        pytest.param({"dropout": 1.0}, "body.dropout", id="dropout-1"),
        pytest.param({"architecture": "transformer"}, "body.architecture", id="unknown-arch"),
        pytest.param({"optimizer": "adamw"}, "body.optimizer", id="unknown-optimizer"),
        pytest.param({"scaler": "robust"}, "body.scaler", id="unknown-scaler"),
        pytest.param({"target_transform": "diff"}, "body.target_transform", id="unknown-transform"),
        pytest.param({"colour": "red"}, "body.colour", id="unknown-field"),
        pytest.param({"model_name": "../etc"}, "body.model_name", id="path-like-name"),
        pytest.param({"model_name": ".hidden"}, "body.model_name", id="dot-name"),
        pytest.param({"momentum": 0.9}, "body", id="momentum-without-sgd"),
        pytest.param(
            {"patience": 3, "validation_fraction": 0}, "body", id="patience-no-validation"
        ),
        pytest.param({"test_fraction": 0}, "body.test_fraction", id="zero-test-fraction"),
        pytest.param({"window": 1}, "body.window", id="window-1"),
        # true is no series id (read as 1 it trained on series 1)
        pytest.param({"series_id": True}, "body.series_id", id="boolean-id"),
    ],
)
def test_spec_shape_errors(client: httpx.Client, spec: dict[str, Any], loc: str) -> None:
    body = assert_problem(client.post("/v1/training-jobs", json={"series_id": 1, **spec}), 422)
    assert any(e["loc"].startswith(loc) for e in body["errors"]), body["errors"]


def test_log_returns_need_positive_prices_and_the_default_needs_none(
    client: httpx.Client,
) -> None:
    observations = [
        {"date": f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}", "value": float(i % 7 - 1)}
        for i in range(200)
    ]
    series_id = client.post(
        "/v1/series", json={"name": "signed", "observations": observations}
    ).json()["id"]
    asked = {"series_id": series_id, "target_transform": "log_return"}
    body = assert_problem(client.post("/v1/training-jobs", json=asked), 422)
    assert "needs positive values" in body["detail"]
    for spec in ({"target_transform": "level"}, {}):  # the default chooses differences
        ok = client.post(
            "/v1/training-jobs",
            json={"series_id": series_id, "epochs": 1, "units": 4, "ensemble": 1, **spec},
        )
        assert ok.status_code == 202, ok.text
    job_id = ok.json()["id"]
    client.post(f"/v1/training-jobs/{job_id}/cancel")


def test_an_unknown_series_is_not_found(client: httpx.Client) -> None:
    body = assert_problem(client.post("/v1/training-jobs", json={"series_id": 9999}), 404)
    assert "No series with id 9999" in body["detail"]
    assert body["errors"] == [{"message": "unknown series", "loc": "body.series_id"}]


def test_a_series_too_short_for_any_version_says_how_many_are_needed(
    client: httpx.Client,
) -> None:
    series_id = random_walk_series(client, n=10)
    for spec in ({}, {"architecture": "naive"}, {"test_fraction": 0.9}):
        body = assert_problem(
            client.post("/v1/training-jobs", json={"series_id": series_id, **spec}), 422
        )
        assert "naive needs at least 12 observations" in body["detail"], (spec, body)
        assert "the selected range has 10" in body["detail"]
    auto = {"series_id": series_id, "architecture": "auto"}
    body = assert_problem(client.post("/v1/training-jobs", json=auto), 422)
    assert "auto splits the series as the default network would" in body["detail"]
    assert client.get("/v1/training-jobs").json()["total"] == 0
