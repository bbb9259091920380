"""API docs that work without internet access.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a public CDN, so on a
machine without internet access they are blank pages. fastapi-offline ships the same assets
(swagger-ui-dist 5, ReDoc 2) inside the package and serves them under DOCS_ASSETS; no page
the service serves asks any other host for anything.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

DOCS_ASSETS = "/docs/assets"
# Swagger UI asks validator.swagger.io to badge every document unless told not to.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def create_api(**fields: Any) -> FastAPI:
    """A FastAPI application whose ``/docs`` and ``/redoc`` use the bundled assets."""
    return FastAPIOffline(
        static_url=DOCS_ASSETS, swagger_ui_parameters=SWAGGER_UI_PARAMETERS, **fields
    )


def is_docs_asset(path: str) -> bool:
    return path.startswith(DOCS_ASSETS + "/")
