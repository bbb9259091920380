"""``GET /v1/accuracy``: every model × alias of the book in one paged list, the ones losing to
naive first, with the numbers each model's own ledger report gives."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.ledger.helpers import accuracy, append, train_drift
from tests.series.helpers import assert_problem
from tests.training.helpers import upload_prices as upload

DAYS = 80
LOOP = 12


def _book(client: httpx.Client, **params: object) -> dict[str, object]:
    response = client.get("/v1/accuracy", params=params)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_the_book_lists_every_alias_worst_first(client: httpx.Client) -> None:
    """A trending series (drift beats naive) and a reverting one (drift loses), each served
    under `champion` for LOOP days; a third model has an alias but nothing scored."""
    dates = pd.bdate_range("2020-01-02", periods=DAYS + LOOP)
    steps = np.arange(DAYS + LOOP)
    top = 50 + 0.2 * (DAYS - 1)
    wiggle = 0.05 * np.sin(1.7 * steps)  # no series is a perfect line: holdouts promise > 0
    prices = {  # drift continues the trend: right on the first, wrong on the second
        "trend": 50 + 0.5 * steps + wiggle,
        "revert": np.where(steps < DAYS, 50 + 0.2 * steps, top - 2.0 * (steps - DAYS + 1)) + wiggle,
    }
    ids = {}
    for name, values in prices.items():
        ids[name] = upload(client, f"book-{name}", dates[:DAYS], values[:DAYS])
        train_drift(client, ids[name], f"book.{name}")
        assert client.put(f"/v1/models/book.{name}/aliases/champion", json={"version": 1})
    train_drift(client, ids["trend"], "book.idle")
    assert client.put("/v1/models/book.idle/aliases/staging", json={"version": 1})
    for i in range(LOOP - 1):
        for name, values in prices.items():
            params = {"model": f"book.{name}", "alias": "champion"}
            assert client.get("/v1/forecast", params=params).status_code == 200
            append(client, ids[name], dates[DAYS + i], float(values[DAYS + i]))

    own = {name: accuracy(client, f"book.{name}", LOOP - 1, alias="champion", group_by="step")
           for name in prices}  # fmt: skip
    body = _book(client)
    rows = body["items"]
    assert isinstance(rows, list)
    assert [(r["model"], r["alias"]) for r in rows] == [
        ("book.revert", "champion"), ("book.trend", "champion"), ("book.idle", "staging"),
    ]  # fmt: skip
    assert body["total"] == 3
    revert, trend, idle = rows
    assert revert["skill_vs_naive"] < 0 < trend["skill_vs_naive"]
    assert (idle["scored"], idle["skill_vs_naive"], idle["coverage"]) == (0, None, {})
    for row in (revert, trend):  # the same numbers as the model's own report
        step_one = own[row["model"].removeprefix("book.")]["groups"][0]
        assert row["scored"] == step_one["scored"] == LOOP - 1
        assert row["rmse"] == pytest.approx(step_one["rmse"], rel=1e-9)
        assert row["naive_rmse"] == pytest.approx(step_one["naive_rmse"], rel=1e-9)
        assert row["realized_to_promised"] == pytest.approx(row["rmse"] / row["promised_rmse"])
        assert set(row["coverage"]) == {"80", "95"}
        assert row["coverage_points"]["95"] == LOOP - 1

    best_first = _book(client, sort="-skill", limit=1, offset=0)
    assert [r["model"] for r in best_first["items"]] == ["book.trend"]
    for order in ("scored", "-scored", "skill", "-realized_to_promised"):  # the idle one last
        assert _book(client, sort=order)["items"][-1]["model"] == "book.idle", order
    assert [r["model"] for r in _book(client, prefix="book.t")["items"]] == ["book.trend"]
    assert _book(client, collection="nothing-here")["total"] == 0
    assert_problem(client.get("/v1/accuracy", params={"sort": "price"}), 422)
    assert_problem(client.get("/v1/accuracy", params={"prefix": "a\x00b"}), 422)
