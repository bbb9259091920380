"""Helpers shared by the series tests: upload calls and generated files."""

from __future__ import annotations

import io
from typing import Any

import httpx
import numpy as np
import pandas as pd

PROBLEM_JSON = "application/problem+json"


def upload_csv(
    client: httpx.Client, name: str, content: bytes, filename: str = "data.csv", **form: str
) -> httpx.Response:
    return client.post(
        "/v1/series",
        files={"file": (filename, content, "text/csv")},
        data={"name": name, **form},
    )


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with the given status (and type)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    if slug is not None:
        assert body["type"] == f"/problems/{slug}"
    assert body["title"]
    assert body["detail"]
    return body


def bitstamp_minutes(rows: int, *, start: int = 1_325_317_920, seed: int = 7) -> bytes:
    """Minute bars in the layout of the public bitstamp file, with some no-trade minutes."""
    rng = np.random.default_rng(seed)
    ts = start + 60 * np.arange(rows)
    price = 4.39 * np.exp(np.cumsum(rng.normal(0, 0.001, rows)))
    spread = np.abs(rng.normal(0, 0.002, rows)) * price
    volume = rng.exponential(2.0, rows)
    frame = pd.DataFrame(
        {
            "Timestamp": ts,
            "Open": price,
            "High": price + spread,
            "Low": price - spread,
            "Close": price + spread / 2,
            "Volume_(BTC)": volume,
            "Volume_(Currency)": volume * price,
            "Weighted_Price": price + spread / 4,
        }
    )
    no_trade = rng.random(rows) < 0.05
    frame.loc[no_trade, frame.columns[1:]] = np.nan
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()
