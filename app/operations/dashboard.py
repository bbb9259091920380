"""The dashboard: static pages under ``/ui`` that call the public API from the browser.

The pages hold code only (no data), so they are open even when reads need the API key: the
person types the key into the page, which sends it with every API call. Everything the pages
load comes from this service; the Content-Security-Policy tells the browser to refuse
anything else, so a page can never reach an outside host.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DASHBOARD_PATH = "/ui"
ASSETS = Path(__file__).parent / "static" / "dashboard"
CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data: blob:; frame-ancestors 'none'"


class _DashboardFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def is_dashboard_path(path: str) -> bool:
    return path in ("/", DASHBOARD_PATH) or path.startswith(DASHBOARD_PATH + "/")


def install_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` and send ``/`` there."""

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse(f"{DASHBOARD_PATH}/")

    app.mount(DASHBOARD_PATH, _DashboardFiles(directory=ASSETS, html=True), name="dashboard")
