"""Helpers for ledger tests: days appended one at a time, reports once written, drift models."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd

from tests.training.helpers import eventually, start_job, wait_for


def append(client: httpx.Client, series_id: int, day: pd.Timestamp, price: float,
           **params: str) -> None:  # fmt: skip
    response = client.post(
        f"/v1/series/{series_id}/observations",
        params=params,
        json={"observations": [{"date": day.strftime("%Y-%m-%d"), "close": price}]},
    )
    assert response.status_code == 200, response.text


def accuracy(client: httpx.Client, model: str, expect_scored: int, **params: Any) -> Any:
    """The accuracy report once the ledger has written and scored what was served."""

    def read() -> Any:
        response = client.get(f"/v1/models/{model}/accuracy", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    return eventually(read, lambda body: body["total"]["scored"] >= expect_scored, timeout=20)


def train_drift(client: httpx.Client, series_id: int, model: str) -> None:
    """A drift baseline: trains at once, and forecasts differently from naive."""
    job = start_job(client, series_id=series_id, architecture="drift", model_name=model)
    assert wait_for(client, job["id"])["status"] == "succeeded"
