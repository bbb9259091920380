"""API key authentication (``FORECAST_API_KEY``) as pure ASGI middleware, and its OpenAPI side.

The check looks only at the method and the path, never at the routes, so an endpoint added
later is covered without doing anything: with a key configured every request that is not a
read (GET, HEAD, OPTIONS) needs it; with ``FORECAST_PROTECT_READS`` reads need it too, except
the probes, the API documentation and the dashboard's pages. ``/metrics`` counts as a read.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings
from app.errors import Unauthorized, problem_response
from app.operations.dashboard import is_dashboard_path
from app.operations.docs import is_docs_asset

log = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD"})
# Open even when reads are protected: orchestrator probes, the docs (to reach Authorize) with
# their assets, and the dashboard's pages (code only; the person types the key into them).
OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
BEARER = "HTTPBearer"
API_KEY_HEADER = "APIKeyHeader"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: {"type": "http", "scheme": "bearer", "description": "`FORECAST_API_KEY`"},
    API_KEY_HEADER: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`FORECAST_API_KEY`",
    },
}


def requires_key(settings: Settings, method: str, path: str) -> bool:
    """Whether a request needs the API key under these settings."""
    if settings.api_key is None or method == "OPTIONS":
        return False
    if method in READ_METHODS:
        return (
            settings.protect_reads
            and path not in OPEN_PATHS
            and not is_docs_asset(path)
            and not is_dashboard_path(path)
        )
    return True


def _presented_keys(scope: Scope) -> list[bytes]:
    keys = []
    for name, value in scope.get("headers") or []:
        if name == b"x-api-key":
            keys.append(value.strip())
        elif name == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer":
                keys.append(token.strip())
    return keys


class ApiKeyMiddleware:
    """401 ``application/problem+json`` with ``WWW-Authenticate: Bearer`` for a missing or wrong
    key; keys are compared in constant time. The body of a refused request is never read."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        assert settings.api_key is not None
        self.app = app
        self.settings = settings
        self.key = settings.api_key.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not requires_key(
            self.settings, scope["method"], scope["path"]
        ):
            await self.app(scope, receive, send)
            return
        presented = _presented_keys(scope)
        if any(hmac.compare_digest(key, self.key) for key in presented):  # constant time
            await self.app(scope, receive, send)
            return
        if presented:
            log.warning("refused %s %s: wrong API key", scope["method"], scope["path"])
            detail, challenge = "The API key is not valid.", 'Bearer error="invalid_token"'
        else:
            detail = (
                "This request needs the API key: send `Authorization: Bearer <key>` or "
                "`X-API-Key: <key>`."
            )
            challenge = "Bearer"
        response = problem_response(
            Unauthorized.status,
            slug=Unauthorized.slug,
            title=Unauthorized.title,
            detail=detail,
            headers={"WWW-Authenticate": challenge},
        )
        await response(scope, receive, send)


def install_openapi_security(app: FastAPI, settings: Settings) -> None:
    """Declare both schemes (so /docs has an Authorize button) and mark the operations that
    need the key under these settings."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # cached by FastAPI until routes change; the changes are idempotent
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if requires_key(settings, method.upper(), path):
                    operation["security"] = [{BEARER: []}, {API_KEY_HEADER: []}]
                    operation.setdefault("responses", {})["401"] = {
                        "description": "Missing or wrong API key."
                    }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
