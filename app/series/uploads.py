"""Read an upload request (multipart CSV or JSON) into validated options and a parsed frame."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Generic, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.errors import UnsupportedMediaType
from app.series.parsing import ParsedFrame, parse_csv, parse_records
from app.series.schemas import JsonObservations, UploadOptions

FormT = TypeVar("FormT", bound=UploadOptions)
JsonT = TypeVar("JsonT", bound=JsonObservations)
ParsedT = TypeVar("ParsedT")
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Upload(Generic[FormT, JsonT, ParsedT]):
    """The parsed data and the options it came with: a CSV form or a JSON body."""

    parsed: ParsedT
    options: FormT | JsonT
    filename: str | None


def _validated(model: type[ModelT], data: bytes | dict[str, str]) -> ModelT:
    """Validate like FastAPI would, so errors render as the usual 422 problem."""
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc


def frame_of_csv(file: IO[bytes], options: UploadOptions) -> ParsedFrame:
    return parse_csv(file, options.parse_options())


def frame_of_json(body: JsonObservations, sha256: str) -> ParsedFrame:
    return parse_records(body.observations, body.parse_options(), sha256=sha256)


async def read_upload(
    request: Request,
    form_model: type[FormT],
    json_model: type[JsonT],
    *,
    csv_parser: Callable[[IO[bytes], FormT], ParsedT],
    json_parser: Callable[[JsonT, str], ParsedT],
) -> Upload[FormT, JsonT, ParsedT]:
    """Validate the request's options first, then parse the data off the event loop."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=20) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise RequestValidationError(
                    [{"type": "missing", "loc": ("body", "file"), "msg": "a CSV file is required"}]
                )
            fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v}
            options = _validated(form_model, fields)
            if file.filename and "\x00" in file.filename:
                raise RequestValidationError([{
                    "type": "value_error", "loc": ("body", "file"),
                    "msg": "the file's name must not contain a NUL character (U+0000)",
                }])  # fmt: skip
            parsed = await run_in_threadpool(csv_parser, file.file, options)
            filename = file.filename[:255] if file.filename else None
            return Upload(parsed=parsed, options=options, filename=filename)
    if content_type == "application/json":
        raw = await request.body()
        body = _validated(json_model, raw)
        parsed = await run_in_threadpool(json_parser, body, hashlib.sha256(raw).hexdigest())
        return Upload(parsed=parsed, options=body, filename=None)
    raise UnsupportedMediaType(
        "Send multipart/form-data with a CSV `file`, or application/json; got "
        f"'{content_type or 'no content type'}'."
    )


def upload_body(
    form_model: type[BaseModel], json_model: type[BaseModel], *, csv_example: str
) -> dict[str, Any]:
    """OpenAPI request body offering a multipart CSV upload or a JSON document."""
    form = form_model.model_json_schema()
    form["properties"] = {
        "file": {"type": "string", "format": "binary", "description": "The CSV file (UTF-8)."},
        **form["properties"],
    }
    form["required"] = ["file", *form.get("required", [])]
    named = {"name": "MSFT"} if "name" in form["properties"] else {}
    form["examples"] = [{"file": csv_example, **named}]
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": form},
                "application/json": {"schema": json_model.model_json_schema()},
            },
        }
    }


UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"description": "Body larger than FORECAST_MAX_UPLOAD_MB."},
    415: {"description": "Neither multipart/form-data nor application/json."},
    422: {"description": "Invalid file or options; `errors` lists rows and columns."},
}
