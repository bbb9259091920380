"""Liveness, readiness and the documented API."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.config import Settings
from tests.conftest import start_server


def test_healthz(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_head_over_a_real_connection(client: httpx.Client) -> None:
    """uvicorn sends no body after a HEAD's headers, and the connection stays usable."""
    for path in ("/healthz", "/readyz", "/openapi.json", "/ui/"):
        got, head = client.get(path), client.head(path)
        assert head.status_code == got.status_code == 200, path
        assert (head.content, head.headers["content-length"]) == (
            b"",
            got.headers["content-length"],
        ), path


def test_readyz_when_migrated(client: httpx.Client) -> None:
    body = client.get("/readyz").json()
    assert body == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "artifact_store": "ok"},
    }


def test_readyz_is_503_when_the_schema_is_missing(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/empty.db",
        model_dir=tmp_path / "models",
        migrate_on_start=False,
    )
    server = start_server(settings)
    try:
        response = httpx.get(f"{server.base_url}/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "head is" in response.json()["checks"]["migrations"]
    finally:
        server.stop()


def test_openapi_documents_both_upload_bodies(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    upload = spec["paths"]["/v1/series"]["post"]["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data", "application/json"}
    assert "file" in upload["multipart/form-data"]["schema"]["required"]
    assert upload["application/json"]["schema"]["examples"]
    assert client.get("/docs").status_code == 200
