"""Forecasts as CSV in Nixtla's long format, for StatsForecast / utilsforecast users.

One row per series and step: ``unique_id, ds, <model>, <model>-lo-95, <model>-lo-80,
<model>-hi-80, <model>-hi-95`` (the bounds in StatsForecast's order: lower from the widest
level in, upper from the narrowest out). ``unique_id`` is the series' symbol in a collection's
batch, else its id, else the model's name (a forecast from sent values); ``ds`` the step's
date, or the step number where the series has no calendar. The model column is named after the
model, so that forecasts of several models join on ``unique_id, ds`` as Nixtla's tools expect.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Response

CSV_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {
                "example": "unique_id,ds,MSFT-lstm,MSFT-lstm-lo-80,MSFT-lstm-hi-80\n"
                "7,2017-01-03,62.1,61.2,63.0\n"
            }
        }
    }
}


def unique_id(forecast: Mapping[str, Any], symbol: str | None = None) -> str:
    if symbol is not None:
        return symbol
    series_id = forecast.get("series_id")
    return str(series_id) if series_id is not None else str(forecast["model"])


def long_format_csv(forecasts: Iterable[tuple[str, Mapping[str, Any]]], column: str) -> str:
    """``forecasts``: (unique_id, forecast response) pairs; every forecast's points in one
    ``column`` (a level some forecasts lack is left empty in their rows)."""
    items = list(forecasts)
    levels = sorted({level for _, f in items for level in f["levels"]})
    bounds = [(f"lo_{lv}", f"{column}-lo-{lv}") for lv in reversed(levels)]
    bounds += [(f"hi_{lv}", f"{column}-hi-{lv}") for lv in levels]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["unique_id", "ds", column, *(name for _, name in bounds)])
    for uid, forecast in items:
        for point in forecast["points"]:
            ds = point["date"] if point["date"] is not None else point["step"]
            writer.writerow(
                [uid, ds, repr(point["value"]), *(_number(point.get(key)) for key, _ in bounds)]
            )
    return buffer.getvalue()


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def csv_response(content: str, filename: str, headers: Mapping[str, str] | None = None) -> Response:
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type="text/csv", headers={**disposition, **(headers or {})})
