"""Forecasts for many series or models in one request (dashboards refreshing a whole book).

Each item is a ``POST /v1/forecast`` body, checked on its own: one bad item gets its own problem
document and never fails the others. Items that share a version, a history length and a horizon
are forecast in one network call.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Connection

from app.deps import DatabaseDep, SettingsDep
from app.errors import AppError, ErrorItem, app_error_body, problem_body
from app.forecasting import service
from app.forecasting.deps import BundleCacheDep, RecorderDep
from app.forecasting.schemas import ForecastRequest, ForecastResponse
from app.forecasting.serving import Prepared, prepare, served_of
from app.forecasting.versions import ResolvedVersion, resolve_version

MAX_ITEMS = 1000

router = APIRouter(tags=["forecasts"])


class BatchForecastRequest(BaseModel):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Up to {MAX_ITEMS} forecast requests, each the body of `POST /v1/forecast` "
        "(ForecastRequest), checked on its own.",
        json_schema_extra={"items": {"type": "object"}},
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "items": [
                        {"model": "MSFT-lstm", "horizon": 5},
                        {"model": "MSFT-lstm", "series_id": 2, "horizon": 5},
                        {"model": "AAPL-gru", "alias": "champion"},
                    ]
                }
            ]
        }
    }


class BatchItem(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    forecast: ForecastResponse | None = None
    error: dict[str, Any] | None = Field(
        default=None, description="The item's problem document (status, title, detail, errors)."
    )


class BatchForecastResponse(BaseModel):
    succeeded: int
    failed: int
    items: list[BatchItem]


def _invalid(index: int, exc: ValidationError) -> dict[str, Any]:
    errors = [
        ErrorItem(message=str(e["msg"]), loc=".".join(str(p) for p in ("items", index, *e["loc"])))
        for e in exc.errors(include_url=False)
    ]
    return problem_body(
        422, slug="validation-error", title="Request validation failed",
        detail=f"{len(errors)} problem(s) in item {index}; see errors.", errors=errors,
    )  # fmt: skip


@router.post(
    "/v1/forecast/batch",
    response_model=BatchForecastResponse,
    summary="Forecast many series or models at once; each item succeeds or fails on its own",
)
def post_forecast_batch(
    body: BatchForecastRequest,
    db: DatabaseDep,
    settings: SettingsDep,
    cache: BundleCacheDep,
    record: RecorderDep,
) -> JSONResponse:
    """Each item is answered with its `forecast` or its `error` (a problem document with the
    status it would have had alone: 404 unknown model or series, 422 invalid …). Forecasts from
    stored series are kept in the ledger like single ones."""
    answers: list[dict[str, Any]] = [{"index": i} for i in range(len(body.items))]
    groups: dict[tuple[int, int, int], list[tuple[int, Prepared]]] = defaultdict(list)
    resolved: dict[tuple[str, int | None, str | None], ResolvedVersion] = {}

    def resolve(
        conn: Connection, model: str, version: int | None, alias: str | None
    ) -> ResolvedVersion:  # once per model, version and alias in a batch
        key = (model, version, alias)
        if key not in resolved:
            resolved[key] = resolve_version(conn, model, version=version, alias=alias)
        return resolved[key]

    with db.engine.connect() as conn:
        for index, raw in enumerate(body.items):
            try:
                request = ForecastRequest.model_validate(raw)
                prepared = prepare(request, conn, settings, cache, resolve)
            except ValidationError as exc:
                answers[index]["error"] = _invalid(index, exc)
                continue
            except AppError as exc:
                answers[index]["error"] = app_error_body(exc)
                continue
            key = (prepared.version.id, len(prepared.history.values), request.horizon)
            groups[key].append((index, prepared))
    for (_, _, horizon), members in groups.items():
        loaded = members[0][1].loaded
        histories = np.stack([p.history.values for _, p in members])
        points = np.asarray(loaded.forecaster.recursive(histories, horizon))
        levels = sorted({level for _, p in members for level in p.request.level})
        with np.errstate(all="ignore"):  # a non-finite interval fails its own item below
            bounds = {level: loaded.intervals.bounds(points, level, histories) for level in levels}
        for row, ((index, prepared), point) in enumerate(zip(members, points, strict=True)):
            try:
                result = service.assemble(
                    loaded, prepared.version, prepared.history, point,
                    horizon=horizon, levels=prepared.request.level,
                    bounds_by_level={lv: (lo[row], hi[row]) for lv, (lo, hi) in bounds.items()},
                )  # fmt: skip
                served = served_of(prepared, result)
            except AppError as exc:
                answers[index]["error"] = app_error_body(exc)
                continue
            answers[index]["forecast"] = result
            if served is not None:
                record(served)
    failed = sum("error" in a for a in answers)
    return JSONResponse({"succeeded": len(answers) - failed, "failed": failed, "items": answers})
