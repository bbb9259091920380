"""The OpenAPI document states every problem an operation can answer.

Every error response is an RFC 9457 problem document (``application/problem+json``, the
``Problem`` schema): FastAPI declares only its own 422 as ``application/json``, so
:func:`install_contract` rewrites each operation's error responses and adds the
statuses any operation of its shape can answer: 404 where the path names a resource, 400, 413
and 415 where it takes a body, 422 where it takes any input, 503 on every ``/v1`` operation
(each reads the database, which can go away). Routers declare the rest (409, a more specific
503 …) with a description saying when.

A query string or a form field cannot carry null: an optional one is absent or a value (a
form field may also be sent empty, meaning absent), so their schemas are stated without
FastAPI's ``null`` alternative. Limits a deployment sets
(``FORECAST_MAX_HORIZON``, ``FORECAST_MAX_EPOCHS``) are stated as the ``maximum`` of the
fields they bound.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from app.config import Settings
from app.errors import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Fields bounded by a setting: (schema component or "METHOD path", field) → Settings attribute.
SETTING_LIMITS: dict[tuple[str, str], str] = {
    ("ForecastRequest", "horizon"): "max_horizon",
    ("GET /v1/forecast", "horizon"): "max_horizon",
    ("TrainingJobCreate", "epochs"): "max_epochs",
    ("TrainingBatchCreate", "epochs"): "max_epochs",
}
# What a status means when the router did not say more.
GENERIC: dict[str, str] = {
    "400": "The body could not be parsed (not JSON, or not a multipart form).",
    "401": "Missing or wrong API key.",
    "404": "A resource the request names does not exist.",
    "413": "Body larger than FORECAST_MAX_UPLOAD_MB.",
    "415": "The body's Content-Type is not one this operation reads.",
    "422": "The request is well-formed but invalid; `errors` says where.",
    "503": "The database (or the artifact store or queue this operation needs) cannot be "
    "reached right now; nothing was changed. Retry after the `Retry-After` header's seconds.",
}


class ProblemItem(BaseModel):
    """One located problem: a CSV row/column, or a JSON location."""

    message: str
    row: int | None = None
    column: str | None = None
    loc: str | None = None
    symbol: str | None = Field(
        default=None, description="The symbol of a multi-symbol upload the problem is in."
    )


class Problem(BaseModel):
    """An RFC 9457 problem document; some problems add members (e.g. ``checks``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/series-not-found"])
    title: str = Field(examples=["Series not found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str = Field(examples=["No series with id 7."])
    errors: list[ProblemItem] | None = Field(
        default=None, description="Where the problems are (up to 20)."
    )
    errors_total: int | None = Field(
        default=None, description="How many problems there were, when over 20."
    )


def _statuses(path: str, operation: dict[str, Any]) -> list[str]:
    """Statuses every operation of this shape can answer."""
    statuses = []
    if "{" in path:
        statuses.append("404")
    if "requestBody" in operation:
        statuses += ["400", "413", "415"]
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append("422")
    if path.startswith("/v1/"):  # every one reads the database
        statuses.append("503")
    return statuses


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, null]`` as X (keeping title, description, default …)."""
    alternatives = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
    if "anyOf" not in schema or len(alternatives) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**alternatives[0], **rest}


def _state_absent_not_null(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") in ("query", "header") and "schema" in parameter:
            parameter["schema"] = _without_null(parameter["schema"])
    form = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data")
    if form and "properties" in form.get("schema", {}):
        properties = form["schema"]["properties"]
        for name, schema in properties.items():
            properties[name] = _empty_not_null(schema)


def _empty_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A form field cannot be null: an optional one is left out, or sent empty (as browsers
    send an empty input), which means the same."""
    if {"type": "null"} not in schema.get("anyOf", []):
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    alternatives = [s for s in schema["anyOf"] if s != {"type": "null"}]
    return {**rest, "anyOf": [*alternatives, {"type": "string", "maxLength": 0}]}


def _field_schema(schema: dict[str, Any], owner: str, field: str) -> dict[str, Any] | None:
    if " " in owner:
        method, path = owner.split(" ", 1)
        operation = schema.get("paths", {}).get(path, {}).get(method.lower(), {})
        for parameter in operation.get("parameters", []):
            if parameter["name"] == field:
                found: dict[str, Any] = parameter["schema"]
                return found
        return None
    component = schema.get("components", {}).get("schemas", {}).get(owner, {})
    return component.get("properties", {}).get(field)  # type: ignore[no-any-return]


def operation_id(route: APIRoute) -> str:
    """An operation's id is its route's name (``list_series``, ``get_alias``): generated
    clients get readable method names, and ``tests/test_operation_ids.py`` keeps them stable."""
    return route.name


def install_contract(app: FastAPI, settings: Settings) -> None:
    """Wrap ``app.openapi`` so that every 4xx/5xx response is declared as a problem document
    and the limits of these settings are stated."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI; what follows is idempotent
        for (owner, field), setting in SETTING_LIMITS.items():
            bounded = _field_schema(schema, owner, field)
            if bounded is not None:
                bounded["maximum"] = getattr(settings, setting)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _state_absent_not_null(operation)
                responses = operation.setdefault("responses", {})
                for status in _statuses(path, operation):
                    responses.setdefault(status, {"description": GENERIC[status]})
                for status, response in responses.items():
                    if status[0] in "45":
                        response.setdefault("description", GENERIC.get(status, "A problem."))
                        response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
