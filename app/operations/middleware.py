"""ASGI middleware: request ids, access log and HTTP metrics; request body size limit; HEAD
answered as GET."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi.routing import iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.deps import HEAD_FLAG
from app.errors import PayloadTooLarge, internal_error_response, problem_response
from app.logs import ACCESS_LOGGER

if TYPE_CHECKING:
    from app.operations.prometheus import Metrics

access_log = logging.getLogger(ACCESS_LOGGER)
REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
UNMATCHED = "<unmatched>"


def valid_request_id(candidate: str) -> bool:
    """A client's ``X-Request-ID`` is kept if it is 1–128 of ``[A-Za-z0-9._-]`` (so it is safe
    in logs and headers); otherwise the request gets a new one."""
    return _VALID_REQUEST_ID.match(candidate) is not None


def request_ids(app: ASGIApp) -> ASGIApp:
    """``X-Request-ID`` in (the client's, if valid) or a new one, in every log record written
    while serving the request, and out in the response."""
    return CorrelationIdMiddleware(app, header_name=REQUEST_ID_HEADER, validator=valid_request_id)


class RouteTemplates:
    """The path template (``/v1/series/{series_id}``) of the route that handled, or would
    handle, a request, as a metric label: never the raw path, so label values stay few.

    FastAPI keeps included routers as nodes and puts the router's own route in
    ``scope["route"]``, whose path lacks any prefix given to ``include_router``; the full
    templates come from the app's flattened route contexts, looked up once per route.
    """

    def __init__(self) -> None:
        self._by_route: dict[int, str] = {}

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            found = self._by_route.get(id(route))
            if found is None:
                self._index(scope)
                found = self._by_route.setdefault(id(route), _template_of(route) or UNMATCHED)
            return found
        # Answered before routing (401, 413) or by no route (404, 405): match it here.
        partial = None
        for context in _route_contexts(scope):
            match, _ = context.matches(scope)
            if match is Match.FULL:
                return _template_of(context) or UNMATCHED
            if match is Match.PARTIAL and partial is None:
                partial = context
        return (_template_of(partial) if partial is not None else None) or UNMATCHED

    def _index(self, scope: Scope) -> None:
        for context in _route_contexts(scope):
            template = _template_of(context)
            if template:
                self._by_route.setdefault(id(getattr(context, "original_route", context)), template)


def _route_contexts(scope: Scope) -> list[Any]:
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", [])
    return list(iter_route_contexts(routes))


def _template_of(route: Any) -> str | None:
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else None


class RequestContextMiddleware:
    """Just inside :func:`request_ids`: writes one access line per request, observes the HTTP
    metrics and turns an unhandled exception into a generic 500 problem (traceback to the log
    only), which still gets the request id on its way out."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.route_template = RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception as exc:
            if response_started:
                raise
            response = internal_error_response(scope["method"], scope["path"], exc)
            await response(scope, receive, observed_send)
        except BaseException:
            if not response_started:
                status = 499  # the client went away first (as nginx counts it)
            raise
        finally:
            seconds = time.perf_counter() - started
            route = self.route_template(scope)
            if self.metrics is not None:
                self.metrics.observe_request(scope["method"], route, status, seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    seconds * 1000,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                    },
                )


class HeadAsGet:
    """Innermost: a ``HEAD`` is routed as the ``GET`` of its path and answered with that GET's
    status and headers (``Content-Length`` and ``ETag`` included) and no body (RFC 9110 §9.3.2).
    FastAPI routes declared with ``GET`` answer 405 to ``HEAD`` otherwise, and adding ``HEAD`` to
    their methods would put it in the OpenAPI document as an operation of its own. The
    middleware outside it still see ``HEAD``: the API key treats it as a read, the access log
    and metrics name it. The route can tell (``app.deps.is_head_probe``: a forecast probed so
    is not recorded in the ledger)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD_FLAG: True}, receive, headers_only)


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """413 for bodies over ``max_bytes``: by Content-Length up front, else by counting chunks.

    The body is never buffered here, so a huge upload costs no memory before it is refused.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        limit = self.max_bytes / 2**20
        return f"The request body exceeds the {limit:g} MiB limit (FORECAST_MAX_UPLOAD_MB)."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, receive, send)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if response_started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            PayloadTooLarge.status,
            slug=PayloadTooLarge.slug,
            title=PayloadTooLarge.title,
            detail=self._too_large(),
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
