"""Error hierarchy and the one place that renders RFC 9457 problem documents.

Services raise :class:`AppError` subclasses; handlers registered by :func:`install_handlers`
turn them (and framework errors) into ``application/problem+json`` responses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)
T = TypeVar("T")

PROBLEM_JSON = "application/problem+json"
MAX_LISTED_ERRORS = 20


@dataclass(frozen=True)
class ErrorItem:
    """One located problem: a CSV row/column, or a JSON location."""

    message: str
    row: int | None = None
    column: str | None = None
    loc: str | None = None
    symbol: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            k: clip(v) if isinstance(v, str) else v
            for k, v in self.__dict__.items()
            if v is not None
        }


# Longest text a problem document repeats: a message quotes what the client sent (a column
# name, a date), which may be a megabyte.
MAX_ECHOED_CHARS = 500


def clip(text: str) -> str:
    """``text``, cut to MAX_ECHOED_CHARS with a note of how much was left out."""
    if len(text) <= MAX_ECHOED_CHARS:
        return text
    return f"{text[:MAX_ECHOED_CHARS]}… ({len(text) - MAX_ECHOED_CHARS} more characters)"


class AppError(Exception):
    """Base of every error a client can cause; carries its HTTP status and problem type."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    # When the client should retry (a 503, or a 409 for a request still in flight).
    retry_after_s: ClassVar[int | None] = None

    def __init__(
        self,
        detail: str,
        *,
        errors: list[ErrorItem] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = "Not found"


def found(row: T | None, missing: NotFound) -> T:
    """``row``, or ``missing`` raised when there is none."""
    if row is None:
        raise missing
    return row


class SeriesNotFound(NotFound):
    slug = "series-not-found"
    title = "Series not found"


class CollectionNotFound(NotFound):
    slug = "collection-not-found"
    title = "Collection not found"


class CollectionTooLarge(AppError):
    status = 422
    slug = "collection-too-large"
    title = "Collection over its limit"


class BatchNotFound(NotFound):
    slug = "batch-not-found"
    title = "Training batch not found"


class JobNotFound(NotFound):
    slug = "job-not-found"
    title = "Training job not found"


class ModelNotFound(NotFound):
    slug = "model-not-found"
    title = "Model not found"


class PolicyNotFound(NotFound):
    slug = "policy-not-found"
    title = "Retrain policy not found"


class VersionNotFound(NotFound):
    slug = "version-not-found"
    title = "Model version not found"


class AliasNotFound(NotFound):
    slug = "alias-not-found"
    title = "Alias not found"


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class SeriesNameTaken(Conflict):
    slug = "series-name-taken"
    title = "Series name already taken"


class ObservationConflict(Conflict):
    slug = "observation-conflict"
    title = "Observations conflict with stored values"


class SeriesGone(Conflict):
    slug = "series-deleted"
    title = "Training series deleted"


class JobNotCancellable(Conflict):
    slug = "job-not-cancellable"
    title = "Job can no longer be cancelled"


class VersionInUse(Conflict):
    slug = "version-in-use"
    title = "Version is in use"


class VersionNotReady(Conflict):
    slug = "version-not-ready"
    title = "Version is not ready"


class VersionAlreadyImported(Conflict):
    slug = "version-already-imported"
    title = "This archive was already imported"


class PromotionRefused(Conflict):
    slug = "promotion-refused"
    title = "Promotion refused by its rule"


class BacktestNotFound(NotFound):
    slug = "backtest-not-found"
    title = "Backtest not found"


class InvalidUpload(AppError):
    status = 422
    slug = "invalid-upload"
    title = "Invalid upload"


class InvalidBundle(AppError):
    status = 422
    slug = "invalid-bundle"
    title = "Invalid bundle archive"


class InvalidRequest(AppError):
    status = 422
    slug = "invalid-request"
    title = "Invalid request"


class InvalidSpec(AppError):
    status = 422
    slug = "invalid-training-spec"
    title = "Training spec cannot be trained"


class PayloadTooLarge(AppError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class NotReady(AppError):
    status = 503
    slug = "not-ready"
    title = "Service not ready"


class BundleCorrupt(AppError):
    status = 503
    slug = "bundle-corrupt"
    title = "Model files missing or corrupt"


class ArtifactStoreUnavailable(AppError):
    """The object store cannot be reached or refuses us; bundles already loaded still serve."""

    status = 503
    slug = "artifact-store-unavailable"
    title = "Artifact store unavailable"
    retry_after_s = 5


def problem_response(
    status: int,
    *,
    slug: str,
    title: str,
    detail: str,
    errors: list[ErrorItem] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = problem_body(status, slug=slug, title=title, detail=detail, errors=errors, extra=extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_body(
    status: int,
    *,
    slug: str,
    title: str,
    detail: str,
    errors: list[ErrorItem] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An RFC 9457 problem document (also one item's error inside a batch answer)."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": clip(detail),
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors[:MAX_LISTED_ERRORS]]
        if len(errors) > MAX_LISTED_ERRORS:
            body["errors_total"] = len(errors)
    if extra:
        body.update(extra)
    return body


def app_error_body(exc: AppError) -> dict[str, Any]:
    return problem_body(
        exc.status, slug=exc.slug, title=exc.title, detail=exc.detail, errors=exc.errors,
        extra=exc.extra,
    )  # fmt: skip


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        slug=exc.slug,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        extra=exc.extra,
        headers={"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = [
        ErrorItem(message=str(err.get("msg")), loc=".".join(str(p) for p in err.get("loc", ())))
        for err in exc.errors()
    ]
    return problem_response(
        422,
        slug="validation-error",
        title="Request validation failed",
        detail=f"{len(items)} problem(s) in the request; see errors.",
        errors=items,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) else phrase
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        methods = allowed_methods(request)
        headers["Allow"] = ", ".join(methods)
        detail = f"{request.method} is not allowed here; this path answers {', '.join(methods)}."
    return problem_response(
        exc.status_code,
        slug=phrase.lower().replace(" ", "-"),
        title=phrase,
        detail=detail,
        headers=headers or None,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the request's path answers (Starlette's own 405 names only
    the methods of the first route that matched the path, e.g. ``POST`` where a GET route
    of the same path exists too)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")  # answered by HeadAsGet
    return sorted(methods)


def internal_error_response(method: str, path: str, exc: BaseException) -> JSONResponse:
    """A generic 500 problem: the traceback goes to the log, never into the response."""
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return problem_response(
        500,
        slug="internal-error",
        title="Internal server error",
        detail="The server failed to handle this request; the error was logged.",
    )


def install_handlers(app: FastAPI) -> None:
    """Problem documents for our errors, validation errors and HTTP errors. Anything else is
    turned into a generic 500 by :class:`app.operations.middleware.RequestContextMiddleware`."""
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for unreachable in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(unreachable, _database_unavailable)


DATABASE_RETRY_AFTER_S = 5


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database went away mid-request (restarted, failed over, partitioned): a 503 the
    client can retry, never a 500. The type only: messages carry hosts and users."""
    log.warning(
        "%s %s: database unavailable (%s)", request.method, request.url.path, type(exc).__name__
    )
    return problem_response(
        503,
        slug="database-unavailable",
        title="Database unavailable",
        detail="The database cannot be reached right now; nothing was changed by this request "
        f"unless it says otherwise. Try again in {DATABASE_RETRY_AFTER_S} s.",
        headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
    )
