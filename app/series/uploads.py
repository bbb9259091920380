"""Read an upload request (multipart CSV or JSON) into validated options and a parsed frame."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Generic, TypeVar

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
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Upload(Generic[FormT, JsonT]):
    """The parsed data and the options it came with: a CSV form or a JSON body."""

    parsed: ParsedFrame
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


async def read_upload(
    request: Request, form_model: type[FormT], json_model: type[JsonT]
) -> Upload[FormT, JsonT]:
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
            parsed = await run_in_threadpool(parse_csv, file.file, options.parse_options())
            filename = file.filename[:255] if file.filename else None
            return Upload(parsed=parsed, options=options, filename=filename)
    if content_type == "application/json":
        raw = await request.body()
        body = _validated(json_model, raw)
        parsed = await run_in_threadpool(
            parse_records,
            body.observations,
            body.parse_options(),
            sha256=hashlib.sha256(raw).hexdigest(),
        )
        return Upload(parsed=parsed, options=body, filename=None)
    raise UnsupportedMediaType(
        "Send multipart/form-data with a CSV `file`, or application/json; got "
        f"'{content_type or 'no content type'}'."
    )
