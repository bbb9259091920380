"""Forecasts for many series or models in one request (dashboards refreshing a whole book).

Each item is a ``POST /v1/forecast`` body, checked on its own: one bad item gets its own problem
document and never fails the others. Items that share a version, a history length and a horizon
are forecast in one network call.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy import Connection

from app.db.session import Database
from app.errors import AppError, ErrorItem, app_error_body, problem_body
from app.forecasting import service
from app.forecasting.deps import ForecastingDep
from app.forecasting.long_format import CSV_CONTENT, csv_response, long_format_csv, unique_id
from app.forecasting.request_steps import Prepared, prepare, served_of
from app.forecasting.schemas import ForecastRequest, ForecastResponse
from app.forecasting.version_lookup import ResolvedVersion, resolve_version
from app.series import collection_service
from app.vocabulary import (
    COLLECTION_PATTERN,
    MAX_ID,
    FormatQuery,
    ModelName,
    ModelPrefix,
    model_name_part,
)

MAX_ITEMS = 1000
Answers = list[dict[str, Any]]

router = APIRouter(tags=["forecasts"])


class BatchForecastRequest(BaseModel):
    """``items``, or a ``collection`` with the model of each member (``model_prefix``, as a
    training batch names them, or one ``model`` for all) and what to ask of ``each``."""

    items: list[dict[str, Any]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ITEMS,
        description=f"Up to {MAX_ITEMS} forecast requests, each the body of `POST /v1/forecast` "
        "(ForecastRequest), checked on its own.",
        json_schema_extra={"items": {"type": "object"}},
    )
    collection: Annotated[str, Field(pattern=COLLECTION_PATTERN)] | None = Field(
        default=None,
        description="Or forecast every series of this collection (by symbol; at most "
        f"{MAX_ITEMS}) from its stored data.",
    )
    model_prefix: ModelPrefix | None = Field(
        default=None,
        description="With `collection`: each series' model is `<model_prefix>.<symbol>` (what a "
        "training batch with this `model_prefix` registered).",
    )
    model: ModelName | None = Field(
        default=None, description="With `collection`: this one model forecasts every series."
    )
    offset: int = Field(
        default=0,
        ge=0,
        le=MAX_ID,
        description="With `collection`: start at this member (by symbol); the response's "
        "`total` says how many there are.",
    )
    limit: int = Field(
        default=MAX_ITEMS,
        ge=1,
        le=MAX_ITEMS,
        description="With `collection`: forecast at most this many members, from `offset`.",
    )
    each: dict[str, Any] = Field(
        default_factory=dict,
        description="With `collection`: the rest of every item (`horizon`, `level`, `version` or "
        "`alias`).",
        examples=[{"horizon": 5, "level": [80, 95]}],
    )

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {
            "examples": [
                {
                    "items": [
                        {"model": "MSFT-lstm", "horizon": 5},
                        {"model": "MSFT-lstm", "series_id": 2, "horizon": 5},
                        {"model": "AAPL-gru", "alias": "champion"},
                    ]
                },
                {"collection": "sp500", "model_prefix": "sp500-lstm", "each": {"horizon": 5}},
            ]
        },
    }

    @model_validator(mode="after")
    def _one_form(self) -> BatchForecastRequest:
        if (self.items is None) == (self.collection is None):
            raise ValueError("give `items`, or `collection` (not both)")
        if self.collection is not None and (self.model is None) == (self.model_prefix is None):
            raise ValueError("with `collection`, give `model_prefix` or `model` (not both)")
        if self.collection is None and (
            self.model
            or self.model_prefix
            or self.each
            or self.offset
            or "limit" in self.model_fields_set
        ):
            raise ValueError(
                "`model_prefix`, `model`, `each`, `offset` and `limit` go with `collection`"
            )
        if {"model", "series_id", "values", "as_of", "record_for_series"} & set(self.each):
            raise ValueError("`each` sets neither the model nor the data (the collection does)")
        return self


class BatchItem(BaseModel):
    index: int = Field(description="Position of the item in the request.")
    symbol: str | None = Field(
        default=None, description="With `collection`: the series' symbol in it."
    )
    forecast: ForecastResponse | None = None
    error: dict[str, Any] | None = Field(
        default=None, description="The item's problem document (status, title, detail, errors)."
    )


class BatchForecastResponse(BaseModel):
    """A page like every list's (`items`, `total`, `limit`, `offset`): with `collection`, the
    next page starts at `offset + limit` while that is below `total`."""

    succeeded: int
    failed: int
    items: list[BatchItem]
    total: int = Field(description="Items asked for in all (a collection's members).")
    limit: int
    offset: int


def _invalid(index: int, exc: ValidationError) -> dict[str, Any]:
    errors = [
        ErrorItem(message=str(e["msg"]), loc=".".join(str(p) for p in ("items", index, *e["loc"])))
        for e in exc.errors(include_url=False)
    ]
    return problem_body(
        422, slug="validation-error", title="Request validation failed",
        detail=f"{len(errors)} problem(s) in item {index}; see errors.", errors=errors,
    )  # fmt: skip


def _expand(
    body: BatchForecastRequest, db: Database
) -> tuple[list[dict[str, Any]], Answers, dict[str, int]]:
    """The items to forecast, an answer stub for each (a collection's carry the symbol) and
    where they stand in all that was asked for (``total``, ``limit``, ``offset``)."""
    if body.items is not None:
        count = len(body.items)
        return body.items, [{"index": i} for i in range(count)], _place(count, count, 0)
    assert body.collection is not None
    with db.session_scope() as session:
        found = collection_service.get_collection(session, body.collection)
        members = [(s.id, s.symbol or s.name) for s in collection_service.members(session, found)]
    place = _place(len(members), body.limit, body.offset)
    members = members[body.offset : body.offset + body.limit]
    items = [
        {**body.each, "series_id": series_id,
         "model": body.model or f"{body.model_prefix}.{model_name_part(symbol)}"}
        for series_id, symbol in members
    ]  # fmt: skip
    return items, [{"index": i, "symbol": s} for i, (_, s) in enumerate(members)], place


def _batch_csv(
    body: BatchForecastRequest, answers: Answers, failed: int, place: dict[str, int]
) -> Response:
    forecasts = [(unique_id(a["forecast"], a.get("symbol")), a["forecast"])
                 for a in answers if "forecast" in a]  # fmt: skip
    models = {f["model"] for _, f in forecasts}
    column = body.model_prefix or (models.pop() if len(models) == 1 else "forecast")
    headers = {
        "X-Failed-Items": str(failed),
        **{f"X-{k.title()}": str(v) for k, v in place.items()},
    }
    return csv_response(long_format_csv(forecasts, column), "forecasts.csv", headers)


def _place(total: int, limit: int, offset: int) -> dict[str, int]:
    return {"total": total, "limit": limit, "offset": offset}


@router.post(
    "/v1/forecast/batch",
    response_model=BatchForecastResponse,
    summary="Forecast many series or models at once; each item succeeds or fails on its own",
    responses={
        **CSV_CONTENT,
        404: {"description": "No collection of that name (an item's own 404 is in the item)."},
        422: {
            "description": "Neither or both of `items` and `collection`, over "
            f"{MAX_ITEMS} items, or a collection page (`limit`) of over {MAX_ITEMS}."
        },  # fmt: skip
    },
)
def post_forecast_batch(
    body: BatchForecastRequest,
    forecasting: ForecastingDep,
    format: FormatQuery = "json",  # noqa: A002
) -> Response:
    """Each item is answered with its `forecast` or its `error` (a problem document with the
    status it would have had alone: 404 unknown model or series, 422 invalid …). Forecasts from
    stored series are kept in the ledger like single ones. With `collection`, the items are its
    series in symbol order, each answer carrying its `symbol`. `format=csv`: the forecasts in
    Nixtla's long format, in one column named after the one model (a collection's
    `model_prefix`, else `forecast` when items name several models); items that failed are
    left out and counted in the `X-Failed-Items` header."""
    db, settings = forecasting.db, forecasting.settings
    items, answers, place = _expand(body, db)
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
        for index, raw in enumerate(items):
            try:
                request = ForecastRequest.model_validate(raw)
                prepared = prepare(request, conn, settings, forecasting.bundles, resolve)
            except ValidationError as exc:
                answers[index]["error"] = _invalid(index, exc)
                continue
            except AppError as exc:
                answers[index]["error"] = app_error_body(exc)
                continue
            key = (prepared.version.id, len(prepared.history.values), request.horizon)
            groups[key].append((index, prepared))
    for (_, _, horizon), members in groups.items():
        loaded, intervals = members[0][1].loaded, members[0][1].intervals
        histories = np.stack([p.history.values for _, p in members])
        points = np.asarray(loaded.forecaster.recursive(histories, horizon))
        levels = sorted({level for _, p in members for level in p.request.level})
        with np.errstate(all="ignore"):  # a non-finite interval fails its own item below
            bounds = intervals.intervals.bands(points, levels, histories)
        for row, ((index, prepared), point) in enumerate(zip(members, points, strict=True)):
            try:
                result = service.assemble(
                    loaded, prepared.version, prepared.history, point,
                    horizon=horizon, levels=prepared.request.level, intervals=intervals,
                    bounds_by_level={lv: (lo[row], hi[row]) for lv, (lo, hi) in bounds.items()},
                )  # fmt: skip
                served = served_of(prepared, result)
            except AppError as exc:
                answers[index]["error"] = app_error_body(exc)
                continue
            answers[index]["forecast"] = result
            if served is not None:
                forecasting.record(served)
    failed = sum("error" in a for a in answers)
    if format == "csv":
        return _batch_csv(body, answers, failed, place)
    return JSONResponse(
        {
            "succeeded": len(answers) - failed,
            "failed": failed,
            "items": answers,
            **place,
        }
    )
